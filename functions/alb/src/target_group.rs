//! The target group: HTTP, target type `ip` (Fargate tasks are addressed by their ENI's IP),
//! health check and deregistration delay from the spec.

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use provisioner_core::spec::AlbSpec;
use provisioner_core::tags::elb;
use provisioner_core::{changes, AwsContext, Change, Names, NotFoundAsNone, ProvisionError};

use crate::owner;

/// Which of the environment's target groups: the one the service starts with, or the second
/// one blue/green, canary and linear rollouts start the new tasks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Primary,
    Alternate,
}

impl Group {
    pub fn name(self, names: &Names) -> String {
        match self {
            Group::Primary => names.target_group(),
            Group::Alternate => names.alternate_target_group(),
        }
    }

    fn role(self) -> &'static str {
        match self {
            Group::Primary => "target-group",
            Group::Alternate => "alternate-target-group",
        }
    }
}

/// HTTP codes that count as healthy: a root path that redirects (to a login page, say) is alive.
pub const HEALTHY_HTTP_CODES: &str = "200-399";

/// Seconds AWS waits before a deregistered target stops getting connections.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
/// What a new target group drains for (ELB User Guide, "Deregistration delay").
const DEFAULT_DEREGISTRATION_DELAY: &str = "300";

/// The settings of the target group that `apply` keeps as the spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
}

impl HealthCheck {
    pub fn from_spec(alb: &AlbSpec) -> Self {
        let h = &alb.health_check;
        // Validation keeps these within AWS's ranges, which all fit an i32.
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Self {
            path: h.path.clone(),
            interval_seconds: int(h.interval_seconds),
            timeout_seconds: int(h.timeout_seconds),
            healthy_threshold: int(h.healthy_threshold),
            unhealthy_threshold: int(h.unhealthy_threshold),
            matcher: HEALTHY_HTTP_CODES.to_string(),
        }
    }

