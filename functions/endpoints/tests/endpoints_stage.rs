//! The endpoints stage against the local emulator: the planned endpoints exist with the right
//! placement, a re-run changes nothing, a crash after any call converges, and `destroy` cleans
//! up. (A VPC without DNS hostnames is tested where EC2 refuses private DNS: `stages_together`.)

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use endpoints_stage::{outputs, EndpointsStage};
use network_stage::NetworkStage;
use provisioner_core::naming::{ENVIRONMENT_TAG, ROLE_TAG};
use provisioner_core::{EnvironmentSpec, ErrorKind, Names, Readiness, SsmStore, Stage};
use serde_json::{json, Value};
use test_support::{assert_changes_nothing, assert_converges_after_any_crash, Harness, REGION};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

/// Stores the spec and builds the network with plain clients, so nothing of it is recorded.
async fn network_for(h: &Harness, env: &str, service: Value) -> BTreeMap<String, Vec<String>> {
    let mut service = service;
    service["image"] = json!(IMAGE);
    let spec =
        EnvironmentSpec::from_json(&json!({"name": env, "service": service}), REGION).unwrap();
    SsmStore::new(h.plain_ssm()).put_spec(&spec).await.unwrap();
    let network = NetworkStage::new(h.plain_ec2(), h.plain_context());
    let summary = network.apply(&Names::new(env)).await.unwrap();
    summary
        .outputs
        .into_iter()
        .map(|(k, v)| (k, v.values()))
        .collect()
}

fn stage(h: &Harness) -> EndpointsStage {
    EndpointsStage::new(h.ec2(), h.context())
}

/// Each endpoint of the environment: (service, type, subnets, groups, route tables, private DNS),
/// with ids replaced by the network output that holds them.
type EndpointRow = (
    String,
    String,
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
    bool,
);

async fn endpoints(h: &Harness, env: &str) -> BTreeSet<EndpointRow> {
    let network: BTreeMap<String, String> = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new(env), network_stage::outputs::STAGE)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|(k, v)| v.values().into_iter().map(move |id| (id, k.clone())))
        .collect();
    let name = |id: &String| network.get(id).cloned().unwrap_or_else(|| id.clone());
    let found = h
        .plain_ec2()
        .describe_vpc_endpoints()
        .filters(
            Filter::builder()
                .name(format!("tag:{ENVIRONMENT_TAG}"))
                .values(env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    found
        .vpc_endpoints()
        .iter()
        .filter(|e| !e.state().unwrap().as_str().eq_ignore_ascii_case("deleted"))
        .map(|e| {
            assert_eq!(
                e.tags()
                    .iter()
                    .find(|t| t.key() == Some(ROLE_TAG))
                    .and_then(|t| t.value()),
                Some(
                    format!(
                        "endpoint-{}",
                        e.service_name()
                            .unwrap()
                            .rsplit_once("us-east-1.")
                            .unwrap()
                            .1
                    )
                    .as_str()
                )
            );
            (
                e.service_name().unwrap().to_string(),
                e.vpc_endpoint_type().unwrap().as_str().to_string(),
                e.subnet_ids().iter().map(name).collect(),
                e.groups()
                    .iter()
                    .map(|g| name(&g.group_id().unwrap().to_string()))
                    .collect(),
                e.route_table_ids().iter().map(name).collect(),
                // Private DNS means nothing on a gateway endpoint (the emulator reports it on).
                e.vpc_endpoint_type().unwrap().as_str() == "Interface"
                    && e.private_dns_enabled().unwrap_or(false),
            )
        })
        .collect()
}

fn interface(service: &str) -> EndpointRow {
    (
        format!("com.amazonaws.us-east-1.{service}"),
        "Interface".into(),
        ["private-subnet-ids".to_string()].into(),
        ["privatelink-security-group-id".to_string()].into(),
        BTreeSet::new(),
        true,
    )
}

fn reference_endpoints() -> BTreeSet<EndpointRow> {
    let mut rows: BTreeSet<EndpointRow> = ["ecr.dkr", "ecr.api", "logs"]
        .into_iter()
        .map(interface)
        .collect();
    rows.insert((
        "com.amazonaws.us-east-1.s3".into(),
        "Gateway".into(),
        BTreeSet::new(),
        BTreeSet::new(),
        ["private-route-table-ids".to_string()].into(),
        false,
    ));
    rows
}

#[tokio::test]
async fn apply_creates_the_fargate_endpoints_and_a_rerun_changes_nothing() {
    let h = Harness::start().await;
    network_for(&h, "ep", json!({})).await;

    let summary = stage(&h).apply(&Names::new("ep")).await.unwrap();
    assert_eq!(endpoints(&h, "ep").await, reference_endpoints());
    assert_eq!(summary.state, Readiness::Ready);
    assert_eq!(summary.outputs[outputs::ENDPOINT_IDS].values().len(), 4);
    for service in ["ecr.dkr", "ecr.api", "logs", "s3"] {
        assert!(summary.outputs.contains_key(&outputs::endpoint_id(service)));
        assert!(summary.message.contains(service), "{}", summary.message);
    }
    let creates = h.recorder.of("CreateVpcEndpoint");
    assert_eq!(creates.len(), 4);
    // Private DNS is asked for on every interface endpoint, in the request itself.
    assert_eq!(
        creates
            .iter()
            .filter(|r| r.body.contains("PrivateDnsEnabled=true"))
            .count(),
        3
    );
    let stored = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new("ep"), endpoints_stage::outputs::STAGE)
        .await
        .unwrap();
    assert_eq!(stored, summary.outputs);

    let again = assert_changes_nothing(&h, async || stage(&h).apply(&Names::new("ep")).await).await;
    assert_eq!(again.outputs, summary.outputs);
    assert_eq!(
        stage(&h).status(&Names::new("ep")).await.unwrap().state,
        Readiness::Ready
    );
}

