//! The environment spec: the one input every entry point takes (CloudFormation properties, console
//! input, stored copy in SSM). Defaults reproduce the reference environment (README, "The environment").
//!
//! Numbers and booleans also accept their string form, because CloudFormation passes every custom
//! resource property as a string ("2", "true"). Unknown fields are rejected so a typo never goes
//! unnoticed. Ranged numbers are read as `i64` and checked by [`validate`], which gives a message
//! with the allowed range instead of a bare integer overflow.

mod error;
mod fargate;
mod validate;

pub use error::{short_field, short_quotes, FieldError, SpecError};
pub use fargate::valid_fargate_memory;
pub use validate::{check_environment_name, check_stored_size, nat_zones_without_public_subnet};

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, DisplayFromStr, PickFirst};

/// A whole environment: network, load balancer and service.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "fargate-provisioner environment spec")]
pub struct EnvironmentSpec {
    /// Environment name: letters, digits and hyphens, at most 28 characters (the ALB and target
    /// group names derived from it must fit AWS's 32-character limit).
    pub name: String,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub alb: AlbSpec,
    pub service: ServiceSpec,
}

/// VPC and subnets. The reference layout: 10.0.0.0/16, public 10.0.0.0/24 and 10.0.3.0/24 in the
/// region's first two zones, private 10.0.1.0/24 in the first (zones chosen per region: see
/// `zones`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// IPv4 CIDR of the VPC, prefix /16 to /28.
    #[serde(default = "defaults::vpc_cidr")]
    pub vpc_cidr: String,
    /// Subnets for the load balancer, in at least two availability zones.
    #[serde(default = "defaults::public_subnets")]
    pub public_subnets: Vec<SubnetSpec>,
    /// Subnets for the tasks; no route to the internet unless `natGateways` gives one.
    #[serde(default = "defaults::private_subnets")]
    pub private_subnets: Vec<SubnetSpec>,
    /// Outbound internet for the tasks, through NAT gateways in the public subnets: NONE (the
    /// default: the tasks reach only AWS, through the VPC endpoints), ONE (a single NAT gateway,
    /// in the zone of the first private subnet) or PER_ZONE (one in each zone with private
    /// subnets, so a zone's outage cuts no other zone off). With a NAT gateway the image may come
    /// from any registry.
    #[serde(default)]
    pub nat_gateways: NatGateways,
}

/// How many NAT gateways give the private subnets a route to the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NatGateways {
    #[default]
    None,
    One,
    PerZone,
}

impl NatGateways {
    /// As the spec names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::One => "ONE",
            Self::PerZone => "PER_ZONE",
        }
    }
}

/// One subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetSpec {
    /// IPv4 CIDR inside the VPC CIDR, prefix /16 to /28.
    pub cidr: String,
    /// Availability zone: a zone letter ("a") appended to the region, or a full name
    /// ("eu-west-1a"). When not given, one is chosen among the zones the region offers: private
    /// subnets where Fargate runs, public subnets in the same zones first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// Internet-facing application load balancer and its `ip` target group.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlbSpec {
    /// Port of the HTTP listener (redirects to HTTPS when a certificate is given).
    #[serde(default = "defaults::listener_port")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub listener_port: i64,
    /// ACM certificate ARN: adds an HTTPS listener on 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// A name of yours in a Route 53 hosted zone: the environment answers at
    /// `https://<name>`. Without `certificateArn`, a certificate for it is requested from ACM and
    /// validated through DNS records in the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainSpec>,
    #[serde(default)]
    pub health_check: HealthCheckSpec,
    /// Seconds a draining target keeps its connections (0-3600). 30 rather than AWS's 300 so
    /// a rolling deploy takes about a minute.
    #[serde(default = "defaults::deregistration_delay")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub deregistration_delay_seconds: i64,
}

/// The environment's own name in DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainSpec {
    /// Fully qualified domain name, e.g. `app.example.com` (no wildcard, at most 253
    /// characters).
    pub name: String,
    /// The public Route 53 hosted zone the name is in, e.g. `Z0123456789ABCDEFGHIJ`: the alias
    /// record to the load balancer and the certificate's validation records go there.
    pub hosted_zone_id: String,
}

