//! The local world behaves like AWS: for every behaviour of the table
//! (support/local-aws/src/world.rs), a raw SDK call sees the state, the error code and the message
//! AWS documents. Emulator behaviours share one realistic emulator (a fast clock, names of their
//! own); IAM, faults and the deploy rehearsal run in a local system.

use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, UserIdGroupPair, VpcEndpointType,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType, LoadBalancer, LogConfiguration,
    LogDriver, NetworkConfiguration, NetworkMode, PortMapping,
};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum, TargetTypeEnum};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use local_aws::{Emulator, EmulatorOptions, World};
use serde_json::json;

const SCALE: f64 = 100.0;
const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn world() -> World {
    // Quotas get their own emulator below: the shared one holds every test's VPCs.
    World::realistic()
        .with_scale(SCALE)
        .with_value("quotas", "vpcsPerRegion", json!(1000))
        .with_value("quotas", "internetGatewaysPerRegion", json!(1000))
}

fn emulator() -> &'static Emulator {
    Emulator::shared(EmulatorOptions {
        world: Some(world()),
        ..Default::default()
    })
    .expect("the emulator starts")
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    ecs: aws_sdk_ecs::Client,
    sfn: aws_sdk_sfn::Client,
    ssm: aws_sdk_ssm::Client,
}

async fn clients_in(emulator: &Emulator, region: &str) -> Clients {
    let config = emulator.sdk_config(region).await;
    Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
        ecs: aws_sdk_ecs::Client::new(&config),
        sfn: aws_sdk_sfn::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
    }
}

async fn clients() -> Clients {
    clients_in(emulator(), "us-east-1").await
}

/// Waits until `seconds` of world time have passed.
async fn wait_world(emulator: &Emulator, seconds: f64) {
    let until = emulator.world_now().unwrap() + seconds;
    while emulator.world_now().unwrap() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that AWS refused the call with `code` and `message`.
fn assert_refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
    message: impl AsRef<str>,
) {
    let (got_code, got_message) = refusal(result);
    assert_eq!(
        (got_code.as_str(), got_message.as_str()),
        (code, message.as_ref())
    );
}

/// The code and message of a failed call.
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> (String, String) {
    let err = result.expect_err("AWS refuses this call");
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

fn on() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

/// A VPC with DNS on, a private subnet and its route table, two public subnets, and the groups of
/// the reference design; waited past eventual consistency.
struct Network {
    vpc: String,
    private: String,
    private_table: String,
    public: Vec<String>,
    alb_group: String,
    web_group: String,
    endpoint_group: String,
    gateway: String,
}

async fn network(c: &Clients, cidr_second_octet: u8) -> Network {
    let e = emulator();
    let base = format!("10.{cidr_second_octet}");
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block(format!("{base}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    wait_world(e, 3.0).await;
    c.ec2
        .modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(on())
        .send()
        .await
        .unwrap();
    let subnet = |cidr: String, zone: &'static str| {
        let ec2 = c.ec2.clone();
        let vpc = vpc.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(zone)
                .send()
                .await
                .unwrap()
                .subnet()
                .unwrap()
                .subnet_id()
                .unwrap()
                .to_string()
        }
    };
    let private = subnet(format!("{base}.1.0/24"), "us-east-1a").await;
    let public = vec![
        subnet(format!("{base}.0.0/24"), "us-east-1a").await,
        subnet(format!("{base}.3.0/24"), "us-east-1c").await,
    ];
    let gateway = c.ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    let table = c
        .ec2
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let private_table = table
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    let group = |name: &'static str| {
        let ec2 = c.ec2.clone();
        let vpc = vpc.clone();
        async move {
            ec2.create_security_group()
                .group_name(name)
                .description(name)
                .vpc_id(vpc)
                .send()
                .await
                .unwrap()
                .group_id()
                .unwrap()
                .to_string()
        }
    };
    let (alb_group, web_group, endpoint_group) = (
        group("alb").await,
        group("web").await,
        group("endpoints").await,
    );
    wait_world(e, 3.0).await;
    c.ec2
        .attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    c.ec2
        .associate_route_table()
        .route_table_id(&private_table)
        .subnet_id(&private)
        .send()
        .await
        .unwrap();
    let from_group = |port: i32, group: &str| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
            .build()
    };
    c.ec2
        .authorize_security_group_ingress()
        .group_id(&web_group)
        .ip_permissions(from_group(80, &alb_group))
        .send()
        .await
        .unwrap();
    c.ec2
        .authorize_security_group_ingress()
        .group_id(&endpoint_group)
        .ip_permissions(from_group(443, &web_group))
        .send()
        .await
        .unwrap();
    Network {
        vpc,
        private,
        private_table,
        public,
        alb_group,
        web_group,
        endpoint_group,
        gateway,
    }
}

async fn interface_endpoint(c: &Clients, n: &Network, service: &str) -> String {
    c.ec2
        .create_vpc_endpoint()
        .vpc_id(&n.vpc)
        .service_name(format!("com.amazonaws.us-east-1.{service}"))
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .subnet_ids(&n.private)
        .security_group_ids(&n.endpoint_group)
        .private_dns_enabled(true)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string()
}

async fn endpoint_state(c: &Clients, id: &str) -> String {
    let found = c
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .unwrap();
    found.vpc_endpoints()[0]
        .state()
        .unwrap()
        .as_str()
        .to_ascii_lowercase()
}

async fn interfaces_in(c: &Clients, subnet: &str) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    let filter = Filter::builder().name("subnet-id").values(subnet).build();
    c.ec2
        .describe_network_interfaces()
        .filters(filter)
        .send()
        .await
        .unwrap()
        .network_interfaces()
        .to_vec()
}

