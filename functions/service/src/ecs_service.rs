//! The ECS service: Fargate tasks in the private subnets behind the target group, on the
//! launch type or a capacity provider strategy, rolling deployments bounded by the spec's
//! percentages, and the circuit breaker with rollback; or ECS's blue/green, canary and linear
//! strategies, which start the new tasks in the alternate target group and shift the production
//! listener rule's weights to them.

use std::collections::BTreeSet;

use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CanaryConfiguration,
    CapacityProviderStrategyItem, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentStrategy, LaunchType, LinearConfiguration, LoadBalancer,
    NetworkConfiguration, PropagateTags, Service, ThresholdConfiguration, ThresholdType,
};
use provisioner_core::spec::{RolloutSpec, RolloutStrategy};
use provisioner_core::tags::ecs;
use provisioner_core::{
    changes, exactly_once, AwsContext, Change, Names, NotFoundAsNone, ProvisionError,
};

use crate::{owner, CONTAINER_NAME};

pub const ROLE: &str = "service";

/// Deployment settings AWS reports in DescribeServices but the emulator drops. When the service
/// does not report them, `apply` compares with what it recorded in SSM the last time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    pub grace_period_seconds: i32,
    pub execute_command: bool,
    /// Deployments fail and roll back when a rollback alarm goes into ALARM.
    pub rollback_alarms: bool,
    pub rollout: Rollout,
    pub breaker: BreakerThreshold,
}

/// The circuit breaker's failure threshold: a count of tasks, or a percentage of the desired
/// count bounded to 3..200 (ECS's default: 50%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerThreshold {
    pub count: bool,
    pub value: i32,
}

impl BreakerThreshold {
    pub const DEFAULT: BreakerThreshold = BreakerThreshold {
        count: false,
        value: 50,
    };

    pub fn from_spec(spec: Option<&provisioner_core::spec::CircuitBreakerSpec>) -> Self {
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        match spec.map(|b| (b.failed_tasks, b.failed_percent)) {
            Some((Some(tasks), _)) => Self {
                count: true,
                value: int(tasks),
            },
            Some((None, Some(percent))) => Self {
                count: false,
                value: int(percent),
            },
            _ => Self::DEFAULT,
        }
    }

    fn kind(&self) -> ThresholdType {
        match self.count {
            true => ThresholdType::Count,
            false => ThresholdType::BoundedPercent,
        }
    }

    /// `COUNT/5` or `BOUNDED_PERCENT/50`.
    fn record(&self) -> String {
        format!("{}/{}", self.kind().as_str(), self.value)
    }

    fn parse(record: &str) -> Option<Self> {
        let (kind, value) = record.split_once('/')?;
        Some(Self {
            count: kind == "COUNT",
            value: value.parse().ok()?,
        })
    }

    fn reported(breaker: &DeploymentCircuitBreaker) -> Self {
        match breaker.threshold_configuration() {
            Some(t) => Self {
                count: t.r#type() == &ThresholdType::Count,
                value: t.value(),
            },
            None => Self::DEFAULT,
        }
    }
}

/// The deployment strategy and its timing, as ECS takes them. Percentages are kept in tenths
/// (ECS allows multiples of 0.1), so the settings compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    pub strategy: RolloutStrategy,
    pub bake_minutes: i32,
    /// CANARY: the canary's share; LINEAR: each step's.
    pub percent_tenths: i32,
    /// CANARY: the canary's bake; LINEAR: the wait between steps.
    pub step_minutes: i32,
}

impl Rollout {
    pub const ROLLING: Rollout = Rollout {
        strategy: RolloutStrategy::Rolling,
        bake_minutes: 0,
        percent_tenths: 0,
        step_minutes: 0,
    };

    pub fn from_spec(spec: Option<&RolloutSpec>) -> Self {
        let Some(r) = spec.filter(|r| r.strategy.shifts_traffic()) else {
            return Self::ROLLING;
        };
        let tenths = |p: f64| (p * 10.0).round() as i32;
        let minutes = |m: i64| i32::try_from(m).unwrap_or(0);
        let (percent_tenths, step_minutes) = match r.strategy {
            RolloutStrategy::Canary => (
                tenths(r.canary_percent()),
                minutes(r.canary_bake_time_minutes()),
            ),
            RolloutStrategy::Linear => (
                tenths(r.step_percent()),
                minutes(r.step_bake_time_minutes()),
            ),
            RolloutStrategy::Rolling | RolloutStrategy::BlueGreen => (0, 0),
        };
        Self {
            strategy: r.strategy,
            bake_minutes: minutes(r.bake_time_minutes()),
            percent_tenths,
            step_minutes,
        }
    }