    /// Each field, live and wanted, for [`Change::differing`].
    fn beside(&self, wanted: &Self) -> [(&'static str, String, String); 6] {
        [
            ("healthCheck.path", self.path.clone(), wanted.path.clone()),
            (
                "healthCheck.intervalSeconds",
                self.interval_seconds.to_string(),
                wanted.interval_seconds.to_string(),
            ),
            (
                "healthCheck.timeoutSeconds",
                self.timeout_seconds.to_string(),
                wanted.timeout_seconds.to_string(),
            ),
            (
                "healthCheck.healthyThreshold",
                self.healthy_threshold.to_string(),
                wanted.healthy_threshold.to_string(),
            ),
            (
                "healthCheck.unhealthyThreshold",
                self.unhealthy_threshold.to_string(),
                wanted.unhealthy_threshold.to_string(),
            ),
            ("matcher", self.matcher.clone(), wanted.matcher.clone()),
        ]
    }

    fn of(tg: &TargetGroup) -> Self {
        Self {
            path: tg.health_check_path().unwrap_or_default().to_string(),
            interval_seconds: tg.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: tg.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: tg.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or_default(),
            matcher: tg
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// The environment's target groups of that name (normally one).
pub async fn find(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    group: Group,
) -> Result<Vec<TargetGroup>, ProvisionError> {
    let name = group.name(names);
    let found = elb
        .describe_target_groups()
        .names(&name)
        .send()
        .await
        .context("DescribeTargetGroups", &name)
        .not_found_as_none()?
        .map(|out| out.target_groups().to_vec())
        .unwrap_or_default();
    elb::only_ours(elb, owner(names), "target group", &name, found, |tg| {
        tg.target_group_arn()
    })
    .await
}

/// Creates the target group or adopts the existing one; corrects the health check and the
/// deregistration delay. Returns its ARN.
pub async fn ensure(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    group: Group,
    vpc_id: &str,
    container_port: i32,
    alb: &AlbSpec,
) -> Result<String, ProvisionError> {
    let name = group.name(names);
    let wanted = HealthCheck::from_spec(alb);
    let arn = match find(elb, names, group).await?.into_iter().next() {
        None if !changes::carry_out(
            Change::create("target group", &name)
                .set("target type", "ip")
                .set("port", container_port)
                .set("healthCheck.path", &wanted.path)
                .set(
                    "deregistrationDelaySeconds",
                    alb.deregistration_delay_seconds,
                ),
        ) =>
        {
            return Ok(changes::new_id(&name));
        }
        None => {
            let created = elb
                .create_target_group()
                .name(&name)
                .protocol(ProtocolEnum::Http)
                .port(container_port)
                .vpc_id(vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_enabled(true)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path(&wanted.path)
                .health_check_interval_seconds(wanted.interval_seconds)
                .health_check_timeout_seconds(wanted.timeout_seconds)
                .healthy_threshold_count(wanted.healthy_threshold)
                .unhealthy_threshold_count(wanted.unhealthy_threshold)
                .matcher(Matcher::builder().http_code(&wanted.matcher).build())
                .set_tags(Some(elb::on_create(owner(names), group.role())))
                .send()
                .await
                .context("CreateTargetGroup", &name)?;
            let arn = created
                .target_groups()
                .first()
                .and_then(|tg| tg.target_group_arn())
                .unwrap_or_default()
                .to_string();
            changes::made(&arn);
            tracing::info!(target_group = %arn, "created target group");
            arn
        }
        Some(tg) => {
            let arn = tg.target_group_arn().unwrap_or_default().to_string();
            if tg.vpc_id() != Some(vpc_id) || tg.target_type() != Some(&TargetTypeEnum::Ip) {
                return Err(ProvisionError::Conflict(format!(
                    "target group {name} ({arn}) is in VPC {:?} with target type {:?}; the network \
                     stage's VPC is {vpc_id} and the type must be ip. These cannot change in place: \
                     destroy the ALB stage and apply again",
                    tg.vpc_id(),
                    tg.target_type()
                )));
            }
            let change = Change::update("target group", &name)
                .differing(HealthCheck::of(&tg).beside(&wanted));
            if !change.fields.is_empty() && changes::carry_out(change) {
                elb.modify_target_group()
                    .target_group_arn(&arn)
                    .health_check_protocol(ProtocolEnum::Http)
                    .health_check_path(&wanted.path)
                    .health_check_interval_seconds(wanted.interval_seconds)
                    .health_check_timeout_seconds(wanted.timeout_seconds)
                    .healthy_threshold_count(wanted.healthy_threshold)
                    .unhealthy_threshold_count(wanted.unhealthy_threshold)
                    .matcher(Matcher::builder().http_code(&wanted.matcher).build())
                    .send()
                    .await
                    .context("ModifyTargetGroup", &arn)?;
                tracing::info!(target_group = %arn, "corrected health check");
            }
            arn
        }
    };
    ensure_deregistration_delay(elb, &arn, alb.deregistration_delay_seconds).await?;
    Ok(arn)
}

/// A new target group drains for 300 s; the spec's (shorter) delay is set right after creating it.
async fn ensure_deregistration_delay(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    seconds: i64,
) -> Result<(), ProvisionError> {
    let wanted = seconds.to_string();
    let now = if changes::is_fresh(arn) {
        None
    } else {
        elb.describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .context("DescribeTargetGroupAttributes", arn)?
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value().map(str::to_string))
    };
    // Unread or unset: ELB's default.
    let now = now.unwrap_or_else(|| DEFAULT_DEREGISTRATION_DELAY.to_string());
    if now == wanted {
        return Ok(());
    }
    let change =
        Change::update("target group", arn).field("deregistrationDelaySeconds", &now, &wanted);
    if !changes::carry_out(change) {
        return Ok(());
    }
    elb.modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key(DEREGISTRATION_DELAY)
                .value(&wanted)
                .build(),
        )
        .send()
        .await
        .context("ModifyTargetGroupAttributes", arn)?;
    tracing::info!(target_group = %arn, seconds, "set deregistration delay");
    Ok(())
}

/// Whether any target is registered in the group (in any state, draining included).
pub async fn has_targets(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<bool, ProvisionError> {
    let out = elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .context("DescribeTargetHealth", arn)
        .not_found_as_none()?;
    Ok(out.is_some_and(|o| !o.target_health_descriptions().is_empty()))
}

/// Deletes a target group; already gone is fine. While a listener still uses it AWS answers
/// ResourceInUse, which the state machine retries.
pub async fn delete(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<(), ProvisionError> {
    elb.delete_target_group()
        .target_group_arn(arn)
        .send()
        .await
        .context("DeleteTargetGroup", arn)
        .not_found_as_none()?;
    tracing::info!(target_group = %arn, "deleted target group");
    Ok(())
}
