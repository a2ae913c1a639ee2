//! Logging: in Lambda the runtime's subscriber (JSON when the function's log format is JSON),
//! elsewhere plain text filtered by `RUST_LOG`.

/// Sets up tracing for a Lambda function.
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}
