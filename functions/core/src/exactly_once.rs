//! Creates that happen once, whatever the network does. A 5xx or a timeout does not say whether
//! AWS applied the call; the SDK's retry would send it again and make a second VPC or subnet.
//! So:
//! - a create that takes a client token gets a [`client_token`] made from what identifies the
//!   resource: AWS answers a resend with the first call's result ("Ensuring idempotency in
//!   Amazon EC2 API requests"; ECS API reference, "Ensuring idempotency");
//! - a create that takes none is sent with [`NoBlindResend`] and run by [`create_or_find`], which
//!   after an ambiguous failure looks for the resource by its tags before sending it again.

use std::future::Future;
use std::time::Duration;

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use sha2::{Digest, Sha256};

use crate::ProvisionError;

/// How many times [`create_or_find`] sends a create.
pub const ATTEMPTS: u32 = crate::aws::MAX_ATTEMPTS;

/// The run a stage request belongs to: its Step Functions execution, or for a stage called
/// directly, this invocation.
#[derive(Debug, Clone)]
pub struct Run(String);

/// How the run of a stage called outside an execution is named.
const INVOCATION: &str = "invocation-";

impl Run {
    pub fn of(execution: Option<&str>) -> Self {
        match execution {
            Some(execution) => Run(execution.to_string()),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                Run(format!("{INVOCATION}{nanos}-{}", std::process::id()))
            }
        }
    }
}

tokio::task_local! {
    /// The run of the stage request being handled ([`crate::stage::handle`] sets it).
    pub static RUN: Run;
}

/// The Step Functions execution of the request being handled, if it runs in one.
pub fn current_execution() -> Option<String> {
    RUN.try_with(|r| (!r.0.starts_with(INVOCATION)).then(|| r.0.clone()))
        .ok()
        .flatten()
}

