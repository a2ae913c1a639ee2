//! AWS configuration shared by every entry point. The same code runs against AWS and the local
//! emulator: an endpoint override (argument or the standard `AWS_ENDPOINT_URL` variable) is all that
//! differs.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// Attempts per AWS call, including the first. Throttling and 5xx answers are retried by the SDK
/// with exponential backoff; what still fails is reported as `Retryable` to the state machine.
pub const MAX_ATTEMPTS: u32 = 5;

/// Loads the standard AWS configuration (environment, profile, Lambda role), with the retry policy
/// above and an optional endpoint override.
pub async fn load_config(endpoint_url: Option<&str>) -> SdkConfig {
    loader(endpoint_url).load().await
}

/// The loader behind [`load_config`], for callers that add their own credentials or region.
pub fn loader(endpoint_url: Option<&str>) -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
        RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200)),
    );
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
