//! All four stages against one emulator of the realistic world, in the order the state machine
//! runs them and waiting as it waits: network, then endpoints and ALB side by side, then the
//! service; then a teardown in reverse order that leaves the account empty. And the endpoints
//! stage on a VPC whose DNS hostnames are off, which EC2 refuses private DNS.

use std::future::Future;
use std::time::{Duration, Instant};

use alb_stage::AlbStage;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use endpoints_stage::EndpointsStage;
use local_aws::EmulatorOptions;
use network_stage::NetworkStage;
use provisioner_core::{
    ErrorKind, Names, ProvisionError, Readiness, SsmStore, Stage, StageSummary,
};
use service_stage::{Clients, ServiceStage};
use test_support::{ec2_leftovers, Harness};

const SPEC: &str = r#"{"name": "together",
  "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest",
              "executionRoleArn": "arn:aws:iam::123456789012:role/execution"}}"#;

/// Asks `poll` again until it answers ready, as the state machine's wait loops do: the realistic
/// world's load balancer, endpoints and tasks take their AWS time.
async fn until_ready<F, Fut>(mut poll: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<StageSummary, ProvisionError>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let summary = poll().await.unwrap();
        if summary.state == Readiness::Ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} {:?} still pending: {}",
            summary.stage,
            summary.action,
            summary.message
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(summary: StageSummary) {
    assert_eq!(
        summary.state,
        Readiness::Ready,
        "{}: {}",
        summary.stage,
        summary.message
    );
}

/// A harness on the realistic world.
async fn realistic() -> Harness {
    Harness::start_with(EmulatorOptions {
        world: Some(system_tests::world()),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn four_stages_build_the_environment_and_tear_down_to_an_empty_account() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    store
        .submit_spec(
            &serde_json::from_str(SPEC).unwrap(),
            &h.region_zones().await,
        )
        .await
        .unwrap();
    let network = NetworkStage::new(h.ec2(), h.context());
    let endpoints = EndpointsStage::new(h.ec2(), h.context());
    let alb = AlbStage::new(h.elbv2(), h.context());
    let clients = Clients {
        ecs: h.ecs(),
        logs: h.logs(),
        elb: h.elbv2(),
    };
    let service = ServiceStage::new(clients, h.context())
        .with_load_balancer_address(Some(h.load_balancer_address()));
    let env = &Names::new("together");

    // An apply may answer `pending` (a new load balancer is provisioning); `status` follows up.
    network.apply(env).await.unwrap();
    let (e, a) = tokio::join!(endpoints.apply(env), alb.apply(env));
    e.unwrap();
    a.unwrap();
    until_ready(|| endpoints.status(env)).await;
    until_ready(|| alb.status(env)).await;
    service.apply(env).await.unwrap();
    until_ready(|| service.status(env)).await;
    for status in [
        network.status(env).await,
        endpoints.status(env).await,
        alb.status(env).await,
        service.status(env).await,
    ] {
        ready(status.unwrap());
    }

    // Teardown: the service in passes until its tasks are gone, then the ALB and the endpoints,
    // then the network once their interfaces are released.
    assert_eq!(
        service.destroy(env).await.unwrap().state,
        Readiness::Pending
    );
    until_ready(|| service.destroy(env)).await;
    let (a, e) = tokio::join!(alb.destroy(env), endpoints.destroy(env));
    a.unwrap();
    e.unwrap();
    until_ready(|| endpoints.status(env)).await;
    until_ready(|| network.destroy(env)).await;
    store.delete_spec(env).await.unwrap();

    assert_eq!(
        ec2_leftovers(&h.plain_ec2(), env.environment()).await,
        Vec::<String>::new()
    );
    assert_eq!(
        test_support::stored_parameters(&h.plain_ssm(), env.environment()).await,
        Vec::<String>::new()
    );
    let lbs = h
        .plain_elbv2()
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    assert!(lbs.load_balancers().is_empty());
    let tgs = h
        .plain_elbv2()
        .describe_target_groups()
        .send()
        .await
        .unwrap();
    assert!(tgs.target_groups().is_empty());
    let clusters = h.plain_ecs().list_clusters().send().await.unwrap();
    let active = h
        .plain_ecs()
        .describe_clusters()
        .set_clusters(Some(clusters.cluster_arns().to_vec()))
        .send()
        .await
        .unwrap();
    assert!(active
        .clusters()
        .iter()
        .all(|c| c.status() != Some("ACTIVE")));
}

/// Private DNS needs the VPC's DNS attributes on. With hostnames off, EC2 refuses the interface
/// endpoint; after waiting out a propagation that never comes, the stage says which attribute is
/// off and how to turn it on, and no endpoint exists.
#[tokio::test]
async fn private_dns_on_a_vpc_without_dns_hostnames_fails_naming_the_fix() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec: serde_json::Value = serde_json::from_str(SPEC).unwrap();
    spec["name"] = "nodns".into();
    store
        .submit_spec(&spec, &h.region_zones().await)
        .await
        .unwrap();
    let names = Names::new("nodns");
    NetworkStage::new(h.ec2(), h.context())
        .apply(&names)
        .await
        .unwrap();
    let network = store.stage_outputs(&names, "network").await.unwrap();
    let vpc_id = network["vpc-id"].to_parameter_value();
    h.plain_ec2()
        .modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();

    let err = EndpointsStage::new(h.ec2(), h.context())
        .apply(&names)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let message = err.to_string();
    assert!(
        message
            .contains("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames"),
        "{message}"
    );
    assert!(
        message.contains(&format!("enableDnsHostnames is off on VPC {vpc_id}")),
        "{message}"
    );
    assert!(message.contains("--enable-dns-hostnames"), "{message}");
    let found = h
        .plain_ec2()
        .describe_vpc_endpoints()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", provisioner_core::naming::ENVIRONMENT_TAG))
                .values("nodns")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The endpoints are made one by one, and EC2 refused the first.
    assert!(found.vpc_endpoints().is_empty(), "{found:?}");
}