/// A client token for the resource `parts` identify, in this run: the same parts in the same
/// run give the same token, so a resend (by the SDK, or by the state machine running a step
/// again after a crash) is answered with the first call's result. Another run gets other
/// tokens: AWS remembers a token for a while, and a later run that makes the resource anew
/// (after a destroy) must not be answered with the deleted one. 32 characters: ECS takes up to
/// 36, EC2 up to 64.
pub fn client_token(parts: &[&str]) -> String {
    let run = RUN.try_with(|r| r.0.clone()).unwrap_or_default();
    let mut hash = Sha256::new();
    for part in std::iter::once(run.as_str()).chain(parts.iter().copied()) {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A retry classifier that forbids the SDK to resend a call when AWS may have applied it (a 5xx
/// other than throttling, a timeout, a broken connection, an unreadable answer). Throttling and
/// other answers that say the call was not applied are still retried as usual.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlindResend;

impl ClassifyRetry for NoBlindResend {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        // A 5xx, unless its code says throttling (EC2 throttles with a 503): nothing was applied.
        let server_error = ctx.response().is_some_and(|r| {
            let code = r
                .body()
                .bytes()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(crate::not_yet::code_and_message)
                .map(|(code, _)| code);
            r.status().is_server_error()
                && !code.is_some_and(|c| crate::error::is_throttling_code(&c))
        });
        let unknown_outcome =
            error.is_timeout_error() || error.is_connector_error() || error.is_response_error();
        if server_error || unknown_outcome {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "no blind resend of a create"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // Last, so its verdict stands over the standard classifiers'.
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Runs `create` (sent with [`NoBlindResend`]; the SDK still retries what AWS did not apply,
/// such as throttling). After an ambiguous failure, `find` looks for what the create would have
/// made (by its tags or name) after a pause on `sleep` (the client's); what it finds is the
/// answer. Only when nothing is found is the create sent again, up to [`ATTEMPTS`] in all.
pub async fn create_or_find<T, C, CF, F, FF>(
    what: &str,
    sleep: Option<SharedAsyncSleep>,
    mut create: C,
    mut find: F,
) -> Result<T, ProvisionError>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, ProvisionError>>,
    F: FnMut() -> FF,
    FF: Future<Output = Result<Option<T>, ProvisionError>>,
{
    let mut backoff = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        let error = match create().await {
            Ok(made) => return Ok(made),
            Err(e) => e,
        };
        if !error.is_ambiguous() || attempt >= ATTEMPTS {
            return Err(error);
        }
        pause(&sleep, backoff).await;
        tracing::warn!(%what, %error, "the create may have happened: looking for it before sending it again");
        if let Some(found) = find().await? {
            tracing::info!(%what, "found what the ambiguous create made");
            return Ok(found);
        }
        backoff = (backoff * 2).min(Duration::from_secs(20));
        attempt += 1;
    }
}

async fn pause(sleep: &Option<SharedAsyncSleep>, duration: Duration) {
    match sleep {
        Some(sleep) => sleep.sleep(duration).await,
        None => tokio::time::sleep(duration).await,
    }
}

/// A call whose resend AWS answers with "it is already so" (`InvalidPermission.Duplicate`,
/// `RouteAlreadyExists`, `Resource.AlreadyAssociated`, ...): after a resend of an applied call,
/// that answer means done. `codes` are the answers that mean it here; the caller has checked
/// beforehand that the state was not already there, so such an answer comes from our own call.
pub fn already_done(
    result: Result<(), ProvisionError>,
    codes: &[&str],
) -> Result<(), ProvisionError> {
    match result {
        Err(e) if e.aws_code().is_some_and(|c| codes.contains(&c)) => {
            tracing::info!(error = %e, "already so (an earlier attempt of this call was applied)");
            Ok(())
        }
        other => other,
    }
}

/// The override that sends one call with [`NoBlindResend`], per SDK.
#[macro_export]
macro_rules! no_blind_resend {
    ($sdk:ident) => {
        $sdk::config::Builder::default().retry_classifier($crate::exactly_once::NoBlindResend)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_short_and_differ_by_any_part() {
        let token = client_token(&["vpc-1", "private-route-table"]);
        assert_eq!(token, client_token(&["vpc-1", "private-route-table"]));
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(token, client_token(&["vpc-2", "private-route-table"]));
        assert_ne!(token, client_token(&["vpc-1", "public-route-table"]));
        // Parts are separated: moving a character between them changes the token.
        assert_ne!(client_token(&["ab", "c"]), client_token(&["a", "bc"]));
    }

    fn ambiguous() -> ProvisionError {
        ProvisionError::Aws {
            operation: "CreateVpc",
            resource: "demo-vpc".into(),
            code: "InternalError".into(),
            message: "An internal error has occurred".into(),
            kind: crate::ErrorKind::Retryable,
            ambiguous: true,
            source: "500".into(),
        }
    }

    fn throttled() -> ProvisionError {
        ProvisionError::Aws {
            operation: "CreateVpc",
            resource: "demo-vpc".into(),
            code: "RequestLimitExceeded".into(),
            message: "Request limit exceeded.".into(),
            kind: crate::ErrorKind::Retryable,
            ambiguous: false,
            source: "503".into(),
        }
    }

    fn instant() -> Option<SharedAsyncSleep> {
        #[derive(Debug)]
        struct NoWait;
        impl AsyncSleep for NoWait {
            fn sleep(&self, _: Duration) -> aws_smithy_async::rt::sleep::Sleep {
                aws_smithy_async::rt::sleep::Sleep::new(async {})
            }
        }
        Some(SharedAsyncSleep::new(NoWait))
    }

    /// Runs [`create_or_find`] whose create answers `answers` in turn (the last one again once
    /// they run out) and whose lookup finds `found`. Returns the outcome, creates sent and
    /// lookups made.
    async fn run(
        answers: Vec<fn() -> Result<String, ProvisionError>>,
        found: Option<&str>,
    ) -> (Result<String, ProvisionError>, usize, usize) {
        let sent = std::cell::Cell::new(0);
        let looked = std::cell::Cell::new(0);
        let outcome = create_or_find(
            "VPC",
            instant(),
            || {
                let answer = answers[sent.get().min(answers.len() - 1)];
                sent.set(sent.get() + 1);
                async move { answer() }
            },
            || {
                looked.set(looked.get() + 1);
                async move { Ok(found.map(str::to_string)) }
            },
        )
        .await;
        (outcome, sent.get(), looked.get())
    }

    #[tokio::test]
    async fn an_ambiguous_failure_is_followed_by_a_lookup_not_a_resend() {
        let (made, sent, looked) = run(vec![|| Err(ambiguous())], Some("vpc-made")).await;
        assert_eq!((made.unwrap().as_str(), sent, looked), ("vpc-made", 1, 1));
    }

    #[tokio::test]
    async fn nothing_found_means_the_create_is_sent_again() {
        let answers: Vec<fn() -> Result<String, ProvisionError>> =
            vec![|| Err(ambiguous()), || Err(ambiguous()), || {
                Ok("vpc-3".into())
            }];
        let (made, sent, looked) = run(answers, None).await;
        assert_eq!((made.unwrap().as_str(), sent, looked), ("vpc-3", 3, 2));
    }

    #[tokio::test]
    async fn a_refusal_or_spent_throttling_is_not_resent_and_attempts_are_bounded() {
        let refused = run(vec![|| Err(ProvisionError::Conflict("no".into()))], None).await;
        assert!(refused.0.is_err());
        assert_eq!((refused.1, refused.2), (1, 0));
        let throttled = run(vec![|| Err(throttled())], Some("vpc-never")).await;
        assert_eq!(
            throttled.0.unwrap_err().aws_code(),
            Some("RequestLimitExceeded")
        );
        assert_eq!((throttled.1, throttled.2), (1, 0));
        let gave_up = run(vec![|| Err(ambiguous())], None).await;
        assert!(gave_up.0.unwrap_err().is_ambiguous());
        assert_eq!(gave_up.1, ATTEMPTS as usize);
    }

    #[test]
    fn already_done_turns_only_the_named_answers_into_success() {
        let duplicate = || {
            Err(ProvisionError::Aws {
                operation: "AuthorizeSecurityGroupIngress",
                resource: "sg-1".into(),
                code: "InvalidPermission.Duplicate".into(),
                message: "the specified rule already exists".into(),
                kind: crate::ErrorKind::Validation,
                ambiguous: false,
                source: "400".into(),
            })
        };
        assert!(already_done(duplicate(), &["InvalidPermission.Duplicate"]).is_ok());
        assert!(already_done(duplicate(), &["RouteAlreadyExists"]).is_err());
        assert!(already_done(Err(throttled()), &["InvalidPermission.Duplicate"]).is_err());
    }
}
