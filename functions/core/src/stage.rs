//! The protocol every stage function answers: an action and an environment name in, a small
//! summary out (ready or pending, and the stage's outputs) that the state machine's Choice states read.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::ProvisionError;
use crate::lambda::{Function, Setup};
use crate::spec::check_environment_name;
use crate::store::Outputs;
use crate::tags::Owner;
use crate::Names;

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
    /// After an apply: remove what the spec no longer has, once nothing uses it (the network
    /// stage's subnets, which the load balancer, the endpoints and the tasks leave first).
    Cleanup,
    /// Say what `apply` and `cleanup` would change, sending no mutating call (see
    /// [`crate::changes`]).
    Plan,
    /// The part of `apply` that needs no earlier stage (the service stage's cluster, log group
    /// and task definition), run at the start of an apply beside the first stage; the apply
    /// then finds it done.
    Groundwork,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Status => "status",
            Action::Destroy => "destroy",
            Action::Redeploy => "redeploy",
            Action::Cleanup => "cleanup",
            Action::Plan => "plan",
            Action::Groundwork => "groundwork",
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
    /// The Step Functions execution running the stage: what makes its client tokens differ
    /// from another run's (see [`crate::exactly_once`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// For `redeploy`: when the image was pushed (RFC 3339), so an older push is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<String>,
    /// The state machine's brisk poll interval: the shortest wait before it asks again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_seconds: Option<u32>,
    /// For `status` in a wait loop: the outputs of the stage's last answer, which the state
    /// machine passes along, read instead of Parameter Store's copy (one call less per poll).
    /// For `apply` of a stage with groundwork: what its groundwork made in this execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    /// For `plan`: the spec and the earlier stages' planned outputs, read in place of Parameter
    /// Store's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::changes::PlanInput>,
}

/// The poll interval when a request names none (a stage run on its own from the console), and
/// the template's default. Each wait starts at the least time of what it awaits, so 10 s ends
/// it at most a few seconds late and spends half the calls of 5 s.
pub const DEFAULT_POLL_SECONDS: u32 = 10;

impl StageRequest {
    /// Reads a request, naming the field that is wrong.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ProvisionError> {
        let request: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            ProvisionError::request(e.path().to_string(), format!("{}; expected {{\"action\": \"apply\" | \"status\" | \"destroy\" | \"redeploy\" | \"cleanup\", \"environment\": NAME, \"image\": IMAGE (redeploy only)}}", e.inner()))
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
    /// What the action started is still under way: the state machine asks `status` again.
    Pending,
    /// The action could not start yet because something outside it must finish first (a
    /// same-name service that is still draining): the state machine runs the action again
    /// after the next wait, within the same budget.
    Blocked,
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
    /// AWS seconds the state machine waits before it asks again: the brisk poll interval, or
    /// longer while what the stage awaits cannot be done yet (see [`StageSummary::not_before`]).
    #[serde(default)]
    pub wait_seconds: u32,
    /// What the action changed, or for `plan` would change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::Change>,
}

impl StageSummary {
    /// What the stage awaits cannot be done in less than `seconds` (an interface endpoint is
    /// never available sooner than a minute after its create): the first poll waits that long.
    pub fn not_before(mut self, seconds: u32) -> Self {
        self.wait_seconds = self.wait_seconds.max(seconds);
        self
    }

    pub fn with_changes(mut self, changes: Vec<crate::Change>) -> Self {
        self.changes = changes;
        self
    }
}

/// What every stage reads and writes besides its own resources: the stored spec and the stages'
/// outputs in SSM, in the region the environment lives in.
#[derive(Debug, Clone)]
pub struct StageContext {
    pub store: crate::SsmStore,
    pub region: String,
}

impl StageContext {
    pub fn new(ssm: aws_sdk_ssm::Client, region: impl Into<String>) -> Self {
        Self {
            store: crate::SsmStore::new(ssm),
            region: region.into(),
        }
    }

    /// The outputs the state machine handed this request from the stage's last answer in the
    /// execution (a `status` poll's, an apply's after its groundwork), if it did.
    pub fn last_answer(&self) -> Option<Outputs> {
        LAST_ANSWER.try_with(Clone::clone).ok().flatten()
    }

    /// The stage's own outputs: in a wait loop, those of its last answer; otherwise as stored.
    pub async fn own_outputs(&self, names: &Names, stage: &str) -> Result<Outputs, ProvisionError> {
        match LAST_ANSWER.try_with(Clone::clone).ok().flatten() {
            Some(outputs) => Ok(outputs),
            None => self.store.stage_outputs(names, stage).await,
        }
    }

