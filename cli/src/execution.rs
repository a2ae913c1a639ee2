//! Starting an execution of the state machine and following it state by state, as its history
//! grows: the same on AWS and on the local emulator.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use provisioner_core::error::failure_of;
use provisioner_core::stages::{self, states};
use provisioner_core::{AwsContext, ProvisionError};
use serde_json::Value;

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub execution_arn: String,
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Wall time spent following it.
    pub elapsed: Duration,
    /// From its start date to its stop date: AWS time on AWS, modelled AWS time on the local
    /// world (whose Step Functions dates are world time).
    pub aws_seconds: f64,
    /// The state whose failure ended the execution, when one did.
    pub failed_state: Option<String>,
}

impl Finished {
    /// An ended execution as `DescribeExecution` reports it.
    fn of(
        described: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
        elapsed: Duration,
        failed_state: Option<String>,
    ) -> Self {
        let succeeded = described.status() == &ExecutionStatus::Succeeded;
        Self {
            execution_arn: described.execution_arn().to_string(),
            status: described.status().clone(),
            output: described
                .output()
                .and_then(|o| serde_json::from_str(o).ok()),
            error: described.error().map(str::to_string),
            cause: described.cause().map(str::to_string),
            elapsed,
            aws_seconds: described
                .stop_date()
                .map(|stop| seconds(stop) - seconds(described.start_date()))
                .unwrap_or_default(),
            failed_state: failed_state.filter(|_| !succeeded),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status == ExecutionStatus::Succeeded
    }
}

/// One line of progress: a state finished (or failed), with the stage's message when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub state: String,
    pub ok: bool,
    pub detail: String,
    /// Seconds since the execution started, by the execution's own clock (AWS's, or the local
    /// world's).
    pub at: f64,
}

/// A readable execution name that does not repeat: `<what>-<unix millis>`.
pub fn execution_name(what: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let what: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("{what}-{millis}")
}

pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &Value,
) -> Result<String, ProvisionError> {
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .context("StartExecution", state_machine_arn)?;
    Ok(started.execution_arn().to_string())
}

/// Where a state keeps its news in its output, by the kind of state.
fn news_of(state: &str) -> Option<String> {
    let path = match state {
        states::PREPARE => "/request/action",
        // The top-level lease, and each environment's in a redeploy (`RedeployLease`).
        s if s.ends_with(states::LEASE) => "/lease/message",
        states::FORGET => "/request/environment",
        states::REPORT_SUCCESS | states::REPORT_FAILURE => "/result/status",
        states::FIND_REDEPLOY_TARGETS => "/targets/environments",
        _ => {
            return stages::stage_of_state(state).map(|(stage, action)| match action {
                // A plan keeps each stage's answer for the stages after it.
                provisioner_core::Action::Plan => format!("/planned/{}/message", stage.name),
                _ => "/stage/message".to_string(),
            });
        }
    };
    Some(path.to_string())
}

fn seconds(date: &aws_smithy_types::DateTime) -> f64 {
    date.as_secs_f64()
}

/// What a history event says, when it is worth a line.
enum Seen {
    /// A task state finished, with its news.
    Exited(Progress),
    /// A task state's task succeeded (a retry after a failure, say).
    Succeeded { state: Option<String> },
    /// A task state's task failed; the state may still retry, or exit through a Catch, or (in
    /// a Parallel's branch) never exit.
    Failed {
        state: Option<String>,
        detail: String,
        at: f64,
    },
    /// A task state started.
    Entered { state: String },
}

/// The history read so far, to name the state an event belongs to: each event points at the
/// one before it in its branch (`previousEventId`), back to its state's `...StateEntered`.
struct History<'a> {
    by_id: std::collections::HashMap<i64, &'a HistoryEvent>,
}

impl<'a> History<'a> {
    fn new(events: &'a [HistoryEvent]) -> Self {
        Self {
            by_id: events.iter().map(|e| (e.id(), e)).collect(),
        }
    }