    /// `CANARY/5/50/10`: strategy, bake, percent in tenths, step minutes.
    fn record(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.strategy.as_str(),
            self.bake_minutes,
            self.percent_tenths,
            self.step_minutes
        )
    }

    fn parse(record: &str) -> Option<Self> {
        let mut parts = record.split('/');
        let strategy = match parts.next()? {
            "ROLLING" => RolloutStrategy::Rolling,
            "BLUE_GREEN" => RolloutStrategy::BlueGreen,
            "CANARY" => RolloutStrategy::Canary,
            "LINEAR" => RolloutStrategy::Linear,
            _ => return None,
        };
        let mut next = || parts.next()?.parse().ok();
        Some(Self {
            strategy,
            bake_minutes: next()?,
            percent_tenths: next()?,
            step_minutes: next()?,
        })
    }

    /// What the service reports: no strategy is a rolling one.
    fn reported(config: &DeploymentConfiguration) -> Self {
        let tenths = |p: Option<f64>| (p.unwrap_or(0.0) * 10.0).round() as i32;
        let strategy = match config.strategy() {
            Some(DeploymentStrategy::BlueGreen) => RolloutStrategy::BlueGreen,
            Some(DeploymentStrategy::Canary) => RolloutStrategy::Canary,
            Some(DeploymentStrategy::Linear) => RolloutStrategy::Linear,
            _ => return Self::ROLLING,
        };
        let (percent_tenths, step_minutes) = match strategy {
            RolloutStrategy::Canary => config.canary_configuration().map_or((0, 0), |c| {
                (
                    tenths(c.canary_percent()),
                    c.canary_bake_time_in_minutes().unwrap_or(0),
                )
            }),
            RolloutStrategy::Linear => config.linear_configuration().map_or((0, 0), |c| {
                (
                    tenths(c.step_percent()),
                    c.step_bake_time_in_minutes().unwrap_or(0),
                )
            }),
            _ => (0, 0),
        };
        Self {
            strategy,
            bake_minutes: config.bake_time_in_minutes().unwrap_or(0),
            percent_tenths,
            step_minutes,
        }
    }

    /// Adds the strategy to `config`; a rolling one sends nothing (ECS's default).
    fn apply_to(
        &self,
        config: aws_sdk_ecs::types::builders::DeploymentConfigurationBuilder,
    ) -> aws_sdk_ecs::types::builders::DeploymentConfigurationBuilder {
        let percent = f64::from(self.percent_tenths) / 10.0;
        let config = match self.strategy {
            RolloutStrategy::Rolling => return config,
            RolloutStrategy::BlueGreen => config.strategy(DeploymentStrategy::BlueGreen),
            RolloutStrategy::Canary => config
                .strategy(DeploymentStrategy::Canary)
                .canary_configuration(
                    CanaryConfiguration::builder()
                        .canary_percent(percent)
                        .canary_bake_time_in_minutes(self.step_minutes)
                        .build(),
                ),
            RolloutStrategy::Linear => config
                .strategy(DeploymentStrategy::Linear)
                .linear_configuration(
                    LinearConfiguration::builder()
                        .step_percent(percent)
                        .step_bake_time_in_minutes(self.step_minutes)
                        .build(),
                ),
        };
        config.bake_time_in_minutes(self.bake_minutes)
    }
}

impl Settings {
    /// `minimumHealthyPercent=50 maximumPercent=200 ...`, as kept in SSM.
    pub fn record(&self) -> String {
        format!(
            "minimumHealthyPercent={} maximumPercent={} circuitBreaker=rollback healthCheckGracePeriodSeconds={} enableExecuteCommand={} rollbackAlarms={} rollout={} breakerThreshold={}",
            self.minimum_healthy_percent, self.maximum_percent, self.grace_period_seconds, self.execute_command, self.rollback_alarms, self.rollout.record(), self.breaker.record()
        )
    }