    pub fn from_setup(setup: &Setup<'_>) -> Self {
        Self::new(aws_sdk_ssm::Client::new(setup.config), setup.region.clone())
    }

    /// The spec, validated for this region, and the outputs of `stages`, in one read. Under a
    /// plan, the spec and the earlier stages' outputs are the plan's.
    pub async fn load(
        &self,
        names: &Names,
        stages: &[&str],
    ) -> Result<(crate::EnvironmentSpec, crate::Stored), ProvisionError> {
        let mut stored = self.store.load(names, stages).await?;
        if let Some(plan) = crate::changes::plan_input() {
            stored = stored.planned(&plan)?;
        }
        Ok((stored.spec(&self.region)?, stored))
    }
}

tokio::task_local! {
    /// The outputs a `status` or `apply` request carried ([`StageRequest::outputs`]).
    static LAST_ANSWER: Option<Outputs>;
}

/// AWS clients a stage builds from the configuration once per process.
pub trait FromSdkConfig {
    fn from_config(config: &aws_config::SdkConfig) -> Self;
}

macro_rules! from_sdk_config {
    ($($feature:literal => $client:path),* $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            impl FromSdkConfig for $client {
                fn from_config(config: &aws_config::SdkConfig) -> Self {
                    Self::new(config)
                }
            }
        )*
    };
}

from_sdk_config!(
    "ec2" => aws_sdk_ec2::Client,
    "elb" => aws_sdk_elasticloadbalancingv2::Client,
    "ecs" => aws_sdk_ecs::Client,
    "logs" => aws_sdk_cloudwatchlogs::Client,
);

