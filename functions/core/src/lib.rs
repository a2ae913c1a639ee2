//! What every fargate-provisioner stage shares: the environment spec and its validation, the stage
//! protocol, naming and tags, the SSM store, AWS configuration and the error type.

pub mod aws;
pub mod error;
pub mod lambda;
pub mod naming;
pub mod outputs;
pub mod spec;
pub mod stage;
pub mod store;
pub mod telemetry;

pub use error::{AwsContext, ErrorKind, NotFoundAsNone, ProvisionError};
pub use naming::Names;
pub use spec::EnvironmentSpec;
pub use stage::{Action, Readiness, Stage, StageRequest, StageSummary};
pub use store::{OutputValue, Outputs, SsmStore, UpstreamOutputs};
