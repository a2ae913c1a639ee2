//! Lambda entry of the network stage.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<network_stage::NetworkStage>().await
}
