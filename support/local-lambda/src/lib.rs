//! The whole system on this machine, with no AWS account: the emulator runs the state machine
//! from template.yaml, and its Lambda tasks are answered by the functions' own handlers.

pub mod faults;
pub mod iam;
pub mod rehearsal;
pub mod response_catcher;
pub mod router;
pub mod system;
pub mod template;

pub use system::{LocalError, LocalOptions, LocalSystem};
