//! Lambda entry of the custom resource: `STATE_MACHINE_ARN` names the state machine it starts.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::run::<custom_resource::CustomResource>().await
}
