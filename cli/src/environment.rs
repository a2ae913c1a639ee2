//! What an environment consists of and how it is doing, read back from AWS: the answer to
//! "what did it make?" after a run, and to `status`.

use std::collections::BTreeMap;
use std::fmt;

use provisioner_core::registry::{Record, Registry};
use provisioner_core::{outputs, AwsContext};
use provisioner_core::{Names, NotFoundAsNone, OutputValue, Outputs, ProvisionError, SsmStore};
use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub name: String,
    /// Who made it (a stack, or the console), from the environments table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `changing`, or how the last run ended (`apply succeeded`, `destroy failed`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The last run's error name and reason, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Vpc>,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<SecurityGroup>,
    pub endpoints: Vec<Endpoint>,
    /// The NAT gateways that give the private subnets the internet (none by default).
    pub nat_gateways: Vec<NatGateway>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb_dns_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `alb.domain`: the name and the certificate requested for it, with its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// With a blue/green, canary or linear rollout: the production rule's share per target
    /// group, e.g. `web-tg 90%, web-tg2 10%` (ECS sets it during deployments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// The target group's targets and their health.
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Subnet {
    pub role: String,
    pub id: String,
    pub cidr: String,
    pub zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecurityGroup {
    pub name: String,
    pub id: String,
    pub inbound: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub service: String,
    pub kind: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NatGateway {
    pub id: String,
    pub subnet: String,
    pub state: String,
    pub public_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub arn: String,
    pub status: String,
    pub running: i32,
    pub desired: i32,
    /// Newest first; the `PRIMARY` one is what the service rolls onto.
    pub deployments: Vec<Deployment>,
    /// The container image of the primary deployment's task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image digests the running tasks run.
    pub digests: Vec<String>,
    /// The CPU architecture of the primary deployment's task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    /// The capacity providers the service asks for, e.g. `FARGATE base=1 weight=1`; empty when
    /// it runs on its launch type.
    pub capacity_provider_strategy: Vec<String>,
    /// Its launch type, when it has one instead of a strategy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Running tasks per capacity provider (the mix the strategy gave).
    pub running_on: BTreeMap<String, usize>,
    /// The autoscaling limits and targets last applied, e.g. `1-10 tasks, cpu 70%`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<String>,
    /// The alarms deployments watch, e.g. `5xx > 5%, response time > 2 s, 3 x 60 s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_alarms: Option<String>,
    /// The deployment strategy, e.g. `canary 5% for 10 min, then all; bake 5 min`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_strategy: Option<String>,
    /// The circuit breaker's threshold when the spec sets it, e.g. `2 failed tasks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub rollout: String,
    pub running: i32,
    pub desired: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Target {
    pub id: String,
    pub port: i32,
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub acm: aws_sdk_acm::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            scaling: aws_sdk_applicationautoscaling::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }

    pub fn registry(&self, table: &str) -> Registry {
        Registry::new(self.dynamodb.clone(), table)
    }
}

fn one(outputs: &Outputs, key: &str) -> Option<String> {
    outputs.get(key).map(OutputValue::to_parameter_value)
}

fn tag(tags: &[aws_sdk_ec2::types::Tag], key: &str) -> String {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .unwrap_or("")
        .to_string()
}

/// The environment as AWS has it, with its entry in the environments table when one is given.
pub async fn describe(
    clients: &Clients,
    name: &str,
    record: Option<&Record>,
) -> Result<Environment, ProvisionError> {
    let names = Names::new(name);
    let store = SsmStore::new(clients.ssm.clone());
    let (network, alb, service) = (
        outputs::network::STAGE,
        outputs::alb::STAGE,
        outputs::service::STAGE,
    );
    let stored = store.load(&names, &[network, alb, service]).await?;
    let (network, alb, service) = (
        stored.outputs(network),
        stored.outputs(alb),
        stored.outputs(service),
    );
    let last = record.and_then(|r| r.last.as_ref());
    let mut env = Environment {
        name: name.to_string(),
        owner: record.and_then(|r| r.owner.clone()),
        state: record.map(Record::state),
        last_error: last.filter(|l| !l.succeeded()).map(last_error),
        alb_dns_name: one(&alb, outputs::alb::DNS_NAME),
        url: one(&alb, outputs::alb::URL),
        domain: one(&alb, outputs::alb::DOMAIN_NAME),
        certificate: one(&alb, outputs::alb::CERTIFICATE_ARN).map(|arn| {
            let status = one(&alb, outputs::alb::CERTIFICATE_STATUS).unwrap_or_default();
            format!("{arn} {status}")
        }),
        ..Default::default()
    };
    if let Some(rule) = one(&alb, outputs::alb::PRODUCTION_LISTENER_RULE_ARN) {
        env.traffic = traffic(&clients.elb, &rule).await?;
    }
    // With a blue/green, canary or linear rollout the tasks may be in either group.
    for key in [
        outputs::alb::TARGET_GROUP_ARN,
        outputs::alb::ALTERNATE_TARGET_GROUP_ARN,
    ] {
        if let Some(arn) = one(&alb, key) {
            env.targets.extend(targets(&clients.elb, &arn).await?);
        }
    }
    if let Some(arn) = one(&service, outputs::service::SERVICE_ARN) {
        let cluster = one(&service, outputs::service::CLUSTER_ARN).unwrap_or_default();
        env.service = ecs_service(&clients.ecs, &cluster, &arn)
            .await?
            .map(|s| Service {
                auto_scaling: one(&service, outputs::service::AUTO_SCALING),
                rollback_alarms: one(&service, outputs::service::ROLLBACK_ALARMS),
                rollout_strategy: one(&service, outputs::service::ROLLOUT),
                circuit_breaker: one(&service, outputs::service::CIRCUIT_BREAKER),
                ..s
            });
    }
    let Some(vpc_id) = one(&network, outputs::network::VPC_ID) else {
        return Ok(env);
    };
    network_of(&clients.ec2, &vpc_id, &mut env).await?;
    Ok(env)
}

/// A failed run's error, its stage (the reason's `<stage> stage: ` prefix) and its reason.
fn last_error(last: &provisioner_core::registry::LastRun) -> String {
    let error = last.error.as_deref().unwrap_or("Error");
    let reason = last.reason.as_deref().unwrap_or("");
    let staged = provisioner_core::stages::STAGES.iter().find_map(|stage| {
        let rest = reason.strip_prefix(&format!("{} stage: ", stage.name))?;
        Some(format!("{error} in the {} stage: {rest}", stage.name))
    });
    staged.unwrap_or_else(|| format!("{error}: {reason}"))
}

async fn network_of(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    env: &mut Environment,
) -> Result<(), ProvisionError> {
    let vpc_filter = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(vpc_id)
        .build();
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .context("DescribeVpcs", vpc_id)?;
    env.vpc = vpcs.vpcs().first().map(|v| Vpc {
        id: vpc_id.to_string(),
        cidr: v.cidr_block().unwrap_or_default().to_string(),
    });
    let subnets = ec2
        .describe_subnets()
        .filters(vpc_filter.clone())
        .send()
        .await
        .context("DescribeSubnets", vpc_id)?;
    env.subnets = subnets
        .subnets()
        .iter()
        .map(|s| Subnet {
            role: tag(s.tags(), provisioner_core::naming::ROLE_TAG),
            id: s.subnet_id().unwrap_or_default().to_string(),
            cidr: s.cidr_block().unwrap_or_default().to_string(),
            zone: s.availability_zone().unwrap_or_default().to_string(),
        })
        .collect();
    env.subnets.sort();
    let groups = ec2
        .describe_security_groups()
        .filters(vpc_filter.clone())
        .send()
        .await
        .context("DescribeSecurityGroups", vpc_id)?;
    env.security_groups = groups
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .map(|g| SecurityGroup {
            name: g.group_name().unwrap_or_default().to_string(),
            id: g.group_id().unwrap_or_default().to_string(),
            inbound: g.ip_permissions().iter().map(inbound_rule).collect(),
        })
        .collect();
    env.security_groups.sort();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(vpc_filter.clone())
        .send()
        .await
        .context("DescribeVpcEndpoints", vpc_id)?;
    env.endpoints = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            !e.state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
        })
        .map(|e| Endpoint {
            service: e.service_name().unwrap_or_default().to_string(),
            kind: e
                .vpc_endpoint_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            state: e
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        })
        .collect();
    env.endpoints.sort();
    let nats = ec2
        .describe_nat_gateways()
        .filter(vpc_filter)
        .send()
        .await
        .context("DescribeNatGateways", vpc_id)?;
    env.nat_gateways = nats
        .nat_gateways()
        .iter()
        .filter(|g| {
            !g.state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
        })
        .map(|g| NatGateway {
            id: g.nat_gateway_id().unwrap_or_default().to_string(),
            subnet: g.subnet_id().unwrap_or_default().to_string(),
            state: g
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            public_ip: g
                .nat_gateway_addresses()
                .first()
                .and_then(|a| a.public_ip())
                .unwrap_or_default()
                .to_string(),
        })
        .collect();
    env.nat_gateways.sort();
    Ok(())
}

