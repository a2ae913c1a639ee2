//! The spec's rules. Each check adds a [`FieldError`] naming the field and what is allowed; all
//! problems are reported together so a user fixes a spec in one round.

use std::collections::HashSet;
use std::str::FromStr;

use ipnet::Ipv4Net;

use super::fargate::{valid_fargate_memory, FARGATE_CPU_VALUES};
use super::{
    AutoScalingSpec, CapacityProvider, CpuArchitecture, EnvironmentSpec, FieldError, LaunchType,
    NatGateways, NetworkSpec, RollbackAlarmsSpec, RolloutSpec, RolloutStrategy, ServiceSpec,
    SpecError, SubnetSpec,
};
use crate::endpoint_plan::{is_before, is_before_1_4};
use crate::naming::MAX_ENVIRONMENT_NAME_LEN;
use crate::store::ADVANCED_TIER_LIMIT;

/// CloudWatch Logs retention values (PutRetentionPolicy).
const LOG_RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            problem: problem.into(),
        });
    }

    fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if !(min..=max).contains(&value) {
            self.add(
                field,
                format!("{value} is out of range; allowed: {min} to {max}"),
            );
        }
    }
}

pub(super) fn validate(spec: &EnvironmentSpec, region: &str) -> Result<(), SpecError> {
    let mut p = Problems::default();
    if let Err(problem) = check_environment_name(&spec.name) {
        p.add("name", problem);
    }
    network(spec, region, &mut p);
    alb(spec, &mut p);
    service(spec, region, &mut p);
    if let Ok(stored) = serde_json::to_string(spec) {
        if let Err(problem) = check_stored_size(&stored) {
            p.add("spec", problem);
        }
    }
    if p.0.is_empty() {
        Ok(())
    } else {
        Err(SpecError { errors: p.0 })
    }
}

/// Parameter Store, where the spec is kept, holds at most 8 KB (an advanced parameter).
pub fn check_stored_size(stored: &str) -> Result<(), String> {
    if stored.len() > ADVANCED_TIER_LIMIT {
        return Err(format!(
            "the spec takes {} bytes with its defaults filled in; Parameter Store, where it is kept, holds at most {ADVANCED_TIER_LIMIT} bytes (an advanced parameter). Move long values out of service.environment (into service.secrets, or the image)",
            stored.len()
        ));
    }
    Ok(())
}

