//! Lambda entry of the ALB stage.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<alb_stage::AlbStage>().await
}