#[tokio::test]
async fn time_step_functions_waits_last_their_aws_seconds_and_dates_are_world_time() {
    let e = emulator();
    e.post(
        "/moto-api/config",
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    )
    .unwrap();
    let c = clients().await;
    let definition =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 120, "End": true}}});
    let machine = c
        .sfn
        .create_state_machine()
        .name("wait-120")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/x")
        .send()
        .await
        .unwrap();
    let wall = std::time::Instant::now();
    let started = c
        .sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .unwrap();
    let described = loop {
        let d = c
            .sfn
            .describe_execution()
            .execution_arn(started.execution_arn())
            .send()
            .await
            .unwrap();
        if d.status().as_str() != "RUNNING" {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let aws_seconds =
        described.stop_date().unwrap().as_secs_f64() - described.start_date().as_secs_f64();
    assert!((120.0..130.0).contains(&aws_seconds), "{aws_seconds} AWS s");
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "{:?} here",
        wall.elapsed()
    );
}

#[tokio::test]
async fn api_latency_every_call_costs_world_time() {
    let e = emulator();
    let c = clients().await;
    let before = e.world_now().unwrap();
    for _ in 0..20 {
        c.ec2.describe_availability_zones().send().await.unwrap();
    }
    let spent = e.world_now().unwrap() - before;
    // 20 calls x 0.1 s, however fast this machine is.
    assert!(spent >= 2.0, "{spent}");
}

#[tokio::test]
async fn alb_lifecycle_a_new_load_balancer_provisions_before_it_is_active() {
    let c = clients().await;
    let n = network(&c, 11).await;
    let lb = c
        .elb
        .create_load_balancer()
        .name("life-alb")
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    let arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let state = || async {
        let d = c
            .elb
            .describe_load_balancers()
            .load_balancer_arns(&arn)
            .send()
            .await
            .unwrap();
        d.load_balancers()[0]
            .state()
            .unwrap()
            .code()
            .unwrap()
            .as_str()
            .to_string()
    };
    assert_eq!(state().await, "provisioning");
    wait_world(emulator(), 100.0).await;
    assert_eq!(state().await, "provisioning");
    wait_world(emulator(), 60.0).await;
    assert_eq!(state().await, "active");
}

#[tokio::test]
async fn alb_answers_its_name_answers_as_the_load_balancer_would() {
    use service_stage::url_check::{answer, Answer};
    let c = clients().await;
    let n = network(&c, 10).await;
    let tg = load_balancer(&c, &n, "answers").await;
    let lb = c
        .elb
        .describe_load_balancers()
        .names("answers-alb")
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    let dns = lb.dns_name().unwrap();
    c.elb
        .create_listener()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    aws_sdk_elasticloadbalancingv2::types::RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port("443")
                        .status_code(
                            aws_sdk_elasticloadbalancingv2::types::RedirectActionStatusCodeEnum::Http301,
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let at = emulator().endpoint().replace("http://", "");
    let ask = |port: u16| {
        let (url, at) = (format!("http://{dns}:{port}/health"), at.clone());
        async move { answer(&url, Some(&at)).await }
    };
    // Provisioning: its name does not answer yet.
    assert!(matches!(ask(80).await, Answer::NotYet(why) if why.ends_with("answers 503")));
    wait_world(emulator(), 160.0).await;
    // Active, but no target behind the listener, or nothing on the port.
    assert!(matches!(ask(80).await, Answer::NotYet(why) if why.ends_with("answers 503")));
    assert!(matches!(ask(81).await, Answer::NotYet(_)));
    assert_eq!(
        ask(8080).await,
        Answer::Answered(301),
        "the listener's redirect"
    );
    c.elb
        .register_targets()
        .target_group_arn(&tg)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.10.1.20")
                .port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        ask(80).await,
        Answer::Answered(200),
        "a healthy target answers"
    );
}

#[tokio::test]
async fn endpoint_lifecycle_pending_then_available_then_deleting_then_deleted() {
    let c = clients().await;
    let n = network(&c, 12).await;
    let id = interface_endpoint(&c, &n, "ecr.dkr").await;
    let gateway = c
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&n.vpc)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&n.private_table)
        .send()
        .await
        .unwrap();
    let gateway = gateway
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    // Past eventual consistency: until then the new ids are not found.
    wait_world(emulator(), 3.0).await;
    assert_eq!(endpoint_state(&c, &id).await, "pending");
    wait_world(emulator(), 5.0).await;
    assert_eq!(endpoint_state(&c, &gateway).await, "available");
    assert_eq!(endpoint_state(&c, &id).await, "pending");
    wait_world(emulator(), 90.0).await;
    assert_eq!(endpoint_state(&c, &id).await, "available");
    c.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint_state(&c, &id).await, "deleting");
    wait_world(emulator(), 35.0).await;
    assert_eq!(endpoint_state(&c, &id).await, "deleted");
}

#[tokio::test]
async fn network_interfaces_endpoints_own_one_per_subnet_and_they_linger_after_the_delete() {
    let c = clients().await;
    let n = network(&c, 13).await;
    let id = interface_endpoint(&c, &n, "logs").await;
    let owned = interfaces_in(&c, &n.private).await;
    assert_eq!(owned.len(), 1);
    let eni = &owned[0];
    assert_eq!(
        eni.description(),
        Some(format!("VPC Endpoint Interface {id}").as_str())
    );
    assert!(
        eni.private_ip_address().unwrap().starts_with("10.13.1."),
        "{eni:?}"
    );
    assert_eq!(eni.groups()[0].group_id(), Some(n.endpoint_group.as_str()));
    wait_world(emulator(), 3.0).await;
    c.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&id)
        .send()
        .await
        .unwrap();
    wait_world(emulator(), 40.0).await;
    assert_eq!(
        interfaces_in(&c, &n.private).await.len(),
        1,
        "still there 40 s after"
    );
    wait_world(emulator(), 30.0).await;
    assert_eq!(
        interfaces_in(&c, &n.private).await.len(),
        0,
        "released 60 s after"
    );
}

