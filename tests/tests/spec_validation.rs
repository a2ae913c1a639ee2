//! Every validation rule, table-driven: each bad spec names the field and sends no AWS request.

use provisioner_core::{ErrorKind, ProvisionError, SsmStore};
use serde_json::{json, Value};
use test_support::Harness;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

/// The reference spec with `patch` merged in (objects merge, other values replace).
fn spec_with(patch: Value) -> Value {
    let mut base = json!({"name": "demo", "service": {"image": IMAGE}});
    merge(&mut base, patch);
    base
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

fn subnet(cidr: &str, zone: &str) -> Value {
    json!({"cidr": cidr, "availabilityZone": zone})
}

#[tokio::test]
async fn every_bad_spec_names_its_field_and_sends_nothing() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "malformed VPC CIDR",
            spec_with(json!({"network": {"vpcCidr": "10.0.0/16"}})),
            "network.vpcCidr",
        ),
        (
            "VPC CIDR with host bits",
            spec_with(json!({"network": {"vpcCidr": "10.0.0.1/16"}})),
            "network.vpcCidr",
        ),
        (
            "VPC prefix too large",
            spec_with(json!({"network": {"vpcCidr": "10.0.0.0/8"}})),
            "network.vpcCidr",
        ),
        (
            "malformed subnet CIDR",
            spec_with(json!({"network": {"privateSubnets": [subnet("10.0.1.0/33", "a")]}})),
            "network.privateSubnets[0].cidr",
        ),
        (
            "subnet outside VPC",
            spec_with(json!({"network": {"privateSubnets": [subnet("10.1.1.0/24", "a")]}})),
            "network.privateSubnets[0].cidr",
        ),
        (
            "overlapping subnets",
            spec_with(json!({"network": {"privateSubnets": [subnet("10.0.0.0/25", "a")]}})),
            "network.privateSubnets[0].cidr",
        ),
        (
            "one public subnet",
            spec_with(json!({"network": {"publicSubnets": [subnet("10.0.0.0/24", "a")]}})),
            "network.publicSubnets",
        ),
        (
            "public subnets in one AZ",
            spec_with(
                json!({"network": {"publicSubnets": [subnet("10.0.0.0/24", "a"), subnet("10.0.3.0/24", "a")]}}),
            ),
            "network.publicSubnets",
        ),
        (
            "no private subnet",
            spec_with(json!({"network": {"privateSubnets": []}})),
            "network.privateSubnets",
        ),
        (
            "AZ of another region",
            spec_with(
                json!({"network": {"privateSubnets": [subnet("10.0.1.0/24", "eu-west-1a")]}}),
            ),
            "network.privateSubnets[0].availabilityZone",
        ),
        (
            "AZ the region does not offer",
            spec_with(json!({"network": {"privateSubnets": [subnet("10.0.1.0/24", "g")]}})),
            "network.privateSubnets[0].availabilityZone",
        ),
        (
            "AZ not a zone",
            spec_with(
                json!({"network": {"publicSubnets": [subnet("10.0.0.0/24", "zone1"), subnet("10.0.3.0/24", "c")]}}),
            ),
            "network.publicSubnets[0].availabilityZone",
        ),
        (
            "name too long",
            spec_with(json!({"name": "a-very-long-environment-name-x"})),
            "name",
        ),
        (
            "name with underscore",
            spec_with(json!({"name": "my_env"})),
            "name",
        ),
        (
            "name ending in hyphen",
            spec_with(json!({"name": "demo-"})),
            "name",
        ),
        (
            "name reserved prefix",
            spec_with(json!({"name": "internal-app"})),
            "name",
        ),
        (
            "invalid CPU",
            spec_with(json!({"service": {"cpu": 300}})),
            "service.cpu",
        ),
        (
            "invalid CPU/memory pair",
            spec_with(json!({"service": {"cpu": 256, "memory": 4096}})),
            "service.memory",
        ),
        (
            "container port 0",
            spec_with(json!({"service": {"containerPort": 0}})),
            "service.containerPort",
        ),
        (
            "container port too high",
            spec_with(json!({"service": {"containerPort": "70000"}})),
            "service.containerPort",
        ),
        (
            "listener port too high",
            spec_with(json!({"alb": {"listenerPort": 65536}})),
            "alb.listenerPort",
        ),
        (
            "negative desired count",
            spec_with(json!({"service": {"desiredCount": -1}})),
            "service.desiredCount",
        ),
        (
            "min above max percent",
            spec_with(json!({"service": {"minimumHealthyPercent": 150, "maximumPercent": 120}})),
            "service.minimumHealthyPercent",
        ),
        (
            "max percent below 100",
            spec_with(json!({"service": {"maximumPercent": 90}})),
            "service.maximumPercent",
        ),
        (
            "malformed image",
            spec_with(json!({"service": {"image": "Not A Valid//Image::"}})),
            "service.image",
        ),
        (
            "missing image",
            json!({"name": "demo", "service": {}}),
            "service.image",
        ),
        (
            "unknown top-level field",
            spec_with(json!({"colour": "blue"})),
            "colour",
        ),
        (
            "unknown nested field",
            spec_with(json!({"service": {"cpus": 256}})),
            "service.cpus",
        ),
        (
            "number that is not a number",
            spec_with(json!({"service": {"desiredCount": "two"}})),
            "service.desiredCount",
        ),
        (
            "secrets with the default execution role",
            spec_with(
                json!({"service": {"secrets": [{"name": "DB", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}]}}),
            ),
            "service.executionRoleArn",
        ),
        (
            "load balancer subnet smaller than /27",
            spec_with(
                json!({"network": {"publicSubnets": [subnet("10.0.0.0/28", "a"), subnet("10.0.3.0/24", "b")]}}),
            ),
            "network.publicSubnets[0].cidr",
        ),
        (
            "8 vCPU before platform 1.4.0",
            spec_with(
                json!({"service": {"cpu": 8192, "memory": 16384, "platformVersion": "1.3.0"}}),
            ),
            "service.cpu",
        ),
        (
            "image on Docker Hub",
            spec_with(json!({"service": {"image": "nginx:latest"}})),
            "service.image",
        ),
        (
            "image in another region's ECR",
            spec_with(
                json!({"service": {"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1"}}),
            ),
            "service.image",
        ),
        (
            "name that makes a security group name AWS refuses",
            spec_with(json!({"name": "sg-web"})),
            "name",
        ),
        (
            "spec too large for Parameter Store",
            spec_with(json!({"service": {"environment": (0..80)
                .map(|i| (format!("SETTING_{i}"), json!("x".repeat(100))))
                .collect::<serde_json::Map<String, Value>>()}})),
            "spec",
        ),
        (
            "unknown launch type",
            spec_with(json!({"service": {"launchType": "LAMBDA"}})),
            "service.launchType",
        ),
        (
            "bad platform version",
            spec_with(json!({"service": {"platformVersion": "1.4"}})),
            "service.platformVersion",
        ),
        (
            "unknown CPU architecture",
            spec_with(json!({"service": {"cpuArchitecture": "ARM32"}})),
            "service.cpuArchitecture",
        ),
        (
            "ARM64 on a platform version before Graviton",
            spec_with(json!({"service": {"cpuArchitecture": "ARM64", "platformVersion": "1.3.0"}})),
            "service.cpuArchitecture",
        ),
        (
            "unknown capacity provider",
            spec_with(
                json!({"service": {"capacityProviderStrategy": [{"capacityProvider": "EC2_SPOT", "weight": 1}]}}),
            ),
            "service.capacityProviderStrategy[0].capacityProvider",
        ),
        (
            "capacity provider twice",
            spec_with(json!({"service": {"capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 1},
                {"capacityProvider": "FARGATE", "weight": 2}]}})),
            "service.capacityProviderStrategy[1].capacityProvider",
        ),
        (
            "a base on two providers",
            spec_with(json!({"service": {"capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "base": 2, "weight": 1}]}})),
            "service.capacityProviderStrategy[1].base",
        ),
        (
            "capacity weight out of range",
            spec_with(
                json!({"service": {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1001}]}}),
            ),
            "service.capacityProviderStrategy[0].weight",
        ),
        (
            "every capacity weight 0",
            spec_with(
                json!({"service": {"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "base": 2}]}}),
            ),
            "service.capacityProviderStrategy",
        ),
        (
            "Fargate Spot on ARM64 before platform 1.4.0",
            spec_with(
                json!({"service": {"cpuArchitecture": "ARM64", "platformVersion": "1.3.0",
                "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}}),
            ),
            "service.capacityProviderStrategy[0].capacityProvider",
        ),
        (
            "capacity providers with the EC2 launch type",
            spec_with(json!({"service": {"launchType": "EC2",
                "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}})),
            "service.capacityProviderStrategy",
        ),
        (
            "unknown NAT gateway setting",
            spec_with(json!({"network": {"natGateways": "TWO"}})),
            "network.natGateways",
        ),
        (
            "NAT gateway per zone without a public subnet in a private zone",
            spec_with(json!({"network": {"natGateways": "PER_ZONE",
                "publicSubnets": [{"cidr": "10.0.0.0/24", "availabilityZone": "a"},
                                  {"cidr": "10.0.3.0/24", "availabilityZone": "b"}],
                "privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "c"}]}})),
            "network.natGateways",
        ),
        (
            "a domain name with a wildcard",
            spec_with(
                json!({"alb": {"domain": {"name": "*.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}}}),
            ),
            "alb.domain.name",
        ),
        (
            "a domain name of one label",
            spec_with(
                json!({"alb": {"domain": {"name": "localhost", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}}}),
            ),
            "alb.domain.name",
        ),
        (
            "a hosted zone id with its /hostedzone/ prefix",
            spec_with(
                json!({"alb": {"domain": {"name": "app.example.com", "hostedZoneId": "/hostedzone/Z0123456789ABCDEFGHIJ"}}}),
            ),
            "alb.domain.hostedZoneId",
        ),
        (
            "a domain without its hosted zone",
            spec_with(json!({"alb": {"domain": {"name": "app.example.com"}}})),
            "alb.domain.hostedZoneId",
        ),
        (
            "a domain with the HTTP listener on 443",
            spec_with(
                json!({"alb": {"listenerPort": 443, "domain": {"name": "app.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}}}),
            ),
            "alb.listenerPort",
        ),
        (
            "a rollback alarm period that is not whole minutes",
            spec_with(json!({"service": {"rollbackAlarms": {"periodSeconds": 90}}})),
            "service.rollbackAlarms.periodSeconds",
        ),
        (
            "a 5xx threshold above 100%",
            spec_with(json!({"service": {"rollbackAlarms": {"max5xxPercent": 150}}})),
            "service.rollbackAlarms.max5xxPercent",
        ),
        (
            "a response time threshold of 0",
            spec_with(json!({"service": {"rollbackAlarms": {"maxResponseTimeSeconds": 0}}})),
            "service.rollbackAlarms.maxResponseTimeSeconds",
        ),
        (
            "too many evaluation periods",
            spec_with(json!({"service": {"rollbackAlarms": {"evaluationPeriods": 11}}})),
            "service.rollbackAlarms.evaluationPeriods",
        ),
        (
            "an unknown rollout strategy",
            spec_with(json!({"service": {"rollout": {"strategy": "SHADOW"}}})),
            "service.rollout.strategy",
        ),
        (
            "a canary share for a linear rollout",
            spec_with(json!({"service": {"rollout": {"strategy": "LINEAR", "canaryPercent": 10}}})),
            "service.rollout.canaryPercent",
        ),
        (
            "a linear step under 3%",
            spec_with(json!({"service": {"rollout": {"strategy": "LINEAR", "stepPercent": 2}}})),
            "service.rollout.stepPercent",
        ),
        (
            "a canary share finer than 0.1%",
            spec_with(
                json!({"service": {"rollout": {"strategy": "CANARY", "canaryPercent": 2.25}}}),
            ),
            "service.rollout.canaryPercent",
        ),
        (
            "a bake time for a rolling update",
            spec_with(
                json!({"service": {"rollout": {"strategy": "ROLLING", "bakeTimeMinutes": 5}}}),
            ),
            "service.rollout.bakeTimeMinutes",
        ),
        (
            "a bake time over a day",
            spec_with(
                json!({"service": {"rollout": {"strategy": "BLUE_GREEN", "bakeTimeMinutes": 1441}}}),
            ),
            "service.rollout.bakeTimeMinutes",
        ),
        (
            "a linear rollout longer than the stage waits",
            spec_with(
                json!({"service": {"rollout": {"strategy": "LINEAR", "stepPercent": 3, "stepBakeTimeMinutes": 10}}}),
            ),
            "service.rollout",
        ),
        (
            "a circuit breaker with both thresholds",
            spec_with(
                json!({"service": {"circuitBreaker": {"failedTasks": 2, "failedPercent": 20}}}),
            ),
            "service.circuitBreaker",
        ),
        (
            "a circuit breaker threshold of no task",
            spec_with(json!({"service": {"circuitBreaker": {"failedTasks": 0}}})),
            "service.circuitBreaker.failedTasks",
        ),
        (
            "requests per task with a canary rollout",
            spec_with(
                json!({"service": {"rollout": {"strategy": "CANARY"}, "autoScaling": {"targetRequestsPerTask": 500}}}),
            ),
            "service.autoScaling.targetRequestsPerTask",
        ),
        (
            "autoscaling minimum above maximum",
            spec_with(json!({"service": {"autoScaling": {"minTasks": 5, "maxTasks": 3}}})),
            "service.autoScaling.minTasks",
        ),
        (
            "autoscaling maximum above the tasks per service",
            spec_with(json!({"service": {"autoScaling": {"maxTasks": 5001}}})),
            "service.autoScaling.maxTasks",
        ),
        (
            "autoscaling CPU target above 100%",
            spec_with(json!({"service": {"autoScaling": {"targetCpuPercent": 120}}})),
            "service.autoScaling.targetCpuPercent",
        ),
        (
            "autoscaling requests target of 0",
            spec_with(json!({"service": {"autoScaling": {"targetRequestsPerTask": 0}}})),
            "service.autoScaling.targetRequestsPerTask",
        ),
        (
            "autoscaling cooldown out of range",
            spec_with(json!({"service": {"autoScaling": {"scaleInCooldownSeconds": -1}}})),
            "service.autoScaling.scaleInCooldownSeconds",
        ),
        (
            "unknown autoscaling field",
            spec_with(json!({"service": {"autoScaling": {"targetCPU": 50}}})),
            "service.autoScaling.targetCPU",
        ),
        (
            "bad log retention",
            spec_with(json!({"service": {"logRetentionDays": 2}})),
            "service.logRetentionDays",
        ),
        (
            "health check timeout not below interval",
            spec_with(json!({"alb": {"healthCheck": {"intervalSeconds": 5, "timeoutSeconds": 5}}})),
            "alb.healthCheck.timeoutSeconds",
        ),
    ];
    assert!(cases.len() >= 25);
    let h = Harness::start().await;
    let store = SsmStore::new(h.ssm());
    for (what, spec, field) in cases {
        let err = store
            .submit_spec(&spec, &h.region_zones().await)
            .await
            .expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Validation, "{what}: {err}");
        let ProvisionError::Spec(spec_err) = &err else {
            panic!("{what}: not a spec error: {err}")
        };
        assert!(
            spec_err.fields().contains(&field),
            "{what}: expected field {field}, got {:?} ({err})",
            spec_err.fields()
        );
        assert_eq!(
            h.recorder.requests(),
            vec![],
            "{what}: a bad spec must not reach AWS"
        );
    }
}

#[test]
fn a_wrong_type_says_what_was_expected_and_what_was_given() {
    let err = provisioner_core::EnvironmentSpec::from_json(
        &spec_with(json!({"service": {"cpu": true, "enableExecuteCommand": 3}})),
        "us-east-1",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid environment spec: service.cpu: expected a whole number (or a string holding one, as CloudFormation passes it), got boolean `true`"
    );
    let err = provisioner_core::EnvironmentSpec::from_json(
        &spec_with(json!({"service": {"desiredCount": "two"}})),
        "us-east-1",
    )
    .unwrap_err();
    assert!(!err.to_string().contains("PickFirst"), "{err}");
    assert!(err.to_string().contains("got"), "{err}");
}

#[tokio::test]
async fn strings_are_accepted_for_numbers_and_booleans_and_the_spec_is_stored() {
    let h = Harness::start().await;
    let store = SsmStore::new(h.ssm());
    let spec = spec_with(
        json!({"service": {"desiredCount": "3", "cpu": "512", "memory": "1024", "enableExecuteCommand": "true"}, "alb": {"listenerPort": "8080"}}),
    );

    let accepted = store
        .submit_spec(&spec, &h.region_zones().await)
        .await
        .unwrap();

    assert_eq!(accepted.service.desired_count, 3);
    assert_eq!(accepted.alb.listener_port, 8080);
    assert!(accepted.service.enable_execute_command);
    assert_eq!(h.recorder.of("PutParameter").len(), 1);
    // The same spec again is not written twice.
    store
        .submit_spec(&spec, &h.region_zones().await)
        .await
        .unwrap();
    assert_eq!(h.recorder.of("PutParameter").len(), 1);
}

#[test]
fn a_huge_or_deeply_nested_value_gets_a_short_error_naming_the_field() {
    let region = "us-east-1";
    // A megabyte image reference with control characters: the message names the field and
    // quotes a short, escaped prefix.
    let huge = format!("\u{1b}[31m{}", "a".repeat(1 << 20));
    let err = provisioner_core::EnvironmentSpec::from_json(
        &spec_with(json!({"service": {"image": huge}})),
        region,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("service.image"),
        "{}",
        &err[..200.min(err.len())]
    );
    assert!(err.len() < 600, "{} characters: {}", err.len(), &err[..300]);
    assert!(err.contains("\\u{1b}[31maaa"), "{err}");
    assert!(err.contains("(1048581 characters)"), "{err}");

    // Nested deeper than any spec: refused at the path where it goes wrong.
    let mut nested = json!("leaf");
    for _ in 0..200 {
        nested = json!({"x": nested});
    }
    let err = provisioner_core::EnvironmentSpec::from_json(
        &spec_with(json!({"service": {"environment": {"DEEP": nested}}})),
        region,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("service.environment.DEEP"), "{err}");
    assert!(err.len() < 600, "{err}");
}

#[test]
fn every_example_spec_is_valid() {
    let folder = local_aws::repository_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Err(e) = provisioner_core::EnvironmentSpec::from_json(&spec, "us-east-1") {
            panic!("{}: {e}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} examples");
}
