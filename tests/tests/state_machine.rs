//! The real state machine from template.yaml, executed by the emulator, with the functions'
//! handlers answering its Lambda tasks: create, a quiet re-run, an ECR push redeploy, delete, and
//! the custom resource's answers to CloudFormation (caught by a local stand-in for S3).

use std::time::Duration;

use local_lambda::LocalSystem;
use serde_json::{json, Value};
use system_tests::{
    changes, cloudformation_request, execute, execute_watching, execution_arn, executions, follow,
    resources, system_with_catcher,
};
use test_support::{ec2_leftovers, stored_parameters};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn event(name: &str) -> Value {
    let path = local_aws::repository_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn create(name: &str, image: &str) -> Value {
    json!({"action": "apply", "spec": {"name": name, "service": {"image": image}}})
}

async fn service_image(system: &LocalSystem, env: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&system.config);
    let service = ecs
        .describe_services()
        .cluster(env)
        .services(env)
        .send()
        .await
        .unwrap();
    let td = service.services()[0].task_definition().unwrap().to_string();
    let described = ecs
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
        .unwrap();
    described.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn create_rerun_redeploy_and_delete_through_the_state_machine() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();

    system.clear_calls();
    let created = execute(&system, create("web", &format!("{REGISTRY}/web:latest"))).await;
    assert!(created.succeeded(), "{created:?}");
    // The wait loops' status polls read the stage's outputs from its last answer, not from
    // Parameter Store. Nobody reads the stored spec: the lease of a first create writes it
    // unread, and the report records the spec the execution carries. Each step (four applies,
    // the service's groundwork, the cleanup, the report) reads what it needs in one
    // GetParameters.
    let calls = system.aws_calls();
    let reads = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert!(
        reads("DescribeVpcEndpoints") + reads("DescribeServices") > 4,
        "{calls:?}"
    );
    assert_eq!(reads("GetParameter"), 0, "{calls:?}");
    assert!(reads("GetParameters") <= 7, "{calls:?}");
    let attributes = &created.output.as_ref().unwrap()["result"]["attributes"];
    assert!(
        attributes["AlbDnsName"]
            .as_str()
            .unwrap()
            .contains("web-alb"),
        "{attributes}"
    );
    assert!(attributes["ServiceArn"]
        .as_str()
        .unwrap()
        .ends_with("service/web/web"));
    let other = execute(&system, create("api", &format!("{REGISTRY}/api:latest"))).await;
    assert!(other.succeeded(), "{other:?}");

    // Re-running create converges on what exists: reads only.
    system.clear_calls();
    let again = execute(&system, create("web", &format!("{REGISTRY}/web:latest"))).await;
    assert!(again.succeeded(), "{again:?}");
    assert_eq!(changes(&system), Vec::<String>::new());
    assert!(
        !system.aws_calls().is_empty(),
        "the re-run looked at the environment"
    );

    // An ECR push of web:latest redeploys web (pinned to the digest), not api.
    let push = event("ecr-push.json");
    let digest = push["detail"]["image-digest"].as_str().unwrap().to_string();
    let redeployed = execute(&system, push).await;
    assert!(redeployed.succeeded(), "{redeployed:?}");
    assert_eq!(
        service_image(&system, "web").await,
        format!("{REGISTRY}/web@{digest}")
    );
    assert_eq!(
        service_image(&system, "api").await,
        format!("{REGISTRY}/api:latest")
    );
    // A delete event does not match the rule's pattern, and the state machine refuses it too.
    let refused = execute(&system, event("ecr-delete.json")).await;
    assert_eq!(
        refused.error.as_deref(),
        Some("ValidationError"),
        "{refused:?}"
    );
    assert!(
        refused
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("detail.action-type")),
        "{refused:?}"
    );
    assert_eq!(
        service_image(&system, "web").await,
        format!("{REGISTRY}/web@{digest}")
    );

    let clients = provisioner_cli::environment::Clients::new(&system.config);
    let before = provisioner_cli::environment::leftovers(&clients, "web")
        .await
        .unwrap();
    assert!(
        before.len() > 10,
        "a live environment is all there: {before:?}"
    );
    for env in ["web", "api"] {
        let deleted = execute(&system, json!({"action": "destroy", "environment": env})).await;
        assert!(deleted.succeeded(), "{deleted:?}");
        let ec2 = aws_sdk_ec2::Client::new(&system.config);
        assert_eq!(ec2_leftovers(&ec2, env).await, Vec::<String>::new());
        let left = provisioner_cli::environment::leftovers(&clients, env)
            .await
            .unwrap();
        assert_eq!(left, Vec::<String>::new());
    }
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    for env in ["web", "api"] {
        assert_eq!(stored_parameters(&ssm, env).await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn bad_console_input_fails_naming_the_field_before_any_change() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let bad = json!({"action": "apply", "spec": {"name": "bad", "service": {"image": "web:1", "cpu": 300}}});
    let (finished, progress) = execute_watching(&system, bad).await;
    assert!(!finished.succeeded());
    // The user sees the failing state marked as failed, with its reason, and no success line.
    let prepare: Vec<_> = progress.iter().filter(|p| p.state == "Prepare").collect();
    assert_eq!(prepare.len(), 1, "{progress:?}");
    assert!(
        !prepare[0].ok
            && prepare[0]
                .detail
                .starts_with("ValidationError: invalid environment spec"),
        "{progress:?}"
    );
    assert!(
        progress.iter().all(|p| !p.ok || p.state != "ReportSuccess"),
        "{progress:?}"
    );
    let line = provisioner_cli::execution::failure_line(&finished);
    assert!(
        line.starts_with("failed in Prepare: ValidationError: invalid environment spec"),
        "{line}"
    );
    assert!(!line.contains("ValidationError: ValidationError"), "{line}");
    // The execution fails with the stage's own error name and reason.
    assert_eq!(finished.error.as_deref(), Some("ValidationError"));
    assert!(
        finished
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("service.cpu")),
        "{finished:?}"
    );
    // An environment beside a spec is refused too: which one would it act on?
    let both = json!({"action": "apply", "environment": "other", "spec": {"name": "bad", "service": {"image": format!("{REGISTRY}/web:1")}}});
    let refused = execute(&system, both).await;
    assert_eq!(refused.error.as_deref(), Some("ValidationError"));
    assert!(
        refused
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("environment: not allowed together with spec")),
        "{refused:?}"
    );
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let history = sfn
        .get_execution_history()
        .execution_arn(&finished.execution_arn)
        .send()
        .await
        .unwrap();
    let failure = history
        .events()
        .iter()
        .find_map(|e| {
            e.lambda_function_failed_event_details()
                .or(None)
                .map(|d| d.cause().unwrap_or_default().to_string())
                .or_else(|| {
                    e.task_failed_event_details()
                        .map(|d| d.cause().unwrap_or_default().to_string())
                })
        })
        .unwrap_or_default();
    assert!(failure.contains("service.cpu"), "{failure}");
    assert_eq!(system.mutating_calls(), Vec::<String>::new());
}

