//! Lambda entry of the service stage: stage requests and ECR push events.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<service_stage::ServiceStage>().await
}
