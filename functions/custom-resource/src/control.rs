//! The state machine's own steps around the stages:
//! - `prepare` reads the execution input, validates the spec, names its zones from the region's
//!   (DescribeAvailabilityZones) and stores it, and says which path
//!   to take (apply, destroy, redeploy);
//! - `report` collects the environment's outputs and, when the custom resource function started
//!   the execution ([`crate::pending`]), answers CloudFormation: SUCCESS with the outputs as
//!   attributes, or FAILED with the failed state's reason;
//! - `lease` takes the environment's lease for the execution, or says who holds it
//!   ([`crate::lease`]); `report` gives it back;
//! - `forget` deletes the stored spec at the end of a teardown.

use std::collections::{BTreeMap, HashMap};

use provisioner_core::changes::{Plan, PlannedChange};
use provisioner_core::error::failure_of;
use provisioner_core::outputs;
use provisioner_core::registry::LastRun;
use provisioner_core::spec::check_environment_name;
use provisioner_core::{endpoint_plan, stages, wait_budget, zones};
use provisioner_core::{
    AwsContext, EnvironmentSpec, Function, Names, OutputValue, ProvisionError, Setup, SsmStore,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::input::{CloudFormationContext, ExecutionAction, ExecutionInput};
use crate::lease::{Leases, CONSOLE};
use crate::pending::{self, PendingRequests};
use crate::respond::{self, Outcome};
use crate::response_url::ResponseUrlPolicy;

#[derive(Debug, Deserialize)]
#[serde(
    tag = "operation",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
enum ControlRequest {
    Prepare {
        input: Value,
        /// The execution's name (`$$.Execution.Name`): the key of the CloudFormation request it
        /// answers, if the custom resource function started it.
        #[serde(default)]
        execution: Option<String>,
    },
    Report {
        outcome: ReportOutcome,
        execution: Value,
        /// The execution's ARN (`$$.Execution.Id`), whose lease is given back.
        #[serde(default)]
        execution_arn: Option<String>,
    },
    Lease {
        request: Prepared,
        execution_arn: String,
    },
    /// Gives back the lease an iteration of a redeploy took.
    Release {
        environment: String,
        execution_arn: String,
    },
    Forget {
        environment: String,
        /// The execution's ARN: the environment's record is forgotten while it holds the lease.
        #[serde(default)]
        execution_arn: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReportOutcome {
    Success,
    Failure,
}

/// What `prepare` answers: the path to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prepared {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The shortest wait between two calls of the state machine's wait loops (a stage asks
    /// for longer while what it awaits cannot be done yet).
    pub poll_seconds: u32,
    /// The AWS seconds each wait loop may wait in all, by the name of its step (`ServiceApply`).
    pub budgets: BTreeMap<String, u32>,
    /// For apply: the validated spec with its zones named, stored once the lease is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    /// The CloudFormation stack resource this execution acts for; none for the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// Seconds between polls when the function's configuration does not say.
pub const DEFAULT_POLL_SECONDS: u32 = provisioner_core::stage::DEFAULT_POLL_SECONDS;

pub struct Control {
    pub store: SsmStore,
    pub pending: PendingRequests,
    /// For the region's availability zones, which a spec's zones are resolved against.
    pub ec2: aws_sdk_ec2::Client,
    pub region: String,
    pub policy: ResponseUrlPolicy,
    pub poll_seconds: u32,
    pub leases: Leases,
}

/// The environment variable with the seconds between status polls.
pub const POLL_SECONDS_VAR: &str = "POLL_SECONDS";

/// The environment variable naming the DynamoDB table of the environments' leases.
pub const LEASE_TABLE_VAR: &str = "LEASE_TABLE";

impl Function for Control {
    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError> {
        Ok(Control {
            store: SsmStore::new(aws_sdk_ssm::Client::new(setup.config)),
            pending: PendingRequests {
                dynamodb: aws_sdk_dynamodb::Client::new(setup.config),
                table: setup.required_var(crate::entry::REQUEST_TABLE_VAR)?,
            },
            ec2: aws_sdk_ec2::Client::new(setup.config),
            region: setup.region.clone(),
            policy: ResponseUrlPolicy::s3_only(),
            poll_seconds: setup
                .var(POLL_SECONDS_VAR)
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_POLL_SECONDS),
            leases: Leases {
                dynamodb: aws_sdk_dynamodb::Client::new(setup.config),
                sfn: aws_sdk_sfn::Client::new(setup.config),
                table: setup.required_var(LEASE_TABLE_VAR)?,
            },
        })
    }

    async fn handle(&self, event: Value) -> Result<Value, lambda_runtime::Diagnostic> {
        provisioner_core::lambda::to_lambda(self.answer(event).await)
    }
}

impl Control {
    pub async fn answer(&self, event: Value) -> Result<Value, ProvisionError> {
        let request: ControlRequest = serde_path_to_error::deserialize(event).map_err(|e| {
            ProvisionError::request(
                e.path().to_string(),
                format!(
                    "{}; expected {{\"operation\": \"prepare\" | \"lease\" | \"release\" | \"report\" | \"forget\", ...}}",
                    e.inner()
                ),
            )
        })?;
        let answer = match request {
            ControlRequest::Prepare { input, execution } => {
                let request = match &execution {
                    Some(name) => self.pending.of(name).await?,
                    None => None,
                };
                serde_json::to_value(self.prepare(input, request.as_ref()).await?)
            }
            ControlRequest::Report {
                outcome,
                execution,
                execution_arn,
            } => {
                let request = match &execution_arn {
                    Some(arn) => self.pending.of(pending::execution_name(arn)).await?,
                    None => None,
                };
                let answered = self
                    .report(
                        outcome,
                        &execution,
                        request.as_ref(),
                        execution_arn.as_deref(),
                    )
                    .await?;
                if let (Some(arn), Some(_)) = (&execution_arn, &request) {
                    self.pending.answered(pending::execution_name(arn)).await?;
                }
                // Given back once the outcome is reported: the next writer starts from here.
                let environment = execution
                    .pointer("/request/environment")
                    .and_then(Value::as_str);
                let leased = execution.pointer("/lease/held") == Some(&Value::Bool(true));
                let action = execution.pointer("/request/action").and_then(Value::as_str);
                if let (Some(environment), Some(arn), true) = (environment, execution_arn, leased) {
                    let applied = match action {
                        Some("apply") => {
                            self.settle_spec(
                                environment,
                                execution.pointer("/request/spec"),
                                outcome,
                            )
                            .await?
                        }
                        _ => None,
                    };
                    let last = last_run(
                        action.unwrap_or_default(),
                        &arn,
                        outcome,
                        execution.get("error"),
                    );
                    self.leases
                        .release_after(environment, &arn, &last, applied.as_deref())
                        .await?;
                }
                Ok(answered)
            }
            ControlRequest::Lease {
                request,
                execution_arn,
            } => serde_json::to_value(self.lease(request, &execution_arn).await?),
            ControlRequest::Release {
                environment,
                execution_arn,
            } => {
                self.leases.release(&environment, &execution_arn).await?;
                Ok(json!({"released": environment}))
            }
            ControlRequest::Forget {
                environment,
                execution_arn,
            } => {
                check_environment_name(&environment)
                    .map_err(|p| ProvisionError::request("environment", p))?;
                self.store.delete_spec(&Names::new(&environment)).await?;
                if let Some(arn) = execution_arn {
                    self.leases.forget(&environment, &arn).await?;
                }
                Ok(json!({"forgotten": environment}))
            }
        };
        answer.map_err(|e| ProvisionError::internal("encoding the answer", e))
    }

    /// `request`: the CloudFormation request the execution answers, if a stack started it.
    async fn prepare(
        &self,
        input: Value,
        request: Option<&CloudFormationContext>,
    ) -> Result<Prepared, ProvisionError> {
        if outputs::is_ecr_image_event(&input) {
            let specs = self.store.all_specs(&self.region).await?;
            return Ok(self.prepared("redeploy", None, &specs));
        }
        let input: ExecutionInput = serde_path_to_error::deserialize(input).map_err(|e| {
            ProvisionError::request(
                e.path().to_string(),
                format!(
                    "{}; expected {{\"action\": \"apply\" | \"plan\", \"spec\": {{...}}}} or {{\"action\": \"destroy\", \"environment\": NAME}}",
                    e.inner()
                ),
            )
        })?;
        let stack =
            request.map(|c| format!("stack {} (resource {})", c.stack_id, c.logical_resource_id));
        if input.spec.is_some() && input.environment.is_some() {
            return Err(ProvisionError::request(
                "environment",
                "not allowed together with spec: give spec (the name is spec.name) or environment, not both",
            ));
        }
        let mut prepared = match input.action {
            action @ (ExecutionAction::Apply | ExecutionAction::Plan) => {
                let action = if action == ExecutionAction::Plan {
                    "plan"
                } else {
                    "apply"
                };
                let spec = input.spec.ok_or_else(|| {
                    ProvisionError::request(
                        "spec",
                        format!("required for {action}: the environment spec"),
                    )
                })?;
                // Stored only once the environment's lease is held (`lease`): an execution that
                // waits for another must not change the spec that one is working from.
                let spec = self.placement_rules(&spec).await?.accept(&spec)?;
                let mut prepared =
                    self.prepared(action, Some(spec.name.clone()), std::slice::from_ref(&spec));
                prepared.spec = Some(
                    serde_json::to_value(&spec)
                        .map_err(|e| ProvisionError::internal("encoding the spec", e))?,
                );
                prepared
            }
            ExecutionAction::Destroy => {
                let environment = input
                    .environment
                    .or_else(|| {
                        input
                            .spec
                            .as_ref()
                            .and_then(|s| s.get("name"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .ok_or_else(|| {
                        ProvisionError::request(
                            "environment",
                            "required for destroy: the environment name",
                        )
                    })?;
                check_environment_name(&environment)
                    .map_err(|p| ProvisionError::request("environment", p))?;
                // The stored spec's drain and stop times bound the teardown's waits.
                let stored = self
                    .store
                    .spec(&Names::new(&environment), &self.region)
                    .await
                    .ok();
                self.prepared("destroy", Some(environment), stored.as_slice())
            }
        };
        prepared.stack = stack;
        Ok(prepared)
    }

    /// Where the spec's subnets may go: the region's zones, and for the tasks the zones where
    /// every interface endpoint they need is offered. The spec's own rules are checked first, so
    /// a bad spec fails before any AWS call.
    async fn placement_rules(&self, spec: &Value) -> Result<zones::RegionZones, ProvisionError> {
        let parsed = EnvironmentSpec::from_json(spec, &self.region)?;
        let interface_services = endpoint_plan::for_service(&parsed.service, &self.region)
            .into_iter()
            .filter(|p| p.kind == endpoint_plan::EndpointKind::Interface)
            .map(|p| p.service_name)
            .collect();
        let (region_zones, offered) = tokio::join!(
            zones::describe(&self.ec2, &self.region),
            zones::describe_endpoint_services(&self.ec2, interface_services),
        );
        Ok(region_zones?.with_endpoint_services(offered?))
    }

    /// Takes the environment's lease; an apply that gets it stores its spec for the stages.
    async fn lease(
        &self,
        request: Prepared,
        execution_arn: &str,
    ) -> Result<crate::lease::LeaseAnswer, ProvisionError> {
        let environment = request.environment.unwrap_or_default();
        check_environment_name(&environment)
            .map_err(|p| ProvisionError::request("environment", p))?;
        let requester = request.stack.as_deref();
        let apply = request.action == "apply";
        // An apply of an environment nobody owns yet makes its requester the owner.
        let claim = apply.then(|| requester.unwrap_or(CONSOLE));
        let mut answer = self
            .leases
            .acquire(&environment, execution_arn, claim)
            .await?;
        if !answer.held {
            return Ok(answer);
        }
        let recorded = answer.owner.clone();
        match (recorded.as_deref(), requester) {
            // Another stack's environment: a stack may neither change nor delete it.
            (Some(owner), Some(stack)) if owner != stack && owner != CONSOLE => {
                self.leases.release(&environment, execution_arn).await?;
                if apply {
                    return Err(ProvisionError::Conflict(format!(
                        "environment {environment} belongs to {owner}; choose another name, or change it from that stack"
                    )));
                }
                answer.held = false;
                answer.foreign = true;
                answer.message = format!(
                    "environment {environment} belongs to {owner}: left as it is, nothing deleted"
                );
                return Ok(answer);
            }
            // Made from the console and now managed by a stack.
            (Some(CONSOLE), Some(stack)) if apply => {
                self.leases
                    .set_owner(&environment, execution_arn, stack)
                    .await?;
                answer.owner = Some(stack.to_string());
            }
            _ => {}
        }
        if let Some(owner) = &answer.owner {
            answer.message = format!("{} (owned by {owner})", answer.message);
        }
        if let Some(spec) = &request.spec {
            let spec = EnvironmentSpec::from_json(spec, &self.region)?;
            if answer.first {
                self.store.put_first_spec(&spec).await?;
            } else {
                self.store.put_spec(&spec).await?;
            }
        }
        Ok(answer)
    }

    /// A rename is a replacement: CloudFormation's rollback after a FAILED answer goes back to
    /// the old name and never deletes the new one. So a failed replacement starts a destroy of
    /// the half-built new environment (it runs once this execution gives the lease back), and
    /// the rollback leaves nothing behind.
    async fn remove_failed_replacement(
        &self,
        context: &CloudFormationContext,
        environment: Option<&str>,
        arn: &str,
    ) -> Result<(), ProvisionError> {
        let Some(new) = environment else {
            return Ok(());
        };
        let renamed = context.request_type == "Update"
            && context
                .physical_resource_id
                .as_deref()
                .is_some_and(|old| old != new);
        if !renamed {
            return Ok(());
        }
        // arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME -> ...:stateMachine:MACHINE
        let machine = arn
            .rsplit_once(':')
            .map(|(head, _)| head.replace(":execution:", ":stateMachine:"))
            .unwrap_or_default();
        // One per request: a retried report finds it started.
        let name = crate::entry::execution_name(&context.request_id).replacen(
            crate::entry::EXECUTION_PREFIX,
            "remove-",
            1,
        );
        let input = json!({"action": "destroy", "environment": new}).to_string();
        let started = self
            .leases
            .sfn
            .start_execution()
            .state_machine_arn(&machine)
            .name(&name)
            .input(input)
            .send()
            .await
            .context("StartExecution", &name);
        match started {
            Err(e) if e.aws_code() != Some("ExecutionAlreadyExists") => return Err(e),
            _ => {}
        }
        tracing::info!(environment = %new, execution = %name, "removing the half-built replacement");
        Ok(())
    }

    /// The spec redeploys and later applies start from changes only when an apply succeeds:
    /// a success answers the spec it used (the one its lease stored) to record as applied; a
    /// failure puts the last applied one back (after a first create that failed there is none,
    /// and the failed spec stays for the destroy or the next apply).
    async fn settle_spec(
        &self,
        environment: &str,
        spec: Option<&Value>,
        outcome: ReportOutcome,
    ) -> Result<Option<String>, ProvisionError> {
        let names = Names::new(environment);
        match outcome {
            ReportOutcome::Success => match spec {
                Some(spec) => Ok(Some(provisioner_core::store::encode_spec(
                    &EnvironmentSpec::from_json(spec, &self.region)?,
                )?)),
                None => self.store.spec_text(&names).await,
            },
            ReportOutcome::Failure => {
                if let Some(applied) = self.leases.applied(environment).await? {
                    self.store.restore_spec_text(&names, &applied).await?;
                    tracing::info!(%environment, "put back the spec of the last successful apply");
                }
                Ok(None)
            }
        }
    }

    /// The path to take, with wait budgets long enough for `specs`.
    fn prepared(
        &self,
        action: &str,
        environment: Option<String>,
        specs: &[EnvironmentSpec],
    ) -> Prepared {
        Prepared {
            action: action.into(),
            environment,
            poll_seconds: self.poll_seconds,
            budgets: wait_budget::budgets(specs),
            spec: None,
            stack: None,
        }
    }

    /// The environment's outputs under their attribute names.
    pub async fn attributes(
        &self,
        environment: &str,
    ) -> Result<HashMap<String, String>, ProvisionError> {
        let names = Names::new(environment);
        let mut attributes = HashMap::new();
        let every: Vec<&str> = stages::STAGES.iter().map(|s| s.name).collect();
        let stored = self.store.load(&names, &every).await?;
        for stage in stages::STAGES {
            let outputs = stored.outputs(stage.name);
            for attribute in stage.attributes {
                if let Some(value) = outputs.get(attribute.output) {
                    attributes.insert(
                        attribute.name.to_string(),
                        OutputValue::to_parameter_value(value),
                    );
                }
            }
        }
        attributes.insert("EnvironmentName".into(), environment.to_string());
        Ok(attributes)
    }

    async fn report(
        &self,
        outcome: ReportOutcome,
        execution: &Value,
        context: Option<&CloudFormationContext>,
        execution_arn: Option<&str>,
    ) -> Result<Value, ProvisionError> {
        let environment = execution
            .pointer("/request/environment")
            .and_then(Value::as_str)
            .map(str::to_string);
        let action = execution
            .pointer("/request/action")
            .and_then(Value::as_str)
            .unwrap_or("");
        let outcome = match outcome {
            ReportOutcome::Success => Outcome::Success {
                data: match (&environment, action) {
                    (Some(env), "apply") => self.attributes(env).await?,
                    _ => HashMap::new(),
                },
            },
            ReportOutcome::Failure => Outcome::Failed {
                reason: failure_reason(execution.get("error")),
            },
        };
        let physical_resource_id = environment
            .clone()
            .or_else(|| context.and_then(|c| c.physical_resource_id.clone()))
            .unwrap_or_else(|| {
                format!(
                    "invalid:{}",
                    context.map(|c| c.request_id.as_str()).unwrap_or("unknown")
                )
            });
        if let Some(context) = context {
            if matches!(outcome, Outcome::Failed { .. }) {
                let action = execution.pointer("/request/action").and_then(Value::as_str);
                if let (Some(arn), Some("apply")) = (execution_arn, action) {
                    self.remove_failed_replacement(context, environment.as_deref(), arn)
                        .await?;
                }
            }
            respond::send(&self.policy, context, &physical_resource_id, &outcome).await?;
        }
        Ok(match outcome {
            Outcome::Success { .. } if action == "plan" => {
                json!({"status": "SUCCESS", "environment": environment, "plan": self.plan_of(execution)?})
            }
            Outcome::Success { data } => {
                json!({"status": "SUCCESS", "environment": environment, "attributes": data})
            }
            Outcome::Failed { reason } => {
                let (error, _) = failure_of(execution.get("error"));
                json!({"status": "FAILED", "environment": environment, "error": error, "reason": reason})
            }
        })
    }
}

impl Control {
    /// What a plan execution found: every stage's changes in the table's order, and the
    /// environment's monthly cost.
    fn plan_of(&self, execution: &Value) -> Result<Value, ProvisionError> {
        let mut changes = Vec::new();
        for stage in stages::STAGES {
            let planned = execution
                .pointer(&format!("/planned/{}/changes", stage.name))
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            let planned: Vec<provisioner_core::Change> = serde_json::from_value(planned)
                .map_err(|e| ProvisionError::internal("reading a stage's planned changes", e))?;
            changes.extend(planned.into_iter().map(|change| PlannedChange {
                stage: stage.name.to_string(),
                change,
            }));
        }
        let spec = execution
            .pointer("/request/spec")
            .cloned()
            .unwrap_or_default();
        let spec = EnvironmentSpec::from_json(&spec, &self.region)?;
        let plan = Plan {
            changes,
            cost: provisioner_core::cost::estimate(&spec, &self.region),
        };
        serde_json::to_value(plan).map_err(|e| ProvisionError::internal("encoding the plan", e))
    }
}

/// How the execution ended, for the environments table: on a failure, the failed state's
/// error name and reason.
fn last_run(
    action: &str,
    execution_arn: &str,
    outcome: ReportOutcome,
    error: Option<&Value>,
) -> LastRun {
    let failure = (outcome == ReportOutcome::Failure).then(|| failure_of(error));
    LastRun {
        action: action.to_string(),
        status: match outcome {
            ReportOutcome::Success => "SUCCEEDED",
            ReportOutcome::Failure => "FAILED",
        }
        .to_string(),
        execution: execution_arn.to_string(),
        error: failure.as_ref().map(|(name, _)| name.clone()),
        reason: failure.map(|(_, message)| message),
    }
}

/// `<error>: <message>` of a failed state: what CloudFormation is told.
pub fn failure_reason(error: Option<&Value>) -> String {
    let (name, message) = failure_of(error);
    format!("{name}: {message}")
}

#[cfg(test)]
mod tests {
    use super::failure_reason;
    use serde_json::json;

    #[test]
    fn the_reason_carries_the_error_name_and_the_lambda_message() {
        let error = json!({"Error": "Conflict", "Cause": "{\"errorType\":\"Conflict\",\"errorMessage\":\"network stage: vpc conflict\"}"});
        assert_eq!(
            failure_reason(Some(&error)),
            "Conflict: network stage: vpc conflict"
        );
        let plain = json!({"Error": "States.Timeout", "Cause": "took too long"});
        assert_eq!(
            failure_reason(Some(&plain)),
            "States.Timeout: took too long"
        );
    }
}
