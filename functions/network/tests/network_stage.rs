//! The network stage against the local emulator: what `apply` builds, that a re-run changes
//! nothing, that a crash after any call converges, that drift is corrected and `destroy` cleans up.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use network_stage::{outputs, NetworkStage};
use provisioner_core::naming::{ENVIRONMENT_TAG, ROLE_TAG};
use provisioner_core::{EnvironmentSpec, ErrorKind, Names, Readiness, SsmStore, Stage};
use serde_json::json;
use test_support::{Fault, Harness, Trigger, REGION};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

fn reference_spec(name: &str) -> EnvironmentSpec {
    EnvironmentSpec::from_json(&json!({"name": name, "service": {"image": IMAGE}}), REGION).unwrap()
}

async fn store_spec(h: &Harness, spec: &EnvironmentSpec) {
    SsmStore::new(h.plain_ssm()).put_spec(spec).await.unwrap();
}

fn stage(h: &Harness) -> NetworkStage {
    NetworkStage::new(h.ec2(), h.context())
}

fn env_filter(env: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{ENVIRONMENT_TAG}"))
        .values(env)
        .build()
}

fn role(tags: &[aws_sdk_ec2::types::Tag]) -> String {
    tags.iter()
        .find(|t| t.key() == Some(ROLE_TAG))
        .and_then(|t| t.value())
        .unwrap_or("?")
        .to_string()
}

/// Everything tagged for the environment, described without ids so two runs can be compared.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    vpcs: Vec<(String, bool, bool)>,
    subnets: BTreeMap<String, (String, String)>,
    gateways: Vec<usize>,
    route_tables: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    security_groups: BTreeMap<String, BTreeSet<String>>,
    outputs: BTreeSet<String>,
}

