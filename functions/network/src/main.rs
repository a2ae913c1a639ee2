//! Lambda entry of the network stage: builds the clients once, hands every event to the stage.

use network_stage::NetworkStage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::stage::serve(|config, region| {
        NetworkStage::new(
            aws_sdk_ec2::Client::new(config),
            aws_sdk_ssm::Client::new(config),
            region,
        )
    })
    .await
}