/// The environment name rule, shared with the stage protocol (which takes only a name).
pub fn check_environment_name(name: &str) -> Result<(), String> {
    let allowed = format!(
        "allowed: 1 to {MAX_ENVIRONMENT_NAME_LEN} letters, digits and hyphens, not starting or ending with a hyphen"
    );
    if name.is_empty() || name.len() > MAX_ENVIRONMENT_NAME_LEN {
        return Err(format!(
            "`{name}` is {} characters long (the load balancer and target group names derived from it must fit 32); {allowed}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!("`{name}` contains `{bad}`; {allowed}"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("`{name}` starts or ends with a hyphen; {allowed}"));
    }
    if name.to_ascii_lowercase().starts_with("internal-") {
        return Err(format!(
            "`{name}` starts with `internal-`, which AWS reserves for load balancers; {allowed}"
        ));
    }
    // Security groups are named `<name>-<role>`, and AWS refuses group names of the form sg-*.
    if name.to_ascii_lowercase().starts_with("sg-") {
        return Err(format!(
            "`{name}` starts with `sg-`, which AWS refuses at the start of a security group name; {allowed}"
        ));
    }
    Ok(())
}

fn parse_cidr(p: &mut Problems, field: &str, text: &str) -> Option<Ipv4Net> {
    let Ok(net) = Ipv4Net::from_str(text) else {
        p.add(
            field,
            format!("`{text}` is not an IPv4 CIDR block; expected a form like 10.0.0.0/16"),
        );
        return None;
    };
    if net.trunc() != net {
        p.add(
            field,
            format!("`{text}` has host bits set; did you mean {}?", net.trunc()),
        );
        return None;
    }
    if !(16..=28).contains(&net.prefix_len()) {
        p.add(
            field,
            format!(
                "`{text}` has prefix /{}; AWS allows /16 to /28",
                net.prefix_len()
            ),
        );
        return None;
    }
    Some(net)
}

fn network(spec: &EnvironmentSpec, region: &str, p: &mut Problems) {
    let net = &spec.network;
    let vpc = parse_cidr(p, "network.vpcCidr", &net.vpc_cidr);

    if net.public_subnets.len() < 2 {
        p.add("network.publicSubnets", format!(
            "{} given; an application load balancer needs at least 2 subnets in different availability zones",
            net.public_subnets.len()));
    }
    if net.private_subnets.is_empty() {
        p.add(
            "network.privateSubnets",
            "none given; the tasks need at least 1 private subnet",
        );
    }

    let all = net
        .public_subnets
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("network.publicSubnets[{i}]"), s))
        .chain(
            net.private_subnets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("network.privateSubnets[{i}]"), s)),
        );
    let mut placed: Vec<(String, Ipv4Net)> = Vec::new();
    for (path, subnet) in all {
        zone(p, &path, subnet, region);
        let field = format!("{path}.cidr");
        let Some(cidr) = parse_cidr(p, &field, &subnet.cidr) else {
            continue;
        };
        if path.starts_with("network.publicSubnets") && cidr.prefix_len() > 27 {
            p.add(&field, format!(
                "{cidr} is too small for the load balancer, which needs at least a /27 with 8 free addresses in each of its subnets; allowed: /16 to /27"));
        }
        if let Some(vpc) = vpc {
            if !vpc.contains(&cidr) {
                p.add(&field, format!("{cidr} is outside the VPC CIDR {vpc}; subnets must lie inside network.vpcCidr"));
                continue;
            }
        }
        if let Some((other, _)) = placed
            .iter()
            .find(|(_, o)| o.contains(&cidr.network()) || cidr.contains(&o.network()))
        {
            p.add(
                &field,
                format!("{cidr} overlaps {other}; subnets must not overlap"),
            );
            continue;
        }
        placed.push((field, cidr));
    }

    // Zones left to choose are chosen apart; the region's zones are checked when they are known.
    let given: Vec<String> = net
        .public_subnets
        .iter()
        .filter_map(|s| s.zone_in(region))
        .collect();
    let zones: HashSet<&String> = given.iter().collect();
    if net.public_subnets.len() >= 2 && given.len() == net.public_subnets.len() && zones.len() < 2 {
        p.add("network.publicSubnets", format!(
            "all in {}; an application load balancer needs subnets in at least 2 different availability zones",
            zones.into_iter().next().cloned().unwrap_or_default()));
    }
    if net.nat_gateways == NatGateways::PerZone && given.len() == net.public_subnets.len() {
        if let Some(problem) = nat_zones_without_public_subnet(net, region) {
            p.add("network.natGateways", problem);
        }
    }
}

/// For PER_ZONE: the zones of private subnets that have no public subnet for their NAT gateway,
/// said as the problem; `None` when every such zone has one (or a zone is still to be chosen).
pub fn nat_zones_without_public_subnet(net: &NetworkSpec, region: &str) -> Option<String> {
    let public: HashSet<String> = net
        .public_subnets
        .iter()
        .filter_map(|s| s.zone_in(region))
        .collect();
    let mut missing: Vec<String> = net
        .private_subnets
        .iter()
        .filter_map(|s| s.zone_in(region))
        .filter(|z| !public.contains(z))
        .collect();
    missing.sort();
    missing.dedup();
    (!missing.is_empty()).then(|| {
        format!(
            "PER_ZONE puts a NAT gateway in a public subnet of each private subnet's zone, and {} has none; allowed: add a public subnet there, or ONE",
            missing.join(", ")
        )
    })
}

/// Why `name` cannot be a certificate's and a record's name (ACM's `DomainName` pattern without
/// the wildcard), if it cannot.
fn domain_name_problem(name: &str) -> Option<String> {
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Some(format!("`{name}` is not a fully qualified domain name such as app.example.com (letters, digits and hyphens in dot-separated labels of at most 63 characters; no wildcard; at most 253 characters)"));
    }
    (name.to_ascii_lowercase() != name).then(|| {
        format!(
            "`{name}` has capital letters; DNS names are given in lower case: `{}`",
            name.to_ascii_lowercase()
        )
    })
}