async fn snapshot(h: &Harness, env: &str) -> Snapshot {
    let ec2 = h.plain_ec2();
    let vpcs = ec2
        .describe_vpcs()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    let mut vpc_rows = Vec::new();
    for vpc in vpcs.vpcs() {
        let id = vpc.vpc_id().unwrap();
        let on = |attribute: VpcAttributeName| {
            let ec2 = ec2.clone();
            async move {
                let out = ec2
                    .describe_vpc_attribute()
                    .vpc_id(id)
                    .attribute(attribute.clone())
                    .send()
                    .await
                    .unwrap();
                let value = if attribute == VpcAttributeName::EnableDnsSupport {
                    out.enable_dns_support()
                } else {
                    out.enable_dns_hostnames()
                };
                value.and_then(|v| v.value()).unwrap_or(false)
            }
        };
        vpc_rows.push((
            vpc.cidr_block().unwrap().to_string(),
            on(VpcAttributeName::EnableDnsSupport).await,
            on(VpcAttributeName::EnableDnsHostnames).await,
        ));
    }
    let subnets = ec2
        .describe_subnets()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    let subnet_role: BTreeMap<String, String> = subnets
        .subnets()
        .iter()
        .map(|s| (s.subnet_id().unwrap().to_string(), role(s.tags())))
        .collect();
    let subnet_rows = subnets
        .subnets()
        .iter()
        .map(|s| {
            (
                role(s.tags()),
                (
                    s.cidr_block().unwrap().to_string(),
                    s.availability_zone().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let gateways = ec2
        .describe_internet_gateways()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    let igw_ids: BTreeSet<String> = gateways
        .internet_gateways()
        .iter()
        .map(|g| g.internet_gateway_id().unwrap().to_string())
        .collect();
    let tables = ec2
        .describe_route_tables()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    let route_tables = tables
        .route_tables()
        .iter()
        .map(|t| {
            let routes = t
                .routes()
                .iter()
                .map(|r| {
                    let target = r
                        .gateway_id()
                        .map(|g| {
                            if igw_ids.contains(g) {
                                "internet-gateway"
                            } else {
                                g
                            }
                        })
                        .unwrap_or("?");
                    format!("{} -> {target}", r.destination_cidr_block().unwrap_or("?"))
                })
                .collect();
            let associated = t
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id())
                .map(|s| subnet_role.get(s).cloned().unwrap_or(s.to_string()))
                .collect();
            (role(t.tags()), (routes, associated))
        })
        .collect();
    let groups = ec2
        .describe_security_groups()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    let group_role: BTreeMap<String, String> = groups
        .security_groups()
        .iter()
        .map(|g| (g.group_id().unwrap().to_string(), role(g.tags())))
        .collect();
    let security_groups = groups
        .security_groups()
        .iter()
        .map(|g| {
            let rules = g
                .ip_permissions()
                .iter()
                .flat_map(|p| {
                    let ports = format!(
                        "{} {}-{}",
                        p.ip_protocol().unwrap_or("?"),
                        p.from_port().unwrap_or(-1),
                        p.to_port().unwrap_or(-1)
                    );
                    let cidrs = p
                        .ip_ranges()
                        .iter()
                        .map(|r| r.cidr_ip().unwrap().to_string());
                    let groups = p.user_id_group_pairs().iter().map(|u| {
                        group_role
                            .get(u.group_id().unwrap())
                            .cloned()
                            .unwrap_or("?".into())
                    });
                    cidrs
                        .chain(groups)
                        .map(move |source| format!("{ports} from {source}"))
                        .collect::<Vec<_>>()
                })
                .collect();
            (role(g.tags()), rules)
        })
        .collect();
    let outputs = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new(env), "network")
        .await
        .unwrap()
        .into_keys()
        .collect();
    Snapshot {
        vpcs: vpc_rows,
        subnets: subnet_rows,
        gateways: gateways
            .internet_gateways()
            .iter()
            .map(|g| g.attachments().len())
            .collect(),
        route_tables,
        security_groups,
        outputs,
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The reference network: zones left to choose go to the region's first two zones.
fn reference_snapshot() -> Snapshot {
    let subnet = |cidr: &str, zone: &str| (cidr.to_string(), zone.to_string());
    Snapshot {
        vpcs: vec![("10.0.0.0/16".into(), true, true)],
        subnets: BTreeMap::from([
            (
                "public-subnet-1".into(),
                subnet("10.0.0.0/24", "us-east-1a"),
            ),
            (
                "public-subnet-2".into(),
                subnet("10.0.3.0/24", "us-east-1b"),
            ),
            (
                "private-subnet-1".into(),
                subnet("10.0.1.0/24", "us-east-1a"),
            ),
        ]),
        gateways: vec![1],
        route_tables: BTreeMap::from([
            (
                "public-route-table".into(),
                (
                    set(&["10.0.0.0/16 -> local", "0.0.0.0/0 -> internet-gateway"]),
                    set(&["public-subnet-1", "public-subnet-2"]),
                ),
            ),
            (
                "private-route-table".into(),
                (set(&["10.0.0.0/16 -> local"]), set(&["private-subnet-1"])),
            ),
        ]),
        security_groups: BTreeMap::from([
            ("sec-alb".into(), set(&["tcp 80-80 from 0.0.0.0/0"])),
            ("sec-web-via-alb".into(), set(&["tcp 80-80 from sec-alb"])),
            (
                "sec-privatelink".into(),
                set(&["tcp 443-443 from sec-web-via-alb"]),
            ),
        ]),
        outputs: set(&[
            outputs::VPC_ID,
            outputs::VPC_CIDR,
            outputs::PUBLIC_SUBNET_IDS,
            outputs::PRIVATE_SUBNET_IDS,
            outputs::PUBLIC_ROUTE_TABLE_ID,
            outputs::PRIVATE_ROUTE_TABLE_IDS,
            outputs::INTERNET_GATEWAY_ID,
            outputs::ALB_SECURITY_GROUP_ID,
            outputs::WEB_SECURITY_GROUP_ID,
            outputs::PRIVATELINK_SECURITY_GROUP_ID,
            outputs::RETIRED_SUBNET_IDS,
        ]),
    }
}

fn empty_snapshot() -> Snapshot {
    Snapshot {
        vpcs: vec![],
        subnets: BTreeMap::new(),
        gateways: vec![],
        route_tables: BTreeMap::new(),
        security_groups: BTreeMap::new(),
        outputs: BTreeSet::new(),
    }
}

#[tokio::test]
async fn apply_builds_the_reference_network() {
    let h = Harness::start().await;
    let spec = reference_spec("ref");
    store_spec(&h, &spec).await;

    let summary = stage(&h).apply(&Names::new("ref")).await.unwrap();

    assert_eq!(summary.state, Readiness::Ready);
    assert_eq!(snapshot(&h, "ref").await, reference_snapshot());
    // One attribute per ModifyVpcAttribute call (AWS refuses two; the emulator would not).
    let modifies = h.recorder.of("ModifyVpcAttribute");
    assert!(
        !modifies.is_empty(),
        "the emulator's new VPC has DNS hostnames off, so apply must turn it on"
    );
    for request in &modifies {
        let attributes = ["EnableDnsSupport", "EnableDnsHostnames"]
            .iter()
            .filter(|a| request.body.contains(*a))
            .count();
        assert_eq!(attributes, 1, "one attribute per call: {}", request.body);
    }
    // The outputs name the resources that exist.
    let stored = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new("ref"), "network")
        .await
        .unwrap();
    assert_eq!(stored, summary.outputs);
    let vpc_id = stored[outputs::VPC_ID].to_parameter_value();
    let vpcs = h
        .plain_ec2()
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    assert_eq!(stored[outputs::PUBLIC_SUBNET_IDS].values().len(), 2);
    assert_eq!(stored[outputs::PRIVATE_SUBNET_IDS].values().len(), 1);
    println!(
        "apply on a fresh account: {} requests, {} mutating",
        h.recorder.requests().len(),
        h.recorder.mutating().len()
    );
}

#[tokio::test]
async fn second_apply_sends_no_mutating_request() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("again")).await;
    let first = stage(&h).apply(&Names::new("again")).await.unwrap();
    let second = test_support::assert_changes_nothing(&h, async || {
        stage(&h).apply(&Names::new("again")).await
    })
    .await;
    assert_eq!(first.outputs, second.outputs);
    assert_eq!(snapshot(&h, "again").await, reference_snapshot());
    println!(
        "apply on an applied environment: {} requests: {:?}",
        h.recorder.requests().len(),
        h.recorder.operations()
    );
}

#[tokio::test]
async fn apply_corrects_drift_with_only_the_needed_calls() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("drift")).await;
    let summary = stage(&h).apply(&Names::new("drift")).await.unwrap();
    let ec2 = h.plain_ec2();
    let vpc_id = summary.outputs[outputs::VPC_ID].to_parameter_value();
    let privatelink = summary.outputs[outputs::PRIVATELINK_SECURITY_GROUP_ID].to_parameter_value();
    let public_table = summary.outputs[outputs::PUBLIC_ROUTE_TABLE_ID].to_parameter_value();
    // Someone switches DNS hostnames off, opens SSH on the endpoints' group, drops the internet route.
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&privatelink)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    ec2.delete_route()
        .route_table_id(&public_table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    h.recorder.clear();

    stage(&h).apply(&Names::new("drift")).await.unwrap();

    let mut mutating: Vec<String> = h
        .recorder
        .mutating()
        .into_iter()
        .map(|r| r.operation)
        .collect();
    mutating.sort();
    assert_eq!(
        mutating,
        vec![
            "CreateRoute",
            "ModifyVpcAttribute",
            "RevokeSecurityGroupIngress"
        ]
    );
    assert!(h.recorder.of("ModifyVpcAttribute")[0]
        .body
        .contains("EnableDnsHostnames.Value=true"));
    assert_eq!(snapshot(&h, "drift").await, reference_snapshot());
}

