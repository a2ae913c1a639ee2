//! What the whole-system tests share: the world they run in, and running an execution.

use std::time::Duration;

use local_aws::World;
use local_lambda::response_catcher::ResponseCatcher;
use local_lambda::{LocalOptions, LocalSystem};
use provisioner_cli::execution::{self, Finished, Progress};
use provisioner_core::Names;
use serde_json::{json, Value};

/// The realistic world the whole-system tests run in, every behaviour on, its clock faster than
/// the local run's so a test takes seconds.
pub fn world() -> World {
    World::realistic().with_scale(40.0)
}

/// The local system on that world.
pub fn options() -> LocalOptions {
    LocalOptions {
        world: world(),
        ..LocalOptions::default()
    }
}

/// Runs the state machine on `input` to its end.
pub async fn execute(system: &LocalSystem, input: Value) -> Finished {
    execute_seeing(system, input).await.0
}

/// Runs the state machine on `input` to its end, with the names of the states it went through.
pub async fn execute_seeing(system: &LocalSystem, input: Value) -> (Finished, Vec<String>) {
    let (finished, progress) = execute_watching(system, input).await;
    (finished, progress.into_iter().map(|p| p.state).collect())
}

/// Runs the state machine on `input` to its end, with the progress lines a user sees.
pub async fn execute_watching(system: &LocalSystem, input: Value) -> (Finished, Vec<Progress>) {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let name = execution::execution_name("test");
    let arn = execution::start(&sfn, &system.state_machine_arn, &name, &input)
        .await
        .expect("the execution starts");
    follow(system, &arn).await
}

/// Follows the execution `arn` (started by anyone) to its end, with the progress lines.
pub async fn follow(system: &LocalSystem, arn: &str) -> (Finished, Vec<Progress>) {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let mut progress = Vec::new();
    let finished = execution::follow(
        &sfn,
        arn,
        Duration::from_millis(200),
        Duration::from_secs(300),
        |p| progress.push(p.clone()),
    )
    .await
    .expect("the execution ends within five minutes");
    (finished, progress)
}

/// The ARN of the state machine's execution named `name`.
pub fn execution_arn(system: &LocalSystem, name: &str) -> String {
    format!(
        "{}:{name}",
        system
            .state_machine_arn
            .replace(":stateMachine:", ":execution:")
    )
}

/// The names of the state machine's executions so far.
pub async fn executions(system: &LocalSystem) -> Vec<String> {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let listed = sfn
        .list_executions()
        .state_machine_arn(&system.state_machine_arn)
        .send()
        .await
        .expect("the executions are listed");
    listed
        .executions()
        .iter()
        .map(|e| e.name().to_string())
        .collect()
}

/// The mutating AWS calls since the calls were last cleared, besides the provisioner's own
/// bookkeeping (the only DynamoDB writes: the environment's lease, the requests it answers).
pub fn changes(system: &LocalSystem) -> Vec<String> {
    system
        .mutating_calls()
        .into_iter()
        .filter(|op| !["PutItem", "UpdateItem", "DeleteItem"].contains(&op.as_str()))
        .collect()
}

/// A local system whose CloudFormation answers go to a local stand-in for S3.
pub async fn system_with_catcher() -> (LocalSystem, ResponseCatcher) {
    let catcher = ResponseCatcher::start().await.unwrap();
    let system = LocalSystem::start(LocalOptions {
        response_url_prefix: Some(catcher.prefix()),
        ..options()
    })
    .await
    .unwrap();
    (system, catcher)
}

/// A custom resource request of `stack`'s resource `Environment`, answered at `url`.
pub fn cloudformation_request(
    stack: &str,
    request_type: &str,
    request_id: &str,
    url: &str,
    properties: Value,
    physical: Option<&str>,
) -> Value {
    let mut request = json!({
        "RequestType": request_type,
        "RequestId": request_id,
        "ResponseURL": url,
        "StackId": stack,
        "LogicalResourceId": "Environment",
        "ResourceType": "Custom::FargateEnvironment",
        "ResourceProperties": properties,
    });
    if let Some(id) = physical {
        request["PhysicalResourceId"] = json!(id);
    }
    request
}