#[tokio::test]
async fn dependency_violations_are_worded_as_aws_words_them() {
    let c = clients().await;
    let n = network(&c, 14).await;
    interface_endpoint(&c, &n, "ecr.api").await;
    let lb = c
        .elb
        .create_load_balancer()
        .name("deps-alb")
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    assert!(lb.load_balancers()[0].load_balancer_arn().is_some());
    wait_world(emulator(), 3.0).await;

    assert_refused(
        c.ec2.delete_subnet().subnet_id(&n.private).send().await,
        "DependencyViolation",
        format!(
            "The subnet '{}' has dependencies and cannot be deleted.",
            n.private
        ),
    );
    assert_refused(
        c.ec2
            .delete_security_group()
            .group_id(&n.endpoint_group)
            .send()
            .await,
        "DependencyViolation",
        format!("resource {} has a dependent object", n.endpoint_group),
    );
    // Referenced by the endpoints' group's rule, though no interface uses it.
    assert_refused(
        c.ec2
            .delete_security_group()
            .group_id(&n.web_group)
            .send()
            .await,
        "DependencyViolation",
        format!("resource {} has a dependent object", n.web_group),
    );
    assert_refused(
        c.ec2.delete_vpc().vpc_id(&n.vpc).send().await,
        "DependencyViolation",
        format!(
            "The vpc '{}' has dependencies and cannot be deleted.",
            n.vpc
        ),
    );
    assert_refused(c.ec2
            .detach_internet_gateway()
            .internet_gateway_id(&n.gateway)
            .vpc_id(&n.vpc)
            .send()
            .await, "DependencyViolation", format!("Network {} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.", n.vpc));
}

#[tokio::test]
async fn eventual_consistency_a_new_id_is_not_found_and_a_change_reads_stale_for_a_moment() {
    // An emulator of its own with a window of 30 AWS seconds (0.3 s here), so that the calls
    // meant to land inside it do so on a busy machine too.
    const WINDOW: f64 = 30.0;
    let own = Emulator::start_with(EmulatorOptions {
        world: Some(world().with_seconds("eventual-consistency", "window", WINDOW)),
        ..Default::default()
    })
    .unwrap();
    let c = clients_in(&own, "us-east-1").await;
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.15.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    assert_refused(
        c.ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.15.1.0/24")
            .send()
            .await,
        "InvalidVpcID.NotFound",
        format!("The vpc ID '{vpc}' does not exist"),
    );
    let (code, _) = refusal(c.ec2.describe_vpcs().vpc_ids(&vpc).send().await);
    assert_eq!(code, "InvalidVpcID.NotFound");
    wait_world(&own, WINDOW + 0.5).await;
    c.ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.15.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();

    // A changed attribute reads as before for a moment.
    c.ec2
        .modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(on())
        .send()
        .await
        .unwrap();
    let hostnames = || async {
        let read = c
            .ec2
            .describe_vpc_attribute()
            .vpc_id(&vpc)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .unwrap();
        read.enable_dns_hostnames().and_then(|v| v.value())
    };
    assert_eq!(hostnames().await, Some(false));
    wait_world(&own, WINDOW + 0.5).await;
    assert_eq!(hostnames().await, Some(true));
}

#[tokio::test]
async fn availability_zones_differ_by_region_and_a_missing_zone_is_refused() {
    let e = emulator();
    let zones = |region: &'static str| async move {
        let c = clients_in(e, region).await;
        let found = c.ec2.describe_availability_zones().send().await.unwrap();
        found
            .availability_zones()
            .iter()
            .map(|z| z.zone_name().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        zones("ap-northeast-1").await,
        ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
    );
    assert_eq!(
        zones("ca-central-1").await,
        ["ca-central-1a", "ca-central-1b", "ca-central-1d"]
    );
    assert_eq!(zones("us-west-1").await, ["us-west-1b", "us-west-1c"]);
    assert_eq!(zones("us-west-2").await.len(), 4);
    assert_eq!(zones("eu-west-1").await.len(), 3);
    assert_eq!(zones("us-east-1").await.len(), 6);
    let c = clients_in(e, "ca-central-1").await;
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.16.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    wait_world(e, 3.0).await;
    assert_refused(c.ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block("10.16.0.0/24")
            .availability_zone("ca-central-1c")
            .send()
            .await, "InvalidParameterValue", "Value (ca-central-1c) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ca-central-1a, ca-central-1b, ca-central-1d.");
}

#[tokio::test]
async fn endpoint_service_zones_a_service_missing_a_zone_is_listed_and_refused() {
    let c = clients().await;
    let n = network(&c, 17).await;
    let services = c
        .ec2
        .describe_vpc_endpoint_services()
        .service_names("com.amazonaws.us-east-1.email-smtp")
        .send()
        .await
        .unwrap();
    let zones = services.service_details()[0].availability_zones().to_vec();
    assert_eq!(zones, ["us-east-1b", "us-east-1c", "us-east-1d"]);
    assert_refused(c.ec2
            .create_vpc_endpoint()
            .vpc_id(&n.vpc)
            .service_name("com.amazonaws.us-east-1.email-smtp")
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(&n.private)
            .send()
            .await, "InvalidParameter", format!("The VPC endpoint service com.amazonaws.us-east-1.email-smtp does not support the availability zone of the subnet: {}.", n.private));
}

#[tokio::test]
async fn service_linked_roles_the_first_cluster_of_a_new_account_waits_for_the_role() {
    let e = emulator();
    // A region of its own: the role is the account's first in it.
    let c = clients_in(e, "eu-west-1").await;
    let create = || {
        c.ecs
            .create_cluster()
            .cluster_name("first")
            .capacity_providers("FARGATE")
            .send()
    };
    assert_refused(create().await, "InvalidParameterException", "Unable to assume the service linked role. Please verify that the ECS service linked role exists.");
    wait_world(e, 16.0).await;
    create().await.unwrap();
}

#[tokio::test]
async fn quotas_a_sixth_vpc_is_refused() {
    let own = Emulator::start_with(EmulatorOptions {
        world: Some(World::realistic().with_scale(SCALE)),
        ..Default::default()
    })
    .unwrap();
    let c = clients_in(&own, "us-east-1").await;
    // The default VPC counts: four more reach the quota of five.
    for i in 0..4 {
        c.ec2
            .create_vpc()
            .cidr_block(format!("10.{i}.0.0/16"))
            .send()
            .await
            .unwrap();
    }
    assert_refused(
        c.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await,
        "VpcLimitExceeded",
        "The maximum number of VPCs has been reached.",
    );
}

