//! Whether the service's tasks are in service: the PRIMARY deployment runs the desired number of
//! tasks, each of them a healthy target, and no other target still takes requests (the previous
//! deployment's tasks are draining, or gone). A FAILED rollout (the circuit
//! breaker fired) is turned into an error that says why the tasks stopped, and what to do.

use aws_sdk_ecs::types::{Deployment, DesiredStatus, Service};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use provisioner_core::{AwsContext, Names, NotFoundAsNone, ProvisionError, Readiness};

/// How many service events and stopped-task reasons an error carries.
const EVIDENCE: usize = 5;

/// Readiness of an ACTIVE service. `expected` is the task definition the stage deployed: a
/// FAILED deployment of it, or a service that runs another one after it (ECS rolled back, and
/// the failed deployment is gone), is an error that says why.
pub async fn of_active_service(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    service: &Service,
    target_group_arn: Option<&str>,
    expected: Option<&str>,
) -> Result<(Readiness, String), ProvisionError> {
    let name = service.service_name().unwrap_or_default();
    let deployments = service.deployments();
    let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
    let rollout = primary.and_then(|d| d.rollout_state()).map(|s| s.as_str());
    // A deployment that names no task definition may be ours.
    let ours =
        |d: &&Deployment| expected.is_none_or(|e| d.task_definition().is_none_or(|td| td == e));
    let failed = deployments
        .iter()
        .filter(ours)
        .find(|d| d.rollout_state().map(|s| s.as_str()) == Some("FAILED"));
    // ECS sets the service's task definition back when it rolls back.
    let runs = service.task_definition();
    let rolled_back = matches!((expected, runs), (Some(e), Some(r)) if e != r);
    if failed.is_some() || rolled_back {
        let cluster = service.cluster_arn().unwrap_or_default();
        let reason = match failed {
            Some(d) => d
                .rollout_state_reason()
                .unwrap_or("the deployment failed")
                .to_string(),
            None => format!(
                "the service runs {}, not {}: ECS rolled the deployment back (or it was changed outside the provisioner)",
                runs.unwrap_or("another task definition"),
                expected.unwrap_or_default()
            ),
        };
        let stopped = stopped_reasons(ecs, cluster, name).await?;
        return Err(ProvisionError::DeploymentFailed(explain(
            name, &reason, service, &stopped,
        )));
    }
    let desired = service.desired_count();
    let primary_running = primary.map_or(0, |d| d.running_count());
    let settled = deployments.len() == 1 && rollout.is_none_or(|r| r == "COMPLETED");
    if primary_running != desired {
        return Ok((
            Readiness::Pending,
            format!(
                "service {name}: {primary_running} of {desired} tasks running, {} deployment(s), rollout {}",
                deployments.len(),
                rollout.unwrap_or("unknown")
            ),
        ));
    }
    // With blue/green, canary and linear rollouts the tasks alternate between two target
    // groups, and ECS checks their health before it shifts traffic: the rollout's state says it.
    let shifting = service
        .deployment_configuration()
        .and_then(|c| c.strategy())
        .is_some_and(|s| *s != aws_sdk_ecs::types::DeploymentStrategy::Rolling);
    let Some(tg) = target_group_arn.filter(|_| !shifting) else {
        return Ok(if settled {
            (
                Readiness::Ready,
                format!("service {name} is stable: {desired} of {desired} tasks running"),
            )
        } else {
            (
                Readiness::Pending,
                format!("service {name}: rollout {}", rollout.unwrap_or("unknown")),
            )
        });
    };
    // The new tasks are in service once they are all healthy and no other target still takes
    // new requests: the old tasks are draining, and ECS stops them after the deregistration
    // delay without anything more to wait for.
    let targets = targets(elb, tg).await?;
    if !targets.waiting.is_empty() {
        return Ok((
            Readiness::Pending,
            format!(
                "service {name}: waiting for targets to pass health checks: {}",
                targets.waiting.join("; ")
            ),
        ));
    }
    let wanted = usize::try_from(desired).unwrap_or(0);
    if targets.healthy > wanted {
        return Ok((
            Readiness::Pending,
            format!(
                "service {name}: {} healthy targets for {desired} tasks; the previous tasks still take requests",
                targets.healthy
            ),
        ));
    }
    if targets.healthy < wanted && !settled {
        return Ok((
            Readiness::Pending,
            format!(
                "service {name}: {} of {desired} new tasks registered and healthy, rollout {}",
                targets.healthy,
                rollout.unwrap_or("unknown")
            ),
        ));
    }
    // With rollback alarms, ECS watches them for a bake time after the rollout is otherwise
    // done, and may still roll back: the deployment is done when its rollout is COMPLETED.
    let watched = service
        .deployment_configuration()
        .and_then(|c| c.alarms())
        .is_some_and(|a| a.enable());
    if watched && rollout != Some("COMPLETED") {
        return Ok((
            Readiness::Pending,
            format!(
                "service {name}: {desired} of {desired} new tasks running and healthy; ECS watches the rollback alarms for a bake time before the rollout completes (now {})",
                rollout.unwrap_or("unknown")
            ),
        ));
    }
    Ok((
        Readiness::Ready,
        if settled && targets.draining == 0 {
            format!("service {name} is stable: {desired} of {desired} tasks running")
        } else {
            format!(
                "service {name}: {desired} of {desired} new tasks running and healthy; {} previous task(s) draining (ECS stops them after the target group's deregistration delay)",
                targets.draining
            )
        },
    ))
}

