//! `plan` through the real state machine: what an apply would create, change and delete, said
//! field by field, sending no mutating call; after the apply, a plan of the same spec finds
//! nothing left to do.

use local_lambda::LocalSystem;
use serde_json::{json, Value};
use system_tests::{changes, execute};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

fn spec(private_subnets: &[&str], desired: u32, health_path: &str) -> Value {
    let private: Vec<Value> = private_subnets.iter().map(|c| json!({"cidr": c})).collect();
    json!({
        "name": "shop",
        "network": {"privateSubnets": private},
        "alb": {"healthCheck": {"path": health_path}},
        "service": {"image": IMAGE, "desiredCount": desired}
    })
}

/// Runs a plan and gives its printed lines (`~ ECS service shop: desiredCount 2 -> 3`), after
/// checking it sent no mutating call.
async fn run_plan(system: &LocalSystem, spec: &Value) -> (Vec<String>, Value) {
    system.clear_calls();
    let finished = execute(system, json!({"action": "plan", "spec": spec})).await;
    assert!(finished.succeeded(), "{finished:?}");
    assert_eq!(
        changes(system),
        Vec::<String>::new(),
        "a plan changes nothing"
    );
    let plan = finished.output.as_ref().unwrap()["result"]["plan"].clone();
    let lines = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let change: provisioner_core::Change = serde_json::from_value(c.clone()).unwrap();
            change.line()
        })
        .collect();
    (lines, plan)
}

fn having<'a>(lines: &'a [String], start: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.starts_with(start)).collect()
}

#[tokio::test]
async fn plan_says_what_apply_would_do_and_sends_no_mutating_call() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let first = spec(&["10.0.1.0/24", "10.0.2.0/24"], 2, "/");

    // Nothing exists yet: everything is a create, and the cost comes with it.
    let (lines, answer) = run_plan(&system, &first).await;
    for wanted in [
        "+ VPC shop-vpc: cidr 10.0.0.0/16",
        "+ subnet shop-private-subnet-2: cidr 10.0.2.0/24",
        "+ internet gateway",
        "+ security group shop-sec-alb",
        "+ VPC endpoint com.amazonaws.us-east-1.ecr.dkr",
        "+ load balancer shop-alb",
        "+ target group shop-tg",
        "+ listener port 80",
        "+ ECS cluster shop",
        "+ ECS service shop: ",
    ] {
        assert_eq!(having(&lines, wanted).len(), 1, "{wanted} in {lines:#?}");
    }
    assert!(
        lines.iter().all(|l| l.starts_with('+')),
        "only creates: {lines:#?}"
    );
    assert!(
        answer["cost"]["monthly"].as_f64().unwrap() > 0.0,
        "{}",
        answer["cost"]
    );
    let why = &having(&lines, "+ VPC endpoint com.amazonaws.us-east-1.logs")[0];
    assert!(why.ends_with(')'), "an endpoint says why: {why}");

    let applied = execute(&system, json!({"action": "apply", "spec": first})).await;
    assert!(applied.succeeded(), "{applied:?}");

    // The spec as applied: nothing to do.
    let (lines, _) = run_plan(&system, &first).await;
    assert_eq!(lines, Vec::<String>::new());

    // A changed spec: each change field by field, the dropped subnet as a delete.
    let changed = spec(&["10.0.1.0/24"], 3, "/health");
    let (lines, _) = run_plan(&system, &changed).await;
    assert_eq!(
        having(&lines, "~ ECS service shop: ")
            .iter()
            .filter(|l| l.contains("desiredCount 2 -> 3"))
            .count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        having(
            &lines,
            "~ target group shop-tg: healthCheck.path / -> /health"
        )
        .len(),
        1,
        "{lines:#?}"
    );
    let deleted = having(&lines, "- subnet shop-private-subnet-2");
    assert_eq!(deleted.len(), 1, "{lines:#?}");
    assert!(
        deleted[0].contains("the spec no longer has it"),
        "{deleted:?}"
    );
    assert_eq!(
        having(
            &lines,
            "~ VPC endpoint com.amazonaws.us-east-1.ecr.api: subnets "
        )
        .len(),
        1,
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with('+')),
        "nothing new: {lines:#?}"
    );

    // Apply does what the plan said; a plan after it finds nothing left.
    let applied = execute(&system, json!({"action": "apply", "spec": changed})).await;
    assert!(applied.succeeded(), "{applied:?}");
    let (lines, _) = run_plan(&system, &changed).await;
    assert_eq!(lines, Vec::<String>::new());

    // A canary rollout: the second target group, the production rule, and the service's
    // deployment configuration and load balancers.
    let mut canary = changed.clone();
    canary["service"]["rollout"] = json!({"strategy": "CANARY"});
    let (lines, _) = run_plan(&system, &canary).await;
    for wanted in [
        "+ target group shop-tg2",
        "+ listener rule priority 10",
        "~ ECS service shop: ",
    ] {
        assert_eq!(having(&lines, wanted).len(), 1, "{wanted} in {lines:#?}");
    }
    let service = having(&lines, "~ ECS service shop: ")[0];
    assert!(
        service.contains("rollout=CANARY/5/50/10") && service.contains("shop-tg2"),
        "{service}"
    );
    let applied = execute(&system, json!({"action": "apply", "spec": canary})).await;
    assert!(applied.succeeded(), "{applied:?}");
    let (lines, _) = run_plan(&system, &canary).await;
    assert_eq!(lines, Vec::<String>::new());
}

#[tokio::test]
async fn the_console_sample_plans_and_a_bad_spec_names_the_field() {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let path = local_aws::repository_root().join("events/console-plan.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (lines, answer) = run_plan(&system, &sample["spec"]).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("+ ECS service demo: ") && l.contains("desiredCount 3")),
        "{lines:#?}"
    );
    assert_eq!(answer["cost"]["environment"], "demo");

    let bad = json!({"name": "shop", "service": {"image": IMAGE, "desiredCount": -1}});
    system.clear_calls();
    let finished = execute(&system, json!({"action": "plan", "spec": bad})).await;
    assert!(!finished.succeeded());
    let failure = finished.failure().expect("a failure");
    assert_eq!(failure.state.as_deref(), Some("Prepare"), "{failure:?}");
    assert!(failure.reason.contains("desiredCount"), "{failure:?}");
    assert_eq!(changes(&system), Vec::<String>::new());
}