fn zone(p: &mut Problems, path: &str, subnet: &SubnetSpec, region: &str) {
    let Some(az) = &subnet.availability_zone else {
        return;
    };
    let letter = az.strip_prefix(region).unwrap_or(az);
    let is_letter = letter.len() == 1 && letter.chars().all(|c| c.is_ascii_lowercase());
    if !is_letter {
        p.add(format!("{path}.availabilityZone"), format!(
            "`{az}` is not an availability zone of {region}; give a zone letter (\"a\") or a full name such as \"{region}a\""));
    }
}

fn alb(spec: &EnvironmentSpec, p: &mut Problems) {
    let alb = &spec.alb;
    p.range("alb.listenerPort", alb.listener_port, 1, 65535);
    if let Some(arn) = &alb.certificate_arn {
        if !(arn.starts_with("arn:") && (arn.contains(":acm:") || arn.contains(":iam::"))) {
            p.add("alb.certificateArn", format!("`{arn}` is not an ACM or IAM server certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"));
        }
    }
    if alb.serves_https() && alb.listener_port == 443 {
        p.add("alb.listenerPort", "443 is taken by the HTTPS listener when alb.certificateArn or alb.domain is set; use the HTTP port (80) that redirects to it");
    }
    if let Some(domain) = &alb.domain {
        if let Some(problem) = domain_name_problem(&domain.name) {
            p.add("alb.domain.name", problem);
        }
        let zone = &domain.hosted_zone_id;
        let zone_ok = !zone.is_empty()
            && zone.len() <= 32
            && zone
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !zone_ok {
            p.add("alb.domain.hostedZoneId", format!("`{zone}` is not a Route 53 hosted zone id (up to 32 capital letters and digits, without /hostedzone/, e.g. Z0123456789ABCDEFGHIJ)"));
        }
    }
    let hc = &alb.health_check;
    if !hc.path.starts_with('/') || hc.path.len() > 1024 {
        p.add(
            "alb.healthCheck.path",
            format!(
                "`{}` must start with / and be at most 1024 characters",
                hc.path
            ),
        );
    }
    p.range(
        "alb.healthCheck.intervalSeconds",
        hc.interval_seconds,
        5,
        300,
    );
    p.range("alb.healthCheck.timeoutSeconds", hc.timeout_seconds, 2, 120);
    if hc.timeout_seconds >= hc.interval_seconds {
        p.add(
            "alb.healthCheck.timeoutSeconds",
            format!(
                "{} must be less than alb.healthCheck.intervalSeconds ({})",
                hc.timeout_seconds, hc.interval_seconds
            ),
        );
    }
    p.range(
        "alb.healthCheck.healthyThreshold",
        hc.healthy_threshold,
        2,
        10,
    );
    p.range(
        "alb.healthCheck.unhealthyThreshold",
        hc.unhealthy_threshold,
        2,
        10,
    );
    p.range(
        "alb.deregistrationDelaySeconds",
        alb.deregistration_delay_seconds,
        0,
        3600,
    );
}

