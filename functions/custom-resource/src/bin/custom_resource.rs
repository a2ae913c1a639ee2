//! Lambda entry of the custom resource: `STATE_MACHINE_ARN` names the state machine it starts.

use custom_resource::{to_lambda, CustomResource, ResponseUrlPolicy};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::serve(
        |config, region| {
            Ok(CustomResource {
                sfn: aws_sdk_sfn::Client::new(config),
                state_machine_arn: std::env::var("STATE_MACHINE_ARN")?,
                region,
                policy: ResponseUrlPolicy::s3_only(),
            })
        },
        |function: &'static CustomResource, event| async move {
            to_lambda(function.handle(event).await)
        },
    )
    .await
}