/// The target group's targets: how many are healthy, how many draining, and the others with
/// their state and reason.
struct Targets {
    healthy: usize,
    draining: usize,
    waiting: Vec<String>,
}

async fn targets(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    target_group_arn: &str,
) -> Result<Targets, ProvisionError> {
    let out = elb
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .send()
        .await
        .context("DescribeTargetHealth", target_group_arn)?;
    let mut found = Targets {
        healthy: 0,
        draining: 0,
        waiting: Vec::new(),
    };
    for d in out.target_health_descriptions() {
        let Some(health) = d.target_health() else {
            continue;
        };
        match health.state() {
            Some(TargetHealthStateEnum::Healthy) => found.healthy += 1,
            Some(TargetHealthStateEnum::Draining) => found.draining += 1,
            state => {
                let target = d.target().and_then(|t| t.id()).unwrap_or_default();
                let why = health.description().unwrap_or_default();
                let state = state.map(|s| s.as_str()).unwrap_or("unknown");
                found
                    .waiting
                    .push(format!("{target} {state} {why}").trim().to_string());
            }
        }
    }
    Ok(found)
}

/// Tasks of the family that have not reached STOPPED: their network interfaces are still held.
pub async fn tasks_not_stopped(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &Names,
) -> Result<Vec<String>, ProvisionError> {
    let family = names.family();
    let mut arns = Vec::new();
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let listed = ecs
            .list_tasks()
            .cluster(cluster)
            .family(&family)
            .desired_status(desired)
            .send()
            .await
            .context("ListTasks", cluster)
            .not_found_as_none()?;
        arns.extend(listed.map(|l| l.task_arns().to_vec()).unwrap_or_default());
    }
    let tasks = provisioner_core::ecs_tasks::describe(ecs, cluster, arns).await?;
    Ok(tasks
        .iter()
        .filter(|t| t.last_status() != Some("STOPPED"))
        .map(|t| {
            format!(
                "{} is {}",
                t.task_arn().unwrap_or_default(),
                t.last_status().unwrap_or("unknown")
            )
        })
        .collect())
}

/// Why the service's recent tasks stopped, newest first, without repeats.
async fn stopped_reasons(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<String>, ProvisionError> {
    let listed = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .context("ListTasks", service)?;
    let mut tasks =
        provisioner_core::ecs_tasks::describe(ecs, cluster, listed.task_arns().to_vec()).await?;
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|s| s.as_nanos())));
    let mut reasons: Vec<String> = Vec::new();
    for task in &tasks {
        let containers = task
            .containers()
            .iter()
            .filter_map(|c| c.reason())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = match (task.stopped_reason(), containers.is_empty()) {
            (Some(r), true) => r.to_string(),
            (Some(r), false) => format!("{r} ({containers})"),
            (None, false) => containers,
            (None, true) => continue,
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    reasons.truncate(EVIDENCE);
    Ok(reasons)
}

/// The private-subnet failures and what fixes them.
const HINTS: &[(&[&str], &str)] = &[
    (
        &["CannotPullContainerError", "pull image", "registry auth", "ecr"],
        "tasks in private subnets reach ECR only through the VPC endpoints: check that the \
         endpoints stage applied ecr.api, ecr.dkr and the s3 gateway (on the private route tables), \
         that sec-privatelink allows 443 from the tasks' security group, that the VPC has DNS \
         support and DNS hostnames on, and that the image exists in this region",
    ),
    (
        &["secret", "ssm", "kms"],
        "secrets are read when the task starts: check the secretsmanager / ssm (and kms) endpoints \
         and that the execution role may read the secret",
    ),
    (
        &["logs", "log group", "awslogs"],
        "the awslogs driver needs the logs endpoint and the log group; check the endpoints stage",
    ),
    (
        &["in ALARM state", "alarm detected"],
        "a rollback alarm went into ALARM while the new tasks served: look at the new version's \
         5xx answers and response times (the thresholds are service.rollbackAlarms); the service \
         runs the previous version again",
    ),
    (
        &["health checks", "ELB", "unhealthy"],
        "the load balancer found the tasks unhealthy: check alb.healthCheck.path and that the \
         container listens on service.containerPort",
    ),
];

pub fn explain(service: &str, reason: &str, described: &Service, stopped: &[String]) -> String {
    let events: Vec<&str> = described
        .events()
        .iter()
        .filter_map(|e| e.message())
        .take(EVIDENCE)
        .collect();
    let mut message =
        format!("deployment of service {service} failed and was rolled back: {reason}");
    if !stopped.is_empty() {
        message.push_str(&format!(". Stopped tasks: {}", stopped.join(" | ")));
    }
    if !events.is_empty() {
        message.push_str(&format!(". Recent service events: {}", events.join(" | ")));
    }
    let evidence = format!("{} {}", stopped.join(" "), events.join(" ")).to_lowercase();
    for (needles, hint) in HINTS {
        if needles.iter().any(|n| evidence.contains(&n.to_lowercase())) {
            message.push_str(&format!(". Fix: {hint}"));
            break;
        }
    }
    message
}