impl AlbSpec {
    /// True when the load balancer serves HTTPS on 443: with a given certificate, or with a
    /// domain whose certificate is requested.
    pub fn serves_https(&self) -> bool {
        self.certificate_arn.is_some() || self.domain.is_some()
    }

    /// The domain whose certificate the provisioner requests (none when one is given).
    pub fn managed_certificate_domain(&self) -> Option<&DomainSpec> {
        self.domain
            .as_ref()
            .filter(|_| self.certificate_arn.is_none())
    }
}

/// Target group health check.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// HTTP path, starting with "/".
    #[serde(default = "defaults::health_path")]
    pub path: String,
    /// Seconds between checks (5-300).
    #[serde(default = "defaults::health_interval")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub interval_seconds: i64,
    /// Seconds before a check counts as failed (2-120, less than the interval).
    #[serde(default = "defaults::health_timeout")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub timeout_seconds: i64,
    /// Consecutive successes before a target is healthy (2-10).
    #[serde(default = "defaults::healthy_threshold")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub healthy_threshold: i64,
    /// Consecutive failures before a target is unhealthy (2-10).
    #[serde(default = "defaults::unhealthy_threshold")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub unhealthy_threshold: i64,
}

/// Launch type of the service's tasks; it decides which VPC endpoints the tasks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LaunchType {
    #[default]
    Fargate,
    Ec2,
}

/// CPU architecture of the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum CpuArchitecture {
    #[default]
    #[serde(rename = "X86_64")]
    X86_64,
    #[serde(rename = "ARM64")]
    Arm64,
}

impl CpuArchitecture {
    /// As ECS names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "X86_64",
            Self::Arm64 => "ARM64",
        }
    }
}

/// A Fargate capacity provider: FARGATE (on-demand) or FARGATE_SPOT (spare capacity at a
/// discount; a task may be stopped with two minutes' warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapacityProvider {
    Fargate,
    FargateSpot,
}

impl CapacityProvider {
    /// As ECS names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fargate => "FARGATE",
            Self::FargateSpot => "FARGATE_SPOT",
        }
    }
}

/// One capacity provider of the service's strategy, as ECS takes it.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityProviderItem {
    pub capacity_provider: CapacityProvider,
    /// Tasks that run on this provider before the weights apply (0-100000; on one provider only).
    #[serde(default)]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub base: i64,
    /// Share of the tasks beyond the bases (0-1000).
    #[serde(default)]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub weight: i64,
}

/// The ECS service, its task definition and its single container.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Container image, e.g. "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest". Tasks in
    /// private subnets pull through the ECR endpoints, so the image must live in this region's
    /// ECR, unless `network.natGateways` gives them the internet.
    pub image: String,
    /// Port the container listens on (1-65535); the only port mapped.
    #[serde(default = "defaults::container_port")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub container_port: i64,
    /// Task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384.
    #[serde(default = "defaults::cpu")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub cpu: i64,
    /// Task memory in MiB; must be a valid Fargate pair with `cpu`.
    #[serde(default = "defaults::memory")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub memory: i64,
    /// Number of tasks (0 or more).
    #[serde(default = "defaults::desired_count")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub desired_count: i64,
    /// Lower bound of running tasks during a deployment, percent of the desired count (0-100).
    #[serde(default = "defaults::minimum_healthy_percent")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub minimum_healthy_percent: i64,
    /// Upper bound of running tasks during a deployment, percent of the desired count (100 or more).
    #[serde(default = "defaults::maximum_percent")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub maximum_percent: i64,
    /// Seconds the service ignores failing load balancer health checks after a task starts (0-2147483647).
    #[serde(default = "defaults::grace_period")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub health_check_grace_period_seconds: i64,
    #[serde(default)]
    pub launch_type: LaunchType,
    /// CPU architecture of the tasks: X86_64 or ARM64 (AWS Graviton, which needs an image with a
    /// linux/arm64 variant).
    #[serde(default)]
    pub cpu_architecture: CpuArchitecture,
    /// Fargate capacity providers the tasks run on, e.g. a base on FARGATE and the rest mostly on
    /// FARGATE_SPOT; without it the tasks run on on-demand Fargate (launch type FARGATE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// Task count set by Application Auto Scaling between a minimum and a maximum, tracking CPU,
    /// memory or requests per target. With it, `desiredCount` is only the count a new service
    /// starts with (kept within the limits), and apply and redeploy never change the count
    /// autoscaling set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScalingSpec>,
    /// CloudWatch alarms on the load balancer's view of the service (5xx rate and response
    /// time): a deployment during which one goes into ALARM fails and rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_alarms: Option<RollbackAlarmsSpec>,
    /// When the deployment circuit breaker fails a deployment whose tasks fail to start: ECS's
    /// default is half the desired count, at least 3 and at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSpec>,
    /// How a deployment replaces the running tasks: ECS's rolling update (the default), or
    /// blue/green, canary or linear, where ECS starts the new tasks in a second target group
    /// and shifts the load balancer's traffic to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// Fargate platform version: "LATEST" or a version such as "1.4.0".
    #[serde(default = "defaults::platform_version")]
    pub platform_version: String,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Secrets injected as environment variables, from Secrets Manager or SSM Parameter Store ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
    /// Customer managed KMS key that encrypts the secrets (adds the `kms` endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// Turns on ECS Exec (adds the `ssmmessages` endpoint).
    #[serde(default)]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub enable_execute_command: bool,
    /// Task execution role; defaults to the role the SAM template provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role the application code runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Days the container logs are kept: one of CloudWatch Logs' retention values.
    #[serde(default = "defaults::log_retention_days")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub log_retention_days: i64,
}