#[tokio::test]
async fn crash_after_any_mutating_call_converges_on_rerun() {
    let h = Harness::start().await;
    let calls = test_support::assert_converges_after_any_crash(
        &h,
        "crash",
        async |env| store_spec(&h, &reference_spec(env)).await,
        async |env| stage(&h).apply(&Names::new(env)).await,
        async |env| snapshot(&h, env).await,
    )
    .await;
    assert!(
        calls >= 15,
        "a fresh apply makes every resource: {calls} mutating calls"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("retry")).await;
    h.faults.add(
        Trigger::Operation {
            name: "CreateSubnet".into(),
            times: 2,
        },
        Fault::Throttle,
    );
    h.faults.add(
        Trigger::Operation {
            name: "CreateVpc".into(),
            times: 1,
        },
        Fault::ServerError,
    );
    h.faults.add(
        Trigger::Operation {
            name: "PutParameter".into(),
            times: 1,
        },
        Fault::Throttle,
    );

    stage(&h).apply(&Names::new("retry")).await.unwrap();

    assert_eq!(h.faults.fired(), 4);
    assert_eq!(h.recorder.of("CreateVpc").len(), 2);
    assert_eq!(h.recorder.of("CreateSubnet").len(), 3 + 2);
    assert_eq!(snapshot(&h, "retry").await, reference_snapshot());
}

