//! A first deploy and the updates after it, the way real AWS answers them: the whole state
//! machine on the realistic local world (every behaviour on), one case per way a first real
//! deploy used to break.

use aws_sdk_ec2::types::Filter;
use local_aws::{Emulator, EmulatorOptions};
use local_lambda::{LocalOptions, LocalSystem};
use provisioner_core::{EnvironmentSpec, ErrorKind, SsmStore};
use serde_json::{json, Value};
use system_tests::{execute, execute_seeing};
use test_support::{ec2_leftovers, foreign_interface};

fn image(region: &str) -> String {
    format!("123456789012.dkr.ecr.{region}.amazonaws.com/web:latest")
}

fn apply(name: &str, region: &str) -> Value {
    json!({"action": "apply", "spec": {"name": name, "service": {"image": image(region)}}})
}

async fn system_in(region: &str, world: local_aws::World) -> LocalSystem {
    LocalSystem::start(LocalOptions {
        region: region.into(),
        world,
        ..LocalOptions::default()
    })
    .await
    .expect("the local system starts")
}

fn in_vpc(vpc: &str) -> Filter {
    Filter::builder().name("vpc-id").values(vpc).build()
}

/// Runs `input`, which must fail as a ValidationError whose cause says each of `said`, with no
/// mutating call sent.
async fn refused_in_prepare(system: &LocalSystem, input: Value, said: &[&str]) {
    system.clear_calls();
    let refused = execute(system, input).await;
    assert_eq!(
        refused.error.as_deref(),
        Some("ValidationError"),
        "{refused:?}"
    );
    let cause = refused.cause.unwrap_or_default();
    for words in said {
        assert!(cause.contains(words), "{words} not in: {cause}");
    }
    assert_eq!(system.mutating_calls(), Vec::<String>::new());
}

