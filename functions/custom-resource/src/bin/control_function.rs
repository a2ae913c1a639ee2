//! Lambda entry of the state machine's control steps (prepare, report, forget).
//! `POLL_SECONDS` sets the shortest wait between status polls (default 5).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<custom_resource::Control>().await
}
