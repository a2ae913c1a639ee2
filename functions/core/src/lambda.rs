//! What every Lambda function of the provisioner is: something built once per process from the
//! AWS configuration, the region and its environment variables, then handed every event. The
//! Lambda `main`s run it with [`run`]; the local router hosts the same functions in-process.

use std::future::Future;

use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::ProvisionError;

/// What a function is built from.
pub struct Setup<'a> {
    pub config: &'a SdkConfig,
    pub region: String,
    vars: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

impl<'a> Setup<'a> {
    /// `vars` reads the function's environment variables (the process environment in Lambda,
    /// the template's `Environment` locally).
    pub fn new(
        config: &'a SdkConfig,
        region: String,
        vars: &'a (dyn Fn(&str) -> Option<String> + Sync),
    ) -> Self {
        Self {
            config,
            region,
            vars,
        }
    }

    pub fn var(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }

    /// A variable the function cannot run without.
    pub fn required_var(&self, name: &str) -> Result<String, ProvisionError> {
        self.var(name).ok_or_else(|| {
            ProvisionError::Internal(format!(
                "environment variable {name} is not set (template.yaml sets it)"
            ))
        })
    }
}

/// A Lambda function: the state it keeps between events, and how it answers one.
pub trait Function: Sized + Send + Sync + 'static {
    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError>;

    fn handle(
        &self,
        event: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, Diagnostic>> + Send;
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The whole `main` of a function: tracing, the AWS configuration, the function built once,
/// then every event handed to it.
pub async fn run<F: Function>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let config = crate::aws::load_config(None).await;
    let region = crate::aws::region_of(&config)?;
    let function: &'static F = Box::leak(Box::new(F::build(&Setup::new(
        &config,
        region,
        &process_var,
    ))?));
    lambda_runtime::run(lambda_runtime::service_fn(
        // Boxed: the handlers' futures are deep enough to overflow the compiler's layout limit.
        move |event: LambdaEvent<serde_json::Value>| Box::pin(function.handle(event.payload)),
    ))
    .await
}

/// Turns a handler result into what the Lambda runtime reports, with the stable error names.
pub fn to_lambda<T: serde::Serialize>(
    result: Result<T, ProvisionError>,
) -> Result<serde_json::Value, Diagnostic> {
    let value = result.and_then(|answer| {
        serde_json::to_value(answer).map_err(|e| ProvisionError::internal("encoding the answer", e))
    });
    value.map_err(|e| {
        tracing::error!(error_type = e.kind().name(), error = %e, "failed");
        e.into()
    })
}
