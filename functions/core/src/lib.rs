//! What every fargate-provisioner stage shares: the environment spec and its validation, the stage
//! protocol and the stage table, naming, tags and ownership, the SSM store, AWS configuration and
//! the error type.

pub mod aws;
pub mod changes;
pub mod cost;
pub mod earliest;
#[cfg(feature = "ecs")]
pub mod ecs_tasks;
pub mod endpoint_plan;
pub mod error;
pub mod exactly_once;
pub mod image;
pub mod lambda;
pub mod naming;
pub mod not_yet;
pub mod outputs;
pub mod quotas;
#[cfg(feature = "dynamodb")]
pub mod registry;
pub mod spec;
pub mod stage;
pub mod stages;
pub mod store;
pub mod tags;
pub mod telemetry;
#[cfg(feature = "ec2")]
pub mod vpc_dns;
pub mod wait_budget;
pub mod zones;

pub use changes::{Change, ChangeKind};
pub use error::{AwsContext, ErrorKind, NotFoundAsNone, ProvisionError};
pub use lambda::{Function, Setup};
pub use naming::Names;
pub use spec::EnvironmentSpec;
pub use stage::{settle_all, Action, Readiness, Stage, StageContext, StageRequest, StageSummary};
pub use store::{OutputValue, Outputs, SsmStore, Stored, UpstreamOutputs};
pub use tags::Owner;