#[tokio::test]
async fn parameter_tiers_values_have_a_size_per_tier_and_advanced_is_for_good() {
    use aws_sdk_ssm::types::ParameterTier;
    let c = clients().await;
    let put = |value: String, tier: ParameterTier, overwrite: bool| {
        c.ssm
            .put_parameter()
            .name("/tiers/one")
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .tier(tier)
            .overwrite(overwrite)
            .send()
    };
    assert_refused(put("x".repeat(4097), ParameterTier::Standard, false).await, "ValidationException",
        "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.");
    assert_refused(put("x".repeat(8193), ParameterTier::Advanced, false).await, "ValidationException",
        "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 8192");
    put("x".repeat(5000), ParameterTier::Advanced, false)
        .await
        .unwrap();
    assert_refused(put("small".into(), ParameterTier::Standard, true).await, "ValidationException",
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.");
    put("small".into(), ParameterTier::Advanced, true)
        .await
        .unwrap();
}

/// A Fargate task definition of `image` with the awslogs driver.
async fn task_definition(c: &Clients, family: &str, image: &str) -> String {
    let log = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", "g")
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", "ecs")
        .build()
        .unwrap();
    let container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .port_mappings(PortMapping::builder().container_port(80).build())
        .log_configuration(log)
        .build();
    let registered = c
        .ecs
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::123456789012:role/x")
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    registered
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

/// An active load balancer forwarding to an `ip` target group with a 10 s drain.
async fn load_balancer(c: &Clients, n: &Network, name: &str) -> String {
    let lb = c
        .elb
        .create_load_balancer()
        .name(format!("{name}-alb"))
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    let tg = c
        .elb
        .create_target_group()
        .name(format!("{name}-tg"))
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&n.vpc)
        .target_type(TargetTypeEnum::Ip)
        .health_check_interval_seconds(10)
        .healthy_threshold_count(2)
        .send()
        .await
        .unwrap();
    let tg = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    c.elb
        .modify_target_group_attributes()
        .target_group_arn(&tg)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("10")
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.elb
        .create_listener()
        .load_balancer_arn(lb.load_balancers()[0].load_balancer_arn().unwrap())
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
    tg
}

/// A rolling deployment between 50% and 200%, with the circuit breaker and rollback.
fn rolling_with_breaker(
    threshold: Option<aws_sdk_ecs::types::ThresholdConfiguration>,
) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(50)
        .maximum_percent(200)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .set_threshold_configuration(threshold)
                .build(),
        )
        .build()
}

async fn service(
    c: &Clients,
    n: &Network,
    cluster: &str,
    name: &str,
    task_definition: &str,
    tg: &str,
) -> aws_sdk_ecs::operation::create_service::CreateServiceOutput {
    let vpc = AwsVpcConfiguration::builder()
        .subnets(&n.private)
        .security_groups(&n.web_group)
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .unwrap();
    c.ecs
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .deployment_configuration(rolling_with_breaker(None))
        .health_check_grace_period_seconds(30)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name("app")
                .container_port(80)
                .build(),
        )
        .send()
        .await
        .unwrap()
}

