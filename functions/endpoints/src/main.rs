//! Lambda entry of the endpoints stage: builds the clients once, hands every event to the stage.

use endpoints_stage::EndpointsStage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::stage::serve(|config, region| {
        EndpointsStage::new(
            aws_sdk_ec2::Client::new(config),
            aws_sdk_ssm::Client::new(config),
            region,
        )
    })
    .await
}
