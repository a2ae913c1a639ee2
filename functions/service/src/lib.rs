//! The ECS service stage: cluster, log group, task definition and the Fargate service behind the
//! target group; `redeploy` rolls it onto an image pinned by digest. Outputs go to
//! `/fargate-provisioner/<environment>/service/`.

pub mod alarms;
mod cluster;
mod ecs_service;
mod elb_names;
mod log_group;
pub mod redeploy;
pub mod scaling;
mod stability;
mod task_definition;
pub mod url_check;

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, Compatibility, CpuArchitecture, LaunchType,
};
use provisioner_core::outputs::alb;
use provisioner_core::outputs::network;
use provisioner_core::spec::LaunchType as SpecLaunchType;
use provisioner_core::{
    Action, EnvironmentSpec, Names, OutputValue, Outputs, ProvisionError, Readiness, Setup, Stage,
    StageContext, StageSummary,
};

pub use ecs_service::Settings;
pub use redeploy::{ImagePush, RedeployTargets};

/// Output names under `/fargate-provisioner/<environment>/service/`.
pub use provisioner_core::outputs::service as outputs;

/// What [`ServiceStage::lay_groundwork`] found or made.
struct Groundwork {
    cluster_arn: String,
    log_group: String,
    task_definition_arn: String,
    /// Whether it registered a new task definition revision.
    registered: bool,
    /// Whether it created the cluster.
    new_cluster: bool,
}

impl Groundwork {
    /// As the groundwork's answer carries it.
    fn of(outputs: &Outputs) -> Option<Self> {
        let one = |key: &str| outputs.get(key).map(OutputValue::to_parameter_value);
        Some(Groundwork {
            cluster_arn: one(outputs::CLUSTER_ARN)?,
            log_group: one(outputs::LOG_GROUP)?,
            task_definition_arn: one(outputs::TASK_DEFINITION_ARN)?,
            registered: false,
            new_cluster: one(outputs::NEW_CLUSTER).as_deref() == Some("true"),
        })
    }

    fn outputs(&self) -> Outputs {
        let mut out = Outputs::new();
        out.insert(outputs::CLUSTER_ARN.into(), self.cluster_arn.clone().into());
        out.insert(outputs::LOG_GROUP.into(), self.log_group.clone().into());
        out.insert(
            outputs::TASK_DEFINITION_ARN.into(),
            self.task_definition_arn.clone().into(),
        );
        if self.new_cluster {
            out.insert(outputs::NEW_CLUSTER.into(), "true".to_string().into());
        }
        out
    }
}

/// The task definition's single container.
pub const CONTAINER_NAME: &str = "app";

pub struct ServiceStage {
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    scaling: aws_sdk_applicationautoscaling::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    ctx: StageContext,
    /// The execution role the SAM template provides, used when the spec names none.
    default_execution_role_arn: Option<String>,
    /// The role ECS shifts load balancer traffic as (blue/green, canary and linear rollouts).
    load_balancer_role_arn: Option<String>,
    /// Where the URL check goes instead of the load balancer's name (the local world).
    load_balancer_address: Option<String>,
}

/// The AWS clients the stage uses besides SSM.
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl provisioner_core::stage::FromSdkConfig for Clients {
    fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            ecs: aws_sdk_ecs::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            scaling: aws_sdk_applicationautoscaling::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

/// Who owns the service stage's resources in `names`' environment.
fn owner(names: &Names) -> provisioner_core::Owner<'_> {
    <ServiceStage as Stage>::owner(names)
}

/// The environment variable that carries the default execution role into the Lambda.
pub const DEFAULT_EXECUTION_ROLE_VAR: &str = "DEFAULT_EXECUTION_ROLE_ARN";

/// The environment variable that carries the ECS infrastructure role for load balancers.
pub const LOAD_BALANCER_ROLE_VAR: &str = "LOAD_BALANCER_ROLE_ARN";

