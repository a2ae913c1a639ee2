//! The task definition: awsvpc, the container port only, task CPU and memory, execution role,
//! environment, secrets and the awslogs driver. A revision is registered only when something in
//! it differs from the active one, so a no-op `apply` registers nothing.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret, TaskDefinition,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use provisioner_core::tags::ecs;
use provisioner_core::{
    changes, exactly_once, no_blind_resend, AwsContext, Change, Names, NotFoundAsNone,
    ProvisionError,
};

use crate::{owner, CONTAINER_NAME};

pub const ROLE: &str = "task-definition";
const STREAM_PREFIX: &str = "ecs";

/// Everything in a revision that `apply` controls, in a form two revisions can be compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskShape {
    pub compatibility: Compatibility,
    pub cpu_architecture: CpuArchitecture,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    pub image: String,
    pub container_port: i32,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub log_group: String,
    pub log_region: String,
}

impl TaskShape {
    /// The shape of a registered revision; `None` when it is not one this stage could have made.
    fn of(td: &TaskDefinition) -> Option<Self> {
        let [container] = td.container_definitions() else {
            return None;
        };
        let log = container.log_configuration()?;
        let option = |key: &str| log.options().and_then(|o| o.get(key)).cloned();
        Some(Self {
            compatibility: td.requires_compatibilities().first()?.clone(),
            // A revision registered without a runtime platform runs on X86_64.
            cpu_architecture: td
                .runtime_platform()
                .and_then(|p| p.cpu_architecture())
                .cloned()
                .unwrap_or(CpuArchitecture::X8664),
            cpu: td.cpu()?.to_string(),
            memory: td.memory()?.to_string(),
            execution_role_arn: td.execution_role_arn()?.to_string(),
            task_role_arn: td.task_role_arn().map(str::to_string),
            image: container.image()?.to_string(),
            container_port: container.port_mappings().first()?.container_port()?,
            environment: container
                .environment()
                .iter()
                .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
                .collect(),
            secrets: container
                .secrets()
                .iter()
                .map(|s| (s.name().to_string(), s.value_from().to_string()))
                .collect(),
            log_group: option("awslogs-group")?,
            log_region: option("awslogs-region")?,
        })
    }

