//! The one `main` every function has: tracing, the AWS configuration and the function's state
//! built once at start-up, then every event handed to the function's handler.

use std::future::Future;

use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;

/// Runs a Lambda function. `build` makes its state from the configuration and the region;
/// `handle` answers one event with it. The state lives as long as the process.
pub async fn serve<T, B, H, Fut, R>(build: B, handle: H) -> Result<(), lambda_runtime::Error>
where
    T: Sync + 'static,
    B: FnOnce(&SdkConfig, String) -> Result<T, lambda_runtime::Error>,
    H: Fn(&'static T, serde_json::Value) -> Fut,
    Fut: Future<Output = Result<R, Diagnostic>> + Send,
    R: Serialize,
{
    crate::telemetry::init_lambda();
    let config = crate::aws::load_config(None).await;
    let region = crate::aws::region_of(&config)?;
    let state: &'static T = Box::leak(Box::new(build(&config, region)?));
    lambda_runtime::run(lambda_runtime::service_fn(
        // Boxed: the handlers' futures are deep enough to overflow the compiler's layout limit.
        move |event: LambdaEvent<serde_json::Value>| Box::pin(handle(state, event.payload)),
    ))
    .await
}
