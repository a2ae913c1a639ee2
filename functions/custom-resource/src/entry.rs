//! The custom resource (`Custom::FargateEnvironment`): CloudFormation calls this function; it
//! checks the properties and either answers at once (bad input: FAILED naming the field; Delete of
//! something that never existed: SUCCESS) or starts an execution of the state machine, whose last
//! state answers CloudFormation. The execution name comes from the request id, so a retried
//! invocation does not start a second execution.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use provisioner_core::spec::check_environment_name;
use provisioner_core::{AwsContext, EnvironmentSpec, Function, ProvisionError, Setup};
use serde_json::Value;

use crate::input::{CloudFormationContext, ExecutionAction, ExecutionInput};
use crate::pending::PendingRequests;
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
        /// The request the execution answers, kept apart from its input.
        request: CloudFormationContext,
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

/// How the names of the executions this function starts begin: only they answer CloudFormation.
pub const EXECUTION_PREFIX: &str = "cfn-";

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
    format!("{EXECUTION_PREFIX}{clean}")
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
                },
                request: context,
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
        },
        request: context,
    }
}

/// The custom resource function.
pub struct CustomResource {
    pub sfn: aws_sdk_sfn::Client,
    pub pending: PendingRequests,
    pub state_machine_arn: String,
    pub region: String,
    pub policy: ResponseUrlPolicy,
}

/// The environment variable naming the state machine the custom resource starts.
pub const STATE_MACHINE_ARN_VAR: &str = "STATE_MACHINE_ARN";

/// The environment variable naming the DynamoDB table of the requests executions answer.
pub const REQUEST_TABLE_VAR: &str = "REQUEST_TABLE";

impl Function for CustomResource {
    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError> {
        Ok(CustomResource {
            sfn: aws_sdk_sfn::Client::new(setup.config),
            pending: PendingRequests {
                dynamodb: aws_sdk_dynamodb::Client::new(setup.config),
                table: setup.required_var(REQUEST_TABLE_VAR)?,
            },
            state_machine_arn: setup.required_var(STATE_MACHINE_ARN_VAR)?,
            region: setup.region.clone(),
            policy: ResponseUrlPolicy::s3_only(),
        })
    }

    async fn handle(&self, event: Value) -> Result<Value, lambda_runtime::Diagnostic> {
        provisioner_core::lambda::to_lambda(self.answer(event).await)
    }
}

impl CustomResource {
    pub async fn answer(&self, event: Value) -> Result<Value, ProvisionError> {
        let parsed = serde_path_to_error::deserialize(&event)
            .map_err(|e| {
                ProvisionError::request(
                    e.path().to_string(),
                    format!(
                        "{}; expected a CloudFormation custom resource request (RequestType Create, Update or Delete; ResponseURL, StackId, RequestId, LogicalResourceId)",
                        e.inner()
                    ),
                )
            })
            .and_then(|request: CloudFormationCustomResourceRequest| {
                Ok((context_of(&request)?, request))
            });
        let (context, request) = match parsed {
            Ok(parsed) => parsed,
            // Malformed, but with somewhere to answer: CloudFormation hears why instead of
            // waiting for its timeout.
            Err(e) => return self.answer_malformed(&event, e).await,
        };
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
                request,
            } => {
                self.pending.keep(&execution_name, &request).await?;
                let input_json = serde_json::to_string(&input)
                    .map_err(|e| ProvisionError::internal("encoding the execution input", e))?;
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

impl CustomResource {
    /// Answers FAILED, with `problem`, a request that is not a valid custom resource request but
    /// names a ResponseURL that may be answered; otherwise gives `problem` back.
    async fn answer_malformed(
        &self,
        event: &Value,
        problem: ProvisionError,
    ) -> Result<Value, ProvisionError> {
        let Some(context) = salvaged_context(event) else {
            return Err(problem);
        };
        if self.policy.check(&context.response_url).is_err() {
            return Err(problem);
        }
        tracing::error!(error = %problem, "malformed custom resource request, answered FAILED");
        let physical_resource_id = context
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| refused_id(&context.request_id));
        let outcome = Outcome::Failed {
            reason: problem.to_string(),
        };
        respond::send(&self.policy, &context, &physical_resource_id, &outcome).await?;
        Ok(serde_json::json!({"answered": true, "physicalResourceId": physical_resource_id}))
    }
}

/// Whatever a malformed request says about where and to whom to answer.
fn salvaged_context(event: &Value) -> Option<CloudFormationContext> {
    let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_string);
    Some(CloudFormationContext {
        response_url: text("ResponseURL")?,
        stack_id: text("StackId").unwrap_or_default(),
        request_id: text("RequestId").unwrap_or_default(),
        logical_resource_id: text("LogicalResourceId").unwrap_or_default(),
        physical_resource_id: text("PhysicalResourceId"),
        request_type: text("RequestType").unwrap_or_default(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(
        kind: &str,
        properties: Value,
        physical: Option<&str>,
        old: Option<Value>,
    ) -> CloudFormationCustomResourceRequest {
        let mut r = json!({
            "RequestType": kind, "RequestId": "9f7e-1", "ResponseURL": "https://b.s3.amazonaws.com/k?Signature=x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1", "LogicalResourceId": "Env",
            "ResourceType": "Custom::FargateEnvironment", "ResourceProperties": properties,
        });
        if let Some(p) = physical {
            r["PhysicalResourceId"] = json!(p);
        }
        if let Some(o) = old {
            r["OldResourceProperties"] = o;
        }
        serde_json::from_value(r).unwrap()
    }

    fn props(name: &str, desired: &str) -> Value {
        json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:cr", "ServiceTimeout": "3600",
               "name": name, "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest", "desiredCount": desired}})
    }