fn int(value: i64) -> i32 {
    // Validation keeps every number within AWS's ranges, which fit an i32.
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The spec's capacity provider strategy as ECS takes it.
fn capacity_provider_strategy(
    s: &provisioner_core::spec::ServiceSpec,
) -> Result<Vec<CapacityProviderStrategyItem>, ProvisionError> {
    s.capacity_provider_strategy
        .iter()
        .map(|item| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(item.capacity_provider.as_str())
                .base(int(item.base))
                .weight(int(item.weight))
                .build()
                .map_err(|e| ProvisionError::internal("capacity provider strategy", e))
        })
        .collect()
}

impl ServiceStage {
    /// The stage with the execution role the SAM template provides (used when a spec names
    /// none).
    pub fn with_default_execution_role(mut self, role_arn: Option<String>) -> Self {
        self.default_execution_role_arn = role_arn;
        self
    }

    /// The stage with the role ECS shifts traffic as in blue/green, canary and linear rollouts.
    pub fn with_load_balancer_role(mut self, role_arn: Option<String>) -> Self {
        self.load_balancer_role_arn = role_arn;
        self
    }

    /// The stage with its URL check sent to `address` instead of the load balancer's name.
    pub fn with_load_balancer_address(mut self, address: Option<String>) -> Self {
        self.load_balancer_address = address;
        self
    }

    /// The image to run: the spec's, or the digest a redeploy pinned it to while the spec still
    /// names the same image.
    fn image_for(spec: &EnvironmentSpec, recorded: &Outputs) -> (String, Option<String>) {
        let one = |key: &str| recorded.get(key).map(OutputValue::to_parameter_value);
        match (one(outputs::PINNED_IMAGE), one(outputs::PINNED_FROM)) {
            (Some(pinned), Some(from)) if from == spec.service.image => (pinned, Some(from)),
            _ => (spec.service.image.clone(), None),
        }
    }

    /// For a redeploy of a push older than the one the service is pinned to (events can arrive
    /// out of order): why it is skipped. Only pins of the same spec image compare.
    fn older_push(
        spec: &EnvironmentSpec,
        recorded: &Outputs,
        pin: Option<(&str, Option<&str>)>,
    ) -> Option<String> {
        let (image, Some(pushed_at)) = pin? else {
            return None;
        };
        let one = |key: &str| recorded.get(key).map(OutputValue::to_parameter_value);
        let (Some(current), Some(from), Some(current_at)) = (
            one(outputs::PINNED_IMAGE),
            one(outputs::PINNED_FROM),
            one(outputs::PINNED_AT),
        ) else {
            return None;
        };
        // RFC 3339 times in UTC, as EventBridge writes them, order as text.
        (from == spec.service.image && !pushed_at.is_empty() && pushed_at < current_at.as_str())
            .then(|| {
                format!(
                    "skipped {image}, pushed at {pushed_at}: the service already runs {current}, pushed later at {current_at}"
                )
            })
    }

    /// What needs no earlier stage: the cluster, the log group and the task definition running
    /// `image`. Found when they exist, as after the state machine's `groundwork` step.
    async fn lay_groundwork(
        &self,
        names: &Names,
        spec: &EnvironmentSpec,
        image: &str,
    ) -> Result<Groundwork, ProvisionError> {
        let s = &spec.service;
        let execution_role_arn = s
            .execution_role_arn
            .clone()
            .or_else(|| self.default_execution_role_arn.clone())
            .ok_or_else(|| {
                ProvisionError::request(
                    "service.executionRoleArn",
                    format!("required: no default execution role is configured ({DEFAULT_EXECUTION_ROLE_VAR})"),
                )
            })?;
        let (cluster_arn, log_group) = tokio::try_join!(
            cluster::ensure(&self.ecs, names),
            log_group::ensure(&self.logs, names, int(s.log_retention_days)),
        )?;
        let fargate = s.launch_type == SpecLaunchType::Fargate;
        let shape = task_definition::TaskShape {
            compatibility: if fargate {
                Compatibility::Fargate
            } else {
                Compatibility::Ec2
            },
            cpu_architecture: CpuArchitecture::from(s.cpu_architecture.as_str()),
            cpu: s.cpu.to_string(),
            memory: s.memory.to_string(),
            execution_role_arn,
            task_role_arn: s.task_role_arn.clone(),
            image: image.to_string(),
            container_port: int(s.container_port),
            environment: s.environment.clone(),
            secrets: s
                .secrets
                .iter()
                .map(|x| (x.name.clone(), x.value_from.clone()))
                .collect(),
            log_group: log_group.clone(),
            log_region: self.ctx.region.clone(),
        };
        let (task_definition_arn, registered) =
            task_definition::ensure(&self.ecs, names, &shape).await?;
        Ok(Groundwork {
            new_cluster: provisioner_core::changes::is_fresh(&cluster_arn),
            cluster_arn,
            log_group,
            task_definition_arn,
            registered,
        })
    }

