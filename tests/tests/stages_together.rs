//! All four stages against one emulator of the realistic world, in the order the state machine
//! runs them and waiting as it waits: network, then endpoints and ALB side by side, then the
//! service; then a teardown in reverse order that leaves the account empty. The endpoints
//! stage on a VPC whose DNS hostnames are off, which EC2 refuses private DNS. And Graviton tasks
//! on a mix of Fargate and Fargate Spot, whose mix changes in place.

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

/// The spec of this file under another environment name.
fn spec_named(name: &str) -> serde_json::Value {
    let mut spec: serde_json::Value = serde_json::from_str(SPEC).unwrap();
    spec["name"] = name.into();
    spec
}

/// The four stages, recording their calls.
struct Stages {
    network: NetworkStage,
    endpoints: EndpointsStage,
    alb: AlbStage,
    service: ServiceStage,
}

impl Stages {
    fn of(h: &Harness) -> Self {
        let clients = Clients {
            ecs: h.ecs(),
            logs: h.logs(),
            elb: h.elbv2(),
            scaling: h.scaling(),
            cloudwatch: h.cloudwatch(),
        };
        Self {
            network: NetworkStage::new(h.ec2(), h.context()),
            endpoints: EndpointsStage::new(h.ec2(), h.context()),
            alb: AlbStage::new(
                alb_stage::Clients {
                    elb: h.elbv2(),
                    acm: h.acm(),
                    route53: h.route53(),
                },
                h.context(),
            ),
            service: ServiceStage::new(clients, h.context())
                .with_load_balancer_address(Some(h.load_balancer_address()))
                .with_load_balancer_role(Some(h.ecs_load_balancer_role())),
        }
    }

    /// Applies the four in the state machine's order. An apply may answer `pending` (a new load
    /// balancer is provisioning); `status` follows up.
    async fn build(&self, env: &Names) {
        self.network.apply(env).await.unwrap();
        let (e, a) = tokio::join!(self.endpoints.apply(env), self.alb.apply(env));
        e.unwrap();
        // Applied again while the certificate of a domain is on its way.
        if a.unwrap().state == Readiness::Pending {
            until_ready(|| self.alb.apply(env)).await;
        }
        until_ready(|| self.endpoints.status(env)).await;
        until_ready(|| self.alb.status(env)).await;
        self.service.apply(env).await.unwrap();
        until_ready(|| self.service.status(env)).await;
    }

    /// Destroys the four in the state machine's order: the tests share one account, whose VPC
    /// quota a test that leaves its network behind uses up.
    async fn tear_down(&self, env: &Names) {
        until_ready(|| self.service.destroy(env)).await;
        let (a, e) = tokio::join!(
            until_ready(|| self.alb.destroy(env)),
            until_ready(|| self.endpoints.destroy(env))
        );
        let ((), ()) = (a, e);
        until_ready(|| self.network.destroy(env)).await;
    }
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
    let Stages {
        network,
        endpoints,
        alb,
        service,
    } = Stages::of(&h);
    let env = &Names::new("together");
    Stages::of(&h).build(env).await;
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
    // Other tests share the emulator: only this environment's are looked at.
    assert!(lbs
        .load_balancers()
        .iter()
        .all(|lb| lb.load_balancer_name() != Some(env.load_balancer().as_str())));
    let tgs = h
        .plain_elbv2()
        .describe_target_groups()
        .send()
        .await
        .unwrap();
    assert!(tgs
        .target_groups()
        .iter()
        .all(|tg| tg.target_group_name() != Some(env.target_group().as_str())));
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
        .filter(|c| c.cluster_name() == Some(env.cluster().as_str()))
        .all(|c| c.status() != Some("ACTIVE")));
}

/// Private DNS needs the VPC's DNS attributes on. With hostnames off, EC2 refuses the interface
/// endpoint; after waiting out a propagation that never comes, the stage says which attribute is
/// off and how to turn it on, and no endpoint exists.
#[tokio::test]
async fn private_dns_on_a_vpc_without_dns_hostnames_fails_naming_the_fix() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let spec = spec_named("nodns");
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

/// The environment's ECS service (named after it, in its cluster).
async fn service_of(h: &Harness, env: &str) -> aws_sdk_ecs::types::Service {
    let described = h
        .plain_ecs()
        .describe_services()
        .cluster(env)
        .services(env)
        .send()
        .await
        .unwrap();
    described.services()[0].clone()
}

/// The running tasks of the service's primary deployment, per capacity provider (a previous
/// deployment's may still be draining).
async fn running_on(h: &Harness, env: &str) -> std::collections::BTreeMap<String, usize> {
    let ecs = h.plain_ecs();
    let primary = service_of(h, env)
        .await
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id())
        .unwrap()
        .to_string();
    let listed = ecs
        .list_tasks()
        .cluster(env)
        .service_name(env)
        .send()
        .await
        .unwrap();
    let tasks = provisioner_core::ecs_tasks::describe(&ecs, env, listed.task_arns().to_vec())
        .await
        .unwrap();
    let mut on = std::collections::BTreeMap::new();
    for task in tasks
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING") && t.started_by() == Some(&primary))
    {
        *on.entry(
            task.capacity_provider_name()
                .unwrap_or("(none)")
                .to_string(),
        )
        .or_insert(0) += 1;
    }
    on
}

