//! The service stage against the local emulator (started with MOTO_ECS_SERVICE_RUNNING=2 so the
//! service reports stable): cluster, log group, task definition and service as the spec says,
//! only the needed calls on a change, redeploys pinned by digest, failed rollouts explained, and
//! a teardown that leaves nothing.

use std::collections::BTreeMap;

use alb_stage::AlbStage;
use local_aws::EmulatorOptions;
use network_stage::NetworkStage;
use provisioner_core::{EnvironmentSpec, ErrorKind, Names, Readiness, SsmStore, Stage};
use serde_json::{json, Value};
use service_stage::{outputs, Clients, ImagePush, ServiceStage};
use test_support::{
    assert_changes_nothing, assert_converges_after_any_crash, Fault, Harness, Trigger, REGION,
};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/fargate-provisioner-execution";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

async fn harness() -> Harness {
    Harness::start_with(EmulatorOptions {
        env: vec![("MOTO_ECS_SERVICE_RUNNING".into(), "2".into())],
        ..Default::default()
    })
    .await
}

/// Stores a spec with `service` on top of the reference (image web:latest).
async fn store_spec(h: &Harness, env: &str, service: Value) {
    let mut service = service;
    if service.get("image").is_none() {
        service["image"] = json!(format!("{REGISTRY}/web:latest"));
    }
    let spec =
        EnvironmentSpec::from_json(&json!({"name": env, "service": service}), REGION).unwrap();
    SsmStore::new(h.plain_ssm()).put_spec(&spec).await.unwrap();
}

/// Spec, network and ALB, with plain clients so nothing of it is recorded.
async fn upstream(h: &Harness, env: &str, service: Value) {
    store_spec(h, env, service).await;
    NetworkStage::new(h.plain_ec2(), h.plain_context())
        .apply(&Names::new(env))
        .await
        .unwrap();
    AlbStage::new(
        alb_stage::Clients {
            elb: h.plain_elbv2(),
            acm: h.plain_acm(),
            route53: h.plain_route53(),
        },
        h.plain_context(),
    )
    .apply(&Names::new(env))
    .await
    .unwrap();
}

fn stage(h: &Harness) -> ServiceStage {
    let clients = Clients {
        ecs: h.ecs(),
        logs: h.logs(),
        elb: h.elbv2(),
        scaling: h.scaling(),
        cloudwatch: h.cloudwatch(),
    };
    ServiceStage::new(clients, h.context())
        .with_default_execution_role(Some(EXECUTION_ROLE.into()))
        .with_load_balancer_address(Some(h.load_balancer_address()))
}

fn operations(h: &Harness) -> Vec<String> {
    h.recorder.mutating_operations()
}

fn body(h: &Harness, operation: &str) -> Value {
    serde_json::from_str(&h.recorder.of(operation).last().unwrap().body).unwrap()
}

async fn outputs_of(h: &Harness, env: &str, stage: &str) -> BTreeMap<String, Vec<String>> {
    SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new(env), stage)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.values()))
        .collect()
}

/// What exists in ECS and CloudWatch Logs for the environment, without ids; its name appears
/// as `<env>`.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    active_clusters: usize,
    active_revisions: Vec<String>,
    services: Vec<(String, i32, String)>,
    log_groups: Vec<(String, Option<i32>)>,
}

async fn snapshot(h: &Harness, env: &str) -> Snapshot {
    let ecs = h.plain_ecs();
    let clusters = ecs.describe_clusters().clusters(env).send().await.unwrap();
    let active_clusters = clusters
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .count();
    let listed = ecs
        .list_task_definitions()
        .family_prefix(env)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    let mut active_revisions = Vec::new();
    // The prefix also matches longer names (crash-1 and crash-10): keep this family only.
    let family = format!("task-definition/{env}:");
    for arn in listed
        .task_definition_arns()
        .iter()
        .filter(|a| a.contains(&family))
    {
        let td = ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
        let td = td.task_definition().unwrap();
        active_revisions.push(td.container_definitions()[0].image().unwrap().to_string());
    }
    let mut services = Vec::new();
    if active_clusters > 0 {
        let found = ecs
            .describe_services()
            .cluster(env)
            .services(env)
            .send()
            .await
            .unwrap();
        for s in found
            .services()
            .iter()
            .filter(|s| s.status() == Some("ACTIVE"))
        {
            let td = s.task_definition().unwrap();
            let revision = td.rsplit(':').next().unwrap().to_string();
            services.push((
                s.service_name().unwrap().replacen(env, "<env>", 1),
                s.desired_count(),
                revision,
            ));
        }
    }
    let groups = h
        .plain_logs()
        .describe_log_groups()
        .log_group_name_prefix(format!("/ecs/fargate-provisioner/{env}"))
        .send()
        .await
        .unwrap();
    let own = format!("/ecs/fargate-provisioner/{env}");
    let log_groups = groups
        .log_groups()
        .iter()
        .filter(|g| g.log_group_name() == Some(own.as_str()))
        .map(|g| {
            (
                g.log_group_name().unwrap().replacen(env, "<env>", 1),
                g.retention_in_days(),
            )
        })
        .collect();
    Snapshot {
        active_clusters,
        active_revisions,
        services,
        log_groups,
    }
}

