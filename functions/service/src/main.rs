//! Lambda entry of the service stage: stage requests and ECR push events.

use service_stage::{Clients, ServiceStage, DEFAULT_EXECUTION_ROLE_VAR};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::telemetry::init_lambda();
    let config = provisioner_core::aws::load_config(None).await;
    let region = provisioner_core::aws::region_of(&config)?;
    let default_role = std::env::var(DEFAULT_EXECUTION_ROLE_VAR).ok();
    let stage = ServiceStage::new(Clients::new(&config), region, default_role);
    let stage = &stage;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            service_stage::handle_event(stage, event.payload).await
        },
    ))
    .await
}