fn service(spec: &EnvironmentSpec, region: &str, p: &mut Problems) {
    let s = &spec.service;
    match crate::image::ImageRef::parse(&s.image) {
        Err(e) => p.add("service.image", format!(
            "`{}` is not an image reference ({e}); expected REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 123456789012.dkr.ecr.{region}.amazonaws.com/web:latest",
            s.image)),
        // Through a NAT gateway any registry is reachable; without, only this region's ECR.
        Ok(reference) if spec.network.nat_gateways == NatGateways::None => {
            pullable(p, &s.image, reference.registry(), region)
        }
        Ok(_) => {}
    }
    p.range("service.containerPort", s.container_port, 1, 65535);
    match (s.launch_type, valid_fargate_memory(s.cpu)) {
        (LaunchType::Fargate, None) => p.add(
            "service.cpu",
            format!(
                "{} is not a Fargate CPU value; allowed: {FARGATE_CPU_VALUES:?}",
                s.cpu
            ),
        ),
        (LaunchType::Fargate, Some(memory)) if !memory.contains(&s.memory) => p.add(
            "service.memory",
            format!(
                "{} MiB is not valid with cpu {} on Fargate; allowed: {memory:?}",
                s.memory, s.cpu
            ),
        ),
        (LaunchType::Ec2, _) => {
            p.range("service.cpu", s.cpu, 128, 196_608);
            p.range("service.memory", s.memory, 128, 1_048_576);
        }
        _ => {}
    }
    if s.desired_count < 0 {
        p.add(
            "service.desiredCount",
            format!("{} is negative; allowed: 0 or more", s.desired_count),
        );
    }
    p.range(
        "service.minimumHealthyPercent",
        s.minimum_healthy_percent,
        0,
        100,
    );
    if s.maximum_percent < 100 {
        p.add("service.maximumPercent", format!("{} is below 100; allowed: 100 or more (200 lets a deploy start a full new set of tasks)", s.maximum_percent));
    }
    if s.minimum_healthy_percent > s.maximum_percent {
        p.add(
            "service.minimumHealthyPercent",
            format!(
                "{} is above service.maximumPercent ({})",
                s.minimum_healthy_percent, s.maximum_percent
            ),
        );
    }
    p.range(
        "service.healthCheckGracePeriodSeconds",
        s.health_check_grace_period_seconds,
        0,
        i64::from(i32::MAX),
    );
    let version = &s.platform_version;
    let numbers: Option<Vec<u32>> = version.split('.').map(|n| n.parse().ok()).collect();
    if version != "LATEST" && numbers.is_none_or(|n| n.len() != 3) {
        p.add(
            "service.platformVersion",
            format!(
                "`{version}` is not a platform version; allowed: LATEST or a version such as 1.4.0"
            ),
        );
    }
    // Fargate offers 8 and 16 vCPU on platform 1.4.0 and later only.
    if s.launch_type == LaunchType::Fargate && s.cpu >= 8192 && is_before_1_4(version) {
        p.add(
            "service.cpu",
            format!(
                "{} needs Fargate platform version 1.4.0 or LATEST (service.platformVersion is {version}); allowed on {version}: 256 to 4096",
                s.cpu
            ),
        );
    }
    capacity(s, p);
    if let Some(alarms) = &s.rollback_alarms {
        rollback_alarms(alarms, p);
    }
    if let Some(breaker) = &s.circuit_breaker {
        const FIELD: &str = "service.circuitBreaker";
        match (breaker.failed_tasks, breaker.failed_percent) {
            (Some(_), Some(_)) => p.add(
                FIELD,
                "has both failedTasks and failedPercent; allowed: one of them",
            ),
            (None, None) => p.add(
                FIELD,
                "has neither failedTasks nor failedPercent; allowed: one of them",
            ),
            (Some(tasks), None) => p.range(&format!("{FIELD}.failedTasks"), tasks, 1, 200),
            (None, Some(percent)) => p.range(&format!("{FIELD}.failedPercent"), percent, 1, 100),
        }
    }
    if let Some(r) = &s.rollout {
        rollout(r, p);
        // ALBRequestCountPerTarget names one target group, and these rollouts move the tasks
        // to the other one at every deployment.
        let per_task = s
            .auto_scaling
            .as_ref()
            .is_some_and(|a| a.target_requests_per_task.is_some());
        if per_task && r.strategy.shifts_traffic() {
            p.add(
                "service.autoScaling.targetRequestsPerTask",
                format!(
                    "cannot follow a {} rollout: the requests-per-target metric is of one target group, and each deployment moves the tasks to the other; allowed: targetCpuPercent or targetMemoryPercent, or strategy ROLLING",
                    r.strategy.as_str()
                ),
            );
        }
    }
    if let Some(scaling) = &s.auto_scaling {
        auto_scaling(scaling, p);
    }

    let mut names = HashSet::new();
    for key in s.environment.keys() {
        if !is_env_var_name(key) {
            p.add(format!("service.environment.{key}"), "is not a variable name; allowed: letters, digits and underscores, not starting with a digit");
        }
        names.insert(key.as_str());
    }
    for (i, secret) in s.secrets.iter().enumerate() {
        if !is_env_var_name(&secret.name) {
            p.add(format!("service.secrets[{i}].name"), format!("`{}` is not a variable name; allowed: letters, digits and underscores, not starting with a digit", secret.name));
        } else if !names.insert(secret.name.as_str()) {
            p.add(
                format!("service.secrets[{i}].name"),
                format!(
                    "`{}` is already set in service.environment or another secret",
                    secret.name
                ),
            );
        }
        if secret.source().is_none() {
            p.add(format!("service.secrets[{i}].valueFrom"), format!(
                "`{}` is not a Secrets Manager secret ARN (arn:aws:secretsmanager:...) or an SSM parameter ARN (arn:aws:ssm:...)", secret.value_from));
        }
    }
    if !s.secrets.is_empty() && s.execution_role_arn.is_none() {
        p.add(
            "service.executionRoleArn",
            "required when service.secrets is given: the stack's default execution role pulls images and writes logs but reads no secrets (it is shared by every environment). Name a role that may read exactly these secrets (secretsmanager:GetSecretValue or ssm:GetParameters, and kms:Decrypt for a customer managed key) and add it to the stack's AdditionalPassRoleArns",
        );
    }
    arn(
        p,
        "service.kmsKeyArn",
        s.kms_key_arn.as_deref(),
        ":kms:",
        "arn:aws:kms:REGION:ACCOUNT:key/ID",
    );
    arn(
        p,
        "service.executionRoleArn",
        s.execution_role_arn.as_deref(),
        ":iam::",
        "arn:aws:iam::ACCOUNT:role/NAME",
    );
    arn(
        p,
        "service.taskRoleArn",
        s.task_role_arn.as_deref(),
        ":iam::",
        "arn:aws:iam::ACCOUNT:role/NAME",
    );
    if !LOG_RETENTION_DAYS.contains(&s.log_retention_days) {
        p.add(
            "service.logRetentionDays",
            format!(
                "{} is not a CloudWatch Logs retention; allowed: {LOG_RETENTION_DAYS:?}",
                s.log_retention_days
            ),
        );
    }
}