    fn state_of(&self, event: &HistoryEvent) -> Option<String> {
        let mut at = self.by_id.get(&event.previous_event_id()).copied();
        // Bounded, so a malformed history cannot loop; a state retried many times stays within.
        for _ in 0..256 {
            let e = at?;
            if let Some(d) = e.state_entered_event_details() {
                return Some(d.name().to_string());
            }
            at = self.by_id.get(&e.previous_event_id()).copied();
        }
        None
    }

    fn seen(&self, event: &HistoryEvent, started: f64) -> Option<Seen> {
        let at = seconds(event.timestamp()) - started;
        match event.r#type() {
            HistoryEventType::TaskStateExited => {
                let details = event.state_exited_event_details()?;
                let name = details.name().to_string();
                let output: Value = details
                    .output()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null);
                let detail = match news_of(&name).and_then(|p| output.pointer(&p)) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                Some(Seen::Exited(Progress {
                    // Reporting a failure went well, but the run did not.
                    ok: name != states::REPORT_FAILURE,
                    state: name,
                    detail,
                    at,
                }))
            }
            HistoryEventType::TaskSucceeded | HistoryEventType::LambdaFunctionSucceeded => {
                Some(Seen::Succeeded {
                    state: self.state_of(event),
                })
            }
            HistoryEventType::TaskFailed | HistoryEventType::LambdaFunctionFailed => {
                let (error, cause) = match event.task_failed_event_details() {
                    Some(d) => (d.error(), d.cause()),
                    None => {
                        let d = event.lambda_function_failed_event_details()?;
                        (d.error(), d.cause())
                    }
                };
                let (error, message) =
                    failure_of(Some(&serde_json::json!({"Error": error, "Cause": cause})));
                Some(Seen::Failed {
                    state: self.state_of(event),
                    detail: format!("{error}: {message}"),
                    at,
                })
            }
            HistoryEventType::TaskStateEntered => Some(Seen::Entered {
                state: event.state_entered_event_details()?.name().to_string(),
            }),
            _ => None,
        }
    }
}

/// Follows the execution until it ends (or `limit` passes), calling `on_progress` for each
/// finished state. Polls the history every `every`. A failed state is shown once, marked as
/// failed with its error: when it exits through a Catch, or when the run starts reporting the
/// failure without it (a failed branch of a Parallel never exits).
pub async fn follow(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    every: Duration,
    limit: Duration,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Finished, ProvisionError> {
    let followed = Instant::now();
    let mut seen = 0usize;
    // The last task failure not yet retried away: (state, detail, when).
    let mut failure: Option<(Option<String>, String, f64)> = None;
    let mut failed_state = None;
    loop {
        // Status first, history second: a finished execution's last events are then all read.
        let described = status(sfn, execution_arn).await?;
        let mut events = Vec::new();
        let mut pages = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context("GetExecutionHistory", execution_arn)?;
            events.extend(page.events().iter().cloned());
        }
        let started = seconds(described.start_date());
        let history = History::new(&events);
        for event in events.iter().skip(seen) {
            match history.seen(event, started) {
                Some(Seen::Failed { state, detail, at }) => failure = Some((state, detail, at)),
                // A retry that succeeded: the failure was not the state's last word.
                Some(Seen::Succeeded { state }) => {
                    if failure
                        .as_ref()
                        .is_some_and(|(f, _, _)| f.is_none() || *f == state)
                    {
                        failure = None;
                    }
                }
                Some(Seen::Exited(mut p)) => {
                    if let Some((state, detail, _)) = failure.take() {
                        if state.is_none() || state.as_deref() == Some(&p.state) {
                            p.ok = false;
                            p.detail = detail;
                            failed_state = Some(p.state.clone());
                        } else {
                            failure = Some((state, detail, p.at));
                        }
                    }
                    on_progress(&p);
                }
                // The run reports a failure of a state that never exited (a Parallel's branch).
                Some(Seen::Entered { state }) if state == states::REPORT_FAILURE => {
                    if let Some((Some(state), detail, at)) = failure.take() {
                        on_progress(&Progress {
                            state: state.clone(),
                            ok: false,
                            detail,
                            at,
                        });
                        failed_state = Some(state);
                    }
                }
                Some(Seen::Entered { .. }) | None => {}
            }
        }
        seen = seen.max(events.len());
        if described.status() != &ExecutionStatus::Running {
            return Ok(Finished::of(&described, followed.elapsed(), failed_state));
        }
        still_running(execution_arn, followed, limit)?;
        tokio::time::sleep(every).await;
    }
}

