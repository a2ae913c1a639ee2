//! CloudFormation custom resource entry and the state machine's control steps.

pub mod control;
pub mod entry;
pub mod input;
pub mod respond;
pub mod response_url;

pub use control::Control;
pub use entry::CustomResource;
pub use input::{CloudFormationContext, ExecutionAction, ExecutionInput};
pub use response_url::ResponseUrlPolicy;

/// Turns a handler result into what the Lambda runtime reports, with the stable error names.
pub fn to_lambda<T>(
    result: Result<T, provisioner_core::ProvisionError>,
) -> Result<T, lambda_runtime::Diagnostic> {
    result.map_err(|e| {
        tracing::error!(error_type = e.kind().name(), error = %e, "failed");
        e.into()
    })
}