impl ServiceSpec {
    /// The deployment strategy: ROLLING unless `rollout` says otherwise.
    pub fn rollout_strategy(&self) -> RolloutStrategy {
        self.rollout
            .as_ref()
            .map(|r| r.strategy)
            .unwrap_or_default()
    }
}

/// The alarms a deployment watches. Each compares one minute's figure (or `periodSeconds`')
/// with its threshold; `evaluationPeriods` periods over it in a row raise the alarm.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackAlarmsSpec {
    /// Most 5xx answers from the tasks, in percent of the requests (0.1-100).
    #[serde(default = "defaults::max_5xx_percent", rename = "max5xxPercent")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub max_5xx_percent: f64,
    /// Longest average time the tasks take to answer, in seconds (0.01-60).
    #[serde(default = "defaults::max_response_time")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub max_response_time_seconds: f64,
    /// Seconds of one period: a multiple of 60 up to 3600 (the load balancer's metrics are per
    /// minute).
    #[serde(default = "defaults::alarm_period")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub period_seconds: i64,
    /// Periods over the threshold in a row that raise the alarm (1-10).
    #[serde(default = "defaults::evaluation_periods")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub evaluation_periods: i64,
}

impl RollbackAlarmsSpec {
    /// In words, for the outputs and `status`: `5xx > 5%, response time > 2 s, 3 x 60 s`.
    pub fn summary(&self) -> String {
        format!(
            "5xx > {}%, response time > {} s, {} x {} s",
            self.max_5xx_percent,
            self.max_response_time_seconds,
            self.evaluation_periods,
            self.period_seconds
        )
    }
}

/// The circuit breaker's failure threshold: a number of tasks, or a percentage of the desired
/// count (kept within ECS's 3 to 200). One of the two.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerSpec {
    /// Tasks that fail to start before the deployment fails (1-200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub failed_tasks: Option<i64>,
    /// Failed tasks in percent of the desired count (1-100), at least 3 and at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub failed_percent: Option<i64>,
}

impl CircuitBreakerSpec {
    /// In words, for `status`: `5 failed tasks` or `30% of the desired count failed`.
    pub fn summary(&self) -> String {
        match (self.failed_tasks, self.failed_percent) {
            (Some(tasks), _) => format!("{tasks} failed tasks"),
            (None, Some(percent)) => format!("{percent}% of the desired count failed (3-200)"),
            (None, None) => "half the desired count failed (3-200)".to_string(),
        }
    }
}