fn cloudformation(
    request_type: &str,
    request_id: &str,
    url: &str,
    properties: Value,
    physical: Option<&str>,
) -> Value {
    cloudformation_request(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        request_type,
        request_id,
        url,
        properties,
        physical,
    )
}

#[tokio::test]
async fn a_custom_resource_with_bad_properties_answers_failed_at_once_and_creates_nothing() {
    let (system, catcher) = system_with_catcher().await;
    let properties = json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:custom-resource",
        "name": "bad", "service": {"image": "web:1", "desiredCount": "-1"}});
    let request = cloudformation(
        "Create",
        "req-bad",
        &catcher.url("req-bad"),
        properties,
        None,
    );
    let answered = system.custom_resource.answer(request).await.unwrap();
    assert_eq!(answered["answered"], true);
    let answer = catcher
        .answer("req-bad", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer["Status"], "FAILED");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .contains("service.desiredCount"),
        "{answer}"
    );
    assert_eq!(
        executions(&system).await,
        Vec::<String>::new(),
        "no execution started"
    );
    assert_eq!(system.aws_calls(), Vec::<String>::new());

    // CloudFormation then deletes the refused resource: answered SUCCESS at once.
    let physical = answer["PhysicalResourceId"].as_str().unwrap().to_string();
    let delete = cloudformation(
        "Delete",
        "req-bad-delete",
        &catcher.url("req-bad-delete"),
        json!({}),
        Some(&physical),
    );
    system.custom_resource.answer(delete).await.unwrap();
    let answer = catcher
        .answer("req-bad-delete", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_failed_stage_answers_failed_with_its_reason_and_the_delete_after_succeeds() {
    let (system, catcher) = system_with_catcher().await;
    // A certificate that does not exist: the ALB stage's CreateListener fails.
    let properties = json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:custom-resource",
        "ServiceTimeout": "3600", "name": "broken",
        "alb": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"},
        "service": {"image": format!("{REGISTRY}/web:latest")}});
    let request = cloudformation(
        "Create",
        "req-create",
        &catcher.url("req-create"),
        properties.clone(),
        None,
    );
    let started = system
        .custom_resource
        .answer(request.clone())
        .await
        .unwrap();
    assert_eq!(started["answered"], false);
    // A retried invocation does not start a second execution.
    system.custom_resource.answer(request).await.unwrap();
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let executions = sfn
        .list_executions()
        .state_machine_arn(&system.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);

    let answer = catcher
        .answer("req-create", Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains("alb stage") && reason.contains("CreateListener"),
        "{reason}"
    );
    assert_eq!(answer["PhysicalResourceId"], "broken");

    let delete = cloudformation(
        "Delete",
        "req-delete",
        &catcher.url("req-delete"),
        properties,
        Some("broken"),
    );
    system.custom_resource.answer(delete).await.unwrap();
    let answer = catcher
        .answer("req-delete", Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    assert_eq!(ec2_leftovers(&ec2, "broken").await, Vec::<String>::new());
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    for env in ["web", "api"] {
        assert_eq!(stored_parameters(&ssm, env).await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn a_custom_resource_create_answers_success_with_the_outputs_as_attributes() {
    let (system, catcher) = system_with_catcher().await;
    let mut request = event("cloudformation-create.json");
    request["ResponseURL"] = json!(catcher.url("create"));
    system.custom_resource.answer(request).await.unwrap();
    let answer = catcher
        .answer("create", Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], "demo");
    for attribute in [
        "VpcId",
        "AlbDnsName",
        "Url",
        "ServiceArn",
        "ClusterArn",
        "TargetGroupArn",
        "PrivateSubnetIds",
    ] {
        assert!(
            answer["Data"][attribute]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{attribute} in {answer}"
        );
    }
    // The ResponseURL, with which anyone could answer for the stack, is nowhere in the
    // execution's history (its input, any state's input or output).
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let execution = executions(&system)
        .await
        .into_iter()
        .find(|name| name.starts_with("cfn-"))
        .expect("the custom resource started an execution");
    let arn = execution_arn(&system, &execution);
    let history = sfn
        .get_execution_history()
        .execution_arn(&arn)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    // Every piece of data the history holds (Debug would redact them).
    let history: String = history
        .events()
        .iter()
        .flat_map(|e| {
            [
                e.execution_started_event_details().and_then(|d| d.input()),
                e.state_entered_event_details().and_then(|d| d.input()),
                e.state_exited_event_details().and_then(|d| d.output()),
                e.task_scheduled_event_details().map(|d| d.parameters()),
                e.task_succeeded_event_details().and_then(|d| d.output()),
                e.lambda_function_scheduled_event_details()
                    .and_then(|d| d.input()),
                e.lambda_function_succeeded_event_details()
                    .and_then(|d| d.output()),
                e.execution_succeeded_event_details()
                    .and_then(|d| d.output()),
            ]
        })
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(history.contains("demo"), "the history is read: {history}");
    assert!(!history.contains(&catcher.url("create")), "{history}");
    assert!(!history.contains(&catcher.prefix()), "{history}");
}

/// ECR events can arrive out of order: a push older than the one the service runs is skipped,
/// with a message, and the service stays on the later push.
#[tokio::test]
async fn an_ecr_push_older_than_the_running_one_is_skipped() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let created = execute(
        &system,
        create("order", &format!("{REGISTRY}/order:latest")),
    )
    .await;
    assert!(created.succeeded(), "{created:?}");
    let push = |hex: &str, time: &str| {
        let mut push = event("ecr-push.json");
        push["detail"]["repository-name"] = json!("order");
        push["detail"]["image-digest"] = json!(format!("sha256:{}", hex.repeat(64)));
        push["time"] = json!(time);
        push
    };
    let later = execute(&system, push("b", "2026-11-24T11:00:00Z")).await;
    assert!(later.succeeded(), "{later:?}");
    let running = format!("{REGISTRY}/order@sha256:{}", "b".repeat(64));
    assert_eq!(service_image(&system, "order").await, running);

    let (earlier, progress) = execute_watching(&system, push("a", "2026-11-24T10:00:00Z")).await;
    assert!(earlier.succeeded(), "{earlier:?}");
    assert_eq!(service_image(&system, "order").await, running);
    assert!(
        progress.iter().any(|p| p.detail.contains(&format!(
            "skipped {REGISTRY}/order@sha256:{}, pushed at 2026-11-24T10:00:00Z",
            "a".repeat(64)
        ))),
        "{progress:?}"
    );
}

/// A failed apply does not change the spec redeploys use: the last successful apply's spec is
/// put back, so the next ECR push rolls the service on what last worked.
#[tokio::test]
async fn a_failed_apply_leaves_the_spec_of_the_last_successful_one() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let image = format!("{REGISTRY}/web:latest");
    let created = execute(&system, create("kept", &image)).await;
    assert!(created.succeeded(), "{created:?}");
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    let stored = || async {
        ssm.get_parameter()
            .name("/fargate-provisioner/kept/spec")
            .send()
            .await
            .unwrap()
            .parameter()
            .unwrap()
            .value()
            .unwrap()
            .to_string()
    };
    let applied = stored().await;

    // Three tasks and a certificate that does not exist: the ALB stage fails.
    let failing = json!({"action": "apply", "spec": {"name": "kept",
        "alb": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"},
        "service": {"image": image, "desiredCount": 3}}});
    let failed = execute(&system, failing).await;
    assert!(!failed.succeeded(), "{failed:?}");
    assert_eq!(stored().await, applied);

    let redeployed = execute(&system, event("ecr-push.json")).await;
    assert!(redeployed.succeeded(), "{redeployed:?}");
    let ecs = aws_sdk_ecs::Client::new(&system.config);
    let service = ecs
        .describe_services()
        .cluster("kept")
        .services("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(service.services()[0].desired_count(), 2);
}

/// A rename is a replacement; when the new environment fails, CloudFormation is answered FAILED
/// and the half-built new environment is destroyed, so the rollback (back to the old name)
/// leaves nothing behind. The old environment is untouched.
#[tokio::test]
async fn a_failed_rename_removes_the_half_built_new_environment() {
    let (system, catcher) = system_with_catcher().await;
    let image = format!("{REGISTRY}/web:latest");
    let create = cloudformation(
        "Create",
        "req-old",
        &catcher.url("req-old"),
        json!({"name": "old-name", "service": {"image": image}}),
        None,
    );
    system.custom_resource.answer(create).await.unwrap();
    let created = catcher
        .answer("req-old", Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let old = resources(&system, "old-name").await;

    let mut rename = cloudformation(
        "Update",
        "req-rename",
        &catcher.url("req-rename"),
        json!({"name": "new-name",
               "alb": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"},
               "service": {"image": image}}),
        Some("old-name"),
    );
    rename["OldResourceProperties"] = json!({"name": "old-name", "service": {"image": image}});
    system.custom_resource.answer(rename).await.unwrap();
    let refused = catcher
        .answer("req-rename", Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    assert!(
        refused["Reason"]
            .as_str()
            .is_some_and(|r| r.contains("CreateListener")),
        "{refused}"
    );

    // The destroy of the new environment runs to its end.
    let (finished, removal_progress) =
        follow(&system, &execution_arn(&system, "remove-req-rename")).await;
    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        removal_progress.iter().any(|p| p.state == "NetworkDestroy"),
        "{removal_progress:?}"
    );
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    assert_eq!(ec2_leftovers(&ec2, "new-name").await, Vec::<String>::new());
    assert_eq!(
        stored_parameters(&ssm, "new-name").await,
        Vec::<String>::new()
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&system.config);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert!(lbs
        .load_balancers()
        .iter()
        .all(|lb| lb.load_balancer_name() != Some("new-name-alb")));
    assert_eq!(resources(&system, "old-name").await, old);
}

/// Console input cannot bring a CloudFormation context of its own: it is refused, naming the
/// field, and no stack is answered.
#[tokio::test]
async fn console_input_with_a_cloudformation_context_answers_no_stack() {
    let (system, catcher) = system_with_catcher().await;
    let forged = json!({
        "action": "destroy",
        "environment": "victim",
        "cloudFormation": {
            "responseUrl": catcher.url("forged"),
            "stackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/victim/1",
            "requestId": "forged",
            "logicalResourceId": "Environment",
            "requestType": "Delete"
        }
    });
    let finished = execute(&system, forged).await;
    assert!(!finished.succeeded());
    assert_eq!(finished.error.as_deref(), Some("ValidationError"));
    assert!(
        finished
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("unknown field `cloudFormation`")),
        "{finished:?}"
    );
    assert!(catcher
        .answer("forged", Duration::from_secs(2))
        .await
        .is_none());
}

/// A function that dies mid-stage (a crash right after AWS applied a create, a run out of time)
/// is run again by the state machine, and the create converges on one set of resources.
#[tokio::test]
async fn a_function_that_crashes_or_times_out_mid_create_is_run_again_and_converges() {
    use local_lambda::faults::{FaultKind, Rule};
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    for (function, operation, kind) in [
        ("NetworkFunction", "CreateSubnet", FaultKind::Crash),
        ("ServiceFunction", "CreateService", FaultKind::Timeout),
    ] {
        system.faults().add(Rule {
            function: Some(function.into()),
            operation: Some(operation.into()),
            nth: 1,
            kind,
        });
    }

    let created = execute(&system, create("crashy", &format!("{REGISTRY}/web:latest"))).await;
    assert!(created.succeeded(), "{created:?}");
    assert_eq!(system.faults().fired().len(), 2);

    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:fargate-provisioner:environment")
                .values("crashy")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let subnets = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpcs.vpcs()[0].vpc_id().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 3, "two public, one private");
    let ecs = aws_sdk_ecs::Client::new(&system.config);
    let services = ecs.list_services().cluster("crashy").send().await.unwrap();
    assert_eq!(services.service_arns().len(), 1);
}

