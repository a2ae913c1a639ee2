//! Lambda entry of the state machine's control steps (prepare, report, forget).
//! `POLL_SECONDS` sets the wait between status polls (default 15).

use custom_resource::{to_lambda, Control, ResponseUrlPolicy};
use provisioner_core::SsmStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::serve(
        |config, region| {
            Ok(Control {
                store: SsmStore::new(aws_sdk_ssm::Client::new(config)),
                region,
                policy: ResponseUrlPolicy::s3_only(),
                poll_seconds: std::env::var("POLL_SECONDS")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(custom_resource::control::DEFAULT_POLL_SECONDS),
            })
        },
        |control: &'static Control, event| async move { to_lambda(control.handle(event).await) },
    )
    .await
}