/// ECS's deployment strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutStrategy {
    /// New tasks replace old ones within `minimumHealthyPercent` and `maximumPercent`.
    #[default]
    Rolling,
    /// All new tasks start, then all traffic moves to them at once.
    BlueGreen,
    /// `canaryPercent` of the traffic moves first, the rest after `canaryBakeTimeMinutes`.
    Canary,
    /// `stepPercent` more of the traffic moves every `stepBakeTimeMinutes`.
    Linear,
}

impl RolloutStrategy {
    /// As ECS names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rolling => "ROLLING",
            Self::BlueGreen => "BLUE_GREEN",
            Self::Canary => "CANARY",
            Self::Linear => "LINEAR",
        }
    }

    /// Whether ECS shifts load balancer traffic between two target groups.
    pub fn shifts_traffic(self) -> bool {
        self != Self::Rolling
    }
}

/// A deployment strategy and its timing (ECS `deploymentConfiguration.strategy`). The times
/// are ECS's: both versions run for `bakeTimeMinutes` after all traffic has moved, and a
/// watched alarm or the circuit breaker rolls traffic back until then.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutSpec {
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// Minutes both versions run after all traffic has moved, before the old tasks stop
    /// (0-1440, default 5; not for ROLLING).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 5))]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub bake_time_minutes: Option<i64>,
    /// CANARY: percent of the traffic moved first, a multiple of 0.1 from 0.1 to 100 (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 5.0))]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub canary_percent: Option<f64>,
    /// CANARY: minutes before the rest moves (0-1440, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 10))]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub canary_bake_time_minutes: Option<i64>,
    /// LINEAR: percent of the traffic moved each step, a multiple of 0.1 from 3 to 100
    /// (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 10.0))]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub step_percent: Option<f64>,
    /// LINEAR: minutes between steps (0-1440, default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 6))]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub step_bake_time_minutes: Option<i64>,
}

impl RolloutSpec {
    pub const DEFAULT_BAKE_TIME_MINUTES: i64 = 5;
    pub const DEFAULT_CANARY_PERCENT: f64 = 5.0;
    pub const DEFAULT_CANARY_BAKE_TIME_MINUTES: i64 = 10;
    pub const DEFAULT_STEP_PERCENT: f64 = 10.0;
    pub const DEFAULT_STEP_BAKE_TIME_MINUTES: i64 = 6;

    pub fn bake_time_minutes(&self) -> i64 {
        self.bake_time_minutes
            .unwrap_or(Self::DEFAULT_BAKE_TIME_MINUTES)
    }

    pub fn canary_percent(&self) -> f64 {
        self.canary_percent.unwrap_or(Self::DEFAULT_CANARY_PERCENT)
    }

    pub fn canary_bake_time_minutes(&self) -> i64 {
        self.canary_bake_time_minutes
            .unwrap_or(Self::DEFAULT_CANARY_BAKE_TIME_MINUTES)
    }

    pub fn step_percent(&self) -> f64 {
        self.step_percent.unwrap_or(Self::DEFAULT_STEP_PERCENT)
    }

    pub fn step_bake_time_minutes(&self) -> i64 {
        self.step_bake_time_minutes
            .unwrap_or(Self::DEFAULT_STEP_BAKE_TIME_MINUTES)
    }

    /// Minutes from the first traffic shift until the old tasks stop, without failures.
    pub fn shifting_minutes(&self) -> i64 {
        let shifting = match self.strategy {
            RolloutStrategy::Rolling => return 0,
            RolloutStrategy::BlueGreen => 0,
            RolloutStrategy::Canary => self.canary_bake_time_minutes(),
            // No wait after the step that reaches 100%.
            RolloutStrategy::Linear => {
                let steps = (100.0 / self.step_percent()).ceil() as i64;
                (steps - 1).max(0) * self.step_bake_time_minutes()
            }
        };
        shifting + self.bake_time_minutes()
    }

    /// In words, for the outputs and `status`: `canary 5% for 10 min, then all; bake 5 min`.
    pub fn summary(&self) -> String {
        let bake = self.bake_time_minutes();
        match self.strategy {
            RolloutStrategy::Rolling => "rolling".to_string(),
            RolloutStrategy::BlueGreen => format!("blue/green, bake {bake} min"),
            RolloutStrategy::Canary => format!(
                "canary {}% for {} min, then all; bake {bake} min",
                self.canary_percent(),
                self.canary_bake_time_minutes()
            ),
            RolloutStrategy::Linear => format!(
                "linear {}% every {} min; bake {bake} min",
                self.step_percent(),
                self.step_bake_time_minutes()
            ),
        }
    }
}