/// ARM64 tasks on one on-demand base and the rest on Spot: the task definition names the
/// architecture, ECS places the tasks by base and weight, a changed mix is one UpdateService
/// that starts a deployment, a re-apply is quiet, and removing the strategy goes back to the
/// launch type.
#[tokio::test]
async fn graviton_tasks_run_on_the_capacity_mix_the_spec_asks_for() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named("mix");
    spec["service"]["desiredCount"] = 4.into();
    spec["service"]["cpuArchitecture"] = "ARM64".into();
    spec["service"]["capacityProviderStrategy"] = serde_json::json!([
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3}
    ]);
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("mix");
    let stages = Stages::of(&h);
    stages.build(env).await;

    let service = service_of(&h, "mix").await;
    assert_eq!(service.launch_type(), None);
    let strategy: Vec<(String, i32, i32)> = service
        .capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider().to_string(), i.base(), i.weight()))
        .collect();
    assert_eq!(
        strategy,
        vec![("FARGATE".into(), 1, 1), ("FARGATE_SPOT".into(), 0, 3)]
    );
    let td = h
        .plain_ecs()
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let platform = td.task_definition().unwrap().runtime_platform().unwrap();
    assert_eq!(
        platform.cpu_architecture().map(|a| a.as_str()),
        Some("ARM64")
    );
    assert_eq!(
        running_on(&h, "mix").await,
        [("FARGATE".to_string(), 1), ("FARGATE_SPOT".to_string(), 3)].into()
    );

    // All on Spot: one UpdateService that forces the deployment the change needs.
    spec["service"]["capacityProviderStrategy"] =
        serde_json::json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(h.recorder.mutating_operations(), ["UpdateService"]);
    let sent: serde_json::Value =
        serde_json::from_str(&h.recorder.of("UpdateService")[0].body).unwrap();
    assert_eq!(
        sent["capacityProviderStrategy"],
        serde_json::json!([{"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 1}])
    );
    assert_eq!(sent["forceNewDeployment"], true);
    until_ready(|| stages.service.status(env)).await;
    assert_eq!(
        running_on(&h, "mix").await,
        [("FARGATE_SPOT".to_string(), 4)].into()
    );
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());

    // No strategy: back on the launch type, with an empty strategy as ECS takes it.
    spec["service"]
        .as_object_mut()
        .unwrap()
        .remove("capacityProviderStrategy");
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(h.recorder.mutating_operations(), ["UpdateService"]);
    let sent: serde_json::Value =
        serde_json::from_str(&h.recorder.of("UpdateService")[0].body).unwrap();
    assert_eq!(sent["capacityProviderStrategy"], serde_json::json!([]));
    until_ready(|| stages.service.status(env)).await;
    assert_eq!(
        service_of(&h, "mix")
            .await
            .launch_type()
            .map(|l| l.as_str()),
        Some("FARGATE")
    );
    stages.tear_down(env).await;
}

/// The service's scalable target and its policies, as Application Auto Scaling reports them:
/// `(min, max)` and `(policy name, metric, target value, resource label)`.
async fn scaling_of(
    h: &Harness,
    env: &Names,
) -> (
    Option<(i32, i32)>,
    Vec<(String, String, f64, Option<String>)>,
) {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let scaling = h.plain_scaling();
    let id = env.scalable_service();
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .send()
        .await
        .unwrap();
    let limits = targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()));
    let policies = scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .send()
        .await
        .unwrap();
    let mut tracked: Vec<_> = policies
        .scaling_policies()
        .iter()
        .map(|p| {
            let c = p.target_tracking_scaling_policy_configuration().unwrap();
            let m = c.predefined_metric_specification().unwrap();
            (
                p.policy_name().to_string(),
                m.predefined_metric_type().as_str().to_string(),
                c.target_value(),
                m.resource_label().map(str::to_string),
            )
        })
        .collect();
    tracked.sort_by(|a, b| a.0.cmp(&b.0));
    (limits, tracked)
}

/// Autoscaling between the spec's limits: a new service starts within them, the count
/// autoscaling sets survives re-applies and redeploys, a changed target or limit is the one call
/// it needs, and dropping autoscaling deregisters the target and restores the spec's count.
#[tokio::test]
async fn autoscaling_owns_the_task_count_and_changes_are_the_calls_they_need() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named("scaled");
    spec["service"]["desiredCount"] = 1.into();
    spec["service"]["autoScaling"] = serde_json::json!({
        "minTasks": 2, "maxTasks": 6, "targetCpuPercent": 60, "targetRequestsPerTask": 500
    });
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("scaled");
    let stages = Stages::of(&h);
    stages.build(env).await;

    // The count starts at the minimum, not the spec's 1.
    assert_eq!(service_of(&h, "scaled").await.desired_count(), 2);
    let lb_arn = store
        .stage_outputs(env, "alb")
        .await
        .unwrap()
        .get("load-balancer-arn")
        .unwrap()
        .to_parameter_value();
    let tg_arn = service_of(&h, "scaled").await.load_balancers()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let label = format!(
        "{}/targetgroup/{}",
        lb_arn.split_once(":loadbalancer/").unwrap().1,
        tg_arn.split_once(":targetgroup/").unwrap().1
    );
    let (limits, policies) = scaling_of(&h, env).await;
    assert_eq!(limits, Some((2, 6)));
    assert_eq!(
        policies,
        vec![
            (
                "scaled-scaling-cpu".to_string(),
                "ECSServiceAverageCPUUtilization".to_string(),
                60.0,
                None
            ),
            (
                "scaled-scaling-requests".to_string(),
                "ALBRequestCountPerTarget".to_string(),
                500.0,
                Some(label)
            ),
        ]
    );

    // Autoscaling scales out (its activity is an UpdateService); a re-apply leaves the count.
    h.plain_ecs()
        .update_service()
        .cluster("scaled")
        .service("scaled")
        .desired_count(4)
        .send()
        .await
        .unwrap();
    until_ready(|| stages.service.status(env)).await;
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());
    assert_eq!(service_of(&h, "scaled").await.desired_count(), 4);

    // A redeploy rolls the image and sends no count either.
    let digest = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{}",
        "a".repeat(64)
    );
    h.recorder.clear();
    stages
        .service
        .redeploy(env, &digest, Some("2026-11-29T12:00:00Z"))
        .await
        .unwrap();
    let sent: Vec<serde_json::Value> = h
        .recorder
        .of("UpdateService")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].get("desiredCount").is_none(), "{sent:?}");
    assert_eq!(service_of(&h, "scaled").await.desired_count(), 4);

    // A new CPU target is one PutScalingPolicy (and the stage's record of its limits).
    spec["service"]["autoScaling"]["targetCpuPercent"] = 50.into();
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(
        h.recorder.mutating_operations(),
        ["PutScalingPolicy", "PutParameter"]
    );
    assert_eq!(scaling_of(&h, env).await.1[0].2, 50.0);

    // A minimum above the count is one RegisterScalableTarget, and AWS scales out to it.
    spec["service"]["autoScaling"]["minTasks"] = 5.into();
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(
        h.recorder.mutating_operations(),
        ["RegisterScalableTarget", "PutParameter"]
    );
    assert_eq!(scaling_of(&h, env).await.0, Some((5, 6)));
    assert_eq!(service_of(&h, "scaled").await.desired_count(), 5);

    // A target dropped from the spec is one DeleteScalingPolicy.
    spec["service"]["autoScaling"]
        .as_object_mut()
        .unwrap()
        .remove("targetRequestsPerTask");
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    assert_eq!(
        h.recorder.mutating_operations(),
        ["DeleteScalingPolicy", "PutParameter"]
    );
    assert_eq!(scaling_of(&h, env).await.1.len(), 1);

    // No autoscaling: the target goes with its policies and the spec's count is back.
    spec["service"]
        .as_object_mut()
        .unwrap()
        .remove("autoScaling");
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    let mut sent = h.recorder.mutating_operations();
    sent.sort();
    assert_eq!(
        sent,
        ["DeregisterScalableTarget", "PutParameter", "UpdateService"]
    );
    assert_eq!(scaling_of(&h, env).await, (None, vec![]));
    assert_eq!(service_of(&h, "scaled").await.desired_count(), 1);
    stages.tear_down(env).await;
}

