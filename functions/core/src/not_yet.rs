//! AWS answers that mean "not yet" rather than "no": EC2 is eventually consistent, so for a while
//! after a create a call naming the new id may answer `Invalid<Kind>ID.NotFound` ("Eventual
//! consistency in the Amazon EC2 API"), and the first ECS cluster of a new account fails with
//! "Unable to assume the service linked role" while that role propagates. Calls that can meet such
//! an answer get a [`NotYet`] retry classifier, so the SDK's own retry loop retries them with its
//! backoff (and its sleep, which the local world runs on its clock).

use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_types::retry::RetryConfig;

/// Retries the answers `matches` recognises, by error code and message.
#[derive(Debug, Clone, Copy)]
pub struct NotYet {
    name: &'static str,
    matches: fn(code: &str, message: &str) -> bool,
}

/// EC2's answer for an id it does not know yet.
pub const UNKNOWN_ID: NotYet = NotYet {
    name: "EC2 eventual consistency",
    matches: |code, _| code.starts_with("Invalid") && code.ends_with(".NotFound"),
};

/// ECS's answer while its service-linked role propagates.
pub const LINKED_ROLE_PROPAGATING: NotYet = NotYet {
    name: "ECS service-linked role propagation",
    matches: |code, message| {
        code == "InvalidParameterException"
            && message.contains("Unable to assume the service linked role")
    },
};

/// How long the SDK keeps retrying such answers: about two minutes (1 s doubling to 20 s), the
/// time AWS's own tools allow for propagation.
pub fn patient_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_secs(1))
        .with_max_backoff(Duration::from_secs(20))
}

impl NotYet {
    /// Whether AWS's answer `code`, `message` is this "not yet".
    pub fn matches(&self, code: &str, message: &str) -> bool {
        (self.matches)(code, message)
    }
}

impl ClassifyRetry for NotYet {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if !matches!(ctx.output_or_error(), Some(Err(_))) {
            return RetryAction::NoActionIndicated;
        }
        let body = ctx
            .response()
            .and_then(|r| r.body().bytes())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        match code_and_message(body) {
            Some((code, message)) if self.matches(&code, &message) => {
                RetryAction::transient_error()
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// The error code and message of an AWS error body: XML (`<Code>`, `<Message>`; EC2, ELB) or JSON
/// (`__type`, `message`; ECS and the other JSON services).
pub fn code_and_message(body: &str) -> Option<(String, String)> {
    if body.trim_start().starts_with('<') {
        let element = |name: &str| {
            let open = format!("<{name}>");
            let start = body.find(&open)? + open.len();
            let end = start + body[start..].find(&format!("</{name}>"))?;
            Some(body[start..end].to_string())
        };
        return Some((element("Code")?, element("Message").unwrap_or_default()));
    }
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = json.get("__type").or_else(|| json.get("code"))?.as_str()?;
    // `__type` may carry a namespace: `com.amazonaws.ecs#InvalidParameterException`.
    let code = code.rsplit('#').next().unwrap_or(code).to_string();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| json.get(*k)?.as_str())
        .unwrap_or_default()
        .to_string();
    Some((code, message))
}

/// Reads until `read` answers true, backing off as [`patient_retries`] does (sleeping with
/// `sleep`, the SDK client's); false when it never does. For a read-back right after a change,
/// which may still show the old value.
pub async fn read_until_true<F, Fut>(
    sleep: Option<aws_smithy_async::rt::sleep::SharedAsyncSleep>,
    mut read: F,
) -> Result<bool, crate::ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, crate::ProvisionError>>,
{
    use aws_smithy_async::rt::sleep::AsyncSleep;
    let config = patient_retries();
    let mut backoff = config.initial_backoff();
    for _ in 1..config.max_attempts() {
        if read().await? {
            return Ok(true);
        }
        match &sleep {
            Some(sleep) => sleep.sleep(backoff).await,
            None => tokio::time::sleep(backoff).await,
        }
        backoff = (backoff * 2).min(config.max_backoff());
    }
    read().await
}

/// An EC2 client that waits out [`UNKNOWN_ID`]: for code converging what it just created or read.
#[cfg(feature = "ec2")]
pub fn patient_ec2(ec2: &aws_sdk_ec2::Client) -> aws_sdk_ec2::Client {
    let config = ec2
        .config()
        .to_builder()
        .retry_config(patient_retries())
        .retry_classifier(UNKNOWN_ID)
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_read_from_xml_and_json_bodies() {
        let xml = "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors></Response>";
        assert_eq!(
            code_and_message(xml),
            Some((
                "InvalidVpcID.NotFound".into(),
                "The vpc ID 'vpc-1' does not exist".into()
            ))
        );
        let json = r#"{"__type":"com.amazonaws.ecs#InvalidParameterException","message":"Unable to assume the service linked role. Please verify that the ECS service linked role exists."}"#;
        let (code, message) = code_and_message(json).unwrap();
        assert!(LINKED_ROLE_PROPAGATING.matches(&code, &message));
        assert!(!UNKNOWN_ID.matches(&code, &message));
        assert!(UNKNOWN_ID.matches("InvalidSubnetID.NotFound", ""));
        assert!(!UNKNOWN_ID.matches("InvalidParameterValue", ""));
        assert!(!LINKED_ROLE_PROPAGATING.matches(
            "InvalidParameterException",
            "Container port 80 is not in the task definition"
        ));
        assert_eq!(code_and_message("not an error"), None);
    }
}
