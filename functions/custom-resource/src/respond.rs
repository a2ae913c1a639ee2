//! Answering CloudFormation: one PUT of the response document to the pre-signed ResponseURL.

use std::collections::HashMap;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};
use provisioner_core::ProvisionError;

use crate::input::CloudFormationContext;
use crate::response_url::ResponseUrlPolicy;

/// CloudFormation rejects response bodies over 4096 bytes; the reason is what gets cut.
const MAX_REASON: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success { data: HashMap<String, String> },
    Failed { reason: String },
}

pub fn document(
    context: &CloudFormationContext,
    physical_resource_id: &str,
    outcome: &Outcome,
) -> CloudFormationCustomResourceResponse {
    let mut response = CloudFormationCustomResourceResponse::default();
    response.stack_id = context.stack_id.clone();
    response.request_id = context.request_id.clone();
    response.logical_resource_id = context.logical_resource_id.clone();
    response.physical_resource_id = physical_resource_id.to_string();
    match outcome {
        Outcome::Success { data } => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.data = data.clone();
        }
        Outcome::Failed { reason } => {
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            let mut reason = reason.clone();
            if reason.len() > MAX_REASON {
                let mut cut = MAX_REASON;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                reason.truncate(cut);
                reason.push_str("... (see the execution history)");
            }
            response.reason = Some(reason);
        }
    }
    response
}

/// Sends the answer. The URL is checked first; the body goes with an empty content type, which
/// is what the pre-signed URL was signed for.
pub async fn send(
    policy: &ResponseUrlPolicy,
    context: &CloudFormationContext,
    physical_resource_id: &str,
    outcome: &Outcome,
) -> Result<(), ProvisionError> {
    policy.check(&context.response_url)?;
    let body = serde_json::to_string(&document(context, physical_resource_id, outcome))
        .map_err(|e| ProvisionError::internal("encoding the response", e))?;
    let url = context.response_url.clone();
    let sent = tokio::task::spawn_blocking(move || {
        ureq::put(&url)
            .header("Content-Type", "")
            .send(body.as_bytes())
            .map(|_| ())
    })
    .await
    .map_err(|e| ProvisionError::internal("sending the response", e))?;
    sent.map_err(|e| {
        ProvisionError::Busy(format!(
            "could not send the answer to CloudFormation ({}): {e}",
            context.logical_resource_id
        ))
    })?;
    tracing::info!(logical_resource = %context.logical_resource_id, physical_resource_id, success = matches!(outcome, Outcome::Success { .. }), "answered CloudFormation");
    Ok(())
}