fn reference_snapshot() -> Snapshot {
    Snapshot {
        active_clusters: 1,
        active_revisions: vec![format!("{REGISTRY}/web:latest")],
        services: vec![("<env>".to_string(), 2, "1".into())],
        log_groups: vec![("/ecs/fargate-provisioner/<env>".into(), Some(30))],
    }
}

#[tokio::test]
async fn apply_runs_the_reference_service_and_a_rerun_changes_nothing() {
    let h = harness().await;
    upstream(&h, "svc", json!({})).await;
    let summary = stage(&h).apply(&Names::new("svc")).await.unwrap();
    assert_eq!(snapshot(&h, "svc").await, reference_snapshot());
    assert_eq!(summary.state, Readiness::Ready, "{}", summary.message);

    let network = outputs_of(&h, "svc", "network").await;
    let alb = outputs_of(&h, "svc", "alb").await;
    let create = body(&h, "CreateService");
    assert_eq!(create["launchType"], "FARGATE");
    assert_eq!(create["desiredCount"], 2);
    assert_eq!(
        create["deploymentConfiguration"],
        json!({"minimumHealthyPercent": 50, "maximumPercent": 200,
               "deploymentCircuitBreaker": {"enable": true, "rollback": true}})
    );
    assert_eq!(create["healthCheckGracePeriodSeconds"], 30);
    assert_eq!(
        create["networkConfiguration"]["awsvpcConfiguration"],
        json!({"subnets": network["private-subnet-ids"], "securityGroups": network["web-security-group-id"],
               "assignPublicIp": "DISABLED"})
    );
    assert_eq!(
        create["loadBalancers"],
        json!([{"targetGroupArn": alb["target-group-arn"][0], "containerName": "app", "containerPort": 80}])
    );

    let register = body(&h, "RegisterTaskDefinition");
    assert_eq!(register["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(register["networkMode"], "awsvpc");
    assert_eq!(
        (register["cpu"].as_str(), register["memory"].as_str()),
        (Some("256"), Some("512"))
    );
    assert_eq!(register["executionRoleArn"], EXECUTION_ROLE);
    let container = &register["containerDefinitions"][0];
    assert_eq!(
        container["portMappings"],
        json!([{"containerPort": 80, "protocol": "tcp"}])
    );
    assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    assert_eq!(
        container["logConfiguration"]["options"]["awslogs-group"],
        "/ecs/fargate-provisioner/svc"
    );
    let cluster = body(&h, "CreateCluster");
    assert_eq!(
        cluster["capacityProviders"],
        json!(["FARGATE", "FARGATE_SPOT"])
    );

    let stored = outputs_of(&h, "svc", service_stage::outputs::STAGE).await;
    for key in [
        outputs::CLUSTER_ARN,
        outputs::SERVICE_ARN,
        outputs::TASK_DEFINITION_ARN,
        outputs::LOG_GROUP,
    ] {
        assert!(stored.contains_key(key), "{key}");
    }

    assert_changes_nothing(&h, async || stage(&h).apply(&Names::new("svc")).await).await;
    assert!(h.recorder.of("RegisterTaskDefinition").is_empty());
    assert_eq!(
        stage(&h).status(&Names::new("svc")).await.unwrap().state,
        Readiness::Ready
    );
}

#[tokio::test]
async fn each_change_makes_exactly_the_needed_calls() {
    let h = harness().await;
    upstream(&h, "chg", json!({})).await;
    stage(&h).apply(&Names::new("chg")).await.unwrap();

    let cases: [(Value, &[&str], Value); 4] = [
        (
            json!({"image": format!("{REGISTRY}/web:v2")}),
            &["RegisterTaskDefinition", "UpdateService", "PutParameter"],
            json!({"taskDefinition": true}),
        ),
        (
            json!({"image": format!("{REGISTRY}/web:v2"), "cpu": "512", "memory": "1024"}),
            &["RegisterTaskDefinition", "UpdateService", "PutParameter"],
            json!({"taskDefinition": true}),
        ),
        (
            json!({"image": format!("{REGISTRY}/web:v2"), "cpu": 512, "memory": 1024, "desiredCount": 3}),
            &["UpdateService"],
            json!({"desiredCount": 3}),
        ),
        (
            json!({"image": format!("{REGISTRY}/web:v2"), "cpu": 512, "memory": 1024, "desiredCount": 3,
                   "minimumHealthyPercent": 100}),
            &["UpdateService", "PutParameter"],
            json!({"deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                   "deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
        ),
    ];
    for (service, calls, update) in cases {
        store_spec(&h, "chg", service.clone()).await;
        h.recorder.clear();
        stage(&h).apply(&Names::new("chg")).await.unwrap();
        assert_eq!(operations(&h), *calls, "{service}");
        let sent = body(&h, "UpdateService");
        for (key, value) in update.as_object().unwrap() {
            if value == &json!(true) {
                assert!(sent.get(key).is_some(), "{key} in {sent}");
            } else {
                assert_eq!(&sent[key], value, "{service}");
            }
        }
    }
    let after = snapshot(&h, "chg").await;
    assert_eq!(after.services, vec![("<env>".into(), 3, "3".into())]);
}

#[tokio::test]
async fn an_ecr_push_redeploys_only_the_environments_that_follow_the_tag() {
    let h = harness().await;
    upstream(&h, "follows", json!({})).await;
    stage(&h).apply(&Names::new("follows")).await.unwrap();
    store_spec(
        &h,
        "other-tag",
        json!({"image": format!("{REGISTRY}/web:v2")}),
    )
    .await;
    store_spec(
        &h,
        "other-repo",
        json!({"image": format!("{REGISTRY}/api:latest")}),
    )
    .await;

    let push = |d: u8| {
        ImagePush::from_event(json!({
            "version": "0", "id": "e", "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": "web", "image-digest": digest(d),
                       "action-type": "PUSH", "image-tag": "latest"}
        }))
        .unwrap()
    };
    let targets = stage(&h).redeploy_targets(&push(1)).await.unwrap();
    // Other tests' environments share the emulator: of this test's three, only one follows.
    let ours: Vec<&String> = targets
        .environments
        .iter()
        .filter(|e| ["follows", "other-tag", "other-repo"].contains(&e.as_str()))
        .collect();
    assert_eq!(ours, ["follows"]);
    let pinned = format!("{REGISTRY}/web@{}", digest(1));
    assert_eq!(targets.image, pinned);

    h.recorder.clear();
    let summary = stage(&h)
        .redeploy(&Names::new("follows"), &pinned, Some(FIRST_PUSH))
        .await
        .unwrap();
    assert_eq!(
        operations(&h),
        [
            "RegisterTaskDefinition",
            "UpdateService",
            // The new task definition, the pinned image, where it came from and when it was
            // pushed, in the stage's one outputs parameter.
            "PutParameter"
        ]
    );
    assert_eq!(
        body(&h, "RegisterTaskDefinition")["containerDefinitions"][0]["image"],
        pinned.as_str()
    );
    assert_eq!(
        summary.outputs[outputs::PINNED_IMAGE].to_parameter_value(),
        pinned
    );

    // The pin holds: a later apply of the unchanged spec keeps running the digest.
    assert_changes_nothing(&h, async || stage(&h).apply(&Names::new("follows")).await).await;
    // The same digest again is already running; a new digest under the same tag redeploys.
    assert_changes_nothing(&h, async || {
        stage(&h)
            .redeploy(&Names::new("follows"), &pinned, Some(FIRST_PUSH))
            .await
    })
    .await;
    let second = format!("{REGISTRY}/web@{}", digest(2));
    h.recorder.clear();
    stage(&h)
        .redeploy(&Names::new("follows"), &second, Some(SECOND_PUSH))
        .await
        .unwrap();
    assert_eq!(h.recorder.of("RegisterTaskDefinition").len(), 1);
    assert_eq!(h.recorder.of("UpdateService").len(), 1);
    assert_eq!(
        snapshot(&h, "follows").await.services,
        vec![("<env>".into(), 2, "3".into())]
    );
    // An event that arrives late, for a push before the one running, is skipped: the service
    // stays on the later push.
    let late = format!("{REGISTRY}/web@{}", digest(4));
    let skipped = assert_changes_nothing(&h, async || {
        stage(&h)
            .redeploy(&Names::new("follows"), &late, Some(FIRST_PUSH))
            .await
    })
    .await;
    assert!(
        skipped
            .message
            .starts_with(&format!("skipped {late}, pushed at {FIRST_PUSH}")),
        "{}",
        skipped.message
    );
    assert_eq!(
        skipped.outputs[outputs::PINNED_IMAGE].to_parameter_value(),
        second
    );

    let err = stage(&h)
        .redeploy(
            &Names::new("follows"),
            &format!("{REGISTRY}/api@{}", digest(3)),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err.to_string().starts_with("image:"), "{err}");
}

/// Two pushes of the same tag, an hour apart.
const FIRST_PUSH: &str = "2026-11-24T10:00:00Z";
const SECOND_PUSH: &str = "2026-11-24T11:00:00Z";

#[tokio::test]
async fn crash_after_any_mutating_call_converges_on_rerun() {
    let h = harness().await;
    let calls = assert_converges_after_any_crash(
        &h,
        "crash",
        async |env| upstream(&h, env, json!({})).await,
        async |env| stage(&h).apply(&Names::new(env)).await,
        async |env| snapshot(&h, env).await,
    )
    .await;
    assert!(calls >= 6, "{calls} mutating calls");
}

/// A service whose deployment the circuit breaker rolled back, as DescribeServices reports it.
const FAILED_SERVICE: &str = r#"{"services": [{"serviceName": "fail", "status": "ACTIVE",
  "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/fail", "desiredCount": 2, "runningCount": 0,
  "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "FAILED",
    "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.", "desiredCount": 2, "runningCount": 0}],
  "events": [{"id": "1", "message": "(service fail) has started 2 tasks: (task 1) (task 2)."}]}], "failures": []}"#;
