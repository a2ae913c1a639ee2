//! Lambda entry of the network stage: builds the clients once, hands every event to the stage.

use lambda_runtime::{service_fn, LambdaEvent};
use network_stage::NetworkStage;
use provisioner_core::aws;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::telemetry::init_lambda();
    let config = aws::load_config(None).await;
    let region = aws::region_of(&config)?;
    let stage = NetworkStage::new(
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_ssm::Client::new(&config),
        region,
    );
    let stage = &stage;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            provisioner_core::stage::handle(stage, event.payload).await
        },
    ))
    .await
}