/// Zone `c` does not exist in ca-central-1: named in Prepare, nothing created. The default spec
/// lands in the zones the region has. A network interface someone else put in the VPC stops the
/// teardown at once, named; once it is gone, the teardown finishes and leaves nothing.
#[tokio::test]
async fn zones_follow_the_region_and_a_foreign_interface_stops_the_teardown_by_name() {
    let region = "ca-central-1";
    let system = system_in(region, system_tests::world()).await;
    let ec2 = aws_sdk_ec2::Client::new(&system.config);

    let mut in_c = apply("north", region);
    in_c["spec"]["network"] =
        json!({"privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "c"}]});
    refused_in_prepare(
        &system,
        in_c,
        &[
            "network.privateSubnets[0].availabilityZone",
            "ca-central-1a",
            "ca-central-1d",
        ],
    )
    .await;

    let created = execute(&system, apply("north", region)).await;
    assert!(created.succeeded(), "{created:?}");
    let vpc = created.output.as_ref().unwrap()["result"]["attributes"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc(&vpc))
        .send()
        .await
        .unwrap();
    let mut zones: Vec<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones, ["ca-central-1a", "ca-central-1b"]);

    let private = created.output.as_ref().unwrap()["result"]["attributes"]["PrivateSubnetIds"]
        .as_str()
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let foreign = foreign_interface(&ec2, &private, "database of another team").await;
    let stopped = execute(
        &system,
        json!({"action": "destroy", "environment": "north"}),
    )
    .await;
    assert_eq!(stopped.error.as_deref(), Some("Conflict"), "{stopped:?}");
    let cause = stopped.cause.unwrap_or_default();
    assert!(
        cause.contains(&foreign) && cause.contains("database of another team"),
        "{cause}"
    );
    // It was left alone.
    ec2.describe_network_interfaces()
        .network_interface_ids(&foreign)
        .send()
        .await
        .unwrap();

    ec2.delete_network_interface()
        .network_interface_id(&foreign)
        .send()
        .await
        .unwrap();
    let destroyed = execute(
        &system,
        json!({"action": "destroy", "environment": "north"}),
    )
    .await;
    assert!(destroyed.succeeded(), "{destroyed:?}");
    assert_eq!(ec2_leftovers(&ec2, "north").await, Vec::<String>::new());
}

/// An endpoint service the region does not offer in the private subnet's zone is named in
/// Prepare, with the zones it is offered in, before anything is created.
#[tokio::test]
async fn an_endpoint_service_missing_in_a_private_zone_is_named_before_anything_is_created() {
    let world = system_tests::world().with_value(
        "endpoint-service-zones",
        "gaps",
        json!({"us-east-1": {"logs": ["us-east-1a", "us-east-1e"]}}),
    );
    let system = system_in("us-east-1", world).await;
    let mut spec = apply("gap", "us-east-1");
    spec["spec"]["network"] =
        json!({"privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "a"}]});
    refused_in_prepare(
        &system,
        spec,
        &["com.amazonaws.us-east-1.logs", "us-east-1a", "us-east-1b"],
    )
    .await;
}

/// The account's VPC quota reached: the failure names the quota and how to raise it.
#[tokio::test]
async fn a_reached_quota_is_named_with_the_way_to_raise_it() {
    // The default VPC already takes the only one.
    let world = system_tests::world().with_value("quotas", "vpcsPerRegion", json!(1));
    let system = system_in("us-east-1", world).await;
    let failed = execute(&system, apply("full", "us-east-1")).await;
    assert!(!failed.succeeded());
    let cause = failed.cause.unwrap_or_default();
    assert!(
        cause.contains("VpcLimitExceeded: The maximum number of VPCs has been reached.")
            && cause.contains("\"VPCs per Region\"")
            && cause.contains("--quota-code L-F678F1CE"),
        "{cause}"
    );
}

/// A service of the same name still DRAINING (deleted a moment ago) is waited for, not
/// retried until a retry budget gives up: apply runs again once ECS lets the name be reused.
#[tokio::test]
async fn a_same_name_service_still_draining_is_waited_for_then_created_again() {
    let system = system_in("us-east-1", system_tests::world()).await;
    // Old tasks drain for 15 minutes of AWS time: still DRAINING when the apply gets there.
    let mut slow_drain = apply("again", "us-east-1");
    slow_drain["spec"]["alb"] = json!({"deregistrationDelaySeconds": 900});
    let created = execute(&system, slow_drain.clone()).await;
    assert!(created.succeeded(), "{created:?}");

    let ecs = aws_sdk_ecs::Client::new(&system.config);
    ecs.update_service()
        .cluster("again")
        .service("again")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    ecs.delete_service()
        .cluster("again")
        .service("again")
        .send()
        .await
        .unwrap();

    let service = || async {
        let described = ecs
            .describe_services()
            .cluster("again")
            .services("again")
            .send()
            .await
            .unwrap();
        described.services()[0].clone()
    };
    assert_eq!(service().await.status(), Some("DRAINING"));
    let (reapplied, states) = execute_seeing(&system, slow_drain).await;
    assert!(reapplied.succeeded(), "{reapplied:?}");
    assert!(
        states.iter().any(|s| s == "ServiceApplyAgain"),
        "apply ran again after the drain: {states:?}"
    );
    let service = service().await;
    assert_eq!(
        (service.status(), service.running_count()),
        (Some("ACTIVE"), 2)
    );
}

/// An update that drops a private subnet: the endpoints and the tasks move off it, and it is
/// deleted in the cleanup after the service is stable, not as a DependencyViolation that fails
/// the update.
#[tokio::test]
async fn a_dropped_subnet_is_deleted_after_everything_has_moved_off_it() {
    let system = system_in("us-east-1", system_tests::world()).await;
    let ec2 = aws_sdk_ec2::Client::new(&system.config);
    let with_private = |subnets: Value| {
        let mut input = apply("shrink", "us-east-1");
        input["spec"]["network"] = json!({"privateSubnets": subnets});
        input
    };
    let a = json!({"cidr": "10.0.1.0/24", "availabilityZone": "a"});
    let b = json!({"cidr": "10.0.2.0/24", "availabilityZone": "b"});
    let created = execute(&system, with_private(json!([a, b]))).await;
    assert!(created.succeeded(), "{created:?}");
    let private = |finished: &provisioner_cli::execution::Finished| {
        finished.output.as_ref().unwrap()["result"]["attributes"]["PrivateSubnetIds"]
            .as_str()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let dropped = private(&created)[1].clone();

    let (shrunk, states) = execute_seeing(&system, with_private(json!([a]))).await;
    assert!(shrunk.succeeded(), "{shrunk:?}");
    assert_eq!(private(&shrunk).len(), 1);
    assert!(
        states.iter().any(|s| s == "NetworkCleanup"),
        "the cleanup ran after the apply: {states:?}"
    );
    let gone = ec2.describe_subnets().subnet_ids(&dropped).send().await;
    assert!(gone.is_err(), "{dropped} still exists: {gone:?}");
    let left = ec2
        .describe_network_interfaces()
        .filters(Filter::builder().name("subnet-id").values(&dropped).build())
        .send()
        .await
        .unwrap();
    assert!(left.network_interfaces().is_empty());
}

/// A spec that grows past 4 KB goes to the advanced tier and stays there when it shrinks again
/// (AWS refuses advanced -> standard); one past Parameter Store's 8 KB is refused in validation,
/// naming the limit, and the stored spec is kept.
#[tokio::test]
async fn the_stored_spec_never_leaves_the_advanced_tier_and_too_large_a_spec_is_refused() {
    let emulator = Emulator::start_with(EmulatorOptions {
        world: Some(system_tests::world()),
        ..Default::default()
    })
    .unwrap();
    let config = emulator.sdk_config("us-east-1").await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let store = SsmStore::new(ssm.clone());
    let with_environment = |values: usize| {
        let environment: serde_json::Map<String, Value> = (0..values)
            .map(|i| (format!("SETTING_{i}"), json!("x".repeat(100))))
            .collect();
        let spec = json!({"name": "tiers", "service": {"image": image("us-east-1"), "environment": environment}});
        EnvironmentSpec::from_json(&spec, "us-east-1")
    };
    let tier = || async {
        let described = ssm
            .describe_parameters()
            .parameter_filters(
                aws_sdk_ssm::types::ParameterStringFilter::builder()
                    .key("Name")
                    .values("/fargate-provisioner/tiers/spec")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        described.parameters()[0]
            .tier()
            .unwrap()
            .as_str()
            .to_string()
    };

    store
        .put_spec(&with_environment(50).unwrap())
        .await
        .unwrap();
    assert_eq!(tier().await, "Advanced");
    let small = with_environment(1).unwrap();
    store.put_spec(&small).await.unwrap();
    assert_eq!(tier().await, "Advanced");

    let err = with_environment(80).unwrap_err();
    assert_eq!(
        provisioner_core::ProvisionError::from(err.clone()).kind(),
        ErrorKind::Validation
    );
    assert!(err.fields().contains(&"spec"), "{err}");
    assert!(err.to_string().contains("8192 bytes"), "{err}");
    let stored = store
        .spec(&provisioner_core::Names::new("tiers"), "us-east-1")
        .await
        .unwrap();
    assert_eq!(stored, small);
}