fn inbound_rule(p: &aws_sdk_ec2::types::IpPermission) -> String {
    let from: Vec<String> = p
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip().map(str::to_string))
        .chain(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|u| u.group_id().map(str::to_string)),
        )
        .collect();
    format!(
        "{} {} from {}",
        p.ip_protocol().unwrap_or_default(),
        p.from_port().unwrap_or_default(),
        from.join(",")
    )
}

/// The production rule's weights as shares: `web-tg 90%, web-tg2 10%`.
async fn traffic(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    rule_arn: &str,
) -> Result<Option<String>, ProvisionError> {
    let rules = elb
        .describe_rules()
        .rule_arns(rule_arn)
        .send()
        .await
        .context("DescribeRules", rule_arn)
        .not_found_as_none()?;
    let groups: Vec<(String, i32)> = rules
        .iter()
        .flat_map(|r| r.rules())
        .flat_map(|r| r.actions())
        .filter_map(|a| a.forward_config())
        .flat_map(|c| c.target_groups())
        .map(|g| {
            let arn = g.target_group_arn().unwrap_or_default();
            // targetgroup/<name>/<id>
            let name = arn.rsplit('/').nth(1).unwrap_or(arn).to_string();
            (name, g.weight().unwrap_or(1))
        })
        .collect();
    let total: i32 = groups.iter().map(|(_, w)| w).sum();
    if groups.is_empty() || total == 0 {
        return Ok(None);
    }
    Ok(Some(
        groups
            .iter()
            .map(|(name, w)| format!("{name} {}%", w * 100 / total))
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

async fn targets(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    target_group_arn: &str,
) -> Result<Vec<Target>, ProvisionError> {
    let health = elb
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .send()
        .await
        .context("DescribeTargetHealth", target_group_arn)
        .not_found_as_none()?;
    let mut targets: Vec<Target> = health
        .iter()
        .flat_map(|h| h.target_health_descriptions())
        .map(|d| {
            let health = d.target_health();
            Target {
                id: d
                    .target()
                    .and_then(|t| t.id())
                    .unwrap_or_default()
                    .to_string(),
                port: d.target().and_then(|t| t.port()).unwrap_or_default(),
                state: health
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: health
                    .and_then(|h| h.description())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect();
    targets.sort();
    Ok(targets)
}

async fn ecs_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arn: &str,
) -> Result<Option<Service>, ProvisionError> {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(arn)
        .send()
        .await
        .context("DescribeServices", arn)
        .not_found_as_none()?;
    let Some(found) = described.as_ref().and_then(|d| d.services().first()) else {
        return Ok(None);
    };
    let deployments = found
        .deployments()
        .iter()
        .map(|d| Deployment {
            id: d.id().unwrap_or_default().to_string(),
            status: d.status().unwrap_or_default().to_string(),
            rollout: d
                .rollout_state()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            running: d.running_count(),
            desired: d.desired_count(),
        })
        .collect();
    let primary_task_definition = found
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.task_definition())
        .or(found.task_definition());
    let task_definition = match primary_task_definition {
        Some(td) => ecs
            .describe_task_definition()
            .task_definition(td)
            .send()
            .await
            .context("DescribeTaskDefinition", td)
            .not_found_as_none()?
            .and_then(|d| d.task_definition),
        None => None,
    };
    let image = task_definition
        .as_ref()
        .and_then(|td| td.container_definitions().first()?.image())
        .map(str::to_string);
    // A revision without a runtime platform runs on X86_64.
    let cpu_architecture = task_definition.as_ref().map(|td| {
        td.runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map_or("X86_64", |a| a.as_str())
            .to_string()
    });
    let running = running_tasks(ecs, cluster, found.service_name().unwrap_or(arn)).await?;
    Ok(Some(Service {
        arn: arn.to_string(),
        status: found.status().unwrap_or_default().to_string(),
        running: found.running_count(),
        desired: found.desired_count(),
        deployments,
        image,
        digests: running.digests,
        cpu_architecture,
        capacity_provider_strategy: found
            .capacity_provider_strategy()
            .iter()
            .map(provisioner_core::ecs_tasks::placement_text)
            .collect(),
        launch_type: found.launch_type().map(|l| l.as_str().to_string()),
        running_on: running.on,
        auto_scaling: None,
        rollback_alarms: None,
        rollout_strategy: None,
        circuit_breaker: None,
    }))
}

/// What the service's running tasks report.
struct RunningTasks {
    /// Their image digests, each once.
    digests: Vec<String>,
    /// How many run on each capacity provider.
    on: BTreeMap<String, usize>,
}

async fn running_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<RunningTasks, ProvisionError> {
    let mut arns = Vec::new();
    let mut pages = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page.context("ListTasks", service).not_found_as_none()? {
            Some(page) => arns.extend(page.task_arns().iter().cloned()),
            None => break,
        }
    }
    let tasks = provisioner_core::ecs_tasks::describe(ecs, cluster, arns).await?;
    let running: Vec<_> = tasks
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .collect();
    let mut digests: Vec<String> = running
        .iter()
        .flat_map(|t| t.containers())
        .filter_map(|c| c.image_digest().map(str::to_string))
        .collect();
    digests.sort();
    digests.dedup();
    let mut on = BTreeMap::new();
    for task in &running {
        let provider = task
            .capacity_provider_name()
            .or(task.launch_type().map(|l| l.as_str()))
            .unwrap_or("(unknown)");
        *on.entry(provider.to_string()).or_insert(0) += 1;
    }
    Ok(RunningTasks { digests, on })
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "environment {}", self.name)?;
        if let Some(owner) = &self.owner {
            writeln!(f, "  owner            {owner}")?;
        }
        if let Some(state) = &self.state {
            writeln!(f, "  state            {state}")?;
        }
        if let Some(error) = &self.last_error {
            writeln!(f, "  last error       {error}")?;
        }
        match &self.vpc {
            Some(vpc) => writeln!(f, "  VPC              {} {}", vpc.id, vpc.cidr)?,
            None => return writeln!(f, "  (no network)"),
        }
        for s in &self.subnets {
            writeln!(
                f,
                "  subnet           {:<18} {} {} {}",
                s.role, s.id, s.cidr, s.zone
            )?;
        }
        for g in &self.security_groups {
            writeln!(
                f,
                "  security group   {:<18} {} inbound: {}",
                g.name,
                g.id,
                g.inbound.join("; ")
            )?;
        }
        for e in &self.endpoints {
            writeln!(
                f,
                "  VPC endpoint     {:<40} {:<9} {}",
                e.service, e.kind, e.state
            )?;
        }
        for g in &self.nat_gateways {
            writeln!(
                f,
                "  NAT gateway      {} in {} {} {}",
                g.id, g.subnet, g.state, g.public_ip
            )?;
        }
        if let Some(dns) = &self.alb_dns_name {
            writeln!(f, "  ALB              {dns}")?;
        }
        if let Some(url) = &self.url {
            writeln!(f, "  URL              {url}")?;
        }
        if let Some(domain) = &self.domain {
            writeln!(f, "  domain           {domain} (alias to the ALB)")?;
        }
        if let Some(certificate) = &self.certificate {
            writeln!(f, "  certificate      {certificate}")?;
        }
        if let Some(traffic) = &self.traffic {
            writeln!(
                f,
                "  traffic          {traffic} (ECS shifts it during deployments)"
            )?;
        }
        if let Some(s) = &self.service {
            writeln!(
                f,
                "  ECS service      {} {}: {} of {} tasks running",
                s.arn, s.status, s.running, s.desired
            )?;
            for d in &s.deployments {
                writeln!(
                    f,
                    "  deployment       {} {} {}: {} of {} running",
                    d.id, d.status, d.rollout, d.running, d.desired
                )?;
            }
            if let Some(image) = &s.image {
                writeln!(f, "  image            {image}")?;
            }
            if !s.digests.is_empty() {
                writeln!(f, "  running digest   {}", s.digests.join(", "))?;
            }
            if let Some(architecture) = &s.cpu_architecture {
                writeln!(f, "  architecture     {architecture}")?;
            }
            if let Some(scaling) = &s.auto_scaling {
                writeln!(f, "  autoscaling      {scaling}")?;
            }
            let strategy = s.rollout_strategy.as_deref().unwrap_or("rolling");
            let breaker = match &s.circuit_breaker {
                Some(threshold) => format!("the circuit breaker ({threshold})"),
                None => "the circuit breaker".to_string(),
            };
            let rollout = match &s.rollback_alarms {
                Some(alarms) => {
                    format!("{strategy}, rolled back by {breaker} or an alarm: {alarms}")
                }
                None => format!("{strategy}, rolled back by {breaker}"),
            };
            writeln!(f, "  rollout          {rollout}")?;
            let asked = match &s.launch_type {
                _ if !s.capacity_provider_strategy.is_empty() => {
                    s.capacity_provider_strategy.join(", ")
                }
                Some(launch_type) => format!("launch type {launch_type}"),
                None => "(cluster default)".to_string(),
            };
            let running = s
                .running_on
                .iter()
                .map(|(provider, n)| format!("{n} on {provider}"))
                .collect::<Vec<_>>()
                .join(", ");
            if running.is_empty() {
                writeln!(f, "  capacity         {asked}")?;
            } else {
                writeln!(f, "  capacity         {asked}; running: {running}")?;
            }
        }
        for t in &self.targets {
            let reason = if t.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", t.reason)
            };
            writeln!(
                f,
                "  target           {}:{} {}{reason}",
                t.id, t.port, t.state
            )?;
        }
        Ok(())
    }
}

