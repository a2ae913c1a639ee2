//! Lambda entry of the custom resource: `STATE_MACHINE_ARN` names the state machine it starts.

use custom_resource::{to_lambda, CustomResource, ResponseUrlPolicy};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::telemetry::init_lambda();
    let config = provisioner_core::aws::load_config(None).await;
    let function = CustomResource {
        sfn: aws_sdk_sfn::Client::new(&config),
        state_machine_arn: std::env::var("STATE_MACHINE_ARN")?,
        region: provisioner_core::aws::region_of(&config)?,
        policy: ResponseUrlPolicy::s3_only(),
    };
    let function = &function;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            to_lambda(function.handle(event.payload).await)
        },
    ))
    .await
}
