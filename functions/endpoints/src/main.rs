//! Lambda entry of the endpoints stage.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<endpoints_stage::EndpointsStage>().await
}