/// The environment's NAT gateways that are not deleted: `(id, state, subnet, allocation)`.
async fn nat_gateways_of(h: &Harness, env: &Names) -> Vec<(String, String, String, String)> {
    let vpc = h
        .plain_ec2()
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name("tag:fargate-provisioner:environment")
                .values(env.environment())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let Some(vpc_id) = vpc.vpcs().first().and_then(|v| v.vpc_id()) else {
        return vec![];
    };
    let found = h
        .plain_ec2()
        .describe_nat_gateways()
        .filter(Filter::builder().name("vpc-id").values(vpc_id).build())
        .send()
        .await
        .unwrap();
    let mut gateways: Vec<_> = found
        .nat_gateways()
        .iter()
        .filter(|g| g.state().map(|s| s.as_str()) != Some("deleted"))
        .map(|g| {
            (
                g.nat_gateway_id().unwrap().to_string(),
                g.state().unwrap().as_str().to_string(),
                g.subnet_id().unwrap().to_string(),
                g.nat_gateway_addresses()[0]
                    .allocation_id()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    gateways.sort();
    gateways
}

/// Where each private route table of the environment sends 0.0.0.0/0 (`None`: nowhere), by table.
async fn private_default_routes(
    h: &Harness,
    store: &SsmStore,
    env: &Names,
) -> Vec<(String, Option<String>)> {
    let outputs = store.stage_outputs(env, "network").await.unwrap();
    let ids = outputs
        .get("private-route-table-ids")
        .unwrap()
        .values()
        .to_vec();
    let tables = h
        .plain_ec2()
        .describe_route_tables()
        .set_route_table_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let mut routes: Vec<_> = tables
        .route_tables()
        .iter()
        .map(|t| {
            let nat = t
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .and_then(|r| r.nat_gateway_id().map(str::to_string));
            (t.route_table_id().unwrap().to_string(), nat)
        })
        .collect();
    routes.sort();
    routes
}

/// Outbound internet: a NAT gateway per zone of the private subnets, each in a public subnet of
/// its zone with an Elastic IP of its own. The network stage applies again while they are
/// pending (a route to a pending gateway is refused), then each zone's private table routes to
/// its gateway. A re-apply is quiet; ONE keeps one gateway; NONE removes the routes, the gateway
/// and its address; a destroy leaves nothing.
#[tokio::test]
async fn nat_gateways_give_the_private_subnets_the_internet_and_go_when_the_spec_drops_them() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named("egress");
    // An image outside ECR is allowed once the tasks have the internet.
    spec["service"]["image"] = "public.example.com/team/web:1.0".into();
    spec["network"] = serde_json::json!({
        "natGateways": "PER_ZONE",
        "publicSubnets": [{"cidr": "10.0.0.0/24", "availabilityZone": "a"},
                          {"cidr": "10.0.3.0/24", "availabilityZone": "b"}],
        "privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "a"},
                           {"cidr": "10.0.2.0/24", "availabilityZone": "b"}]
    });
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("egress");
    let network = NetworkStage::new(h.ec2(), h.context());

    let first = network.apply(env).await.unwrap();
    assert_eq!(first.state, Readiness::Pending, "{}", first.message);
    assert!(first.message.contains("(pending)"), "{}", first.message);
    until_ready(|| network.apply(env)).await;
    let gateways = nat_gateways_of(&h, env).await;
    assert_eq!(gateways.len(), 2, "{gateways:?}");
    assert!(gateways.iter().all(|g| g.1 == "available"), "{gateways:?}");
    let outputs = store.stage_outputs(env, "network").await.unwrap();
    let public = outputs.get("public-subnet-ids").unwrap().values().to_vec();
    let mut in_subnets: Vec<String> = gateways.iter().map(|g| g.2.clone()).collect();
    in_subnets.sort();
    let mut public_sorted = public.clone();
    public_sorted.sort();
    assert_eq!(
        in_subnets, public_sorted,
        "one in each zone's public subnet"
    );
    let routes = private_default_routes(&h, &store, env).await;
    assert_eq!(routes.len(), 2, "a private table per zone: {routes:?}");
    let mut routed: Vec<String> = routes.iter().filter_map(|r| r.1.clone()).collect();
    routed.sort();
    let mut ids: Vec<String> = gateways.iter().map(|g| g.0.clone()).collect();
    ids.sort();
    assert_eq!(routed, ids, "each zone's table routes to its own gateway");

    h.recorder.clear();
    ready(network.apply(env).await.unwrap());
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());

    // NONE: one private table without a route out again; the gateways go, then their addresses,
    // and the cleanup deletes the per-zone tables.
    spec["network"]["natGateways"] = "NONE".into();
    spec["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest".into();
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    until_ready(|| network.apply(env)).await;
    let sent = h.recorder.mutating_operations();
    for expected in ["CreateRouteTable", "DeleteNatGateway", "ReleaseAddress"] {
        assert!(sent.iter().any(|op| op == expected), "{expected}: {sent:?}");
    }
    assert_eq!(nat_gateways_of(&h, env).await, vec![]);
    let routes = private_default_routes(&h, &store, env).await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].1, None);
    let cleaned = network.cleanup(env).await.unwrap();
    ready(cleaned.clone());
    assert!(
        cleaned.message.contains("private-route-table-us-east-1a"),
        "{}",
        cleaned.message
    );
    assert!(
        cleaned.message.contains("private-route-table-us-east-1b"),
        "{}",
        cleaned.message
    );

    // A destroy leaves nothing tagged.
    until_ready(|| network.destroy(env)).await;
    store.delete_spec(env).await.unwrap();
    assert_eq!(
        ec2_leftovers(&h.plain_ec2(), env.environment()).await,
        Vec::<String>::new()
    );
}