    pub fn parse(record: &str) -> Option<Self> {
        let field = |name: &str| {
            record
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Self {
            minimum_healthy_percent: field("minimumHealthyPercent")?.parse().ok()?,
            maximum_percent: field("maximumPercent")?.parse().ok()?,
            grace_period_seconds: field("healthCheckGracePeriodSeconds")?.parse().ok()?,
            execute_command: field("enableExecuteCommand")?.parse().ok()?,
            // Recorded before rollback alarms existed: none.
            rollback_alarms: field("rollbackAlarms").is_some_and(|v| v == "true"),
            // Recorded before rollouts existed: rolling.
            rollout: field("rollout")
                .and_then(Rollout::parse)
                .unwrap_or(Rollout::ROLLING),
            // Recorded before thresholds could be set: ECS's default.
            breaker: field("breakerThreshold")
                .and_then(BreakerThreshold::parse)
                .unwrap_or(BreakerThreshold::DEFAULT),
        })
    }

    /// What the service reports, when it reports its deployment configuration at all.
    fn reported(service: &Service) -> Option<Self> {
        let config = service.deployment_configuration()?;
        let breaker = config.deployment_circuit_breaker()?;
        if !(breaker.enable() && breaker.rollback()) {
            // Off or without rollback: differs from anything `apply` sets.
            return Some(Self {
                minimum_healthy_percent: -1,
                maximum_percent: -1,
                grace_period_seconds: -1,
                execute_command: false,
                rollback_alarms: false,
                rollout: Rollout::ROLLING,
                breaker: BreakerThreshold::DEFAULT,
            });
        }
        Some(Self {
            minimum_healthy_percent: config.minimum_healthy_percent()?,
            maximum_percent: config.maximum_percent()?,
            grace_period_seconds: service.health_check_grace_period_seconds().unwrap_or(0),
            execute_command: service.enable_execute_command(),
            rollback_alarms: config
                .alarms()
                .is_some_and(|a| a.enable() && a.rollback() && !a.alarm_names().is_empty()),
            rollout: Rollout::reported(config),
            breaker: BreakerThreshold::reported(breaker),
        })
    }

    /// The circuit breaker's threshold, when it is not ECS's default.
    fn threshold(&self) -> Result<Option<ThresholdConfiguration>, ProvisionError> {
        if self.breaker == BreakerThreshold::DEFAULT {
            return Ok(None);
        }
        ThresholdConfiguration::builder()
            .r#type(self.breaker.kind())
            .value(self.breaker.value)
            .build()
            .map(Some)
            .map_err(|e| ProvisionError::internal("circuit breaker threshold", e))
    }

    /// The configuration ECS is given; `alarms` are the rollback alarms' names.
    fn deployment_configuration(
        &self,
        alarms: &[String],
    ) -> Result<DeploymentConfiguration, ProvisionError> {
        let watched = match self.rollback_alarms {
            true => Some(
                DeploymentAlarms::builder()
                    .set_alarm_names(Some(alarms.to_vec()))
                    .enable(true)
                    .rollback(true)
                    .build()
                    .map_err(|e| ProvisionError::internal("deployment alarms", e))?,
            ),
            false => None,
        };
        Ok(self
            .rollout
            .apply_to(DeploymentConfiguration::builder())
            .minimum_healthy_percent(self.minimum_healthy_percent)
            .maximum_percent(self.maximum_percent)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(true)
                    .set_threshold_configuration(self.threshold()?)
                    .build(),
            )
            .set_alarms(watched)
            .build())
    }
}

/// The service as the spec and the upstream stages say it should be.
#[derive(Debug, Clone)]
pub struct WantedService {
    pub cluster: String,
    pub name: String,
    pub task_definition_arn: String,
    pub desired_count: i32,
    /// True when Application Auto Scaling sets the count: an update never sends it.
    pub count_from_autoscaling: bool,
    /// Used when the strategy is empty.
    pub launch_type: LaunchType,
    /// The capacity providers the tasks run on; empty: the launch type.
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
    pub settings: Settings,
    /// The rollback alarms the deployments watch, when `settings` turns them on.
    pub alarm_names: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_id: String,
    pub target_group_arn: String,
    pub container_port: i32,
    /// With a blue/green, canary or linear rollout: what ECS shifts traffic with.
    pub traffic_shift: Option<TrafficShift>,
}

/// The alternate target group, the production listener rule and the role ECS changes them as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficShift {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    pub role_arn: String,
}

