//! Starting an execution of the state machine and following it state by state, as its history
//! grows: the same on AWS and on the local emulator.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use provisioner_core::error::failure_of;
use provisioner_core::stages;
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
}

impl Finished {
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
fn news_of(state: &str) -> Option<&'static str> {
    use provisioner_core::stages::states;
    match state {
        states::PREPARE => Some("/request/action"),
        // The top-level lease, and each environment's in a redeploy (`RedeployLease`).
        s if s.ends_with(states::LEASE) => Some("/lease/message"),
        states::FORGET => Some("/request/environment"),
        states::REPORT_SUCCESS | states::REPORT_FAILURE => Some("/result/status"),
        states::FIND_REDEPLOY_TARGETS => Some("/targets/environments"),
        _ => stages::stage_of_state(state).map(|_| "/stage/message"),
    }
}

fn seconds(date: &aws_smithy_types::DateTime) -> f64 {
    date.as_secs_f64()
}

/// What a history event says about progress, if anything worth a line.
fn progress_of(event: &HistoryEvent, started: f64) -> Option<Progress> {
    let at = seconds(event.timestamp()) - started;
    match event.r#type() {
        HistoryEventType::TaskStateExited => {
            let details = event.state_exited_event_details()?;
            let name = details.name().to_string();
            let output: Value = details
                .output()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            let detail = match news_of(&name).and_then(|p| output.pointer(p)) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            Some(Progress {
                state: name,
                ok: true,
                detail,
                at,
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
            Some(Progress {
                state: "task failed".into(),
                ok: false,
                detail: format!("{error}: {message}"),
                at,
            })
        }
        _ => None,
    }
}

/// Follows the execution until it ends (or `limit` passes), calling `on_progress` for each
/// finished state. Polls the history every `every`.
pub async fn follow(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    every: Duration,
    limit: Duration,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Finished, ProvisionError> {
    let followed = Instant::now();
    let mut seen = 0usize;
    // The last task failure not yet followed by a success: the state that exits next failed.
    let mut failure: Option<Progress> = None;
    loop {
        // Status first, history second: a finished execution's last events are then all read.
        let described = sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .context("DescribeExecution", execution_arn)?;
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
        for event in events.iter().skip(seen) {
            match event.r#type() {
                // A retry may still succeed: only a failure the state exits with is its own.
                HistoryEventType::TaskSucceeded | HistoryEventType::LambdaFunctionSucceeded => {
                    failure = None
                }
                _ => {}
            }
            match progress_of(event, started) {
                Some(p) if !p.ok => failure = Some(p),
                Some(mut p) => {
                    if let Some(failed) = failure.take() {
                        p.ok = false;
                        p.detail = failed.detail;
                    }
                    on_progress(&p);
                }
                None => {}
            }
        }
        seen = seen.max(events.len());
        let status = described.status().clone();
        if status != ExecutionStatus::Running {
            return Ok(Finished {
                execution_arn: execution_arn.to_string(),
                status,
                output: described
                    .output()
                    .and_then(|o| serde_json::from_str(o).ok()),
                error: described.error().map(str::to_string),
                cause: described.cause().map(str::to_string),
                elapsed: followed.elapsed(),
                aws_seconds: described
                    .stop_date()
                    .map(|stop| seconds(stop) - started)
                    .unwrap_or_default(),
            });
        }
        if followed.elapsed() > limit {
            return Err(ProvisionError::Timeout(format!(
                "execution {execution_arn} still running after {} s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(every).await;
    }
}

/// What a failed execution says: the failing stage's error name and reason, once each.
pub fn failure_line(finished: &Finished) -> String {
    let error = finished.error.clone().unwrap_or_default();
    let reason = finished
        .output
        .as_ref()
        .and_then(|o| o.pointer("/result/reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| finished.cause.clone())
        .unwrap_or_default();
    let reason = reason
        .strip_prefix(&format!("{error}: "))
        .unwrap_or(&reason)
        .to_string();
    format!("failed: {error}: {reason}")
}

/// Prints a progress line.
pub fn print_progress(p: &Progress) {
    let mark = if p.ok { "ok " } else { "ERR" };
    println!("  [{:>6.1}s] {mark} {:<28} {}", p.at, p.state, p.detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_line_names_the_error_once_and_gives_the_stage_reason() {
        let finished = Finished {
            execution_arn: "arn".into(),
            status: ExecutionStatus::Failed,
            output: None,
            error: Some("ValidationError".into()),
            cause: Some("ValidationError: invalid environment spec: service.cpu: 300 is not one of 256, 512".into()),
            elapsed: Duration::ZERO,
            aws_seconds: 0.0,
        };
        assert_eq!(
            failure_line(&finished),
            "failed: ValidationError: invalid environment spec: service.cpu: 300 is not one of 256, 512"
        );
    }
}