/// Waits until the execution ends (or `limit` passes), reading only its status: for many
/// executions at once, whose histories nobody shows (each read of a history sends all of it).
pub async fn wait(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    every: Duration,
    limit: Duration,
) -> Result<Finished, ProvisionError> {
    let followed = Instant::now();
    loop {
        let described = status(sfn, execution_arn).await?;
        if described.status() != &ExecutionStatus::Running {
            return Ok(Finished::of(&described, followed.elapsed(), None));
        }
        still_running(execution_arn, followed, limit)?;
        tokio::time::sleep(every).await;
    }
}

async fn status(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, ProvisionError> {
    sfn.describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .context("DescribeExecution", execution_arn)
}

fn still_running(
    execution_arn: &str,
    followed: Instant,
    limit: Duration,
) -> Result<(), ProvisionError> {
    if followed.elapsed() > limit {
        return Err(ProvisionError::Timeout(format!(
            "execution {execution_arn} still running after {} s",
            limit.as_secs()
        )));
    }
    Ok(())
}

/// Why an execution failed: the failing state and its stage, the error name, the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub error: String,
    pub reason: String,
}

impl Finished {
    /// Why it failed, each part once: a stage's reason loses the `<stage> stage: ` it carries
    /// for CloudFormation, which names no state.
    pub fn failure(&self) -> Option<Failure> {
        if self.succeeded() {
            return None;
        }
        let error = self.error.clone().unwrap_or_else(|| "Failed".into());
        let reason = self
            .output
            .as_ref()
            .and_then(|o| o.pointer("/result/reason"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.cause.clone())
            .unwrap_or_default();
        let mut reason = reason
            .strip_prefix(&format!("{error}: "))
            .unwrap_or(&reason)
            .to_string();
        let stage = self
            .failed_state
            .as_deref()
            .and_then(stages::stage_of_state)
            .map(|(stage, _)| stage.name.to_string());
        if let Some(stage) = &stage {
            if let Some(rest) = reason.strip_prefix(&format!("{stage} stage: ")) {
                reason = rest.to_string();
            }
        }
        Some(Failure {
            state: self.failed_state.clone(),
            stage,
            error,
            reason,
        })
    }
}

/// What a failed execution says, on one line: where, the error name and the reason.
pub fn failure_line(finished: &Finished) -> String {
    let Some(f) = finished.failure() else {
        return String::new();
    };
    let place = match (&f.state, &f.stage) {
        (Some(state), Some(stage)) => format!(" in {state} ({stage} stage)"),
        (Some(state), None) => format!(" in {state}"),
        _ => String::new(),
    };
    format!("failed{place}: {}: {}", f.error, f.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: &str, cause: &str, state: &str) -> Finished {
        Finished {
            execution_arn: "arn".into(),
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(error.into()),
            cause: Some(cause.into()),
            elapsed: Duration::ZERO,
            aws_seconds: 0.0,
            failed_state: Some(state.into()),
        }
    }

    #[test]
    fn a_failure_line_names_the_error_once_and_gives_the_stage_reason() {
        let finished = failed(
            "ValidationError",
            "ValidationError: invalid environment spec: service.cpu: 300 is not one of 256, 512",
            "Prepare",
        );
        assert_eq!(
            failure_line(&finished),
            "failed in Prepare: ValidationError: invalid environment spec: service.cpu: 300 is not one of 256, 512"
        );
    }

    #[test]
    fn a_stage_failure_names_the_state_and_the_stage_and_says_the_stage_once() {
        let finished = failed(
            "Conflict",
            "Conflict: network stage: vpc-1 belongs to environment other",
            "NetworkApply",
        );
        assert_eq!(
            failure_line(&finished),
            "failed in NetworkApply (network stage): Conflict: vpc-1 belongs to environment other"
        );
    }
}