    /// Everything `apply` and `redeploy` share: converge on the spec, with `pin` as the image
    /// when given.
    async fn converge(
        &self,
        names: &Names,
        action: Action,
        pin: Option<(&str, Option<&str>)>,
    ) -> Result<StageSummary, ProvisionError> {
        let (spec, stored) = self
            .ctx
            .load(names, &[network::STAGE, alb::STAGE, Self::NAME])
            .await?;
        let s = &spec.service;
        if let Some((image, _)) = pin {
            redeploy::check_pin(&s.image, image)?;
        }
        let net = stored.upstream(network::STAGE);
        let lb = stored.upstream(alb::STAGE);
        let subnet_ids = net.list(network::PRIVATE_SUBNET_IDS)?;
        let security_group_id = net.one(network::WEB_SECURITY_GROUP_ID)?;
        let target_group_arn = lb.one(alb::TARGET_GROUP_ARN)?;
        let check_url = format!(
            "http://{}:{}{}",
            lb.one(alb::DNS_NAME)?,
            spec.alb.listener_port,
            spec.alb.health_check.path
        );
        let recorded = stored.outputs(Self::NAME);
        if let Some(skipped) = Self::older_push(&spec, &recorded, pin) {
            return Ok(self.summary(action, names, Readiness::Ready, recorded, skipped));
        }
        let (image, pinned_from) = match pin {
            Some((image, _)) => (image.to_string(), Some(s.image.clone())),
            None => Self::image_for(&spec, &recorded),
        };
        // When the pinned image was pushed: this push's, or the pin's an apply keeps.
        let pinned_at = match pin {
            Some((_, pushed_at)) => pushed_at.map(str::to_string),
            None => pinned_from.as_ref().and_then(|_| {
                recorded
                    .get(outputs::PINNED_AT)
                    .map(OutputValue::to_parameter_value)
            }),
        };

        // An apply after its groundwork (the state machine hands on what it made, for the same
        // spec and image) finds it made; otherwise it is made or found now.
        let made = match action {
            Action::Apply => self.ctx.last_answer().and_then(|o| Groundwork::of(&o)),
            _ => None,
        };
        let Groundwork {
            cluster_arn,
            log_group,
            task_definition_arn,
            registered,
            new_cluster,
        } = match made {
            Some(made) => made,
            None => self.lay_groundwork(names, &spec, &image).await?,
        };
        if new_cluster {
            provisioner_core::changes::made(&names.cluster());
        }
        let fargate = s.launch_type == SpecLaunchType::Fargate;
        let settings = Settings {
            minimum_healthy_percent: int(s.minimum_healthy_percent),
            maximum_percent: int(s.maximum_percent),
            grace_period_seconds: int(s.health_check_grace_period_seconds),
            execute_command: s.enable_execute_command,
            rollback_alarms: s.rollback_alarms.is_some(),
            rollout: ecs_service::Rollout::from_spec(s.rollout.as_ref()),
            breaker: ecs_service::BreakerThreshold::from_spec(s.circuit_breaker.as_ref()),
        };
        let traffic_shift = match s.rollout_strategy().shifts_traffic() {
            true => Some(ecs_service::TrafficShift {
                alternate_target_group_arn: lb.one(alb::ALTERNATE_TARGET_GROUP_ARN)?,
                production_listener_rule: lb.one(alb::PRODUCTION_LISTENER_RULE_ARN)?,
                role_arn: self.load_balancer_role_arn.clone().ok_or_else(|| {
                    ProvisionError::request(
                        "service.rollout.strategy",
                        format!("{} needs the role ECS shifts traffic as, and none is configured ({LOAD_BALANCER_ROLE_VAR})", s.rollout_strategy().as_str()),
                    )
                })?,
            }),
            false => None,
        };
        let wanted = ecs_service::WantedService {
            cluster: names.cluster(),
            name: names.service(),
            task_definition_arn: task_definition_arn.clone(),
            // With autoscaling, the count a new service starts with; autoscaling owns it after.
            desired_count: int(match &s.auto_scaling {
                Some(scaling) => scaling.initial_count(s.desired_count),
                None => s.desired_count,
            }),
            count_from_autoscaling: s.auto_scaling.is_some(),
            launch_type: if fargate {
                LaunchType::Fargate
            } else {
                LaunchType::Ec2
            },
            capacity_provider_strategy: capacity_provider_strategy(s)?,
            platform_version: fargate.then(|| s.platform_version.clone()),
            settings,
            alarm_names: alarms::names_of(names),
            subnet_ids,
            security_group_id,
            target_group_arn: target_group_arn.clone(),
            container_port: int(s.container_port),
            traffic_shift,
        };
        let scaled = scaling::Scaled {
            load_balancer_arn: &lb.one(alb::LOAD_BALANCER_ARN)?,
            target_group_arn: &target_group_arn,
        };
        // Autoscaling dropped from the spec goes before the service's count is set back, so it
        // cannot set it again.
        let mut scaling_changes = Vec::new();
        if s.auto_scaling.is_none() {
            let in_new_cluster = provisioner_core::changes::is_fresh(&wanted.cluster);
            scaling_changes =
                scaling::ensure(&self.scaling, names, &spec, &scaled, in_new_cluster).await?;
        }
        // The alarms exist before a deployment watches them, and go after none does.
        // While the ALB stage keeps a second target group, the tasks may be in either: the
        // alarms watch the whole load balancer.
        let two_groups = lb.maybe(alb::ALTERNATE_TARGET_GROUP_ARN).is_some();
        let watched = alarms::Watched::of(
            &lb.one(alb::LOAD_BALANCER_ARN)?,
            (!two_groups).then_some(target_group_arn.as_str()),
        )?;
        let mut alarm_changes = Vec::new();
        if s.rollback_alarms.is_some() {
            alarm_changes = alarms::ensure(
                &self.cloudwatch,
                names,
                s.rollback_alarms.as_ref(),
                &watched,
            )
            .await?;
        }
        let recorded_settings = recorded
            .get(outputs::SETTINGS)
            .and_then(|v| Settings::parse(&v.to_parameter_value()));
        let (service_arn, mut changes) = match ecs_service::ensure(
            &self.ecs,
            names,
            &wanted,
            recorded_settings,
        )
        .await?
        {
            ecs_service::Ensured::Converged(arn, changes) => (arn, changes),
            ecs_service::Ensured::PreviousDraining => {
                let message = format!(
                        "service {} of an earlier deployment is still DRAINING (its tasks are stopping); ECS creates a service of the same name only once it is INACTIVE, so apply runs again after the next wait",
                        wanted.name
                    );
                return Ok(self.summary(action, names, Readiness::Blocked, recorded, message));
            }
        };
        changes.extend(scaling_changes);
        // Looked for only when the last apply had them, or recorded nothing.
        let had_alarms = recorded_settings.is_none_or(|r| r.rollback_alarms);
        if s.rollback_alarms.is_none() && had_alarms {
            alarm_changes = alarms::ensure(&self.cloudwatch, names, None, &watched).await?;
        }
        changes.extend(alarm_changes);
        let just_created = provisioner_core::changes::is_fresh(&service_arn);
        if s.auto_scaling.is_some() {
            // The target names the service, so it follows it.
            let service_is_new = just_created || provisioner_core::changes::is_new(&service_arn);
            changes.extend(
                scaling::ensure(&self.scaling, names, &spec, &scaled, service_is_new).await?,
            );
        }

        let mut out = Outputs::new();
        out.insert(outputs::CLUSTER_ARN.into(), cluster_arn.into());
        out.insert(outputs::SERVICE_ARN.into(), service_arn.into());
        out.insert(
            outputs::TASK_DEFINITION_ARN.into(),
            task_definition_arn.into(),
        );
        out.insert(outputs::LOG_GROUP.into(), log_group.into());
        out.insert(
            outputs::CONTAINER_NAME.into(),
            CONTAINER_NAME.to_string().into(),
        );
        out.insert(outputs::SETTINGS.into(), settings.record().into());
        out.insert(
            outputs::TARGET_GROUP_ARN.into(),
            target_group_arn.clone().into(),
        );
        out.insert(outputs::CHECK_URL.into(), check_url.into());
        if let Some(scaling) = &s.auto_scaling {
            out.insert(outputs::AUTO_SCALING.into(), scaling.summary().into());
        }
        if let Some(alarms) = &s.rollback_alarms {
            out.insert(outputs::ROLLBACK_ALARMS.into(), alarms.summary().into());
        }
        if let Some(rollout) = &s.rollout {
            out.insert(outputs::ROLLOUT.into(), rollout.summary().into());
        }
        if let Some(breaker) = &s.circuit_breaker {
            out.insert(outputs::CIRCUIT_BREAKER.into(), breaker.summary().into());
        }
        if let Some(from) = pinned_from {
            out.insert(outputs::PINNED_IMAGE.into(), image.clone().into());
            out.insert(outputs::PINNED_FROM.into(), from.into());
            if let Some(at) = pinned_at.filter(|at| !at.is_empty()) {
                out.insert(outputs::PINNED_AT.into(), at.into());
            }
        }
        // `recorded` was read above; nothing else writes this stage's outputs.
        self.ctx
            .store
            .replace_stage_outputs(names, Self::NAME, &recorded, &out)
            .await?;

        let (state, stability) = if provisioner_core::changes::is_planning() {
            (Readiness::Ready, String::new())
        } else if just_created && wanted.desired_count > 0 {
            // Created just now: no task runs yet, no need to read it back before the first poll.
            (
                Readiness::Pending,
                format!(
                    "service {}: 0 of {} tasks running, just created",
                    wanted.name, wanted.desired_count
                ),
            )
        } else {
            self.readiness(names, &out, Some(&target_group_arn)).await?
        };
        let registered = if registered {
            "registered a new task definition revision; "
        } else {
            ""
        };
        let changed = if changes.is_empty() {
            "service unchanged".to_string()
        } else {
            format!("service: {}", changes.join(", "))
        };
        let message = format!("{registered}{changed}; image {image}. {stability}");
        let summary = self.summary(action, names, state, out, message);
        // New tasks were asked for: none can be in service before it starts and passes its checks.
        Ok(if state == Readiness::Pending && !changes.is_empty() {
            let hc = &spec.alb.health_check;
            summary.not_before(provisioner_core::earliest::task_in_service_seconds(
                hc.healthy_threshold,
                hc.interval_seconds,
            ))
        } else {
            summary
        })
    }