impl WantedService {
    fn network(&self) -> Result<NetworkConfiguration, ProvisionError> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.subnet_ids.clone()))
            .security_groups(&self.security_group_id)
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| ProvisionError::internal("awsvpc configuration", e))?;
        Ok(NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build())
    }

    fn load_balancer(&self) -> LoadBalancer {
        let advanced = self.traffic_shift.as_ref().map(|shift| {
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(&shift.alternate_target_group_arn)
                .production_listener_rule(&shift.production_listener_rule)
                .role_arn(&shift.role_arn)
                .build()
        });
        LoadBalancer::builder()
            .target_group_arn(&self.target_group_arn)
            .container_name(CONTAINER_NAME)
            .container_port(self.container_port)
            .set_advanced_configuration(advanced)
            .build()
    }
}

/// The service of that name, in any state ECS still reports.
pub async fn find(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Result<Option<Service>, ProvisionError> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .context("DescribeServices", name)
        .not_found_as_none()?;
    Ok(out.and_then(|o| o.services().first().cloned()))
}

/// `FARGATE base=1 weight=1, FARGATE_SPOT base=0 weight=3`, in a stable order.
fn strategy_text(strategy: &[CapacityProviderStrategyItem]) -> String {
    let mut items: Vec<String> = strategy
        .iter()
        .map(provisioner_core::ecs_tasks::placement_text)
        .collect();
    items.sort();
    if items.is_empty() {
        "(launch type)".to_string()
    } else {
        items.join(", ")
    }
}

fn network_matches(service: &Service, wanted: &WantedService) -> bool {
    let Some(vpc) = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
    else {
        return false;
    };
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    set(vpc.subnets()) == set(&wanted.subnet_ids)
        && vpc.security_groups() == [wanted.security_group_id.clone()]
        && vpc.assign_public_ip() == Some(&AssignPublicIp::Disabled)
}

/// ECS alternates the two target groups between deployments, so with a traffic shift either
/// may be the one the service names.
fn load_balancer_matches(service: &Service, wanted: &WantedService) -> bool {
    let [lb] = service.load_balancers() else {
        return false;
    };
    let container = lb.container_name() == Some(CONTAINER_NAME)
        && lb.container_port() == Some(wanted.container_port);
    match (&wanted.traffic_shift, lb.advanced_configuration()) {
        (None, None) => {
            container && lb.target_group_arn() == Some(wanted.target_group_arn.as_str())
        }
        (Some(shift), Some(live)) => {
            fn pair<'a>(a: Option<&'a str>, b: Option<&'a str>) -> [&'a str; 2] {
                let mut v = [a.unwrap_or_default(), b.unwrap_or_default()];
                v.sort_unstable();
                v
            }
            container
                && pair(lb.target_group_arn(), live.alternate_target_group_arn())
                    == pair(
                        Some(&wanted.target_group_arn),
                        Some(&shift.alternate_target_group_arn),
                    )
                && live.production_listener_rule() == Some(shift.production_listener_rule.as_str())
                && live.role_arn() == Some(shift.role_arn.as_str())
        }
        _ => false,
    }
}

/// `<target group>`, with `alternate <group> rule <rule>` when it shifts traffic, for a plan.
fn describe_load_balancer(lb: &LoadBalancer) -> String {
    let target_group = lb.target_group_arn().unwrap_or("(none)");
    match lb.advanced_configuration() {
        Some(a) => format!(
            "{target_group} alternate {} rule {}",
            a.alternate_target_group_arn().unwrap_or("(none)"),
            a.production_listener_rule().unwrap_or("(none)")
        ),
        None => target_group.to_string(),
    }
}

/// A service that shifts traffic cannot go back to a rolling one in place: its tasks may be
/// in the alternate target group, which a rolling service does not use.
fn check_no_switch_back(service: &Service, wanted: &WantedService) -> Result<(), ProvisionError> {
    let shifting = service
        .load_balancers()
        .iter()
        .any(|lb| lb.advanced_configuration().is_some());
    if shifting && wanted.traffic_shift.is_none() {
        return Err(ProvisionError::Conflict(format!(
            "service {} uses a blue/green, canary or linear rollout, and service.rollout.strategy \
             is ROLLING: its tasks may be in the alternate target group, so it cannot switch \
             back in place. Destroy the service stage and apply again, or keep \
             service.rollout.strategy at BLUE_GREEN, CANARY or LINEAR",
            wanted.name
        )));
    }
    Ok(())
}