/// Service autoscaling: target tracking policies of Application Auto Scaling. Without any target,
/// the service tracks 70% average CPU.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoScalingSpec {
    /// Fewest tasks autoscaling scales in to (0-5000).
    #[serde(default = "defaults::min_tasks")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub min_tasks: i64,
    /// Most tasks autoscaling scales out to (1-5000, at least `minTasks`).
    #[serde(default = "defaults::max_tasks")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub max_tasks: i64,
    /// Average CPU utilization to keep, percent (1-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub target_cpu_percent: Option<i64>,
    /// Average memory utilization to keep, percent (1-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub target_memory_percent: Option<i64>,
    /// Load balancer requests per task per minute to keep (1-1000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    pub target_requests_per_task: Option<i64>,
    /// Seconds after a scale-in before the next one (0-3600).
    #[serde(default = "defaults::scale_in_cooldown")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub scale_in_cooldown_seconds: i64,
    /// Seconds after a scale-out before the next one (0-3600).
    #[serde(default = "defaults::scale_out_cooldown")]
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub scale_out_cooldown_seconds: i64,
}

/// What a target tracking policy follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingMetric {
    Cpu,
    Memory,
    Requests,
}

impl ScalingMetric {
    /// Application Auto Scaling's predefined metric.
    pub fn predefined(self) -> &'static str {
        match self {
            Self::Cpu => "ECSServiceAverageCPUUtilization",
            Self::Memory => "ECSServiceAverageMemoryUtilization",
            Self::Requests => "ALBRequestCountPerTarget",
        }
    }

    /// Its part of a policy's name and of the printed limits.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Requests => "requests",
        }
    }
}

/// Average CPU the service tracks when the spec names no target.
pub const DEFAULT_TARGET_CPU_PERCENT: i64 = 70;

impl AutoScalingSpec {
    /// Each metric to track with its target value, in a fixed order.
    pub fn targets(&self) -> Vec<(ScalingMetric, i64)> {
        let given = [
            (ScalingMetric::Cpu, self.target_cpu_percent),
            (ScalingMetric::Memory, self.target_memory_percent),
            (ScalingMetric::Requests, self.target_requests_per_task),
        ];
        let targets: Vec<_> = given
            .into_iter()
            .filter_map(|(m, v)| Some((m, v?)))
            .collect();
        if targets.is_empty() {
            vec![(ScalingMetric::Cpu, DEFAULT_TARGET_CPU_PERCENT)]
        } else {
            targets
        }
    }

    /// The count a new service starts with: `desired` kept within the limits, as Application
    /// Auto Scaling would move it.
    pub fn initial_count(&self, desired: i64) -> i64 {
        desired.clamp(self.min_tasks, self.max_tasks.max(self.min_tasks))
    }

    /// `1-10 tasks, cpu 70%, requests 1000/task`, as the CLI and the attributes show it.
    pub fn summary(&self) -> String {
        let targets: Vec<String> = self
            .targets()
            .iter()
            .map(|(metric, value)| match metric {
                ScalingMetric::Requests => format!("requests {value}/task"),
                _ => format!("{} {value}%", metric.as_str()),
            })
            .collect();
        format!(
            "{}-{} tasks, {}",
            self.min_tasks,
            self.max_tasks,
            targets.join(", ")
        )
    }
}

/// A secret exposed to the container as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    /// Environment variable name.
    pub name: String,
    /// ARN of a Secrets Manager secret or an SSM parameter.
    pub value_from: String,
}

/// Where a secret comes from, read off its ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    SecretsManager,
    ParameterStore,
}

impl SecretSpec {
    pub fn source(&self) -> Option<SecretSource> {
        let service = self.value_from.split(':').nth(2)?;
        match service {
            "secretsmanager" => Some(SecretSource::SecretsManager),
            "ssm" => Some(SecretSource::ParameterStore),
            _ => None,
        }
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            vpc_cidr: defaults::vpc_cidr(),
            public_subnets: defaults::public_subnets(),
            private_subnets: defaults::private_subnets(),
            nat_gateways: NatGateways::None,
        }
    }
}