/// The architecture and the capacity provider strategy (ECS API reference,
/// CapacityProviderStrategyItem; ECS Developer Guide, "Fargate capacity providers" and
/// "Amazon ECS task definitions for 64-bit ARM workloads").
fn capacity(s: &ServiceSpec, p: &mut Problems) {
    let version = &s.platform_version;
    let fargate = s.launch_type == LaunchType::Fargate;
    if fargate && s.cpu_architecture == CpuArchitecture::Arm64 && is_before_1_4(version) {
        p.add(
            "service.cpuArchitecture",
            format!("ARM64 on Fargate needs platform version 1.4.0 or LATEST (service.platformVersion is {version})"),
        );
    }
    let strategy = &s.capacity_provider_strategy;
    if strategy.is_empty() {
        return;
    }
    if !fargate {
        p.add(
            "service.capacityProviderStrategy",
            "names Fargate capacity providers, but service.launchType is EC2: remove one of the two",
        );
    }
    let mut seen = HashSet::new();
    let mut based = None;
    for (i, item) in strategy.iter().enumerate() {
        let field = format!("service.capacityProviderStrategy[{i}]");
        let provider = item.capacity_provider.as_str();
        if !seen.insert(item.capacity_provider) {
            p.add(
                format!("{field}.capacityProvider"),
                format!("{provider} is already in the strategy; allowed: each of FARGATE and FARGATE_SPOT at most once"),
            );
        }
        p.range(&format!("{field}.base"), item.base, 0, 100_000);
        p.range(&format!("{field}.weight"), item.weight, 0, 1000);
        if item.base > 0 {
            match based {
                Some(first) => p.add(
                    format!("{field}.base"),
                    format!("{} is the second base; allowed: a base on one provider only ({first} has one)", item.base),
                ),
                None => based = Some(provider),
            }
        }
        let spot_minimum = match s.cpu_architecture {
            CpuArchitecture::X86_64 => [1, 3, 0],
            CpuArchitecture::Arm64 => [1, 4, 0],
        };
        if item.capacity_provider == CapacityProvider::FargateSpot
            && is_before(version, spot_minimum)
        {
            let [major, minor, patch] = spot_minimum;
            p.add(
                format!("{field}.capacityProvider"),
                format!(
                    "FARGATE_SPOT with {} tasks needs platform version {major}.{minor}.{patch} or LATEST (service.platformVersion is {version})",
                    s.cpu_architecture.as_str()
                ),
            );
        }
    }
    if strategy.iter().all(|item| item.weight == 0) {
        p.add(
            "service.capacityProviderStrategy",
            "every weight is 0, so no task beyond the base has a provider; allowed: at least one weight from 1 to 1000",
        );
    }
}