/// What [`ensure`] did.
pub enum Ensured {
    /// The service ARN and the names of the settings changed (empty when nothing was sent).
    Converged(String, Vec<&'static str>),
    /// A service of that name was deleted and is still DRAINING: ECS refuses to create it again
    /// until its tasks have stopped and it is INACTIVE.
    PreviousDraining,
}

/// Creates the service, or updates only what differs.
pub async fn ensure(
    ecs: &aws_sdk_ecs::Client,
    names: &Names,
    wanted: &WantedService,
    recorded: Option<Settings>,
) -> Result<Ensured, ProvisionError> {
    // In a cluster made in this execution ([`changes::is_fresh`]) only this execution's
    // CreateService, whose client token answers a resend with the same service, can have put one.
    let current = if changes::is_fresh(&wanted.cluster) {
        None
    } else {
        find(ecs, &wanted.cluster, &wanted.name).await?
    };
    let (arn, changes) = match current.as_ref().and_then(|s| s.status()) {
        Some("ACTIVE") => update(ecs, wanted, current.as_ref().unwrap(), recorded).await?,
        Some("DRAINING") => return Ok(Ensured::PreviousDraining),
        _ => create(ecs, names, wanted).await?,
    };
    Ok(Ensured::Converged(arn, changes))
}

async fn create(
    ecs: &aws_sdk_ecs::Client,
    names: &Names,
    wanted: &WantedService,
) -> Result<(String, Vec<&'static str>), ProvisionError> {
    let change = Change::create("ECS service", &wanted.name)
        .set("taskDefinition", &wanted.task_definition_arn)
        .set("desiredCount", wanted.desired_count)
        .set("subnets", wanted.subnet_ids.join(", "))
        .set("target group", &wanted.target_group_arn);
    if !changes::carry_out(change) {
        return Ok((
            changes::new_id(&format!("ECS service {}", wanted.name)),
            vec!["created"],
        ));
    }
    let created = ecs
        .create_service()
        .cluster(&wanted.cluster)
        .service_name(&wanted.name)
        .task_definition(&wanted.task_definition_arn)
        .desired_count(wanted.desired_count)
        .set_launch_type(
            wanted
                .capacity_provider_strategy
                .is_empty()
                .then(|| wanted.launch_type.clone()),
        )
        .set_capacity_provider_strategy(
            (!wanted.capacity_provider_strategy.is_empty())
                .then(|| wanted.capacity_provider_strategy.clone()),
        )
        .set_platform_version(wanted.platform_version.clone())
        .deployment_configuration(
            wanted
                .settings
                .deployment_configuration(&wanted.alarm_names)?,
        )
        .health_check_grace_period_seconds(wanted.settings.grace_period_seconds)
        .enable_execute_command(wanted.settings.execute_command)
        .network_configuration(wanted.network()?)
        .load_balancers(wanted.load_balancer())
        .propagate_tags(PropagateTags::Service)
        .enable_ecs_managed_tags(true)
        .set_tags(Some(ecs::on_create(owner(names), ROLE)))
        .client_token(exactly_once::client_token(&[
            &wanted.cluster,
            &wanted.name,
            &wanted.task_definition_arn,
        ]))
        .send()
        .await
        .context("CreateService", &wanted.name)?;
    let arn = created
        .service()
        .and_then(|s| s.service_arn())
        .unwrap_or_default()
        .to_string();
    changes::made(&arn);
    tracing::info!(service = %arn, "created service");
    Ok((arn, vec!["created"]))
}

async fn update(
    ecs: &aws_sdk_ecs::Client,
    wanted: &WantedService,
    current: &Service,
    recorded: Option<Settings>,
) -> Result<(String, Vec<&'static str>), ProvisionError> {
    let arn = current.service_arn().unwrap_or_default().to_string();
    check_no_switch_back(current, wanted)?;
    let launch_type = current.launch_type();
    if wanted.capacity_provider_strategy.is_empty()
        && launch_type.is_some()
        && launch_type != Some(&wanted.launch_type)
    {
        return Err(ProvisionError::Conflict(format!(
            "service {} runs with launch type {:?}, the spec says {:?}; the launch type cannot \
             change in place: destroy the service stage and apply again",
            wanted.name, launch_type, wanted.launch_type
        )));
    }
    let mut request = ecs
        .update_service()
        .cluster(&wanted.cluster)
        .service(&wanted.name);
    let mut changed = Vec::new();
    let mut change = Change::update("ECS service", &wanted.name);
    if current.task_definition() != Some(wanted.task_definition_arn.as_str()) {
        changed.push("taskDefinition");
        change = change.field(
            "taskDefinition",
            current.task_definition().unwrap_or("(none)"),
            &wanted.task_definition_arn,
        );
        request = request.task_definition(&wanted.task_definition_arn);
    }
    if !wanted.count_from_autoscaling && current.desired_count() != wanted.desired_count {
        changed.push("desiredCount");
        change = change.field(
            "desiredCount",
            current.desired_count(),
            wanted.desired_count,
        );
        request = request.desired_count(wanted.desired_count);
    }
    // ECS moves a service between Fargate capacity providers, and back to its launch type with
    // an empty strategy, in place; the change reaches the tasks with a new deployment only.
    let live_strategy = strategy_text(current.capacity_provider_strategy());
    let wanted_strategy = strategy_text(&wanted.capacity_provider_strategy);
    if live_strategy != wanted_strategy {
        changed.push("capacityProviderStrategy");
        change = change.field("capacityProviderStrategy", live_strategy, wanted_strategy);
        request = request
            .set_capacity_provider_strategy(Some(wanted.capacity_provider_strategy.clone()))
            .force_new_deployment(true);
    }
    let live = Settings::reported(current).or(recorded);
    if live != Some(wanted.settings) {
        changed.push("deploymentConfiguration");
        change = change.field(
            "deploymentConfiguration",
            live.map_or("(unknown)".to_string(), |l| l.record()),
            wanted.settings.record(),
        );
        request = request
            .deployment_configuration(
                wanted
                    .settings
                    .deployment_configuration(&wanted.alarm_names)?,
            )
            .health_check_grace_period_seconds(wanted.settings.grace_period_seconds)
            .enable_execute_command(wanted.settings.execute_command);
    }
    if !network_matches(current, wanted) {
        changed.push("networkConfiguration");
        let subnets = current
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|v| v.subnets().join(", "))
            .unwrap_or_default();
        change = change.field("subnets", subnets, wanted.subnet_ids.join(", "));
        request = request.network_configuration(wanted.network()?);
    }
    if !load_balancer_matches(current, wanted) {
        changed.push("loadBalancers");
        let live = current
            .load_balancers()
            .iter()
            .map(describe_load_balancer)
            .collect::<Vec<_>>()
            .join(", ");
        change = change.field(
            "loadBalancers",
            live,
            describe_load_balancer(&wanted.load_balancer()),
        );
        request = request.load_balancers(wanted.load_balancer());
    }
    if changed.is_empty() || !changes::carry_out(change) {
        return Ok((arn, changed));
    }
    request
        .send()
        .await
        .context("UpdateService", &wanted.name)?;
    tracing::info!(service = %arn, changes = %changed.join(", "), "updated service");
    Ok((arn, changed))
}