/// A stage of the provisioner. Each action must be idempotent. The futures are `Send`, so a
/// stage can be served from any runtime thread.
pub trait Stage: Sized + Send + Sync + 'static {
    /// The stage's name, used in SSM paths and tags (its row in [`crate::stages`]).
    const NAME: &'static str;

    /// The AWS clients it uses besides SSM.
    type Clients: FromSdkConfig;

    fn new(clients: Self::Clients, ctx: StageContext) -> Self;

    /// Builds the stage once per process (a stage that reads environment variables overrides it).
    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError> {
        Ok(Self::new(
            Self::Clients::from_config(setup.config),
            StageContext::from_setup(setup),
        ))
    }

    fn apply(
        &self,
        environment: &Names,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn status(
        &self,
        environment: &Names,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn destroy(
        &self,
        environment: &Names,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send;
    fn redeploy(
        &self,
        _environment: &Names,
        _image: &str,
        _pushed_at: Option<&str>,
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

    /// Makes what the apply needs from no earlier stage; only stages the table marks
    /// (`groundwork: true`) have any.
    fn groundwork(
        &self,
        _environment: &Names,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send {
        async {
            Err(ProvisionError::request(
                "action",
                format!(
                    "`groundwork` is not an action of the {} stage; allowed: apply, status, destroy",
                    Self::NAME
                ),
            ))
        }
    }

    /// Removes what an apply left for later; most stages leave nothing.
    fn cleanup(
        &self,
        environment: &Names,
    ) -> impl Future<Output = Result<StageSummary, ProvisionError>> + Send {
        async move {
            Ok(self.summary(
                Action::Cleanup,
                environment,
                Readiness::Ready,
                Outputs::new(),
                format!("the {} stage has nothing to clean up", Self::NAME),
            ))
        }
    }

    /// Answers one event of the stage's Lambda. Stage requests by default; a stage that takes
    /// other events (the service stage: ECR pushes) answers them here too.
    fn handle_event(
        &self,
        event: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, lambda_runtime::Diagnostic>> + Send {
        async move {
            let summary = handle(self, event).await?;
            crate::lambda::to_lambda(Ok(summary))
        }
    }

    /// Who owns what this stage creates in `names`' environment.
    fn owner(names: &Names) -> Owner<'_> {
        Owner::new(names, Self::NAME)
    }

    fn summary(
        &self,
        action: Action,
        environment: &Names,
        state: Readiness,
        outputs: Outputs,
        message: impl Into<String>,
    ) -> StageSummary {
        StageSummary {
            stage: Self::NAME.to_string(),
            action,
            environment: environment.environment().to_string(),
            state,
            outputs,
            message: message.into(),
            wait_seconds: 0,
            changes: Vec::new(),
        }
    }

    /// A finished teardown: nothing left, no outputs.
    fn destroyed(&self, environment: &Names, message: impl Into<String>) -> StageSummary {
        self.summary(
            Action::Destroy,
            environment,
            Readiness::Ready,
            Outputs::new(),
            message,
        )
    }
}

impl<S: Stage> Function for S {
    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError> {
        <S as Stage>::build(setup)
    }

    fn handle(
        &self,
        event: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, lambda_runtime::Diagnostic>> + Send {
        self.handle_event(event)
    }
}

/// Runs one stage request: the body of every stage's Lambda handler.
pub async fn handle<S: Stage>(
    stage: &S,
    event: serde_json::Value,
) -> Result<StageSummary, lambda_runtime::Diagnostic> {
    let request = StageRequest::from_json(event)?;
    let span = tracing::info_span!("stage", stage = S::NAME, action = request.action.as_str(), environment = %request.environment);
    let env = &Names::new(&request.environment);
    let run = crate::exactly_once::Run::of(request.execution.as_deref());
    // Boxed: the stages' futures are deep enough to overflow the compiler's layout limit.
    let result = Box::pin(crate::exactly_once::RUN.scope(
        run,
        async {
        match request.action {
            Action::Apply => {
                let (summary, changes) = LAST_ANSWER
                    .scope(
                        request.outputs.clone(),
                        crate::changes::recording(stage.apply(env)),
                    )
                    .await;
                summary.map(|s| s.with_changes(changes))
            }
            Action::Groundwork => {
                let (summary, changes) = crate::changes::recording(stage.groundwork(env)).await;
                summary.map(|s| s.with_changes(changes))
            }
            Action::Plan => match request.plan.clone() {
                Some(input) => plan(stage, env, input).await,
                None => Err(ProvisionError::request(
                    "plan",
                    "required for plan: {\"spec\": SPEC, \"upstream\": {STAGE: OUTPUTS}}",
                )),
            },
            Action::Status => {
                LAST_ANSWER
                    .scope(request.outputs.clone(), stage.status(env))
                    .await
            }
            Action::Destroy => stage.destroy(env).await,
            Action::Cleanup => stage.cleanup(env).await,
            Action::Redeploy => match request.image.as_deref() {
                Some(image) => {
                    stage
                        .redeploy(env, image, request.pushed_at.as_deref())
                        .await
                }
                None => Err(ProvisionError::request(
                    "image",
                    "required for redeploy: the image pinned by digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:...",
                )),
            },
        }
    }
    .instrument(span.clone()),
    ))
    .await;
    let _enter = span.enter();
    let poll_seconds = request.poll_seconds.unwrap_or(DEFAULT_POLL_SECONDS).max(1);
    let result = result.map(|summary| summary.not_before(poll_seconds));
    match &result {
        Ok(summary) => {
            tracing::info!(state = ?summary.state, wait_seconds = summary.wait_seconds, message = %summary.message, "stage finished")
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

/// What `apply` and then `cleanup` would change, with the outputs `apply` would write, sending
/// no mutating call. Always ready: nothing was started that could be awaited.
async fn plan<S: Stage>(
    stage: &S,
    env: &Names,
    input: crate::changes::PlanInput,
) -> Result<StageSummary, ProvisionError> {
    let (summary, changes) = crate::changes::planning(input, async {
        let applied = stage.apply(env).await?;
        stage.cleanup(env).await?;
        Ok::<_, ProvisionError>(applied)
    })
    .await;
    let applied = summary?;
    let message = match changes.len() {
        0 => format!("the {} stage would change nothing", S::NAME),
        1 => format!("the {} stage would make 1 change", S::NAME),
        n => format!("the {} stage would make {n} changes", S::NAME),
    };
    Ok(stage
        .summary(
            Action::Plan,
            env,
            Readiness::Ready,
            applied.outputs,
            message,
        )
        .with_changes(changes))
}

/// Runs every future to its end, then gives the first error, if any. A stage never returns
/// while a request it sent is still in flight: a failed sibling must not cancel a create that
/// AWS is already carrying out (a teardown right after would miss what it makes).
pub fn settle_all<T, F>(futures: impl IntoIterator<Item = F>) -> Settled<T, F>
where
    F: Future<Output = Result<T, ProvisionError>>,
{
    // A concrete type rather than `impl Future`: an opaque type would capture the iterator and
    // its closures, and the caller's future would lose `Send`.
    futures::FutureExt::map(
        futures::future::join_all(futures),
        first_error as fn(Vec<Result<T, ProvisionError>>) -> Result<Vec<T>, ProvisionError>,
    )
}

/// The future of [`settle_all`].
pub type Settled<T, F> = futures::future::Map<
    futures::future::JoinAll<F>,
    fn(Vec<Result<T, ProvisionError>>) -> Result<Vec<T>, ProvisionError>,
>;

fn first_error<T>(results: Vec<Result<T, ProvisionError>>) -> Result<Vec<T>, ProvisionError> {
    results.into_iter().collect()
}
