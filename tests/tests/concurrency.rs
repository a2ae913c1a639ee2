//! Executions that touch one environment at the same time: one writer at a time (the lease), the
//! others wait and then do their part, and the account ends in a defined state.

use aws_sdk_ec2::types::Filter;
use local_lambda::LocalSystem;
use serde_json::{json, Value};
use system_tests::execute_seeing;
use test_support::ec2_leftovers;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

fn apply(name: &str) -> Value {
    json!({"action": "apply", "spec": {"name": name, "service": {"image": IMAGE}}})
}

async fn tagged(system: &LocalSystem, environment: &str) -> (usize, usize) {
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    let mine = || {
        Filter::builder()
            .name("tag:fargate-provisioner:environment")
            .values(environment)
            .build()
    };
    let vpcs = ec2.describe_vpcs().filters(mine()).send().await.unwrap();
    let subnets = ec2.describe_subnets().filters(mine()).send().await.unwrap();
    (vpcs.vpcs().len(), subnets.subnets().len())
}

/// The execution holding `environment`'s lease, if any.
async fn lease_holder(system: &LocalSystem, environment: &str) -> Option<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let dynamodb = aws_sdk_dynamodb::Client::new(&system.config);
    let lease = dynamodb
        .get_item()
        .table_name(&system.stack.resources["LeaseTable"])
        .key("environment", AttributeValue::S(environment.into()))
        .send()
        .await
        .unwrap();
    lease
        .item()
        .and_then(|i| i.get("holder"))
        .and_then(|h| h.as_s().ok())
        .cloned()
}

#[tokio::test]
async fn two_applies_of_a_new_environment_at_once_make_one_and_both_succeed() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let ((first, first_states), (second, second_states)) = tokio::join!(
        execute_seeing(&system, apply("twice")),
        execute_seeing(&system, apply("twice")),
    );
    assert!(first.succeeded(), "{first:?}");
    assert!(second.succeeded(), "{second:?}");
    // One of them waited for the other, on the lease.
    let waited = |states: &[String]| states.iter().filter(|s| *s == "Lease").count() > 1;
    assert!(
        waited(&first_states) || waited(&second_states),
        "{first_states:?}\n{second_states:?}"
    );
    assert_eq!(tagged(&system, "twice").await, (1, 3));
    let ecs = aws_sdk_ecs::Client::new(&system.config);
    let services = ecs.list_services().cluster("twice").send().await.unwrap();
    assert_eq!(services.service_arns().len(), 1);
}

#[tokio::test]
async fn an_apply_and_a_destroy_at_once_end_destroyed_with_nothing_half_made() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let apply = execute_seeing(&system, apply("both"));
    let destroy = async {
        // Started once the apply holds the lease.
        while lease_holder(&system, "both").await.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        execute_seeing(&system, json!({"action": "destroy", "environment": "both"})).await
    };
    let ((applied, _), (destroyed, destroy_states)) = tokio::join!(apply, destroy);
    assert!(applied.succeeded(), "{applied:?}");
    assert!(destroyed.succeeded(), "{destroyed:?}");
    assert!(
        destroy_states.iter().filter(|s| *s == "Lease").count() > 1,
        "the destroy waited for the apply: {destroy_states:?}"
    );
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    assert_eq!(ec2_leftovers(&ec2, "both").await, Vec::<String>::new());
    let ssm = aws_sdk_ssm::Client::new(&system.config);
    assert_eq!(
        test_support::stored_parameters(&ssm, "both").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_lease_left_by_an_execution_that_ended_is_taken_over() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    // A holder that crashed before it could give the lease back.
    let gone = system_tests::execution_arn(&system, "ended-long-ago");
    let dynamodb = aws_sdk_dynamodb::Client::new(&system.config);
    dynamodb
        .put_item()
        .table_name(&system.stack.resources["LeaseTable"])
        .item("environment", AttributeValue::S("left".into()))
        .item("holder", AttributeValue::S(gone.clone()))
        .send()
        .await
        .unwrap();

    let (applied, _) = execute_seeing(&system, apply("left")).await;
    assert!(applied.succeeded(), "{applied:?}");
    assert_eq!(
        lease_holder(&system, "left").await,
        None,
        "given back after the apply"
    );
}

