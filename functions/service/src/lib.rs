//! The ECS service stage: cluster, log group, task definition and the Fargate service behind the
//! target group; `redeploy` rolls it onto an image pinned by digest. Outputs go to
//! `/fargate-provisioner/<environment>/service/`.

mod cluster;
mod ecs_service;
mod ecs_tags;
mod log_group;
pub mod redeploy;
mod stability;
mod task_definition;

use aws_sdk_ecs::types::{Compatibility, LaunchType};
use provisioner_core::outputs::alb;
use provisioner_core::outputs::network;
use provisioner_core::spec::LaunchType as SpecLaunchType;
use provisioner_core::{
    Action, EnvironmentSpec, Names, OutputValue, Outputs, ProvisionError, Readiness, SsmStore,
    Stage, StageSummary,
};

pub use ecs_service::Settings;
pub use redeploy::{ImagePush, RedeployTargets};

/// Output names under `/fargate-provisioner/<environment>/service/`.
pub use provisioner_core::outputs::service as outputs;

/// The stage's name in SSM paths and tags.
pub const STAGE: &str = outputs::STAGE;

/// The task definition's single container.
pub const CONTAINER_NAME: &str = "app";

pub fn cluster_name(names: &Names) -> String {
    names.environment().to_string()
}

pub fn service_name(names: &Names) -> String {
    names.environment().to_string()
}

pub fn family(names: &Names) -> String {
    names.environment().to_string()
}

pub fn log_group_name(names: &Names) -> String {
    format!("/ecs/fargate-provisioner/{}", names.environment())
}

pub struct ServiceStage {
    ecs: aws_sdk_ecs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    store: SsmStore,
    region: String,
    /// The execution role the SAM template provides, used when the spec names none.
    default_execution_role_arn: Option<String>,
}

/// The AWS clients the stage uses.
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ecs: aws_sdk_ecs::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
        }
    }
}

/// The environment variable that carries the default execution role into the Lambda.
pub const DEFAULT_EXECUTION_ROLE_VAR: &str = "DEFAULT_EXECUTION_ROLE_ARN";