/// A request CloudFormation could not have meant (an unknown RequestType, no StackId) still gets
/// an answer when its ResponseURL can be answered: FAILED with the reason, nothing started.
#[tokio::test]
async fn a_malformed_custom_resource_request_is_answered_failed_naming_the_field() {
    let (system, catcher) = system_with_catcher().await;
    let properties = json!({"name": "odd", "service": {"image": format!("{REGISTRY}/web:1")}});
    let mut unknown_type = cloudformation(
        "Rename",
        "req-rename",
        &catcher.url("req-rename"),
        properties.clone(),
        None,
    );
    unknown_type["RequestType"] = json!("Rename");
    let mut no_stack = cloudformation(
        "Create",
        "req-nostack",
        &catcher.url("req-nostack"),
        properties,
        None,
    );
    no_stack.as_object_mut().unwrap().remove("StackId");
    for (request_id, request, field) in [
        ("req-rename", unknown_type, "RequestType"),
        ("req-nostack", no_stack, "StackId"),
    ] {
        let answered = system.custom_resource.answer(request).await.unwrap();
        assert_eq!(answered["answered"], true, "{request_id}");
        let answer = catcher
            .answer(request_id, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer["Status"], "FAILED", "{answer}");
        assert!(
            answer["Reason"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    assert_eq!(
        executions(&system).await,
        Vec::<String>::new(),
        "no execution started"
    );
}

/// The create's critical path on the realistic world: the ALB stage is done once its target group
/// and listeners exist, so the service is created as soon as the endpoints are available while
/// the load balancer still provisions (150 AWS seconds); each first poll waits the least time
/// what it awaits can take (an interface endpoint 60 s; a new task 30 s plus 2 health checks 10 s
/// apart); and the stages store their outputs in one parameter each, read without paging.
#[tokio::test]
async fn a_create_starts_the_service_while_the_load_balancer_provisions_and_writes_five_parameters()
{
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    system.clear_calls();
    let (created, progress) =
        execute_watching(&system, create("path", &format!("{REGISTRY}/web:latest"))).await;
    assert!(created.succeeded(), "{created:?}");
    let at = |state: &str| {
        progress
            .iter()
            .find(|p| p.state == state)
            .unwrap_or_else(|| panic!("no {state} in {progress:?}"))
    };
    let alb = at("AlbApply");
    assert!(alb.detail.contains("is provisioning"), "{}", alb.detail);
    assert!(
        !progress.iter().any(|p| p.state.starts_with("AlbApplyPoll")),
        "{progress:?}"
    );
    let service = at("ServiceApply");
    assert!(
        service.detail.contains("service: created"),
        "{}",
        service.detail
    );
    assert!(
        service.at - alb.at < 150.0,
        "the service waited for the load balancer: {} s after it",
        service.at - alb.at
    );
    let endpoints_waited = at("EndpointsApplyPoll").at - at("EndpointsApply").at;
    assert!(endpoints_waited >= 60.0, "{endpoints_waited} s");
    let service_waited = at("ServiceApplyPoll").at - service.at;
    assert!(service_waited >= 50.0, "{service_waited} s");

    let calls = system.aws_calls();
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    // The spec and one object of outputs per stage.
    assert_eq!(count("PutParameter"), 5, "{calls:?}");
    assert_eq!(count("GetParametersByPath"), 0, "{calls:?}");
}
