//! Answering CloudFormation: one PUT of the response document to the pre-signed ResponseURL.

use std::collections::HashMap;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};
use provisioner_core::ProvisionError;

use crate::input::CloudFormationContext;
use crate::response_url::ResponseUrlPolicy;

/// CloudFormation rejects response bodies over 4096 bytes and then waits for its timeout.
const MAX_BODY: usize = 4096;

/// What a cut reason ends with.
const CUT: &str = "... (see the execution history)";

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
            response.reason = Some(reason.clone());
        }
    }
    response
}

/// The response as sent: at most 4096 bytes encoded. A reason that does not fit is cut by what
/// it takes once JSON-escaped (a quote or a control character takes 2 to 6 bytes).
pub fn body(
    context: &CloudFormationContext,
    physical_resource_id: &str,
    outcome: &Outcome,
) -> Result<String, ProvisionError> {
    let mut response = document(context, physical_resource_id, outcome);
    let encode = |r: &CloudFormationCustomResourceResponse| {
        serde_json::to_string(r).map_err(|e| ProvisionError::internal("encoding the response", e))
    };
    let whole = encode(&response)?;
    let Some(reason) = response.reason.clone().filter(|_| whole.len() > MAX_BODY) else {
        return Ok(whole);
    };
    // The longest prefix of the reason (in characters) whose response fits.
    let boundaries: Vec<usize> = reason.char_indices().map(|(i, _)| i).collect();
    let (mut fits, mut too_long) = (0, boundaries.len());
    while fits + 1 < too_long {
        let mid = (fits + too_long) / 2;
        response.reason = Some(format!("{}{CUT}", &reason[..boundaries[mid]]));
        if encode(&response)?.len() <= MAX_BODY {
            fits = mid;
        } else {
            too_long = mid;
        }
    }
    response.reason = Some(format!("{}{CUT}", &reason[..boundaries[fits]]));
    encode(&response)
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
    let body = body(context, physical_resource_id, outcome)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn context(logical_id: &str) -> CloudFormationContext {
        serde_json::from_value(serde_json::json!({
            "responseUrl": "https://bucket.s3.amazonaws.com/key?X-Amz-Signature=x",
            "stackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            "requestId": "r-1",
            "logicalResourceId": logical_id,
            "requestType": "Create",
        }))
        .unwrap()
    }

    #[test]
    fn an_answer_fits_in_4096_bytes_however_its_reason_escapes() {
        let escaping = "\"\\\u{1}\n\u{7f}é\u{2028}".repeat(2000);
        for reason in [escaping, "x".repeat(10_000), "short".to_string()] {
            let outcome = Outcome::Failed {
                reason: reason.clone(),
            };
            let text = body(&context("Env\"\\"), "physical", &outcome).unwrap();
            assert!(text.len() <= MAX_BODY, "{} bytes", text.len());
            let sent: serde_json::Value = serde_json::from_str(&text).unwrap();
            let said = sent["Reason"].as_str().unwrap();
            match said.strip_suffix(CUT) {
                Some(kept) => {
                    assert!(reason.starts_with(kept));
                    // Cut no more than needed: the body is nearly full.
                    assert!(text.len() > MAX_BODY - 16, "{} bytes", text.len());
                }
                None => assert_eq!(said, reason),
            }
        }
    }
}