/// What is left of an environment after a delete: tagged EC2 resources, its load balancer, an
/// active cluster, SSM parameters. Empty when the delete was clean.
pub async fn leftovers(clients: &Clients, name: &str) -> Result<Vec<String>, ProvisionError> {
    use aws_sdk_ec2::types::Filter;
    let tagged = || {
        Filter::builder()
            .name(format!("tag:{}", provisioner_core::naming::ENVIRONMENT_TAG))
            .values(name)
            .build()
    };
    let ec2 = &clients.ec2;
    let mut left = Vec::new();
    let vpcs = ec2
        .describe_vpcs()
        .filters(tagged())
        .send()
        .await
        .context("DescribeVpcs", name)?;
    left.extend(
        vpcs.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id())
            .map(|id| format!("VPC {id}")),
    );
    let subnets = ec2
        .describe_subnets()
        .filters(tagged())
        .send()
        .await
        .context("DescribeSubnets", name)?;
    left.extend(
        subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id())
            .map(|id| format!("subnet {id}")),
    );
    let groups = ec2
        .describe_security_groups()
        .filters(tagged())
        .send()
        .await
        .context("DescribeSecurityGroups", name)?;
    left.extend(
        groups
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(|id| format!("security group {id}")),
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tagged())
        .send()
        .await
        .context("DescribeInternetGateways", name)?;
    left.extend(
        gateways
            .internet_gateways()
            .iter()
            .filter_map(|g| g.internet_gateway_id())
            .map(|id| format!("internet gateway {id}")),
    );
    let tables = ec2
        .describe_route_tables()
        .filters(tagged())
        .send()
        .await
        .context("DescribeRouteTables", name)?;
    left.extend(
        tables
            .route_tables()
            .iter()
            .filter_map(|t| t.route_table_id())
            .map(|id| format!("route table {id}")),
    );
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(tagged())
        .send()
        .await
        .context("DescribeVpcEndpoints", name)?;
    left.extend(
        endpoints
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !e.state()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .filter_map(|e| e.vpc_endpoint_id())
            .map(|id| format!("VPC endpoint {id}")),
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(tagged())
        .send()
        .await
        .context("DescribeNatGateways", name)?;
    left.extend(
        nats.nat_gateways()
            .iter()
            .filter(|g| {
                !g.state()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .filter_map(|g| g.nat_gateway_id())
            .map(|id| format!("NAT gateway {id}")),
    );
    let addresses = ec2
        .describe_addresses()
        .filters(tagged())
        .send()
        .await
        .context("DescribeAddresses", name)?;
    left.extend(
        addresses
            .addresses()
            .iter()
            .filter_map(|a| a.allocation_id())
            .map(|id| format!("Elastic IP {id}")),
    );
    let names = Names::new(name);
    let lbs = clients
        .elb
        .describe_load_balancers()
        .names(names.load_balancer())
        .send()
        .await
        .context("DescribeLoadBalancers", name)
        .not_found_as_none()?;
    left.extend(
        lbs.iter()
            .flat_map(|o| o.load_balancers())
            .filter_map(|l| l.load_balancer_arn())
            .map(|a| format!("load balancer {a}")),
    );
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .context("DescribeClusters", name)?;
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .filter_map(|c| c.cluster_arn())
            .map(|a| format!("cluster {a}")),
    );
    let scalable = names.scalable_service();
    let targets = clients
        .scaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&scalable)
        .send()
        .await
        .context("DescribeScalableTargets", &scalable)?;
    left.extend(
        targets
            .scalable_targets()
            .iter()
            .map(|t| format!("scalable target {}", t.resource_id())),
    );
    let alarms = clients
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{name}-rollback-"))
        .send()
        .await
        .context("DescribeAlarms", name)?;
    left.extend(
        alarms
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name())
            .map(|n| format!("alarm {n}")),
    );
    let certificates = provisioner_core::tags::acm::owned(
        &clients.acm,
        provisioner_core::Owner::new(&names, outputs::alb::STAGE),
        None,
    )
    .await?;
    left.extend(certificates.iter().map(|a| format!("certificate {a}")));
    let parameters = clients
        .ssm
        .get_parameters_by_path()
        .path(names.ssm_prefix())
        .recursive(true)
        .send()
        .await
        .context("GetParametersByPath", names.ssm_prefix())?;
    left.extend(
        parameters
            .parameters()
            .iter()
            .filter_map(|p| p.name())
            .map(|n| format!("SSM parameter {n}")),
    );
    Ok(left)
}
