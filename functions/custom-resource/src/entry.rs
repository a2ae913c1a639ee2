//! The custom resource (`Custom::FargateEnvironment`): CloudFormation calls this function; it
//! checks the properties and either answers at once (bad input: FAILED naming the field; Delete of
//! something that never existed: SUCCESS) or starts an execution of the state machine, whose last
//! state answers CloudFormation. The execution name comes from the request id, so a retried
//! invocation does not start a second execution.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use provisioner_core::spec::check_environment_name;
use provisioner_core::{AwsContext, EnvironmentSpec, ProvisionError};
use serde_json::Value;

use crate::input::{CloudFormationContext, ExecutionAction, ExecutionInput};
use crate::respond::{self, Outcome};
use crate::response_url::ResponseUrlPolicy;

/// Properties CloudFormation itself uses; everything else is the environment spec.
const RESERVED_PROPERTIES: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

/// The physical id of a resource whose Create was refused: not a valid environment name, so the
/// Delete that CloudFormation sends afterwards is answered at once.
fn refused_id(request_id: &str) -> String {
    format!("invalid:{request_id}")
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    AnswerNow {
        physical_resource_id: String,
        outcome: Outcome,
    },
    Start {
        execution_name: String,
        input: ExecutionInput,
    },
}

/// The spec inside the properties, without CloudFormation's own.
pub fn spec_of(properties: &Value) -> Value {
    let mut spec = properties.clone();
    if let Some(map) = spec.as_object_mut() {
        for key in RESERVED_PROPERTIES {
            map.remove(key);
        }
    }
    spec
}

/// Execution names allow letters, digits, `-` and `_`, up to 80 characters.
pub fn execution_name(request_id: &str) -> String {
    let clean: String = request_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(76)
        .collect();
    format!("cfn-{clean}")
}

pub fn decide(request: &CloudFormationCustomResourceRequest, region: &str) -> Decision {
    let context = match context_of(request) {
        Ok(context) => context,
        Err(e) => {
            return Decision::AnswerNow {
                physical_resource_id: refused_id("unknown"),
                outcome: Outcome::Failed {
                    reason: e.to_string(),
                },
            }
        }
    };
    let properties = match request {
        CloudFormationCustomResourceRequest::Create(r) => &r.resource_properties,
        CloudFormationCustomResourceRequest::Update(r) => &r.resource_properties,
        _ => {
            let environment = context.physical_resource_id.clone().unwrap_or_default();
            if check_environment_name(&environment).is_err() {
                // A Create that was refused made nothing: there is nothing to delete.
                return Decision::AnswerNow {
                    physical_resource_id: environment,
                    outcome: Outcome::Success {
                        data: Default::default(),
                    },
                };
            }
            return Decision::Start {
                execution_name: execution_name(&context.request_id),
                input: ExecutionInput {
                    action: ExecutionAction::Destroy,
                    spec: None,
                    environment: Some(environment),
                    cloud_formation: Some(context),
                },
            };
        }
    };
    let spec = spec_of(properties);
    if let Err(e) = EnvironmentSpec::from_json(&spec, region) {
        let physical_resource_id = context
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| refused_id(&context.request_id));
        return Decision::AnswerNow {
            physical_resource_id,
            outcome: Outcome::Failed {
                reason: format!("invalid properties of {}: {e}", context.logical_resource_id),
            },
        };
    }
    // A changed name is a new environment (a replacement): CloudFormation deletes the old one
    // with a later Delete of the old physical id.
    Decision::Start {
        execution_name: execution_name(&context.request_id),
        input: ExecutionInput {
            action: ExecutionAction::Apply,
            spec: Some(spec),
            environment: None,
            cloud_formation: Some(context),
        },
    }
}

/// The custom resource function.
pub struct CustomResource {
    pub sfn: aws_sdk_sfn::Client,
    pub state_machine_arn: String,
    pub region: String,
    pub policy: ResponseUrlPolicy,
}

impl CustomResource {
    pub async fn handle(&self, event: Value) -> Result<Value, ProvisionError> {
        let request: CloudFormationCustomResourceRequest = serde_path_to_error::deserialize(event)
            .map_err(|e| {
                ProvisionError::request(
                    e.path().to_string(),
                    format!(
                        "{}; expected a CloudFormation custom resource request",
                        e.inner()
                    ),
                )
            })?;
        let context = context_of(&request)?;
        // Nothing is sent anywhere, and nothing started, unless the answer can go to S3.
        self.policy.check(&context.response_url)?;
        match decide(&request, &self.region) {
            Decision::AnswerNow {
                physical_resource_id,
                outcome,
            } => {
                respond::send(&self.policy, &context, &physical_resource_id, &outcome).await?;
                Ok(
                    serde_json::json!({"answered": true, "physicalResourceId": physical_resource_id}),
                )
            }
            Decision::Start {
                execution_name,
                input,
            } => {
                let input_json = serde_json::to_string(&input)
                    .map_err(|e| ProvisionError::Conflict(e.to_string()))?;
                let started = self
                    .sfn
                    .start_execution()
                    .state_machine_arn(&self.state_machine_arn)
                    .name(&execution_name)
                    .input(input_json)
                    .send()
                    .await
                    .context("StartExecution", &execution_name);
                let arn = match started {
                    Ok(out) => out.execution_arn().to_string(),
                    // A retried invocation: the first one started it.
                    Err(e) if e.aws_code() == Some("ExecutionAlreadyExists") => {
                        format!(
                            "{}:{execution_name}",
                            self.state_machine_arn
                                .replace(":stateMachine:", ":execution:")
                        )
                    }
                    Err(e) => return Err(e),
                };
                tracing::info!(execution = %arn, "started execution");
                Ok(serde_json::json!({"answered": false, "executionArn": arn}))
            }
        }
    }
}

pub fn context_of(
    request: &CloudFormationCustomResourceRequest,
) -> Result<CloudFormationContext, ProvisionError> {
    let (response_url, stack_id, request_id, logical, physical, kind) = match request {
        CloudFormationCustomResourceRequest::Create(r) => (
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            None,
            "Create",
        ),
        CloudFormationCustomResourceRequest::Update(r) => (
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(&r.physical_resource_id),
            "Update",
        ),
        CloudFormationCustomResourceRequest::Delete(r) => (
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(&r.physical_resource_id),
            "Delete",
        ),
        _ => {
            return Err(ProvisionError::request(
                "RequestType",
                "allowed: Create, Update, Delete",
            ))
        }
    };
    Ok(CloudFormationContext {
        response_url: response_url.clone(),
        stack_id: stack_id.clone(),
        request_id: request_id.clone(),
        logical_resource_id: logical.clone(),
        physical_resource_id: physical.cloned(),
        request_type: kind.to_string(),
    })
}