/// Everything an environment is made of, as (kind, what) pairs, sorted: its EC2 resources by
/// their environment tag, its load balancer, listeners and target group, its service with its
/// task definition, and each stored parameter with its value.
pub async fn resources(system: &LocalSystem, environment: &str) -> Vec<(String, String)> {
    let names = Names::new(environment);
    let mut found = Vec::new();
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    let tag = |name: &str, value: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .values(value)
            .build()
    };
    let tags = ec2
        .describe_tags()
        .filters(tag("key", "fargate-provisioner:environment"))
        .filters(tag("value", environment))
        .send()
        .await
        .unwrap();
    for t in tags.tags() {
        found.push((
            format!("{:?}", t.resource_type()),
            t.resource_id().unwrap_or_default().to_string(),
        ));
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&system.config);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers() {
        if lb.load_balancer_name() != Some(names.load_balancer().as_str()) {
            continue;
        }
        let arn = lb.load_balancer_arn().unwrap_or_default();
        found.push(("load balancer".into(), arn.to_string()));
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
        for l in listeners.listeners() {
            found.push((
                "listener".into(),
                l.listener_arn().unwrap_or_default().to_string(),
            ));
        }
    }
    let tgs = elb.describe_target_groups().send().await.unwrap();
    for tg in tgs.target_groups() {
        if tg.target_group_name() == Some(names.target_group().as_str()) {
            found.push((
                "target group".into(),
                tg.target_group_arn().unwrap_or_default().to_string(),
            ));
        }
    }
    let ecs = aws_sdk_ecs::Client::new(&system.config);
    if let Ok(services) = ecs
        .describe_services()
        .cluster(names.cluster())
        .services(names.service())
        .send()
        .await
    {
        for s in services.services() {
            if s.status() == Some("ACTIVE") {
                found.push((
                    "service".into(),
                    format!(
                        "{} running {}",
                        s.service_arn().unwrap_or_default(),
                        s.task_definition().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let families = ecs
        .list_task_definitions()
        .family_prefix(names.family())
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    for arn in families.task_definition_arns() {
        found.push(("task definition".into(), arn.clone()));
    }
    let scaling = aws_sdk_applicationautoscaling::Client::new(&system.config);
    let scalable = names.scalable_service();
    let ecs_namespace = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ecs_namespace.clone())
        .resource_ids(&scalable)
        .send()
        .await
        .unwrap();
    for t in targets.scalable_targets() {
        found.push((
            "scalable target".into(),
            format!(
                "{} {}-{}",
                t.resource_id(),
                t.min_capacity(),
                t.max_capacity()
            ),
        ));
    }
    let policies = scaling
        .describe_scaling_policies()
        .service_namespace(ecs_namespace)
        .resource_id(&scalable)
        .send()
        .await
        .unwrap();
    for p in policies.scaling_policies() {
        found.push(("scaling policy".into(), p.policy_name().to_string()));
    }
    let acm = aws_sdk_acm::Client::new(&system.config);
    let owner = provisioner_core::Owner::new(&names, provisioner_core::outputs::alb::STAGE);
    for arn in provisioner_core::tags::acm::owned(&acm, owner, None)
        .await
        .unwrap()
    {
        found.push(("certificate".into(), arn));
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&system.config);
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{environment}-rollback-"))
        .send()
        .await
        .unwrap();
    for alarm in alarms.metric_alarms() {
        found.push((
            "alarm".into(),
            alarm.alarm_name().unwrap_or_default().to_string(),
        ));
    }
    // Records of a name with the environment's name as a label, in any hosted zone.
    let route53 = aws_sdk_route53::Client::new(&system.config);
    let zones = route53.list_hosted_zones().send().await.unwrap();
    for zone in zones.hosted_zones() {
        let records = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone.id())
            .send()
            .await
            .unwrap();
        for r in records.resource_record_sets() {
            if r.name().split('.').any(|label| label == environment) {
                found.push((
                    format!("{} record", r.r#type().as_str()),
                    r.name().to_string(),
                ));
            }
        }
    }
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    for name in test_support::stored_parameters(&ssm, environment).await {
        let value = ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .ok()
            .and_then(|p| p.parameter()?.value().map(str::to_string))
            .unwrap_or_default();
        found.push(("parameter".into(), format!("{name}={value}")));
    }
    found.sort();
    found
}
