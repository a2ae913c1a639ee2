//! The state machine's own steps around the stages:
//! - `prepare` reads the execution input, validates the spec, names its zones from the region's
//!   (DescribeAvailabilityZones) and stores it, and says which path
//!   to take (apply, destroy, redeploy);
//! - `report` collects the environment's outputs and, when CloudFormation started the execution,
//!   answers it: SUCCESS with the outputs as attributes, or FAILED with the failed state's reason;
//! - `lease` takes the environment's lease for the execution, or says who holds it
//!   ([`crate::lease`]); `report` gives it back;
//! - `forget` deletes the stored spec at the end of a teardown.

use std::collections::{BTreeMap, HashMap};

use provisioner_core::error::failure_of;
use provisioner_core::outputs;
use provisioner_core::spec::check_environment_name;
use provisioner_core::{endpoint_plan, stages, wait_budget, zones};
use provisioner_core::{
    EnvironmentSpec, Function, Names, OutputValue, ProvisionError, Setup, SsmStore,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::input::{CloudFormationContext, ExecutionAction, ExecutionInput};
use crate::lease::Leases;
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
    Forget {
        environment: String,
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
    /// Seconds between two `status` calls of the state machine's wait loops.
    pub poll_seconds: u32,
    /// The most polls each wait loop may make, by the name of its step (`ServiceApply`).
    pub budgets: BTreeMap<String, u32>,
    /// For apply: the validated spec with its zones named, stored once the lease is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
}

/// Seconds between polls when the function's configuration does not say.
pub const DEFAULT_POLL_SECONDS: u32 = 15;

pub struct Control {
    pub store: SsmStore,
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
                    "{}; expected {{\"operation\": \"prepare\" | \"report\" | \"forget\", ...}}",
                    e.inner()
                ),
            )
        })?;
        let answer = match request {
            ControlRequest::Prepare { input } => serde_json::to_value(self.prepare(input).await?),
            ControlRequest::Report {
                outcome,
                execution,
                execution_arn,
            } => {
                let answered = self.report(outcome, &execution).await?;
                // Given back once the outcome is reported: the next writer starts from here.
                let environment = execution
                    .pointer("/request/environment")
                    .and_then(Value::as_str);
                let leased = execution.pointer("/lease/held") == Some(&Value::Bool(true));
                if let (Some(environment), Some(arn), true) = (environment, execution_arn, leased) {
                    self.leases.release(environment, &arn).await?;
                }
                Ok(answered)
            }
            ControlRequest::Lease {
                request,
                execution_arn,
            } => serde_json::to_value(self.lease(request, &execution_arn).await?),
            ControlRequest::Forget { environment } => {
                check_environment_name(&environment)
                    .map_err(|p| ProvisionError::request("environment", p))?;
                self.store.delete_spec(&Names::new(&environment)).await?;
                Ok(json!({"forgotten": environment}))
            }
        };
        answer.map_err(|e| ProvisionError::internal("encoding the answer", e))
    }

    async fn prepare(&self, input: Value) -> Result<Prepared, ProvisionError> {
        if outputs::is_ecr_image_event(&input) {
            let specs = self.store.all_specs(&self.region).await?;
            return Ok(self.prepared("redeploy", None, &specs));
        }
        let input: ExecutionInput = serde_path_to_error::deserialize(input).map_err(|e| {
            ProvisionError::request(
                e.path().to_string(),
                format!(
                    "{}; expected {{\"action\": \"apply\", \"spec\": {{...}}}} or {{\"action\": \"destroy\", \"environment\": NAME}}",
                    e.inner()
                ),
            )
        })?;
        match input.action {
            ExecutionAction::Apply => {
                let spec = input.spec.ok_or_else(|| {
                    ProvisionError::request("spec", "required for apply: the environment spec")
                })?;
                // Stored only once the environment's lease is held (`lease`): an execution that
                // waits for another must not change the spec that one is working from.
                let spec = self.placement_rules(&spec).await?.accept(&spec)?;
                let mut prepared = self.prepared(
                    "apply",
                    Some(spec.name.clone()),
                    std::slice::from_ref(&spec),
                );
                prepared.spec = Some(
                    serde_json::to_value(&spec)
                        .map_err(|e| ProvisionError::internal("encoding the spec", e))?,
                );
                Ok(prepared)
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
                Ok(self.prepared("destroy", Some(environment), stored.as_slice()))
            }
        }
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
        let answer = self.leases.acquire(&environment, execution_arn).await?;
        if let (true, Some(spec)) = (answer.held, &request.spec) {
            self.store
                .put_spec(&EnvironmentSpec::from_json(spec, &self.region)?)
                .await?;
        }
        Ok(answer)
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
            budgets: wait_budget::polls(self.poll_seconds, specs),
            spec: None,
        }
    }

    /// The environment's outputs under their attribute names.
    pub async fn attributes(
        &self,
        environment: &str,
    ) -> Result<HashMap<String, String>, ProvisionError> {
        let names = Names::new(environment);
        let mut attributes = HashMap::new();
        for stage in stages::STAGES {
            let outputs = self.store.stage_outputs(&names, stage.name).await?;
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
    ) -> Result<Value, ProvisionError> {
        let environment = execution
            .pointer("/request/environment")
            .and_then(Value::as_str)
            .map(str::to_string);
        let action = execution
            .pointer("/request/action")
            .and_then(Value::as_str)
            .unwrap_or("");
        let context: Option<CloudFormationContext> = execution
            .get("cloudFormation")
            .and_then(|c| serde_json::from_value(c.clone()).ok());
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
            .or_else(|| {
                context
                    .as_ref()
                    .and_then(|c| c.physical_resource_id.clone())
            })
            .unwrap_or_else(|| {
                format!(
                    "invalid:{}",
                    context
                        .as_ref()
                        .map(|c| c.request_id.as_str())
                        .unwrap_or("unknown")
                )
            });
        if let Some(context) = &context {
            respond::send(&self.policy, context, &physical_resource_id, &outcome).await?;
        }
        Ok(match outcome {
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
