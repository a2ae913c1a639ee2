//! The command line client's library: start and follow executions of the state machine, show
//! their progress, read back what an environment consists of, list the environments and show a
//! plan. Used by the `fargate-provisioner` binary and by the whole-system tests.

pub mod environment;
pub mod execution;
pub mod listing;
pub mod progress;