impl Default for AlbSpec {
    fn default() -> Self {
        Self {
            listener_port: defaults::listener_port(),
            certificate_arn: None,
            domain: None,
            health_check: HealthCheckSpec::default(),
            deregistration_delay_seconds: defaults::deregistration_delay(),
        }
    }
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            path: defaults::health_path(),
            interval_seconds: defaults::health_interval(),
            timeout_seconds: defaults::health_timeout(),
            healthy_threshold: defaults::healthy_threshold(),
            unhealthy_threshold: defaults::unhealthy_threshold(),
        }
    }
}

impl EnvironmentSpec {
    /// Parses and validates a spec given as JSON. `region` is the region the environment goes to;
    /// availability zones are resolved and checked against it.
    pub fn from_json(json: &serde_json::Value, region: &str) -> Result<Self, SpecError> {
        let spec: Self = serde_path_to_error::deserialize(json).map_err(SpecError::from_serde)?;
        spec.validate(region)?;
        Ok(spec)
    }

    /// Like [`EnvironmentSpec::from_json`], from text.
    pub fn from_json_str(text: &str, region: &str) -> Result<Self, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError::single(".", format!("not valid JSON: {e}")))?;
        Self::from_json(&value, region)
    }

    /// Checks every rule and reports all the fields that break one.
    pub fn validate(&self, region: &str) -> Result<(), SpecError> {
        validate::validate(self, region)
    }

    /// The JSON Schema of the spec, generated from these types.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(EnvironmentSpec))
            .expect("a generated schema serializes")
    }
}

impl SubnetSpec {
    /// The full availability zone name in `region` ("a" becomes "us-east-1a"); `None` while the
    /// zone is still to be chosen.
    pub fn zone_in(&self, region: &str) -> Option<String> {
        let zone = self.availability_zone.as_deref()?;
        Some(if zone.len() == 1 {
            format!("{region}{zone}")
        } else {
            zone.to_string()
        })
    }
}

mod defaults {
    use super::SubnetSpec;

    /// A subnet whose zone is chosen for the region.
    fn subnet(cidr: &str) -> SubnetSpec {
        SubnetSpec {
            cidr: cidr.into(),
            availability_zone: None,
        }
    }

    pub fn vpc_cidr() -> String {
        "10.0.0.0/16".into()
    }
    pub fn public_subnets() -> Vec<SubnetSpec> {
        vec![subnet("10.0.0.0/24"), subnet("10.0.3.0/24")]
    }
    pub fn private_subnets() -> Vec<SubnetSpec> {
        vec![subnet("10.0.1.0/24")]
    }
    pub fn listener_port() -> i64 {
        80
    }
    pub fn deregistration_delay() -> i64 {
        30
    }
    pub fn health_path() -> String {
        "/".into()
    }
    pub fn health_interval() -> i64 {
        10
    }
    pub fn health_timeout() -> i64 {
        5
    }
    pub fn healthy_threshold() -> i64 {
        2
    }
    pub fn unhealthy_threshold() -> i64 {
        3
    }
    pub fn container_port() -> i64 {
        80
    }
    pub fn cpu() -> i64 {
        256
    }
    pub fn memory() -> i64 {
        512
    }
    pub fn desired_count() -> i64 {
        2
    }
    pub fn minimum_healthy_percent() -> i64 {
        50
    }
    pub fn maximum_percent() -> i64 {
        200
    }
    pub fn grace_period() -> i64 {
        30
    }
    pub fn platform_version() -> String {
        "LATEST".into()
    }
    pub fn log_retention_days() -> i64 {
        30
    }
    pub fn min_tasks() -> i64 {
        1
    }
    pub fn max_5xx_percent() -> f64 {
        5.0
    }
    pub fn max_response_time() -> f64 {
        2.0
    }
    pub fn alarm_period() -> i64 {
        60
    }
    pub fn evaluation_periods() -> i64 {
        3
    }
    pub fn max_tasks() -> i64 {
        10
    }
    pub fn scale_in_cooldown() -> i64 {
        300
    }
    pub fn scale_out_cooldown() -> i64 {
        60
    }
}