    /// Ready once `url` answers too; `stable` says what the service is like.
    async fn answers(&self, url: &str, stable: String) -> (Readiness, String) {
        match url_check::answer(url, self.load_balancer_address.as_deref()).await {
            url_check::Answer::Answered(status) => (
                Readiness::Ready,
                format!("{stable}; {url} answers {status}"),
            ),
            url_check::Answer::NotYet(why) => {
                (Readiness::Pending, format!("{stable}; waiting: {why}"))
            }
        }
    }

    /// Ready when the service is stable and its URL answers, or (after `destroy`) when it and
    /// its tasks are gone.
    async fn readiness(
        &self,
        names: &Names,
        outputs: &Outputs,
        target_group_arn: Option<&str>,
    ) -> Result<(Readiness, String), ProvisionError> {
        let cluster = names.cluster();
        let found = ecs_service::find(&self.ecs, &cluster, &names.service()).await?;
        match found.as_ref().and_then(|s| s.status()) {
            Some("ACTIVE") => {
                let service = found.as_ref().unwrap();
                let (state, message) = stability::of_active_service(
                    &self.ecs,
                    &self.elb,
                    service,
                    target_group_arn,
                    outputs
                        .get(outputs::TASK_DEFINITION_ARN)
                        .map(OutputValue::to_parameter_value)
                        .as_deref(),
                )
                .await?;
                let url = outputs.get(outputs::CHECK_URL);
                match url {
                    Some(url) if state == Readiness::Ready && service.desired_count() > 0 => {
                        Ok(self.answers(&url.to_parameter_value(), message).await)
                    }
                    _ => Ok((state, message)),
                }
            }
            Some("DRAINING") => Ok((
                Readiness::Pending,
                format!("service {} is draining", names.service()),
            )),
            _ if !outputs.is_empty() => Ok((
                Readiness::Pending,
                format!(
                    "service {} does not exist; run apply for the service stage",
                    names.service()
                ),
            )),
            _ => {
                let running = stability::tasks_not_stopped(&self.ecs, &cluster, names).await?;
                if running.is_empty() {
                    Ok((
                        Readiness::Ready,
                        format!(
                            "environment {} has no service and no running tasks",
                            names.environment()
                        ),
                    ))
                } else {
                    Ok((
                        Readiness::Pending,
                        format!("waiting for tasks to stop: {}", running.join("; ")),
                    ))
                }
            }
        }
    }