fn int(value: i64) -> i32 {
    // Validation keeps every number within AWS's ranges, which fit an i32.
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl ServiceStage {
    pub fn new(
        clients: Clients,
        region: impl Into<String>,
        default_execution_role_arn: Option<String>,
    ) -> Self {
        Self {
            ecs: clients.ecs,
            logs: clients.logs,
            elb: clients.elb,
            store: SsmStore::new(clients.ssm),
            region: region.into(),
            default_execution_role_arn,
        }
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

    /// Everything `apply` and `redeploy` share: converge on the spec, with `pin` as the image
    /// when given.
    async fn converge(
        &self,
        environment: &str,
        action: Action,
        pin: Option<&str>,
    ) -> Result<StageSummary, ProvisionError> {
        let names = Names::new(environment);
        let spec = self.store.spec(&names, &self.region).await?;
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
        if let Some(image) = pin {
            redeploy::check_pin(&s.image, image)?;
        }
        let net = self.store.upstream(&names, network::STAGE).await?;
        let lb = self.store.upstream(&names, alb::STAGE).await?;
        let subnet_ids = net.list(network::PRIVATE_SUBNET_IDS)?;
        let security_group_id = net.one(network::WEB_SECURITY_GROUP_ID)?;
        let target_group_arn = lb.one(alb::TARGET_GROUP_ARN)?;
        let recorded = self.store.stage_outputs(&names, STAGE).await?;
        let (image, pinned_from) = match pin {
            Some(image) => (image.to_string(), Some(s.image.clone())),
            None => Self::image_for(&spec, &recorded),
        };

        let (cluster_arn, log_group) = tokio::try_join!(
            cluster::ensure(&self.ecs, &names),
            log_group::ensure(&self.logs, &names, int(s.log_retention_days)),
        )?;
        let fargate = s.launch_type == SpecLaunchType::Fargate;
        let shape = task_definition::TaskShape {
            compatibility: if fargate {
                Compatibility::Fargate
            } else {
                Compatibility::Ec2
            },
            cpu: s.cpu.to_string(),
            memory: s.memory.to_string(),
            execution_role_arn,
            task_role_arn: s.task_role_arn.clone(),
            image: image.clone(),
            container_port: int(s.container_port),
            environment: s.environment.clone(),
            secrets: s
                .secrets
                .iter()
                .map(|x| (x.name.clone(), x.value_from.clone()))
                .collect(),
            log_group: log_group.clone(),
            log_region: self.region.clone(),
        };
        let (task_definition_arn, registered) =
            task_definition::ensure(&self.ecs, &names, &shape).await?;
        let settings = Settings {
            minimum_healthy_percent: int(s.minimum_healthy_percent),
            maximum_percent: int(s.maximum_percent),
            grace_period_seconds: int(s.health_check_grace_period_seconds),
            execute_command: s.enable_execute_command,
        };
        let wanted = ecs_service::WantedService {
            cluster: cluster_name(&names),
            name: service_name(&names),
            task_definition_arn: task_definition_arn.clone(),
            desired_count: int(s.desired_count),
            launch_type: if fargate {
                LaunchType::Fargate
            } else {
                LaunchType::Ec2
            },
            platform_version: fargate.then(|| s.platform_version.clone()),
            settings,
            subnet_ids,
            security_group_id,
            target_group_arn: target_group_arn.clone(),
            container_port: int(s.container_port),
        };
        let recorded_settings = recorded
            .get(outputs::SETTINGS)
            .and_then(|v| Settings::parse(&v.to_parameter_value()));
        let (service_arn, changes) =
            ecs_service::ensure(&self.ecs, &names, &wanted, recorded_settings).await?;

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
        if let Some(from) = pinned_from {
            out.insert(outputs::PINNED_IMAGE.into(), image.clone().into());
            out.insert(outputs::PINNED_FROM.into(), from.into());
        }
        // `recorded` was read above; nothing else writes this stage's outputs.
        self.store
            .replace_stage_outputs(&names, STAGE, &recorded, &out)
            .await?;

        let (state, stability) = self
            .readiness(&names, &out, Some(&target_group_arn))
            .await?;
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
        Ok(self.summary(action, environment, state, out, message))
    }

    /// Ready when the service is stable, or (after `destroy`) when it and its tasks are gone.
    async fn readiness(
        &self,
        names: &Names,
        outputs: &Outputs,
        target_group_arn: Option<&str>,
    ) -> Result<(Readiness, String), ProvisionError> {
        let cluster = cluster_name(names);
        let found = ecs_service::find(&self.ecs, &cluster, &service_name(names)).await?;
        match found.as_ref().and_then(|s| s.status()) {
            Some("ACTIVE") => {
                stability::of_active_service(
                    &self.ecs,
                    &self.elb,
                    found.as_ref().unwrap(),
                    target_group_arn,
                )
                .await
            }
            Some("DRAINING") => Ok((
                Readiness::Pending,
                format!("service {} is draining", service_name(names)),
            )),
            _ if !outputs.is_empty() => Ok((
                Readiness::Pending,
                format!(
                    "service {} does not exist; run apply for the service stage",
                    service_name(names)
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
        let specs = self.store.all_specs(&self.region).await?;
        let targets = redeploy::targets(push, &specs);
        tracing::info!(image = %targets.image, environments = ?targets.environments, "environments to redeploy");
        Ok(targets)
    }
}

impl Stage for ServiceStage {
    const NAME: &'static str = STAGE;

    async fn apply(&self, environment: &str) -> Result<StageSummary, ProvisionError> {
        self.converge(environment, Action::Apply, None).await
    }

    async fn status(&self, environment: &str) -> Result<StageSummary, ProvisionError> {
        let names = Names::new(environment);
        let outputs = self.store.stage_outputs(&names, STAGE).await?;
        // Target health is part of stability; the ALB stage knows the target group.
        let target_group_arn = self
            .store
            .stage_outputs(&names, alb::STAGE)
            .await?
            .get(alb::TARGET_GROUP_ARN)
            .map(OutputValue::to_parameter_value);
        let (state, message) = self
            .readiness(&names, &outputs, target_group_arn.as_deref())
            .await?;
        Ok(self.summary(Action::Status, environment, state, outputs, message))
    }

    async fn redeploy(
        &self,
        environment: &str,
        image: &str,
    ) -> Result<StageSummary, ProvisionError> {
        self.converge(environment, Action::Redeploy, Some(image))
            .await
    }

    /// Re-entrant teardown: the first call scales the service to 0 and deletes it (`pending`);
    /// once `status` sees it inactive with its tasks stopped, the next call deregisters the task
    /// definitions, deletes the log group and the cluster (`ready`).
    async fn destroy(&self, environment: &str) -> Result<StageSummary, ProvisionError> {
        let names = Names::new(environment);
        self.store.delete_stage_outputs(&names, STAGE).await?;
        let cluster = cluster_name(&names);
        let service = service_name(&names);
        let started = ecs_service::delete(&self.ecs, &cluster, &service).await?;
        let (state, waiting) = self.readiness(&names, &Outputs::new(), None).await?;
        if started || state == Readiness::Pending {
            let message = format!("deleting service {service} of {environment}: {waiting}");
            return Ok(self.summary(
                Action::Destroy,
                environment,
                Readiness::Pending,
                Outputs::new(),
                message,
            ));
        }
        let revisions = task_definition::deregister_all(&self.ecs, &names).await?;
        let log_group = log_group::delete(&self.logs, &names).await?;
        let cluster_deleted = cluster::delete(&self.ecs, &names).await?;
        let message = format!(
            "service stage of {environment} removed: {revisions} task definition revisions deregistered, log group {}, cluster {}",
            if log_group { "deleted" } else { "absent or not ours" },
            if cluster_deleted { "deleted" } else { "absent or not ours" },
        );
        Ok(self.summary(
            Action::Destroy,
            environment,
            Readiness::Ready,
            Outputs::new(),
            message,
        ))
    }
}

/// The service Lambda's whole handler: a stage request, or an ECR push event which answers with
/// the environments to redeploy.
pub async fn handle_event(
    stage: &ServiceStage,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Diagnostic> {
    let answer = if redeploy::is_image_event(&event) {
        let push = ImagePush::from_event(event)?;
        serde_json::to_value(stage.redeploy_targets(&push).await?)
    } else {
        serde_json::to_value(provisioner_core::stage::handle(stage, event).await?)
    };
    answer.map_err(|e| lambda_runtime::Diagnostic {
        error_type: "AwsError".into(),
        error_message: e.to_string(),
    })
}
