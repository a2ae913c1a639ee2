//! CloudFormation custom resource entry and the state machine's control steps.

pub mod control;
pub mod entry;
pub mod input;
pub mod lease;
pub mod pending;
pub mod respond;
pub mod response_url;

pub use control::Control;
pub use entry::CustomResource;
pub use input::{CloudFormationContext, ExecutionAction, ExecutionInput};
pub use response_url::ResponseUrlPolicy;