#[tokio::test]
async fn crash_after_any_mutating_call_converges_on_rerun() {
    let h = Harness::start().await;
    let calls = assert_converges_after_any_crash(
        &h,
        "crash",
        async |env| {
            network_for(&h, env, json!({"enableExecuteCommand": true})).await;
        },
        async |env| stage(&h).apply(&Names::new(env)).await,
        async |env| endpoints(&h, env).await,
    )
    .await;
    // 5 endpoints and the stage's one outputs parameter.
    assert_eq!(calls, 6, "{calls} mutating calls");
}

#[tokio::test]
async fn apply_follows_the_spec_and_corrects_drift() {
    let h = Harness::start().await;
    let network = network_for(&h, "drift", json!({"enableExecuteCommand": true})).await;
    let first = stage(&h).apply(&Names::new("drift")).await.unwrap();
    let mut expected = reference_endpoints();
    expected.insert(interface("ssmmessages"));
    assert_eq!(endpoints(&h, "drift").await, expected);

    // Someone takes the S3 route off the private route table.
    let s3 = &first.outputs[&outputs::endpoint_id("s3")].values()[0];
    h.plain_ec2()
        .modify_vpc_endpoint()
        .vpc_endpoint_id(s3)
        .remove_route_table_ids(&network["private-route-table-ids"][0])
        .send()
        .await
        .unwrap();
    h.recorder.clear();
    stage(&h).apply(&Names::new("drift")).await.unwrap();
    assert_eq!(endpoints(&h, "drift").await, expected);
    let modified: Vec<String> = h.recorder.mutating_operations();
    assert_eq!(
        modified,
        ["ModifyVpcEndpoint"],
        "only the drifted endpoint is touched"
    );

    // ECS Exec switched off: its endpoint goes, the rest stay.
    network_for(&h, "drift", json!({})).await;
    h.recorder.clear();
    let after = stage(&h).apply(&Names::new("drift")).await.unwrap();
    assert_eq!(endpoints(&h, "drift").await, reference_endpoints());
    assert_eq!(h.recorder.of("DeleteVpcEndpoints").len(), 1);
    assert!(h.recorder.of("CreateVpcEndpoint").is_empty());
    assert!(!after
        .outputs
        .contains_key(&outputs::endpoint_id("ssmmessages")));
}

#[tokio::test]
async fn apply_without_the_network_names_the_missing_output() {
    let h = Harness::start().await;
    let spec = EnvironmentSpec::from_json(
        &json!({"name": "nonet", "service": {"image": IMAGE}}),
        REGION,
    )
    .unwrap();
    SsmStore::new(h.plain_ssm()).put_spec(&spec).await.unwrap();
    let err = stage(&h).apply(&Names::new("nonet")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingOutput);
    assert!(
        err.to_string()
            .contains("/fargate-provisioner/nonet/network/"),
        "{err}"
    );
    assert_eq!(h.recorder.mutating(), vec![]);
}

#[tokio::test]
async fn destroy_removes_every_endpoint_and_a_second_destroy_succeeds() {
    let h = Harness::start().await;
    network_for(&h, "gone", json!({})).await;
    stage(&h).apply(&Names::new("gone")).await.unwrap();

    let first = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(h.recorder.of("DeleteVpcEndpoints").len(), 1);
    assert_eq!(endpoints(&h, "gone").await, BTreeSet::new());
    let second = stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(second.state, Readiness::Ready);
    assert!(first.message.contains("deleting 4"), "{}", first.message);
    assert!(second.message.contains("deleting 0"), "{}", second.message);
    assert_eq!(
        stage(&h).status(&Names::new("gone")).await.unwrap().state,
        Readiness::Ready
    );
    let stored = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new("gone"), endpoints_stage::outputs::STAGE)
        .await
        .unwrap();
    assert!(stored.is_empty());

    // With the endpoints gone the network tears down cleanly too.
    NetworkStage::new(h.plain_ec2(), h.plain_context())
        .destroy(&Names::new("gone"))
        .await
        .unwrap();
    assert_eq!(
        test_support::ec2_leftovers(&h.plain_ec2(), "gone").await,
        Vec::<String>::new()
    );
}