/// The longest shift and bake a rollout may plan: the service stage waits for a deployment to
/// complete within its budget (two hours), with room to start the tasks.
pub const MAX_ROLLOUT_MINUTES: i64 = 90;

/// A deployment strategy's timing, as ECS allows it (ECS API reference: DeploymentConfiguration,
/// CanaryConfiguration, LinearConfiguration).
fn rollout(r: &RolloutSpec, p: &mut Problems) {
    const FIELD: &str = "service.rollout";
    let strategy = r.strategy.as_str();
    // Fields of one strategy only.
    for (field, set, allowed) in [
        (
            "canaryPercent",
            r.canary_percent.is_some(),
            RolloutStrategy::Canary,
        ),
        (
            "canaryBakeTimeMinutes",
            r.canary_bake_time_minutes.is_some(),
            RolloutStrategy::Canary,
        ),
        (
            "stepPercent",
            r.step_percent.is_some(),
            RolloutStrategy::Linear,
        ),
        (
            "stepBakeTimeMinutes",
            r.step_bake_time_minutes.is_some(),
            RolloutStrategy::Linear,
        ),
    ] {
        if set && r.strategy != allowed {
            p.add(
                format!("{FIELD}.{field}"),
                format!(
                    "is for strategy {}, and the strategy is {strategy}; allowed: leave it out",
                    allowed.as_str()
                ),
            );
        }
    }
    if r.bake_time_minutes.is_some() && !r.strategy.shifts_traffic() {
        p.add(
            format!("{FIELD}.bakeTimeMinutes"),
            "is for strategies BLUE_GREEN, CANARY and LINEAR, and the strategy is ROLLING; allowed: leave it out",
        );
    }
    for (field, minutes) in [
        ("bakeTimeMinutes", r.bake_time_minutes),
        ("canaryBakeTimeMinutes", r.canary_bake_time_minutes),
        ("stepBakeTimeMinutes", r.step_bake_time_minutes),
    ] {
        if let Some(minutes) = minutes {
            p.range(&format!("{FIELD}.{field}"), minutes, 0, 1440);
        }
    }
    let tenths = |v: f64| ((v * 10.0).round() - v * 10.0).abs() < 1e-6;
    for (field, percent, least) in [
        ("canaryPercent", r.canary_percent, 0.1),
        ("stepPercent", r.step_percent, 3.0),
    ] {
        if let Some(percent) = percent {
            if !(least..=100.0).contains(&percent) || !tenths(percent) {
                p.add(
                    format!("{FIELD}.{field}"),
                    format!(
                        "{percent} is not allowed; allowed: a multiple of 0.1 from {least} to 100"
                    ),
                );
            }
        }
    }
    let planned = r.shifting_minutes();
    if planned > MAX_ROLLOUT_MINUTES {
        p.add(
            FIELD,
            format!(
                "shifting traffic and baking take {planned} minutes; allowed: at most {MAX_ROLLOUT_MINUTES} (fewer steps, or shorter bake times)"
            ),
        );
    }
}

