//! AWS answers that mean "not yet" rather than "no": EC2 is eventually consistent, so for a while
//! after a create a call naming the new id may answer `Invalid<Kind>ID.NotFound` ("Eventual
//! consistency in the Amazon EC2 API"), and the first ECS cluster of a new account fails with
//! "Unable to assume the service linked role" while that role propagates. Calls that can meet such
//! an answer get a [`NotYet`] retry classifier, so the SDK's own retry loop retries them, as often
//! as the answer needs (and with its sleep, which the local world runs on its clock).

use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_types::retry::RetryConfig;

/// Retries the answers `matches` recognises, by error code and message, every `wait`: about the
/// time AWS takes to settle, so a retry seldom comes too soon and spends a call for nothing (the
/// SDK's jittered backoff would retry within the first second). Other retryable errors keep the
/// SDK's backoff.
#[derive(Debug, Clone, Copy)]
pub struct NotYet {
    name: &'static str,
    matches: fn(code: &str, message: &str) -> bool,
    wait: Duration,
    /// Attempts in all before the answer counts as "no".
    attempts: u32,
}

/// EC2's answer for an id it does not know yet: known everywhere within seconds; given about
/// forty seconds (2 s apart). Its clients' other retryable errors (throttling) get as many
/// attempts, with the SDK's backoff.
pub const UNKNOWN_ID: NotYet = NotYet {
    name: "EC2 eventual consistency",
    matches: |code, _| code.starts_with("Invalid") && code.ends_with(".NotFound"),
    wait: Duration::from_secs(2),
    attempts: 20,
};

/// ECS's answer while its service-linked role propagates: seconds to tens of seconds; given
/// three minutes (10 s apart).
pub const LINKED_ROLE_PROPAGATING: NotYet = NotYet {
    name: "ECS service-linked role propagation",
    matches: |code, message| {
        code == "InvalidParameterException"
            && message.contains("Unable to assume the service linked role")
    },
    wait: Duration::from_secs(10),
    attempts: 18,
};

/// EC2's answer to private DNS on a VPC whose DNS attributes read off: right after the network
/// stage turned them on, they may still read off for a while (eventual consistency); given two
/// minutes (10 s apart) before the attributes count as off.
pub const PRIVATE_DNS_REFUSED: NotYet = NotYet {
    name: "VPC DNS attributes propagating",
    matches: |code, message| {
        code == "InvalidParameter" && message.contains("Enabling private DNS requires")
    },
    wait: Duration::from_secs(10),
    attempts: 12,
};

impl NotYet {
    /// Whether AWS's answer `code`, `message` is this "not yet".
    pub fn matches(&self, code: &str, message: &str) -> bool {
        (self.matches)(code, message)
    }

    /// The retry configuration that gives this answer its attempts; other errors are retried
    /// as the SDK's standard mode retries them.
    pub fn retries(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.attempts)
            .with_max_backoff(Duration::from_secs(20))
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
                RetryAction::retryable_error_with_explicit_delay(
                    aws_smithy_types::retry::ErrorKind::TransientError,
                    self.wait,
                )
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

/// Waits the moment EC2 takes to know the ids it has just made everywhere ([`UNKNOWN_ID`]'s
/// wait), with the client's `sleep`: once after a wave of creates, rather than one failed call
/// per call that names one of them.
pub async fn settle(sleep: Option<aws_smithy_async::rt::sleep::SharedAsyncSleep>) {
    use aws_smithy_async::rt::sleep::AsyncSleep;
    if crate::changes::is_planning() {
        return;
    }
    match sleep {
        Some(sleep) => sleep.sleep(UNKNOWN_ID.wait).await,
        None => tokio::time::sleep(UNKNOWN_ID.wait).await,
    }
}

/// An EC2 client that waits out [`UNKNOWN_ID`]: for code converging what it just created or read.
#[cfg(feature = "ec2")]
pub fn patient_ec2(ec2: &aws_sdk_ec2::Client) -> aws_sdk_ec2::Client {
    let config = ec2
        .config()
        .to_builder()
        .retry_config(UNKNOWN_ID.retries())
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