const STOPPED_TASK_ARNS: &str =
    r#"{"taskArns": ["arn:aws:ecs:us-east-1:123456789012:task/fail/1"]}"#;
const STOPPED_TASKS: &str = r#"{"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/fail/1",
  "lastStatus": "STOPPED", "stoppedReason": "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post https://api.ecr.us-east-1.amazonaws.com/: dial tcp 10.0.1.5:443: i/o timeout",
  "containers": []}], "failures": []}"#;

#[tokio::test]
async fn a_failed_rollout_is_an_error_that_says_why_the_tasks_stopped() {
    let h = harness().await;
    upstream(&h, "fail", json!({})).await;
    stage(&h).apply(&Names::new("fail")).await.unwrap();
    for (operation, answer) in [
        ("DescribeServices", FAILED_SERVICE),
        ("ListTasks", STOPPED_TASK_ARNS),
        ("DescribeTasks", STOPPED_TASKS),
    ] {
        h.faults.add(
            Trigger::Operation {
                name: operation.into(),
                times: 1,
            },
            Fault::Respond(answer),
        );
    }
    let err = stage(&h).status(&Names::new("fail")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeploymentFailed);
    let message = err.to_string();
    for expected in [
        "circuit breaker",
        "ResourceInitializationError: unable to pull secrets or registry auth",
        "has started 2 tasks",
        "Fix: tasks in private subnets reach ECR only through the VPC endpoints",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}

#[tokio::test]
async fn without_an_execution_role_apply_names_the_field_and_changes_nothing() {
    let h = harness().await;
    upstream(&h, "norole", json!({})).await;
    let clients = Clients {
        ecs: h.ecs(),
        logs: h.logs(),
        elb: h.elbv2(),
        scaling: h.scaling(),
        cloudwatch: h.cloudwatch(),
    };
    let err = ServiceStage::new(clients, h.context())
        .apply(&Names::new("norole"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string().starts_with("service.executionRoleArn:"),
        "{err}"
    );
    assert_eq!(operations(&h), Vec::<String>::new());
}

#[tokio::test]
async fn destroy_takes_two_passes_and_leaves_nothing() {
    let h = harness().await;
    upstream(&h, "gone", json!({})).await;
    stage(&h).apply(&Names::new("gone")).await.unwrap();

    h.recorder.clear();
    let first = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(first.state, Readiness::Pending, "{}", first.message);
    // On the plain emulator the service is gone at once: the message says so, once.
    assert_eq!(
        first.message,
        "deleted service gone of gone; next: its task definitions, log group and cluster"
    );
    assert_eq!(
        operations(&h),
        ["DeleteParameters", "UpdateService", "DeleteService"]
    );
    assert_eq!(body(&h, "UpdateService")["desiredCount"], 0);
    assert_eq!(
        stage(&h).status(&Names::new("gone")).await.unwrap().state,
        Readiness::Ready
    );

    let second = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(second.state, Readiness::Ready, "{}", second.message);
    let empty = Snapshot {
        active_clusters: 0,
        active_revisions: vec![],
        services: vec![],
        log_groups: vec![],
    };
    assert_eq!(snapshot(&h, "gone").await, empty);
    assert!(outputs_of(&h, "gone", service_stage::outputs::STAGE)
        .await
        .is_empty());

    let third = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(third.state, Readiness::Ready);
}
