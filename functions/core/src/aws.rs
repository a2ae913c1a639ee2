//! AWS configuration shared by every entry point. The same code runs against AWS and the local
//! emulator: an endpoint override (argument or the standard `AWS_ENDPOINT_URL` variable) is all that
//! differs.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// Attempts per AWS call, including the first. Throttling and 5xx answers are retried by the SDK
/// with exponential backoff; what still fails is reported as `Retryable` to the state machine.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long one attempt of a call may take, from sending to the whole answer: AWS answers in well
/// under a second; a call that hangs is abandoned and counted as ambiguous (it may have been
/// applied), long before its Lambda runs out of time.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may take with all its retries: below the stage functions' 120 s Lambda
/// timeout (template.yaml), so a stuck call ends as a Retryable error the state machine retries,
/// not as a Lambda timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(100);

/// The timeouts above, each multiplied by `stretch` (1 on AWS; the local world, whose clock runs
/// faster, stretches them so they stay longer than the emulator takes to answer).
pub fn timeouts(stretch: f64) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.mul_f64(stretch))
        .read_timeout(ATTEMPT_TIMEOUT.mul_f64(stretch))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.mul_f64(stretch))
        .operation_timeout(OPERATION_TIMEOUT.mul_f64(stretch))
        .build()
}

/// Loads the standard AWS configuration (environment, profile, Lambda role), with the retry policy
/// and timeouts above and an optional endpoint override.
pub async fn load_config(endpoint_url: Option<&str>) -> SdkConfig {
    loader(endpoint_url).load().await
}

/// The loader behind [`load_config`], for callers that add their own credentials or region.
pub fn loader(endpoint_url: Option<&str>) -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(timeouts(1.0));
    match endpoint_url {
        Some(url) => loader.endpoint_url(url),
        None => loader,
    }
}

/// The region the clients talk to; the spec's availability zones are resolved against it.
pub fn region_of(config: &SdkConfig) -> Result<String, crate::ProvisionError> {
    config.region().map(|r| r.to_string()).ok_or_else(|| {
        crate::ProvisionError::request(
            "region",
            "no AWS region configured; set AWS_REGION (Lambda sets it for you)",
        )
    })
}