#[tokio::test]
async fn a_create_applied_but_answered_with_a_500_is_made_once() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("ambiguous")).await;
    let creates = [
        "CreateVpc",
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateInternetGateway",
        "CreateRouteTable",
    ];
    for name in creates {
        h.faults.add(
            Trigger::Operation {
                name: name.into(),
                times: 1,
            },
            Fault::ServerErrorAfter,
        );
    }

    stage(&h).apply(&Names::new("ambiguous")).await.unwrap();

    assert_eq!(h.faults.fired(), creates.len());
    // Found by its tags after the 500, never sent again. The route table is sent again by the
    // SDK with the same client token, which AWS answers with the table the first call made (the
    // plain emulator of these tests makes a second one; the realistic world answers as AWS does:
    // aws_behaviours' strict-client-token test, and the whole-run faults test).
    assert_eq!(h.recorder.of("CreateVpc").len(), 1);
    assert_eq!(h.recorder.of("CreateInternetGateway").len(), 1);
    assert_eq!(h.recorder.of("CreateSubnet").len(), 3);
    assert_eq!(h.recorder.of("CreateSecurityGroup").len(), 3);
    let tokens: Vec<_> = h
        .recorder
        .of("CreateRouteTable")
        .iter()
        .map(|r| {
            r.body
                .split('&')
                .find_map(|pair| pair.strip_prefix("ClientToken="))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(tokens.len(), 3, "two tables, one of them sent twice");
    assert!(tokens
        .iter()
        .all(|t| t.as_ref().is_some_and(|t| t.len() == 32)));
    assert_eq!(snapshot(&h, "ambiguous").await, reference_snapshot());
}

#[tokio::test]
async fn a_call_that_keeps_failing_is_reported_as_retryable_with_aws_code() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("throttled")).await;
    h.faults.add(
        Trigger::Operation {
            name: "CreateVpc".into(),
            times: 100,
        },
        Fault::Throttle,
    );

    let err = stage(&h).apply(&Names::new("throttled")).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert_eq!(err.aws_code(), Some("RequestLimitExceeded"));
    assert!(err.to_string().contains("CreateVpc"), "{err}");
    // Apply's client is patient (EC2 is eventually consistent): it tries longer than the default.
    assert_eq!(
        h.recorder.of("CreateVpc").len(),
        provisioner_core::not_yet::UNKNOWN_ID
            .retries()
            .max_attempts() as usize
    );
}

#[tokio::test]
async fn aws_rejection_keeps_code_and_message() {
    let h = Harness::start().await;
    let spec = EnvironmentSpec::from_json(
        // A stored spec that names its zones in full is used as it is (Prepare resolves them).
        &json!({"name": "badzone", "network": {
            "publicSubnets": [{"cidr": "10.0.0.0/24", "availabilityZone": "us-east-1a"}, {"cidr": "10.0.3.0/24", "availabilityZone": "us-east-1b"}],
            "privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "us-east-1z"}]}, "service": {"image": IMAGE}}),
        REGION,
    )
    .unwrap();
    store_spec(&h, &spec).await;

    let err = stage(&h).apply(&Names::new("badzone")).await.unwrap_err();

    let text = err.to_string();
    assert!(
        text.contains("CreateSubnet") && text.contains("us-east-1z"),
        "{text}"
    );
    assert!(
        err.aws_code().is_some_and(|c| c.starts_with("Invalid")),
        "{:?}",
        err.aws_code()
    );
}

#[tokio::test]
async fn a_changed_subnet_cidr_is_a_conflict_not_a_silent_replacement() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("moved")).await;
    stage(&h).apply(&Names::new("moved")).await.unwrap();
    let mut changed = reference_spec("moved");
    changed.network.public_subnets[1].cidr = "10.0.4.0/24".into();
    store_spec(&h, &changed).await;
    h.recorder.clear();

    let err = stage(&h).apply(&Names::new("moved")).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string().contains("network.publicSubnets[1]"),
        "{err}"
    );
    assert!(h.recorder.of("CreateSubnet").is_empty() && h.recorder.of("DeleteSubnet").is_empty());
}

