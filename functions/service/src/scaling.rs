//! Service autoscaling: the service's scalable target in Application Auto Scaling (its task count
//! between the spec's limits) and one target tracking policy per tracked metric. Both are found
//! by the service's resource id and the policies' names, and both are upserts in AWS: a resend
//! after an ambiguous failure sets the same values again.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget,
    ScalingPolicy, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use provisioner_core::spec::{AutoScalingSpec, ScalingMetric};
use provisioner_core::{
    changes, AwsContext, Change, EnvironmentSpec, Names, NotFoundAsNone, ProvisionError,
};

use crate::{elb_names, owner};

pub const ROLE: &str = "scaling";

/// What the policies need to know besides the spec: the load balancer and target group whose
/// requests the requests policy counts.
pub struct Scaled<'a> {
    pub load_balancer_arn: &'a str,
    pub target_group_arn: &'a str,
}

fn resource_id(names: &Names) -> String {
    names.scalable_service()
}

fn policy_name(names: &Names, metric: ScalingMetric) -> String {
    names.display_name(&format!("{ROLE}-{}", metric.as_str()))
}

const METRICS: [ScalingMetric; 3] = [
    ScalingMetric::Cpu,
    ScalingMetric::Memory,
    ScalingMetric::Requests,
];

/// `app/<load balancer>/<id>/targetgroup/<target group>/<id>`: what ALBRequestCountPerTarget
/// counts, read off the two ARNs.
fn resource_label(scaled: &Scaled<'_>) -> Result<String, ProvisionError> {
    Ok(format!(
        "{}/targetgroup/{}",
        elb_names::load_balancer(scaled.load_balancer_arn)?,
        elb_names::target_group(scaled.target_group_arn)?
    ))
}

/// The service's scalable target, if it is registered.
async fn find_target(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
) -> Result<Option<ScalableTarget>, ProvisionError> {
    let id = resource_id(names);
    let out = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_ids(&id)
        .send()
        .await
        .context("DescribeScalableTargets", &id)?;
    Ok(out
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == id)
        .cloned())
}

async fn find_policies(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
) -> Result<Vec<ScalingPolicy>, ProvisionError> {
    let id = resource_id(names);
    let out = client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .send()
        .await
        .context("DescribeScalingPolicies", &id)?;
    Ok(out
        .scaling_policies()
        .iter()
        .filter(|p| p.resource_id() == id)
        .cloned()
        .collect())
}

/// The policy configuration the spec asks for, tracking `metric` at `value`.
fn configuration(
    spec: &AutoScalingSpec,
    metric: ScalingMetric,
    value: i64,
    scaled: &Scaled<'_>,
) -> Result<TargetTrackingScalingPolicyConfiguration, ProvisionError> {
    let label = match metric {
        ScalingMetric::Requests => Some(resource_label(scaled)?),
        _ => None,
    };
    let predefined = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(metric.predefined()))
        .set_resource_label(label)
        .build()
        .map_err(|e| ProvisionError::internal("predefined metric", e))?;
    TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(value as f64)
        .predefined_metric_specification(predefined)
        .scale_in_cooldown(crate::int(spec.scale_in_cooldown_seconds))
        .scale_out_cooldown(crate::int(spec.scale_out_cooldown_seconds))
        .disable_scale_in(false)
        .build()
        .map_err(|e| ProvisionError::internal("target tracking configuration", e))
}

/// `cpu 70 (in 300 s, out 60 s)`: a policy as the plan and the logs show it.
fn describe(metric: ScalingMetric, c: &TargetTrackingScalingPolicyConfiguration) -> String {
    format!(
        "{} {} (in {} s, out {} s)",
        metric.as_str(),
        c.target_value(),
        c.scale_in_cooldown().unwrap_or(0),
        c.scale_out_cooldown().unwrap_or(0)
    )
}

/// True when the live policy tracks what `wanted` says.
fn policy_matches(live: &ScalingPolicy, wanted: &TargetTrackingScalingPolicyConfiguration) -> bool {
    let Some(config) = live.target_tracking_scaling_policy_configuration() else {
        return false;
    };
    let metric = |c: &TargetTrackingScalingPolicyConfiguration| {
        c.predefined_metric_specification().map(|m| {
            (
                m.predefined_metric_type().clone(),
                m.resource_label().map(str::to_string),
            )
        })
    };
    live.policy_type() == &PolicyType::TargetTrackingScaling
        && config.target_value() == wanted.target_value()
        && metric(config) == metric(wanted)
        && config.scale_in_cooldown().unwrap_or(0) == wanted.scale_in_cooldown().unwrap_or(0)
        && config.scale_out_cooldown().unwrap_or(0) == wanted.scale_out_cooldown().unwrap_or(0)
        && config.disable_scale_in().unwrap_or(false) == wanted.disable_scale_in().unwrap_or(false)
}

