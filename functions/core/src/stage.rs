//! The protocol every stage function answers: an action and an environment name in, a small
//! summary out (ready or pending, and the stage's outputs) that the state machine's Choice states read.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::ProvisionError;
use crate::spec::check_environment_name;
use crate::store::Outputs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create what is missing, adopt what exists, correct drift.
    Apply,
    /// Report whether what `apply` or `destroy` started has finished.
    Status,
    /// Delete everything the stage created.
    Destroy,
    /// Roll the service onto a new image (service stage only).
    Redeploy,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Status => "status",
            Action::Destroy => "destroy",
            Action::Redeploy => "redeploy",
        }
    }
}

/// A stage invocation. Unknown fields are allowed: Step Functions passes its state along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRequest {
    pub action: Action,
    pub environment: String,
    /// For `redeploy`: the image to roll onto, pinned by digest (`<repository>@sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl StageRequest {
    /// Reads a request, naming the field that is wrong.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ProvisionError> {
        let request: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            ProvisionError::request(e.path().to_string(), format!("{}; expected {{\"action\": \"apply\" | \"status\" | \"destroy\" | \"redeploy\", \"environment\": NAME, \"image\": IMAGE (redeploy only)}}", e.inner()))
        })?;
        check_environment_name(&request.environment)
            .map_err(|p| ProvisionError::request("environment", p))?;
        Ok(request)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    Ready,
    Pending,
}

/// What a stage answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageSummary {
    pub stage: String,
    pub action: Action,
    pub environment: String,
    pub state: Readiness,
    pub outputs: Outputs,
    /// Human-readable account of what happened or what is awaited.
    pub message: String,
}

/// A stage of the provisioner. Each action must be idempotent. The futures are `Send`, so a
/// stage can be served from any runtime thread.
pub trait Stage: Sync {
    /// The stage's name, used in SSM paths and tags.
    const NAME: &'static str;

    fn apply(
        &self,
        environment: &str,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn status(
        &self,
        environment: &str,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn destroy(
        &self,
        environment: &str,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn redeploy(
        &self,
        _environment: &str,
        _image: &str,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send {
        async {
            Err(ProvisionError::request(
                "action",
                format!(
                    "`redeploy` is not an action of the {} stage; allowed: apply, status, destroy",
                    Self::NAME
                ),
            ))
        }
    }

    fn summary(
        &self,
        action: Action,
        environment: &str,
        state: Readiness,
        outputs: Outputs,
        message: impl Into<String>,
    ) -> StageSummary {
        StageSummary {
            stage: Self::NAME.to_string(),
            action,
            environment: environment.to_string(),
            state,
            outputs,
            message: message.into(),
        }
    }
}

/// Runs one request against a stage: the whole body of a stage's Lambda handler.
pub async fn handle<S: Stage>(
    stage: &S,
    event: serde_json::Value,
) -> Result<StageSummary, lambda_runtime::Diagnostic> {
    let request = StageRequest::from_json(event)?;
    let span = tracing::info_span!("stage", stage = S::NAME, action = request.action.as_str(), environment = %request.environment);
    let env = request.environment.as_str();
    // Boxed: the stages' futures are deep enough to overflow the compiler's layout limit.
    let result = Box::pin(
        async {
        match request.action {
            Action::Apply => stage.apply(env).await,
            Action::Status => stage.status(env).await,
            Action::Destroy => stage.destroy(env).await,
            Action::Redeploy => match request.image.as_deref() {
                Some(image) => stage.redeploy(env, image).await,
                None => Err(ProvisionError::request(
                    "image",
                    "required for redeploy: the image pinned by digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:...",
                )),
            },
        }
    }
    .instrument(span.clone()),
    )
    .await;
    let _enter = span.enter();
    match &result {
        Ok(summary) => {
            tracing::info!(state = ?summary.state, message = %summary.message, "stage finished")
        }
        Err(e) => tracing::error!(error_type = e.kind().name(), error = %e, "stage failed"),
    }
    // The stage's name leads the message, so a failure reported to CloudFormation says where.
    result.map_err(|e| {
        let mut diagnostic = lambda_runtime::Diagnostic::from(e);
        diagnostic.error_message = format!("{} stage: {}", S::NAME, diagnostic.error_message);
        diagnostic
    })
}

/// The whole `main` of a stage's Lambda: builds the stage once, answers every event with
/// [`handle`].
pub async fn serve<S, F>(build: F) -> Result<(), lambda_runtime::Error>
where
    S: Stage + 'static,
    F: FnOnce(&aws_config::SdkConfig, String) -> S,
{
    crate::lambda::serve(|config, region| Ok(build(config, region)), handle::<S>).await
}