    /// Redeploys every environment that runs the pushed repository and tag: what the state
    /// machine maps over.
    pub async fn redeploy_targets(
        &self,
        push: &ImagePush,
    ) -> Result<RedeployTargets, ProvisionError> {
        let specs = self.ctx.store.all_specs(&self.ctx.region).await?;
        let targets = redeploy::targets(push, &specs);
        tracing::info!(image = %targets.image, environments = ?targets.environments, "environments to redeploy");
        Ok(targets)
    }
}

impl Stage for ServiceStage {
    const NAME: &'static str = outputs::STAGE;

    type Clients = Clients;

    fn new(clients: Clients, ctx: StageContext) -> Self {
        Self {
            ecs: clients.ecs,
            logs: clients.logs,
            elb: clients.elb,
            scaling: clients.scaling,
            cloudwatch: clients.cloudwatch,
            ctx,
            default_execution_role_arn: None,
            load_balancer_role_arn: None,
            load_balancer_address: None,
        }
    }

    fn build(setup: &Setup<'_>) -> Result<Self, ProvisionError> {
        let clients =
            <Clients as provisioner_core::stage::FromSdkConfig>::from_config(setup.config);
        Ok(Self::new(clients, StageContext::from_setup(setup))
            .with_default_execution_role(setup.var(DEFAULT_EXECUTION_ROLE_VAR))
            .with_load_balancer_role(setup.var(LOAD_BALANCER_ROLE_VAR))
            .with_load_balancer_address(setup.var(url_check::LOAD_BALANCER_ADDRESS_VAR)))
    }