/// Makes the service's autoscaling what the spec says: the target registered with its limits
/// and exactly the spec's policies, or (no `autoScaling` in the spec) no target at all. Returns
/// the names of what changed.
pub async fn ensure(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
    spec: &EnvironmentSpec,
    scaled: &Scaled<'_>,
    service_is_new: bool,
) -> Result<Vec<&'static str>, ProvisionError> {
    let spec = spec.service.auto_scaling.as_ref();
    // A service created by this request has no target yet; one a plan would create has no id.
    let live = if service_is_new {
        None
    } else {
        find_target(client, names).await?
    };
    let Some(spec) = spec else {
        return match live {
            Some(target) => remove(client, names, &target).await,
            None => Ok(Vec::new()),
        };
    };
    let mut changed = Vec::new();
    if register(client, names, spec, live.as_ref()).await? {
        changed.push("scalable target");
    }
    let policies = if live.is_none() {
        Vec::new()
    } else {
        find_policies(client, names).await?
    };
    let wanted = spec.targets();
    for (metric, value) in &wanted {
        let name = policy_name(names, *metric);
        let config = configuration(spec, *metric, *value, scaled)?;
        let current = policies.iter().find(|p| p.policy_name() == name);
        if current.is_some_and(|p| policy_matches(p, &config)) {
            continue;
        }
        let change = match current.and_then(|p| p.target_tracking_scaling_policy_configuration()) {
            Some(live) => Change::update("scaling policy", &name).field(
                "target",
                describe(*metric, live),
                describe(*metric, &config),
            ),
            None => {
                Change::create("scaling policy", &name).set("target", describe(*metric, &config))
            }
        };
        if !changes::carry_out(change) {
            continue;
        }
        let id = resource_id(names);
        client
            .put_scaling_policy()
            .policy_name(&name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(&id)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .context("PutScalingPolicy", &name)?;
        tracing::info!(policy = %name, "put scaling policy");
        changed.push("scaling policy");
    }
    // Ours that the spec no longer tracks; policies of other names are someone else's.
    for metric in METRICS {
        let name = policy_name(names, metric);
        let dropped = !wanted.iter().any(|(m, _)| *m == metric)
            && policies.iter().any(|p| p.policy_name() == name);
        if !dropped || !changes::carry_out(Change::delete("scaling policy", &name)) {
            continue;
        }
        let id = resource_id(names);
        client
            .delete_scaling_policy()
            .policy_name(&name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(&id)
            .send()
            .await
            .context("DeleteScalingPolicy", &name)
            .not_found_as_none()?;
        tracing::info!(policy = %name, "deleted scaling policy");
        changed.push("scaling policy");
    }
    Ok(changed)
}

/// Registers the target, or updates its limits when they differ. True when it sent anything.
async fn register(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
    spec: &AutoScalingSpec,
    live: Option<&ScalableTarget>,
) -> Result<bool, ProvisionError> {
    let (min, max) = (crate::int(spec.min_tasks), crate::int(spec.max_tasks));
    let id = resource_id(names);
    let limits = |min: i32, max: i32| format!("{min}-{max} tasks");
    let change = match live {
        Some(t) if t.min_capacity() == min && t.max_capacity() == max => return Ok(false),
        Some(t) => Change::update("scalable target", &id).field(
            "capacity",
            limits(t.min_capacity(), t.max_capacity()),
            limits(min, max),
        ),
        None => Change::create("scalable target", &id).set("capacity", limits(min, max)),
    };
    if !changes::carry_out(change) {
        return Ok(true);
    }
    let mut request = client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .min_capacity(min)
        .max_capacity(max);
    // Tags are taken when the target is created only.
    if live.is_none() {
        for (key, value) in owner(names).tags(ROLE) {
            request = request.tags(key, value);
        }
    }
    request
        .send()
        .await
        .context("RegisterScalableTarget", &id)?;
    tracing::info!(target = %id, min, max, "registered scalable target");
    Ok(true)
}

/// Deregisters the target, which deletes its policies and their alarms.
async fn remove(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
    target: &ScalableTarget,
) -> Result<Vec<&'static str>, ProvisionError> {
    let id = resource_id(names);
    let change = Change::delete("scalable target", &id).field(
        "capacity",
        format!("{}-{} tasks", target.min_capacity(), target.max_capacity()),
        "(none)",
    );
    if !changes::carry_out(change) {
        return Ok(vec!["scalable target"]);
    }
    send_deregister(client, names).await?;
    Ok(vec!["scalable target"])
}

/// Deregisters the service's target if there is one (on destroy, before the service goes, so
/// autoscaling stops changing its count). True when there was one.
pub async fn deregister(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
) -> Result<bool, ProvisionError> {
    if find_target(client, names).await?.is_none() {
        return Ok(false);
    }
    send_deregister(client, names).await?;
    Ok(true)
}

/// DeregisterScalableTarget; one already gone (a resend of a deregistration AWS applied) is done.
async fn send_deregister(
    client: &aws_sdk_applicationautoscaling::Client,
    names: &Names,
) -> Result<(), ProvisionError> {
    let id = resource_id(names);
    client
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .send()
        .await
        .context("DeregisterScalableTarget", &id)
        .not_found_as_none()?;
    tracing::info!(target = %id, "deregistered scalable target");
    Ok(())
}