/// Scales the service to 0 and deletes it. Returns whether there was one to delete.
pub async fn delete(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Result<bool, ProvisionError> {
    let Some(service) = find(ecs, cluster, name).await? else {
        return Ok(false);
    };
    if service.status() != Some("ACTIVE") {
        return Ok(false);
    }
    if service.desired_count() > 0 {
        ecs.update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(0)
            .send()
            .await
            .context("UpdateService", name)?;
    }
    ecs.delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
        .context("DeleteService", name)?;
    tracing::info!(service = name, "deleting service");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn settings_survive_their_record() {
        let s = Settings {
            minimum_healthy_percent: 50,
            maximum_percent: 200,
            grace_period_seconds: 30,
            execute_command: true,
            rollback_alarms: true,
            rollout: super::Rollout {
                strategy: provisioner_core::spec::RolloutStrategy::Canary,
                bake_minutes: 5,
                percent_tenths: 125,
                step_minutes: 10,
            },
            breaker: super::BreakerThreshold {
                count: true,
                value: 4,
            },
        };
        assert_eq!(Settings::parse(&s.record()), Some(s));
        let old = s
            .record()
            .replace(" rollout=CANARY/5/125/10 breakerThreshold=COUNT/4", "");
        assert_eq!(
            Settings::parse(&old).map(|p| (p.rollout, p.breaker)),
            Some((super::Rollout::ROLLING, super::BreakerThreshold::DEFAULT))
        );
        assert_eq!(Settings::parse("minimumHealthyPercent=50"), None);
    }
}
