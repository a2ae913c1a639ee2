//! Whole runs under faults: for seeds 1..10, a fifth of the functions' mutating AWS calls fail,
//! evenly across the ways they fail on AWS (refused before anything happened, applied but
//! answered with a 500, hung until the caller gave up, the Lambda dying or running out of time
//! right after the call). A create still makes exactly one set of resources, a re-apply then
//! changes nothing, and a destroy (under the same faults) leaves nothing tagged and no parameter.
//! The spec turns on autoscaling, a NAT gateway, a domain with a requested certificate, rollback
//! alarms and a canary rollout (the alternate target group and the production rule), so their
//! resources are made (and removed) under the faults too.

use std::collections::BTreeMap;

use local_lambda::faults::FaultKind;
use local_lambda::LocalSystem;
use serde_json::{json, Value};
use system_tests::{changes, execute, resources};
use test_support::{ec2_leftovers, stored_parameters};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

/// A fifth of the mutating calls, a twenty-fifth for each of the five ways.
fn rates() -> Vec<(FaultKind, f64)> {
    let each = 0.20 / 5.0;
    vec![
        (FaultKind::ThrottleBefore, each / 3.0),
        (FaultKind::ServerErrorBefore, each / 3.0),
        (FaultKind::GatewayErrorBefore, each / 3.0),
        (FaultKind::ServerErrorAfter, each),
        (FaultKind::Hang, each),
        (FaultKind::Crash, each),
        (FaultKind::Timeout, each),
    ]
}

fn apply(name: &str, zone: &str) -> Value {
    json!({"action": "apply", "spec": {"name": name, "network": {"natGateways": "ONE"},
        "alb": {"domain": {"name": format!("{name}.example.com"), "hostedZoneId": zone}},
        "service": {"image": IMAGE,
        "autoScaling": {"minTasks": 1, "maxTasks": 4, "targetCpuPercent": 60,
                        "targetMemoryPercent": 80},
        "rollbackAlarms": {"evaluationPeriods": 1},
        "rollout": {"strategy": "CANARY", "canaryBakeTimeMinutes": 1, "bakeTimeMinutes": 0}}}})
}

/// How many of each kind of resource an environment has.
async fn shape(system: &LocalSystem, environment: &str) -> BTreeMap<String, usize> {
    let mut shape = BTreeMap::new();
    for (kind, _) in resources(system, environment).await {
        *shape.entry(kind).or_insert(0) += 1;
    }
    shape
}

/// Counts the faults that fired by kind, then turns them off.
fn note_fired(system: &LocalSystem, fired: &mut BTreeMap<String, usize>) {
    for f in system.faults().fired() {
        *fired.entry(format!("{:?}", f.kind)).or_insert(0) += 1;
    }
    system.faults().clear();
}

// Seeds 1..10, in two halves that run side by side, each in a local system of its own.
#[tokio::test]
async fn under_faults_seeds_1_to_5_create_one_set_reapply_nothing_destroy_everything() {
    runs_converge(1..=5).await;
}

#[tokio::test]
async fn under_faults_seeds_6_to_10_create_one_set_reapply_nothing_destroy_everything() {
    runs_converge(6..=10).await;
}

/// For each seed: a create under faults makes exactly what a clean create makes, a re-apply
/// without faults changes nothing, a destroy under faults leaves nothing. Every kind fires.
async fn runs_converge(seeds: std::ops::RangeInclusive<u64>) {
    let system = LocalSystem::start(system_tests::options()).await.unwrap();
    let route53 = aws_sdk_route53::Client::new(&system.config);
    let zone = test_support::dns::hosted_zone(&route53, "example.com").await;
    let clean = execute(&system, apply("clean", &zone)).await;
    assert!(clean.succeeded(), "{clean:?}");
    let expected = shape(&system, "clean").await;

    let mut fired = BTreeMap::<String, usize>::new();
    for seed in seeds {
        let environment = format!("faults-{seed}");
        system.faults().random(seed, &rates());
        let created = execute(&system, apply(&environment, &zone)).await;
        note_fired(&system, &mut fired);
        assert!(created.succeeded(), "seed {seed}: {created:?}");
        assert_eq!(
            shape(&system, &environment).await,
            expected,
            "seed {seed}: one set of resources"
        );

        system.clear_calls();
        let again = execute(&system, apply(&environment, &zone)).await;
        assert!(again.succeeded(), "seed {seed}: {again:?}");
        assert_eq!(
            changes(&system),
            Vec::<String>::new(),
            "seed {seed}: a re-apply changes nothing"
        );

        system.faults().random(seed + 100, &rates());
        let destroyed = execute(
            &system,
            json!({"action": "destroy", "environment": environment}),
        )
        .await;
        note_fired(&system, &mut fired);
        assert!(destroyed.succeeded(), "seed {seed}: {destroyed:?}");
        let ec2 = aws_sdk_ec2::Client::new(&system.config);
        assert_eq!(
            ec2_leftovers(&ec2, &environment).await,
            Vec::<String>::new(),
            "seed {seed}: nothing tagged is left"
        );
        // (The emulator keeps the tags of deleted EC2 resources: those are looked up above.)
        let left: Vec<(String, String)> = resources(&system, &environment)
            .await
            .into_iter()
            .filter(|(kind, _)| !kind.starts_with("Some("))
            .collect();
        assert_eq!(left, vec![], "seed {seed}: nothing else is left");
        let ssm = aws_sdk_ssm::Client::new(&system.config);
        assert_eq!(
            stored_parameters(&ssm, &environment).await,
            Vec::<String>::new(),
            "seed {seed}: no parameter is left"
        );
    }
    eprintln!("faults that fired, by kind: {fired:?}");
    assert_eq!(fired.len(), 7, "every kind of fault fired: {fired:?}");
}