/// The zone's records as `(type, name, target)`, the target an alias's DNS name or the values.
async fn records_of(h: &Harness, zone: &str) -> Vec<(String, String, String)> {
    let listed = h
        .plain_route53()
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    listed
        .resource_record_sets()
        .iter()
        .filter(|r| !matches!(r.r#type().as_str(), "NS" | "SOA"))
        .map(|r| {
            let target = match r.alias_target() {
                Some(alias) => alias.dns_name().to_string(),
                None => r
                    .resource_records()
                    .iter()
                    .map(|v| v.value())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            (
                r.r#type().as_str().to_string(),
                r.name().to_string(),
                target,
            )
        })
        .collect()
}

/// The certificate the load balancer's HTTPS listener serves.
async fn https_certificate(h: &Harness, lb_arn: &str) -> Option<String> {
    let listeners = h
        .plain_elbv2()
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(443))
        .and_then(|l| l.certificates().first())
        .and_then(|c| c.certificate_arn())
        .map(str::to_string)
}

/// The certificates of the account for `domain`, with their status.
async fn certificates_for(h: &Harness, domain: &str) -> Vec<(String, String)> {
    let listed = h.plain_acm().list_certificates().send().await.unwrap();
    listed
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(domain))
        .map(|c| {
            (
                c.certificate_arn().unwrap_or_default().to_string(),
                c.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_domain_gets_a_validated_certificate_https_and_an_alias_and_leaves_nothing_behind() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let zone = test_support::dns::hosted_zone(&h.plain_route53(), "example.com").await;
    let mut spec = spec_named("named");
    spec["alb"] = serde_json::json!({"domain": {"name": "shop.example.com", "hostedZoneId": zone}});
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("named");
    let stages = Stages::of(&h);
    ready(stages.network.apply(env).await.unwrap());

    // ACM publishes the validation record a few seconds after the request, and issues the
    // certificate only once the record is in the zone: until then HTTP forwards, and the stage
    // is applied again.
    let first = stages.alb.apply(env).await.unwrap();
    assert_eq!(first.state, Readiness::Pending, "{}", first.message);
    assert_eq!(
        first.outputs["url"].values(),
        vec!["http://shop.example.com".to_string()]
    );
    until_ready(|| stages.alb.apply(env)).await;
    let certificates = certificates_for(&h, "shop.example.com").await;
    assert_eq!(certificates.len(), 1, "{certificates:?}");
    let (certificate, status) = certificates[0].clone();
    assert_eq!(status, "ISSUED");
    assert_eq!(h.recorder.of("RequestCertificate").len(), 1);

    let outputs = store.stage_outputs(env, "alb").await.unwrap();
    assert_eq!(
        outputs["url"].values(),
        vec!["https://shop.example.com".to_string()]
    );
    assert_eq!(
        outputs["certificate-arn"].values(),
        vec![certificate.clone()]
    );
    let lb_dns = outputs["dns-name"].values()[0].clone();
    let records = records_of(&h, &zone).await;
    let alias = records
        .iter()
        .find(|r| r.0 == "A" && r.1 == "shop.example.com.")
        .unwrap_or_else(|| panic!("an alias record: {records:?}"));
    assert_eq!(alias.2.trim_end_matches('.'), lb_dns);
    assert!(
        records.iter().any(|r| r.0 == "CNAME"
            && r.1.ends_with(".shop.example.com.")
            && r.2.contains("acm-validations.aws")),
        "the validation record: {records:?}"
    );
    let lb_arn = outputs["load-balancer-arn"].values()[0].clone();
    let listeners = h
        .plain_elbv2()
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let mut served: Vec<(i32, String, Option<String>)> = listeners
        .listeners()
        .iter()
        .map(|l| {
            (
                l.port().unwrap_or_default(),
                l.default_actions()[0]
                    .r#type()
                    .unwrap()
                    .as_str()
                    .to_string(),
                l.certificates()
                    .first()
                    .and_then(|c| c.certificate_arn())
                    .map(str::to_string),
            )
        })
        .collect();
    served.sort();
    assert_eq!(
        served,
        vec![
            (80, "redirect".to_string(), None),
            (443, "forward".to_string(), Some(certificate.clone())),
        ]
    );

    // Applied again: nothing to change.
    h.recorder.clear();
    ready(stages.alb.apply(env).await.unwrap());
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());

    // Without the domain: HTTP forwards again, and the alias, the certificate and the
    // validation record go.
    spec["alb"] = serde_json::json!({});
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    until_ready(|| stages.alb.apply(env)).await;
    let sent = h.recorder.mutating_operations();
    for expected in [
        "ModifyListener",
        "DeleteListener",
        "ChangeResourceRecordSets",
        "DeleteCertificate",
    ] {
        assert!(sent.iter().any(|op| op == expected), "{expected}: {sent:?}");
    }
    assert_eq!(records_of(&h, &zone).await, vec![]);
    assert_eq!(certificates_for(&h, "shop.example.com").await, vec![]);
    let outputs = store.stage_outputs(env, "alb").await.unwrap();
    assert!(
        outputs["url"].values()[0].starts_with("http://"),
        "{outputs:?}"
    );

    // Back with the domain, then destroyed: nothing of it is left in the zone or in ACM.
    spec["alb"] = serde_json::json!({"domain": {"name": "shop.example.com", "hostedZoneId": zone}});
    store.submit_spec(&spec, &zones).await.unwrap();
    until_ready(|| stages.alb.apply(env)).await;
    assert_eq!(records_of(&h, &zone).await.len(), 2);

    // A new name: HTTPS keeps serving the old certificate until the new one is issued, then the
    // old name's alias, certificate and validation record go.
    let old = certificates_for(&h, "shop.example.com").await[0].0.clone();
    spec["alb"]["domain"]["name"] = "store.example.com".into();
    store.submit_spec(&spec, &zones).await.unwrap();
    let pending = stages.alb.apply(env).await.unwrap();
    assert_eq!(pending.state, Readiness::Pending, "{}", pending.message);
    assert_eq!(https_certificate(&h, &lb_arn).await, Some(old.clone()));
    until_ready(|| stages.alb.apply(env)).await;
    let new = certificates_for(&h, "store.example.com").await;
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(https_certificate(&h, &lb_arn).await, Some(new[0].0.clone()));
    assert_eq!(certificates_for(&h, "shop.example.com").await, vec![]);
    let names: Vec<String> = records_of(&h, &zone)
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with("store.example.com.")),
        "{names:?}"
    );
    until_ready(|| stages.alb.destroy(env)).await;
    assert_eq!(records_of(&h, &zone).await, vec![]);
    assert_eq!(certificates_for(&h, "shop.example.com").await, vec![]);
    until_ready(|| stages.network.destroy(env)).await;
    store.delete_spec(env).await.unwrap();
    assert_eq!(
        test_support::stored_parameters(&h.plain_ssm(), env.environment()).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_domain_refuses_a_record_that_is_not_ours_and_a_zone_that_does_not_hold_it() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let zone = test_support::dns::hosted_zone(&h.plain_route53(), "example.org").await;
    let zones = h.region_zones().await;
    let env = &Names::new("taken");
    let stages = Stages::of(&h);
    let mut spec = spec_named("taken");

    // A zone of another name: refused before anything is requested.
    spec["alb"] = serde_json::json!({"domain": {"name": "shop.example.net", "hostedZoneId": zone}});
    store.submit_spec(&spec, &zones).await.unwrap();
    ready(stages.network.apply(env).await.unwrap());
    let wrong = stages.alb.apply(env).await.unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Validation, "{wrong}");
    assert!(
        wrong.to_string().contains("alb.domain.hostedZoneId"),
        "{wrong}"
    );
    assert!(wrong.to_string().contains("example.org"), "{wrong}");
    assert_eq!(h.recorder.of("RequestCertificate").len(), 0);

    // The name already points elsewhere: the stage stops and says so, leaving it alone.
    test_support::dns::put_record(
        &h.plain_route53(),
        &zone,
        "www.example.org",
        aws_sdk_route53::types::RrType::A,
        "192.0.2.10",
    )
    .await;
    spec["alb"] = serde_json::json!({"domain": {"name": "www.example.org", "hostedZoneId": zone}});
    store.submit_spec(&spec, &zones).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let taken = loop {
        match stages.alb.apply(env).await {
            Err(e) => break e,
            Ok(s) => {
                assert_eq!(s.state, Readiness::Pending, "{}", s.message);
                assert!(Instant::now() < deadline, "{}", s.message);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(taken.to_string().contains("alb.domain.name"), "{taken}");
    assert!(taken.to_string().contains("192.0.2.10"), "{taken}");
    let records = records_of(&h, &zone).await;
    assert!(
        records.contains(&("A".into(), "www.example.org.".into(), "192.0.2.10".into())),
        "{records:?}"
    );
    until_ready(|| stages.alb.destroy(env)).await;
    let records = records_of(&h, &zone).await;
    assert_eq!(
        records,
        vec![(
            "A".to_string(),
            "www.example.org.".to_string(),
            "192.0.2.10".to_string()
        )],
        "the user's record stays, the validation record goes"
    );
    assert_eq!(certificates_for(&h, "www.example.org").await, vec![]);
    until_ready(|| stages.network.destroy(env)).await;
    store.delete_spec(env).await.unwrap();
}

/// The environment's rollback alarms as `(name, threshold, state)`.
async fn rollback_alarms_of(h: &Harness, env: &Names) -> Vec<(String, f64, String)> {
    let found = h
        .plain_cloudwatch()
        .describe_alarms()
        .alarm_name_prefix(format!("{}-rollback-", env.environment()))
        .send()
        .await
        .unwrap();
    let mut alarms: Vec<(String, f64, String)> = found
        .metric_alarms()
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default().to_string(),
                a.threshold().unwrap_or_default(),
                a.state_value()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    alarms.sort_by(|a, b| a.0.cmp(&b.0));
    alarms
}

#[tokio::test]
async fn rollback_alarms_are_watched_and_one_in_alarm_rolls_a_redeploy_back_with_the_reason() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named("guarded");
    spec["service"]["rollbackAlarms"] = serde_json::json!({
        "max5xxPercent": 2, "maxResponseTimeSeconds": 1.5, "evaluationPeriods": 2});
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("guarded");
    let stages = Stages::of(&h);
    stages.build(env).await;

    // Two alarms on the target group, and the service's deployments watch them.
    let alarms = rollback_alarms_of(&h, env).await;
    let names: Vec<&str> = alarms.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(names, ["guarded-rollback-5xx", "guarded-rollback-latency"]);
    assert_eq!((alarms[0].1, alarms[1].1), (2.0, 1.5));
    let service = service_of(&h, "guarded").await;
    let watched = service
        .deployment_configuration()
        .and_then(|c| c.alarms())
        .expect("the deployments watch alarms");
    assert!(watched.enable() && watched.rollback());
    assert_eq!(watched.alarm_names(), names);
    let first_task_definition = service.task_definition().unwrap().to_string();

    h.recorder.clear();
    ready(stages.service.apply(env).await.unwrap());
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());

    // A new image whose tasks answer with errors: the 5xx alarm goes into ALARM while they
    // serve, the rollout fails, ECS rolls back, and the stage says why.
    spec["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:broken".into();
    store.submit_spec(&spec, &zones).await.unwrap();
    stages.service.apply(env).await.unwrap();
    h.plain_cloudwatch()
        .set_alarm_state()
        .alarm_name("guarded-rollback-5xx")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("5xx answers of the new tasks")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let failure = loop {
        match stages.service.status(env).await {
            Err(e) => break e,
            Ok(s) => assert!(Instant::now() < deadline, "{}", s.message),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failure.kind(), ErrorKind::DeploymentFailed, "{failure}");
    let message = failure.to_string();
    for expected in [
        "guarded-rollback-5xx",
        "in ALARM state",
        "Fix: a rollback alarm",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    let rolled_back = service_of(&h, "guarded").await;
    assert_eq!(
        rolled_back.task_definition(),
        Some(first_task_definition.as_str())
    );

    // Without rollbackAlarms: the deployments stop watching, and the alarms go.
    spec["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest".into();
    spec["service"]
        .as_object_mut()
        .unwrap()
        .remove("rollbackAlarms");
    store.submit_spec(&spec, &zones).await.unwrap();
    h.recorder.clear();
    stages.service.apply(env).await.unwrap();
    let sent = h.recorder.mutating_operations();
    assert!(sent.contains(&"DeleteAlarms".to_string()), "{sent:?}");
    assert_eq!(rollback_alarms_of(&h, env).await, vec![]);
    let unwatched = service_of(&h, "guarded").await;
    assert!(
        unwatched
            .deployment_configuration()
            .and_then(|c| c.alarms())
            .is_none_or(|a| !a.enable()),
        "{unwatched:?}"
    );
    stages.tear_down(env).await;
}

#[tokio::test]
async fn a_domain_with_a_given_certificate_gets_only_its_alias() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let route53 = h.plain_route53();
    let zone = test_support::dns::hosted_zone(&route53, "example.io").await;
    // The user's own certificate, issued before.
    let acm = h.plain_acm();
    let given = acm
        .request_certificate()
        .domain_name("api.example.io")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let detail = acm
            .describe_certificate()
            .certificate_arn(&given)
            .send()
            .await
            .unwrap();
        let detail = detail.certificate().unwrap();
        if detail.status().map(|s| s.as_str()) == Some("ISSUED") {
            break;
        }
        if let Some(record) = detail.domain_validation_options()[0].resource_record() {
            test_support::dns::put_record(
                &route53,
                &zone,
                record.name(),
                aws_sdk_route53::types::RrType::Cname,
                record.value(),
            )
            .await;
        }
        assert!(Instant::now() < deadline, "the given certificate is issued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records_before = records_of(&h, &zone).await;

    let mut spec = spec_named("given");
    spec["alb"] = serde_json::json!({"certificateArn": given,
        "domain": {"name": "api.example.io", "hostedZoneId": zone}});
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("given");
    let stages = Stages::of(&h);
    ready(stages.network.apply(env).await.unwrap());
    ready(stages.alb.apply(env).await.unwrap());
    assert_eq!(h.recorder.of("RequestCertificate").len(), 0);
    let outputs = store.stage_outputs(env, "alb").await.unwrap();
    assert_eq!(
        outputs["url"].values(),
        vec!["https://api.example.io".to_string()]
    );
    assert!(!outputs.contains_key("certificate-arn"), "{outputs:?}");
    let lb_arn = outputs["load-balancer-arn"].values()[0].clone();
    assert_eq!(https_certificate(&h, &lb_arn).await, Some(given.clone()));
    let records = records_of(&h, &zone).await;
    assert!(
        records
            .iter()
            .any(|r| r.0 == "A" && r.1 == "api.example.io."),
        "{records:?}"
    );

    // Destroyed: the alias goes; the user's certificate and its validation record stay.
    until_ready(|| stages.alb.destroy(env)).await;
    assert_eq!(records_of(&h, &zone).await, records_before);
    assert_eq!(certificates_for(&h, "api.example.io").await.len(), 1);
    until_ready(|| stages.network.destroy(env)).await;
    store.delete_spec(env).await.unwrap();
}

/// The production listener rule's target groups by name, with their weights, and the listener
/// port it is on.
async fn production_weights(h: &Harness, env: &Names) -> Option<(i32, Vec<(String, i32)>)> {
    let elb = h.plain_elbv2();
    let lbs = elb
        .describe_load_balancers()
        .names(env.load_balancer())
        .send()
        .await
        .unwrap();
    let lb_arn = lbs.load_balancers()[0].load_balancer_arn().unwrap();
    let groups = elb
        .describe_target_groups()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    let name_of = |arn: &str| {
        groups
            .target_groups()
            .iter()
            .find(|g| g.target_group_arn() == Some(arn))
            .and_then(|g| g.target_group_name())
            .unwrap_or(arn)
            .to_string()
    };
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    for listener in listeners.listeners() {
        let rules = elb
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap())
            .send()
            .await
            .unwrap();
        if let Some(rule) = rules.rules().iter().find(|r| r.priority() == Some("10")) {
            let mut weights: Vec<(String, i32)> = rule.actions()[0]
                .forward_config()
                .unwrap()
                .target_groups()
                .iter()
                .map(|g| (name_of(g.target_group_arn().unwrap()), g.weight().unwrap()))
                .collect();
            weights.sort();
            return Some((listener.port().unwrap(), weights));
        }
    }
    None
}

/// The service's events, oldest first, that tell of traffic shifts and rollbacks.
async fn shift_events(h: &Harness, env: &str) -> Vec<String> {
    let mut events: Vec<String> = service_of(h, env)
        .await
        .events()
        .iter()
        .filter_map(|e| e.message())
        .filter(|m| m.contains("production traffic"))
        .map(|m| m.split_once(") ").map_or(m, |(_, rest)| rest).to_string())
        .collect();
    events.reverse();
    events
}

/// Waits until the stage's status fails, and answers the error.
async fn until_failed(stages: &Stages, env: &Names) -> ProvisionError {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match stages.service.status(env).await {
            Err(e) => return e,
            Ok(s) => assert!(Instant::now() < deadline, "{}", s.message),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A traffic-shifting rollout end to end: the alternate target group and the production rule
/// made with the service; a quiet re-apply; a redeploy whose traffic moves as `shifts` says,
/// which ECS's later re-weighting of the rule does not make the ALB stage undo; a redeploy
/// under a raised alarm that puts the traffic back and says why.
async fn a_rollout_shifts_traffic(name: &str, rollout: serde_json::Value, shifts: &[&str]) {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named(name);
    spec["service"]["desiredCount"] = 2.into();
    spec["service"]["rollout"] = rollout.clone();
    spec["service"]["rollbackAlarms"] = serde_json::json!({});
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new(name);
    let stages = Stages::of(&h);
    stages.build(env).await;
    let primary = env.target_group();
    let alternate = env.alternate_target_group();

    // All traffic on the service's first target group; the deployments are ECS's strategy.
    assert_eq!(
        production_weights(&h, env).await,
        Some((80, vec![(primary.clone(), 100), (alternate.clone(), 0)]))
    );
    let service = service_of(&h, name).await;
    let config = service.deployment_configuration().unwrap();
    assert_eq!(
        config.strategy().map(|s| s.as_str()),
        rollout["strategy"].as_str()
    );
    let advanced = service.load_balancers()[0]
        .advanced_configuration()
        .unwrap();
    assert!(advanced
        .alternate_target_group_arn()
        .unwrap()
        .contains(&alternate));
    assert!(advanced
        .role_arn()
        .unwrap()
        .ends_with("/ecs-load-balancers"));
    let first_task_definition = service.task_definition().unwrap().to_string();
    // The tasks move between the groups: the alarms watch the whole load balancer.
    let alarms = h
        .plain_cloudwatch()
        .describe_alarms()
        .alarm_names(format!("{name}-rollback-latency"))
        .send()
        .await
        .unwrap();
    let dimensions: Vec<&str> = alarms.metric_alarms()[0]
        .dimensions()
        .iter()
        .filter_map(|d| d.name())
        .collect();
    assert_eq!(dimensions, ["LoadBalancer"]);

    h.recorder.clear();
    ready(stages.alb.apply(env).await.unwrap());
    ready(stages.service.apply(env).await.unwrap());
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());

    // A new image: its tasks start in the alternate group and the traffic moves to them.
    spec["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2".into();
    store.submit_spec(&spec, &zones).await.unwrap();
    stages.service.apply(env).await.unwrap();
    until_ready(|| stages.service.status(env)).await;
    assert_eq!(shift_events(&h, name).await, shifts);
    assert_eq!(
        production_weights(&h, env).await,
        Some((80, vec![(primary.clone(), 0), (alternate.clone(), 100)]))
    );
    // ECS owns the weights now: the ALB stage leaves them.
    h.recorder.clear();
    ready(stages.alb.apply(env).await.unwrap());
    assert_eq!(h.recorder.mutating_operations(), Vec::<String>::new());
    let second_task_definition = service_of(&h, name)
        .await
        .task_definition()
        .unwrap()
        .to_string();
    assert_ne!(second_task_definition, first_task_definition);

    // A broken image: the 5xx alarm goes into ALARM while the new tasks run, the traffic goes
    // back to the tasks that served it, and the stage says why.
    spec["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:broken".into();
    store.submit_spec(&spec, &zones).await.unwrap();
    stages.service.apply(env).await.unwrap();
    h.plain_cloudwatch()
        .set_alarm_state()
        .alarm_name(format!("{name}-rollback-5xx"))
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("5xx answers of the new tasks")
        .send()
        .await
        .unwrap();
    let failure = until_failed(&stages, env).await;
    assert_eq!(failure.kind(), ErrorKind::DeploymentFailed, "{failure}");
    let message = failure.to_string();
    for expected in [format!("{name}-rollback-5xx"), "in ALARM state".to_string()] {
        assert!(message.contains(&expected), "{expected:?} in {message}");
    }
    assert_eq!(
        service_of(&h, name).await.task_definition(),
        Some(second_task_definition.as_str())
    );
    assert_eq!(
        production_weights(&h, env).await,
        Some((80, vec![(primary.clone(), 0), (alternate.clone(), 100)]))
    );
    let events = shift_events(&h, name).await;
    assert!(
        events
            .last()
            .unwrap()
            .starts_with("rolled back to deployment"),
        "{events:?}"
    );
    h.plain_cloudwatch()
        .set_alarm_state()
        .alarm_name(format!("{name}-rollback-5xx"))
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("recovered")
        .send()
        .await
        .unwrap();

    // Back to rolling in place is refused, with what to do, before the load balancer or the
    // service changes (the task definition of the image is the groundwork's, made before).
    let mut rolling = spec.clone();
    rolling["service"]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2".into();
    rolling["service"]["rollout"] = serde_json::json!({"strategy": "ROLLING"});
    store.submit_spec(&rolling, &zones).await.unwrap();
    h.recorder.clear();
    ready(stages.alb.apply(env).await.unwrap());
    let refused = stages.service.apply(env).await.unwrap_err();
    assert!(
        refused.to_string().contains("service.rollout.strategy"),
        "{refused}"
    );
    let sent = h.recorder.mutating_operations();
    assert!(
        sent.iter()
            .all(|op| op == "PutParameter" || op == "RegisterTaskDefinition"),
        "{sent:?}"
    );
    assert!(production_weights(&h, env).await.is_some());

    // Destroy leaves neither target group.
    stages.tear_down(env).await;
    let left = h
        .plain_elbv2()
        .describe_target_groups()
        .send()
        .await
        .unwrap();
    assert!(left.target_groups().iter().all(|g| !g
        .target_group_name()
        .unwrap_or_default()
        .starts_with(&format!("{name}-"))));
}

#[tokio::test]
async fn blue_green_moves_all_traffic_at_once_and_back_on_an_alarm() {
    a_rollout_shifts_traffic(
        "bluegreen",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeMinutes": 1}),
        &["shifted 100% of production traffic to target group bluegreen-tg2."],
    )
    .await;
}

#[tokio::test]
async fn canary_moves_its_share_then_the_rest_and_back_on_an_alarm() {
    a_rollout_shifts_traffic(
        "canary",
        serde_json::json!({"strategy": "CANARY", "canaryPercent": 20,
                           "canaryBakeTimeMinutes": 1, "bakeTimeMinutes": 1}),
        &[
            "shifted 20% of production traffic to target group canary-tg2.",
            "shifted 100% of production traffic to target group canary-tg2.",
        ],
    )
    .await;
}

#[tokio::test]
async fn linear_moves_step_by_step_and_back_on_an_alarm() {
    a_rollout_shifts_traffic(
        "linear",
        serde_json::json!({"strategy": "LINEAR", "stepPercent": 40,
                           "stepBakeTimeMinutes": 1, "bakeTimeMinutes": 0}),
        &[
            "shifted 40% of production traffic to target group linear-tg2.",
            "shifted 80% of production traffic to target group linear-tg2.",
            "shifted 100% of production traffic to target group linear-tg2.",
        ],
    )
    .await;
}

/// The calls of the stages' apply, without the stage outputs they write.
async fn changes_of(
    h: &Harness,
    apply: impl Future<Output = Result<StageSummary, ProvisionError>>,
) -> Vec<String> {
    h.recorder.clear();
    apply.await.unwrap();
    h.recorder
        .mutating_operations()
        .into_iter()
        .filter(|op| op != "PutParameter" && op != "DeleteParameter")
        .collect()
}

/// From rolling to canary, the ALB stage adds the alternate target group and the production
/// rule and the service is one UpdateService, whose deployment already shifts traffic; from
/// canary to linear, the service's deployment configuration is one UpdateService that starts no
/// deployment.
#[tokio::test]
async fn a_changed_rollout_is_only_the_calls_it_needs() {
    let h = realistic().await;
    let store = SsmStore::new(h.ssm());
    let mut spec = spec_named("switch");
    let zones = h.region_zones().await;
    store.submit_spec(&spec, &zones).await.unwrap();
    let env = &Names::new("switch");
    let stages = Stages::of(&h);
    stages.build(env).await;
    assert_eq!(production_weights(&h, env).await, None);

    spec["service"]["rollout"] = serde_json::json!({"strategy": "CANARY", "canaryPercent": 50,
        "canaryBakeTimeMinutes": 1, "bakeTimeMinutes": 0});
    store.submit_spec(&spec, &zones).await.unwrap();
    assert_eq!(
        changes_of(&h, stages.alb.apply(env)).await,
        [
            "CreateTargetGroup",
            "ModifyTargetGroupAttributes",
            "CreateRule"
        ]
    );
    assert_eq!(
        changes_of(&h, stages.service.apply(env)).await,
        ["UpdateService"]
    );
    until_ready(|| stages.service.status(env)).await;
    assert_eq!(
        shift_events(&h, "switch").await,
        [
            "shifted 50% of production traffic to target group switch-tg2.",
            "shifted 100% of production traffic to target group switch-tg2.",
        ]
    );

    spec["service"]["rollout"] = serde_json::json!({"strategy": "LINEAR", "stepPercent": 25});
    store.submit_spec(&spec, &zones).await.unwrap();
    assert_eq!(
        changes_of(&h, stages.alb.apply(env)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        changes_of(&h, stages.service.apply(env)).await,
        ["UpdateService"]
    );
    let service = service_of(&h, "switch").await;
    assert_eq!(service.deployments().len(), 1);
    let linear = service
        .deployment_configuration()
        .and_then(|c| c.linear_configuration())
        .unwrap();
    assert_eq!(
        (linear.step_percent(), linear.step_bake_time_in_minutes()),
        (Some(25.0), Some(6))
    );
    assert_eq!(
        changes_of(&h, stages.service.apply(env)).await,
        Vec::<String>::new()
    );

    // The circuit breaker's threshold: one UpdateService, then quiet.
    spec["service"]["circuitBreaker"] = serde_json::json!({"failedTasks": 2});
    store.submit_spec(&spec, &zones).await.unwrap();
    assert_eq!(
        changes_of(&h, stages.service.apply(env)).await,
        ["UpdateService"]
    );
    let threshold = service_of(&h, "switch")
        .await
        .deployment_configuration()
        .and_then(|c| c.deployment_circuit_breaker())
        .and_then(|b| b.threshold_configuration())
        .map(|t| (t.r#type().as_str().to_string(), t.value()));
    assert_eq!(threshold, Some(("COUNT".to_string(), 2)));
    assert_eq!(
        changes_of(&h, stages.service.apply(env)).await,
        Vec::<String>::new()
    );
    stages.tear_down(env).await;
}
