//! The command line client's library: start and follow executions of the state machine, and
//! read back what an environment consists of. Used by the `fargate-provisioner` binary and by the
//! whole-system tests.

pub mod environment;
pub mod execution;
