//! Lambda entry of the ALB stage: builds the clients once, hands every event to the stage.

use alb_stage::AlbStage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::stage::serve(|config, region| {
        AlbStage::new(
            aws_sdk_elasticloadbalancingv2::Client::new(config),
            aws_sdk_ssm::Client::new(config),
            region,
        )
    })
    .await
}