/// Rollback alarm thresholds and periods (CloudWatch PutMetricAlarm: a period of standard
/// resolution metrics is a multiple of 60 s; the load balancer publishes per minute).
fn rollback_alarms(a: &RollbackAlarmsSpec, p: &mut Problems) {
    const FIELD: &str = "service.rollbackAlarms";
    if !(0.1..=100.0).contains(&a.max_5xx_percent) {
        p.add(
            format!("{FIELD}.max5xxPercent"),
            format!("{} is out of range; allowed: 0.1 to 100", a.max_5xx_percent),
        );
    }
    if !(0.01..=60.0).contains(&a.max_response_time_seconds) {
        p.add(
            format!("{FIELD}.maxResponseTimeSeconds"),
            format!(
                "{} is out of range; allowed: 0.01 to 60",
                a.max_response_time_seconds
            ),
        );
    }
    if a.period_seconds % 60 != 0 || !(60..=3600).contains(&a.period_seconds) {
        p.add(
            format!("{FIELD}.periodSeconds"),
            format!(
                "{} is not allowed; allowed: a multiple of 60 from 60 to 3600",
                a.period_seconds
            ),
        );
    }
    p.range(
        &format!("{FIELD}.evaluationPeriods"),
        a.evaluation_periods,
        1,
        10,
    );
}

/// Autoscaling limits and targets (Application Auto Scaling API reference, RegisterScalableTarget
/// and TargetTrackingScalingPolicyConfiguration; 5000 is ECS's quota of tasks per service).
fn auto_scaling(a: &AutoScalingSpec, p: &mut Problems) {
    const FIELD: &str = "service.autoScaling";
    p.range(&format!("{FIELD}.minTasks"), a.min_tasks, 0, 5000);
    p.range(&format!("{FIELD}.maxTasks"), a.max_tasks, 1, 5000);
    if a.min_tasks > a.max_tasks {
        p.add(
            format!("{FIELD}.minTasks"),
            format!(
                "{} is above {FIELD}.maxTasks ({}); allowed: at most maxTasks",
                a.min_tasks, a.max_tasks
            ),
        );
    }
    for (name, value) in [
        ("targetCpuPercent", a.target_cpu_percent),
        ("targetMemoryPercent", a.target_memory_percent),
    ] {
        if let Some(v) = value {
            p.range(&format!("{FIELD}.{name}"), v, 1, 100);
        }
    }
    if let Some(v) = a.target_requests_per_task {
        p.range(&format!("{FIELD}.targetRequestsPerTask"), v, 1, 1_000_000);
    }
    p.range(
        &format!("{FIELD}.scaleInCooldownSeconds"),
        a.scale_in_cooldown_seconds,
        0,
        3600,
    );
    p.range(
        &format!("{FIELD}.scaleOutCooldownSeconds"),
        a.scale_out_cooldown_seconds,
        0,
        3600,
    );
}

/// Tasks in private subnets have no internet path: they pull only from this region's ECR, through
/// the VPC endpoints.
fn pullable(p: &mut Problems, image: &str, registry: &str, region: &str) {
    let this_ecr = [".amazonaws.com", ".amazonaws.com.cn"]
        .iter()
        .any(|suffix| registry.ends_with(&format!(".dkr.ecr.{region}{suffix}")));
    if !this_ecr {
        p.add("service.image", format!(
            "`{image}` is in {registry}, which the tasks cannot reach: they run in private subnets without an internet path and reach only the ECR of {region} through the VPC endpoints. Fix: push the image to ECR in {region} (ACCOUNT.dkr.ecr.{region}.amazonaws.com/REPOSITORY:TAG), or pull it through an ECR pull-through cache rule in {region}, or give the tasks the internet with network.natGateways ONE or PER_ZONE"));
    }
}

fn arn(p: &mut Problems, field: &str, value: Option<&str>, service: &str, example: &str) {
    if let Some(value) = value {
        if !(value.starts_with("arn:") && value.contains(service)) {
            p.add(
                field,
                format!("`{value}` is not an ARN of the expected kind; expected {example}"),
            );
        }
    }
}

fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