    /// Stage requests, and ECR push events, which answer with the environments to redeploy.
    async fn handle_event(
        &self,
        event: serde_json::Value,
    ) -> Result<serde_json::Value, lambda_runtime::Diagnostic> {
        if redeploy::is_image_event(&event) {
            let push = ImagePush::from_event(event)?;
            provisioner_core::lambda::to_lambda(self.redeploy_targets(&push).await)
        } else {
            let summary = provisioner_core::stage::handle(self, event).await?;
            provisioner_core::lambda::to_lambda(Ok(summary))
        }
    }

    async fn apply(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        self.converge(names, Action::Apply, None).await
    }

    /// The cluster, log group and task definition, made while the network and endpoints are
    /// still being made. Its answer carries them, and the state machine hands them to the
    /// apply.
    async fn groundwork(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let (spec, stored) = self.ctx.load(names, &[Self::NAME]).await?;
        let (image, _) = Self::image_for(&spec, &stored.outputs(Self::NAME));
        let ground = self.lay_groundwork(names, &spec, &image).await?;
        let message = format!(
            "cluster {}, log group {} and task definition {}{} are in place",
            names.cluster(),
            ground.log_group,
            ground.task_definition_arn,
            if ground.registered {
                " (a new revision)"
            } else {
                ""
            }
        );
        Ok(self.summary(
            Action::Groundwork,
            names,
            Readiness::Ready,
            ground.outputs(),
            message,
        ))
    }