/// A second stack whose custom resource names an environment another stack made: its Create
/// answers FAILED naming the owner, the Delete of its rollback answers SUCCESS, and the owner's
/// environment is untouched, every resource and parameter. The console may still change it.
#[tokio::test]
async fn a_second_stack_can_neither_take_nor_delete_another_stacks_environment() {
    use std::time::Duration;
    use system_tests::{cloudformation_request, resources, system_with_catcher};
    const OWNER: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/owner/1";
    const OTHER: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/other/2";
    let (system, catcher) = system_with_catcher().await;
    let answer = |id: &'static str| {
        let catcher = &catcher;
        async move {
            catcher
                .answer(id, Duration::from_secs(300))
                .await
                .expect("CloudFormation is answered")
        }
    };
    let properties = |image: &str| json!({"name": "owned", "service": {"image": image}});

    let create = cloudformation_request(
        OWNER,
        "Create",
        "req-owner",
        &catcher.url("req-owner"),
        properties(IMAGE),
        None,
    );
    system.custom_resource.answer(create).await.unwrap();
    assert_eq!(answer("req-owner").await["Status"], "SUCCESS");
    let before = resources(&system, "owned").await;
    assert!(before.iter().any(|(kind, _)| kind == "service"));

    let taken = cloudformation_request(
        OTHER,
        "Create",
        "req-other",
        &catcher.url("req-other"),
        properties("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"),
        None,
    );
    system.custom_resource.answer(taken).await.unwrap();
    let refused = answer("req-other").await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let reason = refused["Reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "belongs to stack arn:aws:cloudformation:us-east-1:123456789012:stack/owner/1"
        ),
        "{reason}"
    );
    let physical = refused["PhysicalResourceId"].as_str().unwrap().to_string();

    // CloudFormation rolls the other stack back: a Delete of the id it was answered with.
    let rollback = cloudformation_request(
        OTHER,
        "Delete",
        "req-rollback",
        &catcher.url("req-rollback"),
        properties("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"),
        Some(&physical),
    );
    system.custom_resource.answer(rollback).await.unwrap();
    let rolled_back = answer("req-rollback").await;
    assert_eq!(rolled_back["Status"], "SUCCESS", "{rolled_back}");
    assert_eq!(resources(&system, "owned").await, before);

    // The console acts on any environment, and says whose it is.
    let (applied, progress) = system_tests::execute_watching(&system, apply("owned")).await;
    assert!(applied.succeeded(), "{applied:?}");
    assert!(
        progress.iter().any(|p| p.detail.contains(
            "owned by stack arn:aws:cloudformation:us-east-1:123456789012:stack/owner/1"
        )),
        "{progress:?}"
    );
}

/// An ECR push during an apply of the same environment waits for it (each environment of a
/// redeploy takes its lease), then rolls the updated service onto the pushed digest.
#[tokio::test]
async fn an_ecr_push_during_an_apply_waits_for_it_then_redeploys() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let (created, _) = execute_seeing(&system, apply("queued")).await;
    assert!(created.succeeded(), "{created:?}");

    let update = json!({"action": "apply", "spec": {"name": "queued",
        "service": {"image": IMAGE, "desiredCount": 3}}});
    let digest = format!("sha256:{}", "c".repeat(64));
    let push = {
        let path = local_aws::repository_root().join("events/ecr-push.json");
        let mut push: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        push["detail"]["image-digest"] = json!(digest);
        push
    };
    let applying = execute_seeing(&system, update);
    let pushing = async {
        // Sent once the apply holds the lease.
        while lease_holder(&system, "queued").await.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        execute_seeing(&system, push).await
    };
    let ((applied, _), (pushed, push_states)) = tokio::join!(applying, pushing);
    assert!(applied.succeeded(), "{applied:?}");
    assert!(pushed.succeeded(), "{pushed:?}");
    assert!(
        push_states.iter().filter(|s| *s == "RedeployLease").count() > 1,
        "the push waited for the apply: {push_states:?}"
    );

    let ecs = aws_sdk_ecs::Client::new(&system.config);
    let services = ecs
        .describe_services()
        .cluster("queued")
        .services("queued")
        .send()
        .await
        .unwrap();
    let service = &services.services()[0];
    assert_eq!(service.desired_count(), 3, "the update's count stays");
    let task_definition = ecs
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        task_definition
            .task_definition()
            .unwrap()
            .container_definitions()[0]
            .image(),
        Some(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{digest}").as_str())
    );
    assert_eq!(lease_holder(&system, "queued").await, None, "given back");
}