    /// Each field, live and wanted, for [`Change::differing`].
    fn beside(&self, wanted: &Self) -> [(&'static str, String, String); 12] {
        let map = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        [
            (
                "compatibility",
                self.compatibility.as_str().to_string(),
                wanted.compatibility.as_str().to_string(),
            ),
            (
                "cpuArchitecture",
                self.cpu_architecture.as_str().to_string(),
                wanted.cpu_architecture.as_str().to_string(),
            ),
            ("cpu", self.cpu.clone(), wanted.cpu.clone()),
            ("memory", self.memory.clone(), wanted.memory.clone()),
            (
                "executionRoleArn",
                self.execution_role_arn.clone(),
                wanted.execution_role_arn.clone(),
            ),
            (
                "taskRoleArn",
                self.task_role_arn.clone().unwrap_or_default(),
                wanted.task_role_arn.clone().unwrap_or_default(),
            ),
            ("image", self.image.clone(), wanted.image.clone()),
            (
                "containerPort",
                self.container_port.to_string(),
                wanted.container_port.to_string(),
            ),
            (
                "environment",
                map(&self.environment),
                map(&wanted.environment),
            ),
            ("secrets", map(&self.secrets), map(&wanted.secrets)),
            (
                "log group",
                self.log_group.clone(),
                wanted.log_group.clone(),
            ),
            (
                "log region",
                self.log_region.clone(),
                wanted.log_region.clone(),
            ),
        ]
    }

    fn container(&self) -> Result<ContainerDefinition, ProvisionError> {
        let secrets = self
            .secrets
            .iter()
            .map(|(name, from)| Secret::builder().name(name).value_from(from).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProvisionError::internal("secrets", e))?;
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", &self.log_group)
            .options("awslogs-region", &self.log_region)
            .options("awslogs-stream-prefix", STREAM_PREFIX)
            .build()
            .map_err(|e| ProvisionError::internal("awslogs configuration", e))?;
        Ok(ContainerDefinition::builder()
            .name(CONTAINER_NAME)
            .image(&self.image)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(self.container_port)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .set_environment(Some(
                self.environment
                    .iter()
                    .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                    .collect(),
            ))
            .set_secrets(Some(secrets))
            .log_configuration(log)
            .build())
    }
}

/// The latest ACTIVE revision of the family, if any.
pub async fn active(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
) -> Result<Option<TaskDefinition>, ProvisionError> {
    let out = ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .context("DescribeTaskDefinition", family)
        .not_found_as_none()?;
    Ok(out.and_then(|o| {
        o.task_definition()
            .filter(|td| td.status() == Some(&TaskDefinitionStatus::Active))
            .cloned()
    }))
}

/// The ARN of a revision with exactly `shape`: the active one, or a newly registered one.
/// Returns whether a revision was registered.
pub async fn ensure(
    ecs: &aws_sdk_ecs::Client,
    names: &Names,
    shape: &TaskShape,
) -> Result<(String, bool), ProvisionError> {
    let family = names.family();
    let current = active(ecs, &family).await?;
    let current_shape = current.as_ref().and_then(TaskShape::of);
    if let (Some(current), Some(true)) = (&current, current_shape.as_ref().map(|c| c == shape)) {
        let arn = current
            .task_definition_arn()
            .unwrap_or_default()
            .to_string();
        return Ok((arn, false));
    }
    let change = match (&current, &current_shape) {
        (Some(td), Some(live)) => Change::create("task definition revision", &family)
            .because(format!(
                "replaces {}",
                td.task_definition_arn().unwrap_or_default()
            ))
            .differing(live.beside(shape)),
        _ => Change::create("task definition revision", &family)
            .set("image", &shape.image)
            .set("cpu", &shape.cpu)
            .set("memory", &shape.memory),
    };
    if !changes::carry_out(change) {
        return Ok((changes::new_id(&format!("{family} revision")), true));
    }
    let container = shape.container()?;
    // No client token: after an ambiguous failure, a latest revision of exactly this shape is
    // the one the failed call registered.
    let register = || async {
        let registered = ecs
            .register_task_definition()
            .family(&family)
            .requires_compatibilities(shape.compatibility.clone())
            .network_mode(NetworkMode::Awsvpc)
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(shape.cpu_architecture.clone())
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .cpu(&shape.cpu)
            .memory(&shape.memory)
            .execution_role_arn(&shape.execution_role_arn)
            .set_task_role_arn(shape.task_role_arn.clone())
            .container_definitions(container.clone())
            .set_tags(Some(ecs::on_create(owner(names), ROLE)))
            .customize()
            .config_override(no_blind_resend!(aws_sdk_ecs))
            .send()
            .await
            .context("RegisterTaskDefinition", &family)?;
        Ok(registered
            .task_definition()
            .and_then(|td| td.task_definition_arn())
            .unwrap_or_default()
            .to_string())
    };
    let found = || async {
        Ok(active(ecs, &family)
            .await?
            .filter(|td| TaskShape::of(td).as_ref() == Some(shape))
            .and_then(|td| td.task_definition_arn))
    };
    let arn =
        exactly_once::create_or_find(&family, ecs.config().sleep_impl(), register, found).await?;
    tracing::info!(task_definition = %arn, image = %shape.image, "registered task definition revision");
    Ok((arn, true))
}

/// Deregisters every ACTIVE revision of the family that this stage registered.
pub async fn deregister_all(
    ecs: &aws_sdk_ecs::Client,
    names: &Names,
) -> Result<usize, ProvisionError> {
    let family = names.family();
    let mut arns = Vec::new();
    let mut pages = ecs
        .list_task_definitions()
        .family_prefix(&family)
        .status(TaskDefinitionStatus::Active)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("ListTaskDefinitions", &family)?;
        // The prefix also matches longer family names: keep this family's revisions only.
        arns.extend(
            page.task_definition_arns()
                .iter()
                .filter(|arn| {
                    arn.rsplit_once(":task-definition/")
                        .and_then(|(_, rest)| rest.rsplit_once(':'))
                        .is_some_and(|(f, _)| f == family)
                })
                .cloned(),
        );
    }
    let mut count = 0;
    for arn in arns {
        let described = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .context("DescribeTaskDefinition", &arn)?;
        if !ecs::owns(owner(names), described.tags()) {
            continue;
        }
        ecs.deregister_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .context("DeregisterTaskDefinition", &arn)?;
        tracing::info!(task_definition = %arn, "deregistered task definition revision");
        count += 1;
    }
    Ok(count)
}