    async fn status(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let outputs = self.ctx.own_outputs(names, Self::NAME).await?;
        // Target health is part of stability: the target group is among the stage's outputs
        // (an environment applied before it was recorded there reads the ALB stage's).
        let target_group_arn = match outputs.get(outputs::TARGET_GROUP_ARN) {
            Some(arn) => Some(arn.to_parameter_value()),
            None => self
                .ctx
                .store
                .stage_outputs(names, alb::STAGE)
                .await?
                .get(alb::TARGET_GROUP_ARN)
                .map(OutputValue::to_parameter_value),
        };
        let (state, message) = self
            .readiness(names, &outputs, target_group_arn.as_deref())
            .await?;
        Ok(self.summary(Action::Status, names, state, outputs, message))
    }

    async fn redeploy(
        &self,
        names: &Names,
        image: &str,
        pushed_at: Option<&str>,
    ) -> Result<StageSummary, ProvisionError> {
        self.converge(names, Action::Redeploy, Some((image, pushed_at)))
            .await
    }

    /// Re-entrant teardown: the first call scales the service to 0 and deletes it (`pending`);
    /// once `status` sees it inactive with its tasks stopped, the next call deregisters the task
    /// definitions, deletes the log group and the cluster (`ready`).
    async fn destroy(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        self.ctx
            .store
            .delete_stage_outputs(names, Self::NAME)
            .await?;
        let cluster = names.cluster();
        let service = names.service();
        // Autoscaling would otherwise go on setting the count of the service being deleted.
        scaling::deregister(&self.scaling, names).await?;
        let started = ecs_service::delete(&self.ecs, &cluster, &service).await?;
        let (state, waiting) = self.readiness(names, &Outputs::new(), None).await?;
        if started || state == Readiness::Pending {
            // Said once: what is under way, or (the delete just sent, nothing left to wait
            // for) what the next pass does.
            let message = if state == Readiness::Pending {
                format!("deleting service {service} of {environment}: {waiting}")
            } else {
                format!("deleted service {service} of {environment}; next: its task definitions, log group and cluster")
            };
            return Ok(self.summary(
                Action::Destroy,
                names,
                Readiness::Pending,
                Outputs::new(),
                message,
            ));
        }
        alarms::delete_all(&self.cloudwatch, names).await?;
        let revisions = task_definition::deregister_all(&self.ecs, names).await?;
        let log_group = log_group::delete(&self.logs, names).await?;
        let cluster_deleted = cluster::delete(&self.ecs, names).await?;
        let message = format!(
            "service stage of {environment} removed: {revisions} task definition revisions deregistered, log group {}, cluster {}",
            if log_group { "deleted" } else { "absent or not ours" },
            if cluster_deleted { "deleted" } else { "absent or not ours" },
        );
        Ok(self.summary(
            Action::Destroy,
            names,
            Readiness::Ready,
            Outputs::new(),
            message,
        ))
    }
}