async fn describe_service(c: &Clients, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
    c.ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

async fn cluster(c: &Clients, name: &str) {
    // The account's ECS role may still be propagating: as on AWS, try again.
    loop {
        match c
            .ecs
            .create_cluster()
            .cluster_name(name)
            .capacity_providers("FARGATE")
            .send()
            .await
        {
            Ok(_) => return,
            Err(e) if e.code() == Some("InvalidParameterException") => {
                wait_world(emulator(), 5.0).await
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn ecs_tasks_run_register_turn_healthy_roll_drain_and_a_draining_name_is_refused() {
    let c = clients().await;
    let n = network(&c, 18).await;
    for service in ["ecr.dkr", "ecr.api", "logs"] {
        interface_endpoint(&c, &n, service).await;
    }
    c.ec2
        .create_vpc_endpoint()
        .vpc_id(&n.vpc)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&n.private_table)
        .send()
        .await
        .unwrap();
    let tg = load_balancer(&c, &n, "tasks").await;
    cluster(&c, "tasks").await;
    let v1 = task_definition(&c, "tasks", &format!("{REGISTRY}/web:1")).await;
    wait_world(emulator(), 150.0).await;
    service(&c, &n, "tasks", "web", &v1, &tg).await;

    let first = describe_service(&c, "tasks", "web").await;
    let config = first.deployment_configuration().unwrap();
    assert_eq!(
        (config.minimum_healthy_percent(), config.maximum_percent()),
        (Some(50), Some(200))
    );
    assert!(config.deployment_circuit_breaker().unwrap().rollback());
    assert_eq!(first.health_check_grace_period_seconds(), Some(30));
    assert_eq!(
        first.deployments()[0].rollout_state().unwrap().as_str(),
        "IN_PROGRESS"
    );
    let tasks = c
        .ecs
        .list_tasks()
        .cluster("tasks")
        .service_name("web")
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    let described = c
        .ecs
        .describe_tasks()
        .cluster("tasks")
        .set_tasks(Some(tasks.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(described.tasks().len(), 2);
    for task in described.tasks() {
        assert_eq!(task.last_status(), Some("PROVISIONING"));
        let eni = task.attachments()[0]
            .details()
            .iter()
            .find(|d| d.name() == Some("privateIPv4Address"))
            .unwrap();
        assert!(eni.value().unwrap().starts_with("10.18.1."), "{eni:?}");
    }
    wait_world(emulator(), 50.0).await;
    let health = c
        .elb
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    let states: Vec<&str> = health
        .target_health_descriptions()
        .iter()
        .map(|d| d.target_health().unwrap().state().unwrap().as_str())
        .collect();
    assert_eq!(states, ["initial", "initial"]);
    wait_world(emulator(), 25.0).await;
    let health = c
        .elb
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    assert!(health.target_health_descriptions().iter().all(|d| d
        .target_health()
        .unwrap()
        .state()
        .unwrap()
        .as_str()
        == "healthy"));
    let steady = describe_service(&c, "tasks", "web").await;
    assert_eq!(
        (
            steady.running_count(),
            steady.deployments()[0].rollout_state().unwrap().as_str()
        ),
        (2, "COMPLETED")
    );

    // A new revision rolls: two deployments, the old one drains, then one COMPLETED.
    let v2 = task_definition(&c, "tasks", &format!("{REGISTRY}/web:2")).await;
    c.ecs
        .update_service()
        .cluster("tasks")
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe_service(&c, "tasks", "web")
            .await
            .deployments()
            .len(),
        2
    );
    wait_world(emulator(), 150.0).await;
    let rolled = describe_service(&c, "tasks", "web").await;
    assert_eq!(rolled.deployments().len(), 1, "{:?}", rolled.deployments());
    assert_eq!(rolled.deployments()[0].task_definition(), Some(v2.as_str()));

    // Deleted: DRAINING while its tasks stop; the name cannot be reused meanwhile.
    c.ecs
        .update_service()
        .cluster("tasks")
        .service("web")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    c.ecs
        .delete_service()
        .cluster("tasks")
        .service("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe_service(&c, "tasks", "web").await.status(),
        Some("DRAINING")
    );
    let again = c
        .ecs
        .create_service()
        .cluster("tasks")
        .service_name("web")
        .task_definition(&v2)
        .desired_count(1)
        .send()
        .await;
    assert_refused(
        again,
        "InvalidParameterException",
        "Unable to Start a service that is still Draining.",
    );
    wait_world(emulator(), 60.0).await;
    assert_eq!(
        describe_service(&c, "tasks", "web").await.status(),
        Some("INACTIVE")
    );
}

#[tokio::test]
async fn image_pulls_without_endpoints_tasks_stop_with_aws_reasons_and_the_breaker_rolls_back() {
    let c = clients().await;
    let n = network(&c, 19).await;
    let tg = load_balancer(&c, &n, "pulls").await;
    cluster(&c, "pulls").await;
    let ecr = task_definition(&c, "pulls", &format!("{REGISTRY}/web:1")).await;
    let hub = task_definition(&c, "hub", "docker.io/library/nginx:latest").await;
    service(&c, &n, "pulls", "ecr", &ecr, &tg).await;
    service(&c, &n, "pulls", "hub", &hub, &tg).await;
    wait_world(emulator(), 200.0).await;
    let reason = |service: &'static str| {
        let ecs = c.ecs.clone();
        async move {
            let stopped = ecs
                .list_tasks()
                .cluster("pulls")
                .service_name(service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                .send()
                .await
                .unwrap();
            let tasks = ecs
                .describe_tasks()
                .cluster("pulls")
                .set_tasks(Some(stopped.task_arns().to_vec()))
                .send()
                .await
                .unwrap();
            tasks.tasks()[0].stopped_reason().unwrap().to_string()
        }
    };
    let ecr_reason = reason("ecr").await;
    assert!(ecr_reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth"), "{ecr_reason}");
    assert!(
        ecr_reason.ends_with("i/o timeout. Please check your task network configuration."),
        "{ecr_reason}"
    );
    let hub_reason = reason("hub").await;
    assert!(hub_reason.starts_with("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/nginx:latest"), "{hub_reason}");
    let failed = describe_service(&c, "pulls", "ecr").await;
    let deployment = &failed.deployments()[0];
    assert_eq!(deployment.rollout_state().unwrap().as_str(), "FAILED");
    assert_eq!(
        deployment.rollout_state_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert!(deployment.failed_tasks() >= 3);
}

/// A circuit breaker with a threshold of one failed task fails the deployment before the
/// default threshold (3) could.
#[tokio::test]
async fn a_circuit_breaker_threshold_of_one_task_fails_the_deployment_at_once() {
    let c = clients().await;
    let n = network(&c, 23).await;
    let tg = load_balancer(&c, &n, "breaker").await;
    cluster(&c, "breaker").await;
    let hub = task_definition(&c, "breaker", "docker.io/library/nginx:latest").await;
    service(&c, &n, "breaker", "web", &hub, &tg).await;
    c.ecs
        .update_service()
        .cluster("breaker")
        .service("web")
        .deployment_configuration(rolling_with_breaker(Some(
            aws_sdk_ecs::types::ThresholdConfiguration::builder()
                .r#type(aws_sdk_ecs::types::ThresholdType::Count)
                .value(1)
                .build()
                .unwrap(),
        )))
        .send()
        .await
        .unwrap();
    wait_world(emulator(), 120.0).await;
    let failed = describe_service(&c, "breaker", "web").await;
    let deployment = &failed.deployments()[0];
    assert_eq!(deployment.rollout_state().unwrap().as_str(), "FAILED");
    assert!(
        (1..3).contains(&deployment.failed_tasks()),
        "{deployment:?}"
    );
    let threshold = failed
        .deployment_configuration()
        .and_then(|c| c.deployment_circuit_breaker())
        .and_then(|b| b.threshold_configuration())
        .map(|t| (t.r#type().as_str().to_string(), t.value()));
    assert_eq!(threshold, Some(("COUNT".to_string(), 1)));
}

#[tokio::test]
async fn strict_requests_are_refused_with_aws_codes() {
    let c = clients().await;
    let n = network(&c, 20).await;
    assert_refused(
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(&n.vpc)
            .enable_dns_support(on())
            .enable_dns_hostnames(on())
            .send()
            .await,
        "InvalidParameterCombination",
        "Fields for multiple attribute types specified: enableDnsHostnames, enableDnsSupport",
    );

    let bare = c
        .ec2
        .create_vpc()
        .cidr_block("10.21.0.0/16")
        .send()
        .await
        .unwrap();
    let bare = bare.vpc().unwrap().vpc_id().unwrap().to_string();
    wait_world(emulator(), 3.0).await;
    let subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&bare)
        .cidr_block("10.21.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    wait_world(emulator(), 3.0).await;
    assert_refused(c.ec2
            .create_vpc_endpoint()
            .vpc_id(&bare)
            .service_name("com.amazonaws.us-east-1.logs")
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(subnet)
            .private_dns_enabled(true)
            .send()
            .await, "InvalidParameter", format!("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {bare}"));

    assert_refused(
        c.elb
            .create_load_balancer()
            .name("one-zone")
            .subnets(&n.private)
            .subnets(&n.public[0])
            .send()
            .await,
        "ValidationError",
        "At least two subnets in two different Availability Zones must be specified",
    );
    // A /28 has 11 addresses to give; with 4 taken, fewer than the 8 an ALB needs are left.
    let small = c
        .ec2
        .create_subnet()
        .vpc_id(&n.vpc)
        .cidr_block("10.20.9.0/28")
        .availability_zone("us-east-1c")
        .send()
        .await
        .unwrap();
    let small = small.subnet().unwrap().subnet_id().unwrap().to_string();
    wait_world(emulator(), 3.0).await;
    for _ in 0..4 {
        c.ec2
            .create_network_interface()
            .subnet_id(&small)
            .send()
            .await
            .unwrap();
    }
    assert_refused(
        c.elb
            .create_load_balancer()
            .name("cramped")
            .subnets(&n.public[0])
            .subnets(&small)
            .send()
            .await,
        "InvalidSubnet",
        format!("Not enough IP space available in {small}. ELB requires at least 8 free IP addresses in each subnet."),
    );

    let container = ContainerDefinition::builder()
        .name("app")
        .image("x")
        .build();
    assert_refused(
        c.ecs
            .register_task_definition()
            .family("sizes")
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("512")
            .memory("256")
            .container_definitions(container)
            .send()
            .await,
        "ClientException",
        "No Fargate configuration exists for given values: 512 CPU, 256 memory.",
    );

    let tg = c
        .elb
        .create_target_group()
        .name("loose-tg")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&n.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    cluster(&c, "strict").await;
    let td = task_definition(&c, "strict", &format!("{REGISTRY}/web:1")).await;
    let vpc = AwsVpcConfiguration::builder()
        .subnets(&n.private)
        .build()
        .unwrap();
    assert_refused(c.ecs
            .create_service()
            .cluster("strict")
            .service_name("loose")
            .task_definition(td)
            .desired_count(1)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&tg_arn)
                    .container_name("app")
                    .container_port(80)
                    .build(),
            )
            .send()
            .await, "InvalidParameterException", format!("The target group with targetGroupArn {tg_arn} does not have an associated load balancer."));

    // The same name with the same settings is the same target group; other settings are refused.
    let same = c
        .elb
        .create_target_group()
        .name("loose-tg")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&n.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    assert_eq!(
        same.target_groups()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    assert_refused(
        c.elb
            .create_target_group()
            .name("loose-tg")
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&n.vpc)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await,
        "DuplicateTargetGroupName",
        "A target group with the same name 'loose-tg' exists, but with different settings",
    );
    let lb = c
        .elb
        .create_load_balancer()
        .name("twice-alb")
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    let again = c
        .elb
        .create_load_balancer()
        .name("twice-alb")
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        lb.load_balancers()[0].load_balancer_arn(),
        again.load_balancers()[0].load_balancer_arn()
    );
    let (code, _) = refusal(
        c.elb
            .create_load_balancer()
            .name("twice-alb")
            .set_subnets(Some(n.public.clone()))
            .security_groups(&n.web_group)
            .send()
            .await,
    );
    assert_eq!(code, "DuplicateLoadBalancerName");

    // A client token makes CreateVpcEndpoint idempotent.
    let create = || {
        c.ec2
            .create_vpc_endpoint()
            .vpc_id(&n.vpc)
            .service_name("com.amazonaws.us-east-1.ssm")
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(&n.private)
            .client_token("once")
            .send()
    };
    let first = create().await.unwrap();
    let second = create().await.unwrap();
    assert_eq!(
        first.vpc_endpoint().unwrap().vpc_endpoint_id(),
        second.vpc_endpoint().unwrap().vpc_endpoint_id()
    );

    // So does it CreateRouteTable; other parameters under the token, or a token whose table is
    // deleted since, are refused.
    let table = |vpc: &str| {
        c.ec2
            .create_route_table()
            .vpc_id(vpc)
            .client_token("table-once")
            .send()
    };
    let first = table(&n.vpc).await.unwrap();
    let first = first.route_table().unwrap().route_table_id().unwrap();
    let again = table(&n.vpc).await.unwrap();
    assert_eq!(again.route_table().unwrap().route_table_id(), Some(first));
    let (code, _) = refusal(
        c.ec2
            .create_route_table()
            .vpc_id(&n.vpc)
            .client_token("table-once")
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::RouteTable)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key("k")
                            .value("v")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "IdempotentParameterMismatch");
    wait_world(emulator(), 3.0).await; // past eventual consistency
    c.ec2
        .delete_route_table()
        .route_table_id(first)
        .send()
        .await
        .unwrap();
    assert_refused(
        table(&n.vpc).await,
        "IdempotentParameterMismatch",
        "The client token you have provided is associated with a resource that is already deleted. Please use a different client token.",
    );

    // A listener on a port that has one with the same protocol is that listener.
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap();
    let listener = || {
        c.elb
            .create_listener()
            .load_balancer_arn(lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg_arn)
                    .build(),
            )
            .send()
    };
    let one = listener().await.unwrap();
    let two = listener().await.unwrap();
    assert_eq!(
        one.listeners()[0].listener_arn(),
        two.listeners()[0].listener_arn()
    );
}

#[test]
fn every_emulator_behaviour_of_the_table_is_implemented_and_nothing_else() {
    let mut implemented = emulator().implemented_behaviours().unwrap();
    implemented.sort();
    let mut table: Vec<String> = local_aws::world::BEHAVIOURS
        .iter()
        .filter(|b| b.side == local_aws::world::Side::Emulator)
        .map(|b| b.id.to_string())
        .collect();
    table.sort();
    assert_eq!(implemented, table);
}

/// A local system on the realistic world: the template deployed as a stack, its functions hosted.
async fn system() -> local_lambda::LocalSystem {
    let options = local_lambda::LocalOptions {
        world: world(),
        ..Default::default()
    };
    local_lambda::LocalSystem::start(options)
        .await
        .expect("the local system starts")
}

#[tokio::test]
async fn cloudformation_resources_and_eventbridge_targets_the_stack_is_the_template_and_a_push_starts_an_execution(
) {
    let system = system().await;
    let stack = &system.stack;
    // Timeouts from the template (Globals, or the function's own).
    for (logical_id, timeout) in [
        ("NetworkFunction", 120),
        ("EndpointsFunction", 120),
        ("AlbFunction", 120),
        ("ServiceFunction", 120),
        ("ControlFunction", 120),
        ("CustomResourceFunction", 30),
    ] {
        let f = stack
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .unwrap_or_else(|| panic!("{logical_id} in {stack:?}"));
        assert_eq!(f.timeout, timeout, "{logical_id}");
        // SAM attaches AWSLambdaBasicExecutionRole (ManagedPolicyArns): its document is there.
        assert!(
            f.policies
                .iter()
                .any(|p| p.to_string().contains("logs:PutLogEvents")),
            "{logical_id}: {:?}",
            f.policies
        );
    }
    let execution_role = stack.resources.get("TaskExecutionRole").unwrap();
    let service = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "ServiceFunction")
        .unwrap();
    let default_role = service
        .environment
        .get("DEFAULT_EXECUTION_ROLE_ARN")
        .unwrap();
    assert!(
        default_role.ends_with(&format!("/{execution_role}")),
        "{default_role} names {execution_role}"
    );
    // The state machine's ${...} substitutions are resolved to the deployed functions.
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let machine = sfn
        .describe_state_machine()
        .state_machine_arn(&system.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert!(
        !machine.definition().contains("${"),
        "{}",
        machine.definition()
    );
    let network = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "NetworkFunction")
        .unwrap();
    assert!(
        machine.definition().contains(&network.arn),
        "tasks invoke the stack's functions"
    );

    let push: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(local_aws::repository_root().join("events/ecr-push.json"))
            .unwrap(),
    )
    .unwrap();
    let entry = json!({"Source": push["source"], "DetailType": push["detail-type"], "Detail": push["detail"].to_string()});
    let put = system
        .emulator
        .call_json(
            "events",
            "AWSEvents.PutEvents",
            &json!({"Entries": [entry]}),
        )
        .unwrap();
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let executions = sfn
        .list_executions()
        .state_machine_arn(&system.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    let started = sfn
        .describe_execution()
        .execution_arn(executions.executions()[0].execution_arn())
        .send()
        .await
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(started.input().unwrap()).unwrap();
    assert_eq!(
        input["detail"]["repository-name"],
        push["detail"]["repository-name"]
    );
}

#[tokio::test]
async fn iam_a_function_may_only_call_what_its_role_allows() {
    let system = system().await;
    let as_alb = aws_sdk_ec2::Client::new(&system.config_as("AlbFunction").unwrap());
    let (code, message) = refusal(as_alb.create_vpc().cidr_block("10.30.0.0/16").send().await);
    assert_eq!(code, "UnauthorizedOperation");
    assert!(message.starts_with("You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/"), "{message}");
    assert!(message.contains("is not authorized to perform: ec2:CreateVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/*"), "{message}");
    let as_network = aws_sdk_ec2::Client::new(&system.config_as("NetworkFunction").unwrap());
    as_network
        .create_vpc()
        .cidr_block("10.30.0.0/16")
        .send()
        .await
        .unwrap();

    let as_service = aws_sdk_ecs::Client::new(&system.config_as("ServiceFunction").unwrap());
    let (code, message) = refusal(as_service.list_clusters().send().await);
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("is not authorized to perform: ecs:ListClusters"),
        "{message}"
    );
    // Calls of no hosted function (this test's own) are not checked.
    aws_sdk_ecs::Client::new(&system.config)
        .list_clusters()
        .send()
        .await
        .unwrap();
}

/// Invokes a hosted function through Lambda's Invoke API (off the runtime: the router answers on
/// it); the function error's type, if any.
async fn invoke(
    system: &local_lambda::LocalSystem,
    logical_id: &str,
    event: serde_json::Value,
) -> Option<String> {
    let name = &system
        .stack
        .functions
        .iter()
        .find(|f| f.logical_id == logical_id)
        .unwrap()
        .name;
    let url = format!(
        "{}/2015-03-31/functions/{name}/invocations",
        system.lambda_endpoint()
    );
    tokio::task::spawn_blocking(move || {
        let mut answer = ureq::post(url).send(event.to_string()).unwrap();
        let failed = answer.headers().get("X-Amz-Function-Error").is_some();
        let body: serde_json::Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        failed.then(|| body["errorType"].as_str().unwrap().to_string())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn faults_each_kind_fails_a_call_or_an_invocation_as_aws_and_lambda_do() {
    use local_lambda::faults::{FaultKind, Rule};
    let system = system().await;
    let as_network = aws_sdk_ec2::Client::new(&system.config_as("NetworkFunction").unwrap());
    let direct = aws_sdk_ec2::Client::new(&system.emulator.sdk_config("us-east-1").await);
    let fail_next = |operation: &str, kind| {
        system.faults().clear();
        system.faults().add(Rule {
            function: Some("NetworkFunction".into()),
            operation: Some(operation.into()),
            nth: 1,
            kind,
        });
    };

    // The SDK retries throttling and 5xx: the one faulted attempt is absorbed.
    for kind in [
        FaultKind::ThrottleBefore,
        FaultKind::ServerErrorBefore,
        FaultKind::GatewayErrorBefore,
    ] {
        fail_next("DescribeVpcs", kind);
        as_network.describe_vpcs().send().await.unwrap();
        assert_eq!(system.faults().fired().len(), 1, "{kind:?}");
    }
    let once = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&system.config_as("NetworkFunction").unwrap())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(2))
                    .build(),
            )
            .build(),
    );
    fail_next("DescribeVpcs", FaultKind::ThrottleBefore);
    assert_eq!(
        refusal(once.describe_vpcs().send().await).0,
        "RequestLimitExceeded"
    );
    fail_next("DescribeVpcs", FaultKind::ServerErrorBefore);
    assert_eq!(
        refusal(once.describe_vpcs().send().await).0,
        "InternalError"
    );
    fail_next("DescribeVpcs", FaultKind::GatewayErrorBefore);
    let gateway = once.describe_vpcs().send().await.expect_err("a 502");
    assert_eq!(
        gateway.raw_response().map(|r| r.status().as_u16()),
        Some(502)
    );

    // Applied, then answered 500: the VPC exists though the caller saw a failure.
    let vpcs = || async { direct.describe_vpcs().send().await.unwrap().vpcs().len() };
    let before = vpcs().await;
    fail_next("CreateVpc", FaultKind::ServerErrorAfter);
    assert_eq!(
        refusal(once.create_vpc().cidr_block("10.31.0.0/16").send().await).0,
        "InternalError"
    );
    assert_eq!(vpcs().await, before + 1);

    fail_next("DescribeVpcs", FaultKind::Hang);
    let hung = once.describe_vpcs().send().await.expect_err("no answer");
    assert!(
        matches!(hung, aws_sdk_ec2::error::SdkError::TimeoutError(_)),
        "{hung:?}"
    );

    // An invocation that makes the faulted call dies as Lambda reports it.
    let status = json!({"action": "status", "environment": "faulted"});
    for (kind, error) in [
        (FaultKind::Crash, "Runtime.ExitError"),
        (FaultKind::Timeout, "Sandbox.Timedout"),
    ] {
        system.faults().clear();
        system.faults().add(Rule {
            function: Some("NetworkFunction".into()),
            operation: None,
            nth: 1,
            kind,
        });
        let invoked = invoke(&system, "NetworkFunction", status.clone()).await;
        assert_eq!(invoked.as_deref(), Some(error), "{kind:?}");
        assert_eq!(system.faults().fired().len(), 1, "{kind:?}");
    }
    system.faults().clear();

    // lambda-timeouts: calls that never answer keep the invocation running until its
    // function's Timeout (120 AWS seconds) ends it. (The SDK gives up on each hung attempt and
    // tries again; every attempt hangs.)
    for nth in 1..=20 {
        system.faults().add(Rule {
            function: Some("NetworkFunction".into()),
            operation: None,
            nth,
            kind: FaultKind::Hang,
        });
    }
    let before = system.emulator.world_now().unwrap();
    let invoked = invoke(&system, "NetworkFunction", status.clone()).await;
    let lasted = system.emulator.world_now().unwrap() - before;
    assert_eq!(invoked.as_deref(), Some("Sandbox.Timedout"));
    assert!((120.0..180.0).contains(&lasted), "{lasted} AWS s");
    system.faults().clear();
}

#[tokio::test]
async fn certificate_validation_issues_only_after_the_record_and_a_served_certificate_stays() {
    let c = clients().await;
    let config = emulator().sdk_config("us-east-1").await;
    let acm = aws_sdk_acm::Client::new(&config);
    let route53 = aws_sdk_route53::Client::new(&config);
    let n = network(&c, 12).await;
    let zone = test_support::dns::hosted_zone(&route53, "example.net").await;
    let request = |name: &'static str| {
        let acm = acm.clone();
        async move {
            acm.request_certificate()
                .domain_name(name)
                .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
                .send()
                .await
                .unwrap()
                .certificate_arn()
                .unwrap()
                .to_string()
        }
    };
    let describe = |arn: String| {
        let acm = acm.clone();
        async move {
            acm.describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .unwrap()
                .certificate()
                .unwrap()
                .clone()
        }
    };
    let arn = request("api.example.net").await;
    let fresh = describe(arn.clone()).await;
    assert_eq!(fresh.status().unwrap().as_str(), "PENDING_VALIDATION");
    assert!(
        fresh.domain_validation_options()[0]
            .resource_record()
            .is_none(),
        "no record in the first seconds"
    );
    wait_world(emulator(), 10.0).await;
    let published = describe(arn.clone()).await;
    let record = published.domain_validation_options()[0]
        .resource_record()
        .unwrap()
        .clone();
    assert!(record.name().ends_with(".api.example.net."), "{record:?}");
    // The same name in the same account gets the same record; another name another.
    let again = request("api.example.net").await;
    wait_world(emulator(), 10.0).await;
    let other = describe(again.clone()).await;
    assert_eq!(
        other.domain_validation_options()[0].resource_record(),
        Some(&record)
    );
    let www = request("www.example.net").await;
    wait_world(emulator(), 10.0).await;
    let www_record = describe(www).await.domain_validation_options()[0]
        .resource_record()
        .unwrap()
        .clone();
    assert_ne!(www_record.name(), record.name());

    // Without the record, no certificate is issued, and a listener refuses it.
    wait_world(emulator(), 120.0).await;
    assert_eq!(
        describe(arn.clone()).await.status().unwrap().as_str(),
        "PENDING_VALIDATION"
    );
    let lb = c
        .elb
        .create_load_balancer()
        .name("tls-alb")
        .set_subnets(Some(n.public.clone()))
        .security_groups(&n.alb_group)
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let https = |certificate: String| {
        c.elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Https)
            .port(443)
            .certificates(
                aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                    .certificate_arn(certificate)
                    .build(),
            )
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::FixedResponse)
                    .fixed_response_config(
                        aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                            .status_code("200")
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    assert_refused(
        https(arn.clone()).await,
        "UnsupportedCertificate",
        format!("The certificate '{arn}' must have a fully-qualified domain name, a supported signature, and a supported key size."),
    );

    // With the record in the zone, ACM issues it a while later.
    test_support::dns::put_record(
        &route53,
        &zone,
        record.name(),
        aws_sdk_route53::types::RrType::Cname,
        record.value(),
    )
    .await;
    assert_eq!(
        describe(arn.clone()).await.status().unwrap().as_str(),
        "PENDING_VALIDATION"
    );
    wait_world(emulator(), 40.0).await;
    assert_eq!(
        describe(arn.clone()).await.status().unwrap().as_str(),
        "ISSUED"
    );
    assert_eq!(
        describe(again.clone()).await.status().unwrap().as_str(),
        "ISSUED"
    );

    // Served by a listener, it is in use and cannot be deleted; without the listener it can.
    let listener = https(arn.clone()).await.unwrap();
    assert_eq!(
        describe(arn.clone()).await.in_use_by(),
        vec![lb_arn.clone()]
    );
    let (code, _) = refusal(acm.delete_certificate().certificate_arn(&arn).send().await);
    assert_eq!(code, "ResourceInUseException");
    c.elb
        .delete_listener()
        .listener_arn(listener.listeners()[0].listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    acm.delete_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
}
