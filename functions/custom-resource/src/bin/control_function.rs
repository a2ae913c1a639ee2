//! Lambda entry of the state machine's control steps (prepare, report, forget).
//! `POLL_SECONDS` sets the wait between status polls (default 15).

use custom_resource::{to_lambda, Control, ResponseUrlPolicy};
use provisioner_core::SsmStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::telemetry::init_lambda();
    let config = provisioner_core::aws::load_config(None).await;
    let control = Control {
        store: SsmStore::new(aws_sdk_ssm::Client::new(&config)),
        region: provisioner_core::aws::region_of(&config)?,
        policy: ResponseUrlPolicy::s3_only(),
        poll_seconds: std::env::var("POLL_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(custom_resource::control::DEFAULT_POLL_SECONDS),
    };
    let control = &control;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            to_lambda(control.handle(event.payload).await)
        },
    ))
    .await
}
