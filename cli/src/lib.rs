//! The command line client's library: start and follow executions of the state machine, show
//! their progress, read back what an environment consists of, list the environments and estimate what one
//! costs. Used by
//! the `fargate-provisioner` binary and by the whole-system tests.

pub mod cost;
pub mod environment;
pub mod execution;
pub mod listing;
pub mod progress;