    #[test]
    fn a_valid_create_starts_an_apply_named_after_the_request() {
        let Decision::Start {
            execution_name,
            input,
            request: kept,
        } = decide(
            &request("Create", props("demo", "2"), None, None),
            "us-east-1",
        )
        else {
            panic!("expected a start");
        };
        assert_eq!(execution_name, "cfn-9f7e-1");
        assert_eq!(input.action, ExecutionAction::Apply);
        let spec = input.spec.clone().unwrap();
        assert!(spec.get("ServiceToken").is_none() && spec.get("ServiceTimeout").is_none());
        assert_eq!(kept.request_type, "Create");
        // The ResponseURL stays out of the execution's input (and so its history).
        let encoded = serde_json::to_string(&input).unwrap();
        assert!(!encoded.contains(&kept.response_url), "{encoded}");
    }

    #[test]
    fn a_bad_create_is_answered_failed_naming_the_field() {
        let Decision::AnswerNow {
            physical_resource_id,
            outcome,
        } = decide(
            &request("Create", props("demo", "-1"), None, None),
            "us-east-1",
        )
        else {
            panic!("expected an answer");
        };
        assert!(
            check_environment_name(&physical_resource_id).is_err(),
            "{physical_resource_id}"
        );
        let Outcome::Failed { reason } = outcome else {
            panic!()
        };
        assert!(reason.contains("service.desiredCount"), "{reason}");
    }

    #[test]
    fn an_update_that_renames_is_a_replacement_with_the_new_name() {
        let decision = decide(
            &request(
                "Update",
                props("demo2", "2"),
                Some("demo"),
                Some(props("demo", "2")),
            ),
            "us-east-1",
        );
        let Decision::Start { input, request, .. } = decision else {
            panic!()
        };
        assert_eq!(input.action, ExecutionAction::Apply);
        assert_eq!(input.spec.unwrap()["name"], "demo2");
        assert_eq!(request.physical_resource_id.as_deref(), Some("demo"));
    }

    #[test]
    fn delete_of_a_refused_create_succeeds_at_once_and_a_real_one_destroys() {
        let refused = decide(
            &request("Delete", props("demo", "-1"), Some("invalid:9f7e-0"), None),
            "us-east-1",
        );
        assert!(matches!(
            refused,
            Decision::AnswerNow {
                outcome: Outcome::Success { .. },
                ..
            }
        ));
        let real = decide(
            &request("Delete", props("demo", "2"), Some("demo"), None),
            "us-east-1",
        );
        let Decision::Start { input, .. } = real else {
            panic!()
        };
        assert_eq!(
            (input.action, input.environment.as_deref()),
            (ExecutionAction::Destroy, Some("demo"))
        );
    }
}
