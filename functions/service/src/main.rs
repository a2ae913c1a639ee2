//! Lambda entry of the service stage: stage requests and ECR push events.

use service_stage::{Clients, ServiceStage, DEFAULT_EXECUTION_ROLE_VAR};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    provisioner_core::lambda::serve(
        |config, region| {
            let default_role = std::env::var(DEFAULT_EXECUTION_ROLE_VAR).ok();
            Ok(ServiceStage::new(
                Clients::new(config),
                region,
                default_role,
            ))
        },
        service_stage::handle_event,
    )
    .await
}