#[tokio::test]
async fn destroy_leaves_nothing_and_a_second_destroy_succeeds() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("gone")).await;
    stage(&h).apply(&Names::new("gone")).await.unwrap();

    stage(&h).destroy(&Names::new("gone")).await.unwrap();
    SsmStore::new(h.ssm())
        .delete_spec(&Names::new("gone"))
        .await
        .unwrap();

    assert_eq!(snapshot(&h, "gone").await, empty_snapshot());
    assert_eq!(
        test_support::ec2_leftovers(&h.plain_ec2(), "gone").await,
        Vec::<String>::new()
    );
    assert_eq!(
        test_support::stored_parameters(&h.plain_ssm(), "gone").await,
        Vec::<String>::new()
    );

    let again = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(again.state, Readiness::Ready);
}

#[tokio::test]
async fn destroy_after_a_crashed_apply_cleans_up_the_half_built_network() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("half")).await;
    // Crash right after the internet gateway is created, before it is attached or routed.
    h.faults.add(
        Trigger::Operation {
            name: "CreateInternetGateway".into(),
            times: 1,
        },
        Fault::CrashAfter,
    );
    assert!(
        test_support::run_to_crash(stage(&h).apply(&Names::new("half")))
            .await
            .is_none()
    );
    h.faults.clear();

    stage(&h).destroy(&Names::new("half")).await.unwrap();

    assert_eq!(snapshot(&h, "half").await, empty_snapshot());
}

#[tokio::test]
async fn environments_do_not_see_each_other() {
    let h = Harness::start().await;
    store_spec(&h, &reference_spec("one")).await;
    store_spec(&h, &reference_spec("two")).await;
    stage(&h).apply(&Names::new("one")).await.unwrap();
    stage(&h).apply(&Names::new("two")).await.unwrap();

    stage(&h).destroy(&Names::new("one")).await.unwrap();

    assert_eq!(snapshot(&h, "two").await, reference_snapshot());
    assert_eq!(snapshot(&h, "one").await, empty_snapshot());
}

#[tokio::test]
async fn a_dropped_subnet_stays_through_apply_and_goes_in_the_cleanup_once_nothing_is_in_it() {
    let h = Harness::start().await;
    let env = &Names::new("shrink");
    let two = EnvironmentSpec::from_json(
        &json!({"name": "shrink", "network": {"privateSubnets": [
            {"cidr": "10.0.1.0/24", "availabilityZone": "a"},
            {"cidr": "10.0.2.0/24", "availabilityZone": "b"}]},
            "service": {"image": IMAGE}}),
        REGION,
    )
    .unwrap();
    store_spec(&h, &two).await;
    let applied = stage(&h).apply(env).await.unwrap();
    let dropped = applied.outputs[outputs::PRIVATE_SUBNET_IDS].values()[1].clone();
    let mut one = two.clone();
    one.network.private_subnets.pop();
    store_spec(&h, &one).await;
    h.recorder.clear();

    // Apply keeps it: the endpoints and the tasks have not moved off it yet.
    let applied = stage(&h).apply(env).await.unwrap();
    assert_eq!(
        applied.outputs[outputs::PRIVATE_SUBNET_IDS].values().len(),
        1
    );
    assert!(h.recorder.of("DeleteSubnet").is_empty());

    // Something the environment does not own in it stops the cleanup, named, and is kept.
    let foreign = test_support::foreign_interface(&h.plain_ec2(), &dropped, "someone else's").await;
    let err = stage(&h).cleanup(env).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string().contains(&foreign) && err.to_string().contains(&dropped),
        "{err}"
    );
    assert!(h.recorder.of("DeleteSubnet").is_empty());

    h.plain_ec2()
        .delete_network_interface()
        .network_interface_id(&foreign)
        .send()
        .await
        .unwrap();
    let cleaned = stage(&h).cleanup(env).await.unwrap();
    assert_eq!(cleaned.state, Readiness::Ready);
    assert!(cleaned.message.contains(&dropped), "{}", cleaned.message);
    assert_eq!(h.recorder.of("DeleteSubnet").len(), 1);
    // Nothing left to clean: a second cleanup only looks.
    h.recorder.clear();
    let again = stage(&h).cleanup(env).await.unwrap();
    assert_eq!(again.state, Readiness::Ready);
    assert!(h.recorder.mutating().is_empty());
}
