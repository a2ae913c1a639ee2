//! The state machine's own steps around the stages:
//! - `prepare` reads the execution input, validates the spec and stores it, and says which path
//!   to take (apply, destroy, redeploy);
//! - `report` collects the environment's outputs and, when CloudFormation started the execution,
//!   answers it: SUCCESS with the outputs as attributes, or FAILED with the failed state's reason;
//! - `forget` deletes the stored spec at the end of a teardown.

use std::collections::HashMap;

use provisioner_core::outputs;
use provisioner_core::spec::check_environment_name;
use provisioner_core::{Names, OutputValue, ProvisionError, SsmStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::input::{CloudFormationContext, ExecutionAction, ExecutionInput};
use crate::respond::{self, Outcome};
use crate::response_url::ResponseUrlPolicy;

/// CloudFormation attribute names (`!GetAtt Env.AlbDnsName`) of the stages' outputs.
pub const ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("VpcId", outputs::network::STAGE, outputs::network::VPC_ID),
    (
        "PublicSubnetIds",
        outputs::network::STAGE,
        outputs::network::PUBLIC_SUBNET_IDS,
    ),
    (
        "PrivateSubnetIds",
        outputs::network::STAGE,
        outputs::network::PRIVATE_SUBNET_IDS,
    ),
    (
        "EndpointIds",
        outputs::endpoints::STAGE,
        outputs::endpoints::ENDPOINT_IDS,
    ),
    (
        "AlbArn",
        outputs::alb::STAGE,
        outputs::alb::LOAD_BALANCER_ARN,
    ),
    ("AlbDnsName", outputs::alb::STAGE, outputs::alb::DNS_NAME),
    (
        "AlbHostedZoneId",
        outputs::alb::STAGE,
        outputs::alb::HOSTED_ZONE_ID,
    ),
    ("Url", outputs::alb::STAGE, outputs::alb::URL),
    (
        "TargetGroupArn",
        outputs::alb::STAGE,
        outputs::alb::TARGET_GROUP_ARN,
    ),
    (
        "ClusterArn",
        outputs::service::STAGE,
        outputs::service::CLUSTER_ARN,
    ),
    (
        "ServiceArn",
        outputs::service::STAGE,
        outputs::service::SERVICE_ARN,
    ),
    (
        "TaskDefinitionArn",
        outputs::service::STAGE,
        outputs::service::TASK_DEFINITION_ARN,
    ),
    (
        "LogGroup",
        outputs::service::STAGE,
        outputs::service::LOG_GROUP,
    ),
];

#[derive(Debug, Deserialize)]
#[serde(tag = "operation", rename_all = "lowercase")]
enum ControlRequest {
    Prepare {
        input: Value,
    },
    Report {
        outcome: ReportOutcome,
        execution: Value,
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
}

/// Seconds between polls when the function's configuration does not say.
pub const DEFAULT_POLL_SECONDS: u32 = 15;

pub struct Control {
    pub store: SsmStore,
    pub region: String,
    pub policy: ResponseUrlPolicy,
    pub poll_seconds: u32,
}

impl Control {
    pub async fn handle(&self, event: Value) -> Result<Value, ProvisionError> {
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
            ControlRequest::Report { outcome, execution } => {
                Ok(self.report(outcome, &execution).await?)
            }
            ControlRequest::Forget { environment } => {
                check_environment_name(&environment)
                    .map_err(|p| ProvisionError::request("environment", p))?;
                self.store.delete_spec(&Names::new(&environment)).await?;
                Ok(json!({"forgotten": environment}))
            }
        };
        answer.map_err(|e| ProvisionError::Conflict(e.to_string()))
    }

    async fn prepare(&self, input: Value) -> Result<Prepared, ProvisionError> {
        if outputs::is_ecr_image_event(&input) {
            return Ok(Prepared {
                action: "redeploy".into(),
                environment: None,
                poll_seconds: self.poll_seconds,
            });
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
                let spec = self.store.submit_spec(&spec, &self.region).await?;
                Ok(Prepared {
                    action: "apply".into(),
                    environment: Some(spec.name),
                    poll_seconds: self.poll_seconds,
                })
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
                Ok(Prepared {
                    action: "destroy".into(),
                    environment: Some(environment),
                    poll_seconds: self.poll_seconds,
                })
            }
        }
    }

    /// The environment's outputs under their attribute names.
    pub async fn attributes(
        &self,
        environment: &str,
    ) -> Result<HashMap<String, String>, ProvisionError> {
        let names = Names::new(environment);
        let mut attributes = HashMap::new();
        for stage in [
            outputs::network::STAGE,
            outputs::endpoints::STAGE,
            outputs::alb::STAGE,
            outputs::service::STAGE,
        ] {
            let outputs = self.store.stage_outputs(&names, stage).await?;
            for (attribute, _, key) in ATTRIBUTES.iter().filter(|(_, s, _)| *s == stage) {
                if let Some(value) = outputs.get(*key) {
                    attributes.insert(
                        attribute.to_string(),
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
                json!({"status": "FAILED", "environment": environment, "reason": reason})
            }
        })
    }
}

/// The reason of a failed state, from what Catch put in `$.error` (`Error` and `Cause`; a Lambda's
/// Cause is itself JSON with `errorMessage`).
pub fn failure_reason(error: Option<&Value>) -> String {
    let Some(error) = error else {
        return "the execution failed (see its history)".into();
    };
    let name = error
        .get("Error")
        .and_then(Value::as_str)
        .unwrap_or("Error");
    let cause = error.get("Cause").and_then(Value::as_str).unwrap_or("");
    let message = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|c| {
            c.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string());
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
