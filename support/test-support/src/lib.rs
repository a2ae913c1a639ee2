//! Test-only helpers (a dev-dependency only): an emulator with clients that record every request
//! they send and fail chosen calls on purpose.
//!
//! Every harness of a test binary shares one emulator (started on first use), so tests use
//! distinct environment names and look only at their own environment.

mod faults;
mod recorder;

use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use local_aws::{Emulator, EmulatorOptions};
use provisioner_core::StageContext;

pub use faults::{Fault, FaultPlan, InjectedCrash, Trigger};
pub use recorder::{is_mutating, Recorder, Request};

/// The region tests run in.
pub const REGION: &str = "us-east-1";

/// How much faster than real time the harness's clients back off between retries.
const RETRY_SCALE: f64 = 50.0;

/// Clients of one AWS service that record their requests and take the harness's faults.
macro_rules! recording_clients {
    ($($method:ident => $sdk:ident),* $(,)?) => {
        impl Harness {
            $(
                pub fn $method(&self) -> $sdk::Client {
                    let config = $sdk::config::Builder::from(&self.config)
                        .interceptor(self.recorder.clone())
                        .interceptor(self.faults.clone())
                        .build();
                    $sdk::Client::from_conf(config)
                }
            )*
        }
    };
}

recording_clients!(
    ec2 => aws_sdk_ec2,
    ssm => aws_sdk_ssm,
    elbv2 => aws_sdk_elasticloadbalancingv2,
    ecs => aws_sdk_ecs,
    logs => aws_sdk_cloudwatchlogs,
    scaling => aws_sdk_applicationautoscaling,
    acm => aws_sdk_acm,
    route53 => aws_sdk_route53,
    cloudwatch => aws_sdk_cloudwatch,
);

/// The test binary's emulator plus clients wired to this harness's own recorder and fault plan.
pub struct Harness {
    pub emulator: &'static Emulator,
    pub config: SdkConfig,
    pub recorder: Recorder,
    pub faults: FaultPlan,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(EmulatorOptions::default()).await
    }

    pub async fn start_with(options: EmulatorOptions) -> Self {
        let emulator = Emulator::shared(options)
            .expect("the local emulator starts (run scripts/setup-tools first)");
        // The SDK's retry backoff runs fast: the tests count attempts, they do not wait them out.
        let config = emulator
            .sdk_config(REGION)
            .await
            .to_builder()
            .sleep_impl(local_aws::clock::ScaledSleep::shared(RETRY_SCALE))
            .timeout_config(local_aws::clock::timeouts(
                RETRY_SCALE,
                std::time::Duration::from_secs(5),
            ))
            .build();
        Harness {
            emulator,
            config,
            recorder: Recorder::default(),
            faults: FaultPlan::default(),
        }
    }

    /// The zones of [`REGION`] in the emulator, read with a client the test does not count.
    pub async fn region_zones(&self) -> provisioner_core::zones::RegionZones {
        provisioner_core::zones::describe(&self.plain_ec2(), REGION)
            .await
            .expect("the emulator lists its zones")
    }

    /// Where the emulator answers for load balancers (`host:port`): what the service stage's
    /// URL check is sent to here.
    pub fn load_balancer_address(&self) -> String {
        self.emulator.endpoint().replace("http://", "")
    }

    /// The stage context with the recording, faulty SSM client.
    pub fn context(&self) -> StageContext {
        StageContext::new(self.ssm(), REGION)
    }

    /// The stage context with a plain SSM client, for set-up a test does not count.
    pub fn plain_context(&self) -> StageContext {
        StageContext::new(self.plain_ssm(), REGION)
    }

    /// Clients that neither record nor fail: for a test's own look at the account.
    pub fn plain_ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    pub fn plain_ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    pub fn plain_elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.config)
    }

    pub fn plain_ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.config)
    }

    pub fn plain_cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    pub fn plain_route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.config)
    }

    pub fn plain_acm(&self) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.config)
    }

    pub fn plain_scaling(&self) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&self.config)
    }

    pub fn plain_logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    /// The ECS infrastructure role for load balancers, as the SAM template makes it: what ECS
    /// shifts traffic as in blue/green, canary and linear rollouts. Made once per emulator.
    pub fn ecs_load_balancer_role(&self) -> String {
        const NAME: &str = "ecs-load-balancers";
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let call = |params: &[(&str, &str)]| {
            self.emulator
                .call_query("iam", params)
                .expect("the emulator answers IAM")
        };
        let mut answer = call(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", NAME),
            ("AssumeRolePolicyDocument", trust),
        ]);
        if answer.contains("EntityAlreadyExists") {
            answer = call(&[
                ("Action", "GetRole"),
                ("Version", "2010-05-08"),
                ("RoleName", NAME),
            ]);
        }
        let arn = answer
            .split_once("<Arn>")
            .and_then(|(_, rest)| rest.split_once("</Arn>"))
            .map(|(arn, _)| arn.to_string());
        arn.unwrap_or_else(|| panic!("a role ARN in {answer}"))
    }

    /// Recorded requests and faults cleared.
    pub fn clear(&self) {
        self.recorder.clear();
        self.faults.clear();
    }
}

/// A name no other test in this process uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Puts a network interface that no environment owns (someone else's database, say) in `subnet`;
/// returns its id.
pub async fn foreign_interface(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    description: &str,
) -> String {
    let created = ec2
        .create_network_interface()
        .subnet_id(subnet)
        .description(description)
        .send()
        .await
        .expect("the interface is created");
    created
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .unwrap_or_default()
        .to_string()
}

/// EC2 resources still tagged for `environment` that still exist. The emulator keeps the tags of
/// deleted resources, so each tagged id is looked up before it counts.
pub async fn ec2_leftovers(ec2: &aws_sdk_ec2::Client, environment: &str) -> Vec<String> {
    use aws_sdk_ec2::types::{Filter, ResourceType};
    let tags = ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("key")
                .values(provisioner_core::naming::ENVIRONMENT_TAG)
                .build(),
        )
        .filters(Filter::builder().name("value").values(environment).build())
        .send()
        .await
        .expect("DescribeTags");
    let mut left = Vec::new();
    for tag in tags.tags() {
        let id = tag.resource_id().unwrap_or_default().to_string();
        let exists = match tag.resource_type() {
            Some(ResourceType::Vpc) => ec2
                .describe_vpcs()
                .vpc_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.vpcs().is_empty()),
            Some(ResourceType::Subnet) => ec2
                .describe_subnets()
                .subnet_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.subnets().is_empty()),
            Some(ResourceType::InternetGateway) => ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.internet_gateways().is_empty()),
            Some(ResourceType::RouteTable) => ec2
                .describe_route_tables()
                .route_table_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.route_tables().is_empty()),
            Some(ResourceType::SecurityGroup) => ec2
                .describe_security_groups()
                .group_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.security_groups().is_empty()),
            Some(ResourceType::VpcEndpoint) => ec2
                .describe_vpc_endpoints()
                .vpc_endpoint_ids(&id)
                .send()
                .await
                .is_ok_and(|o| {
                    o.vpc_endpoints().iter().any(|e| {
                        e.state()
                            .is_none_or(|s| !s.as_str().eq_ignore_ascii_case("deleted"))
                    })
                }),
            // The emulator names these two kinds its own way; their ids say what they are.
            _ if id.starts_with("nat-") => ec2
                .describe_nat_gateways()
                .nat_gateway_ids(&id)
                .send()
                .await
                .is_ok_and(|o| {
                    o.nat_gateways().iter().any(|g| {
                        g.state()
                            .is_none_or(|s| !s.as_str().eq_ignore_ascii_case("deleted"))
                    })
                }),
            _ if id.starts_with("eipalloc-") => ec2
                .describe_addresses()
                .allocation_ids(&id)
                .send()
                .await
                .is_ok_and(|o| !o.addresses().is_empty()),
            // A kind this helper does not know how to look up counts as left over.
            _ => true,
        };
        if exists {
            left.push(format!("{:?} {id}", tag.resource_type()));
        }
    }
    left
}

/// Runs `run` as its Lambda would run it: `None` when an injected [`Fault::CrashAfter`] ended it
/// (the process died right after a call reached AWS), its output otherwise.
pub async fn run_to_crash<F: std::future::Future>(run: F) -> Option<F::Output> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok(output) => Some(output),
        Err(payload) if payload.is::<InjectedCrash>() => None,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// The idempotency proof every stage owes: for each k, a run that crashes right after its k-th
/// mutating call, followed by a clean run, ends in exactly what one clean run builds.
///
/// Each run gets an environment of its own, `<base>-<k>`, so the emulator is never reset.
/// `setup` prepares an environment (with plain clients, so its calls are not counted), `run` is
/// the stage action under test (with the harness's recording, faulty clients) and `snapshot`
/// describes an environment's result without ids or its name. Returns the number of mutating
/// calls of a clean run.
pub async fn assert_converges_after_any_crash<T, E, S>(
    h: &Harness,
    base: &str,
    mut setup: impl AsyncFnMut(&str),
    mut run: impl AsyncFnMut(&str) -> Result<T, E>,
    mut snapshot: impl AsyncFnMut(&str) -> S,
) -> usize
where
    E: std::fmt::Display,
    S: PartialEq + std::fmt::Debug,
{
    let clean = format!("{base}-0");
    h.clear();
    setup(&clean).await;
    h.recorder.clear();
    if let Err(e) = run(&clean).await {
        panic!("a clean run fails: {e}");
    }
    let calls = h.recorder.mutating().len();
    let expected = snapshot(&clean).await;
    for k in 1..=calls {
        let env = format!("{base}-{k}");
        h.clear();
        setup(&env).await;
        h.faults.add(Trigger::NthMutating(k), Fault::CrashAfter);
        assert!(
            run_to_crash(run(&env)).await.is_none(),
            "a crash injected after mutating call {k} must end the run"
        );
        assert_eq!(h.faults.fired(), 1, "the crash after call {k} fired");
        h.faults.clear();
        if let Err(e) = run(&env).await {
            panic!("the re-run after a crash at mutating call {k} fails: {e}");
        }
        assert_eq!(
            snapshot(&env).await,
            expected,
            "after a crash at mutating call {k}"
        );
    }
    eprintln!("a clean run makes {calls} mutating calls; a crash after each of them converged");
    calls
}

/// Runs `run` (a re-run of something already done) and asserts it sent no mutating request.
pub async fn assert_changes_nothing<T, E: std::fmt::Display>(
    h: &Harness,
    run: impl AsyncFnOnce() -> Result<T, E>,
) -> T {
    h.recorder.clear();
    let result = run()
        .await
        .unwrap_or_else(|e| panic!("the re-run fails: {e}"));
    let mutating: Vec<String> = h.recorder.mutating_operations();
    assert_eq!(mutating, Vec::<String>::new(), "a re-run changes nothing");
    result
}

/// Names of every SSM parameter the provisioner has stored for `environment`.
pub async fn stored_parameters(ssm: &aws_sdk_ssm::Client, environment: &str) -> Vec<String> {
    let pages: Vec<_> = ssm
        .get_parameters_by_path()
        .path(provisioner_core::Names::new(environment).ssm_prefix())
        .recursive(true)
        .into_paginator()
        .send()
        .collect()
        .await;
    pages
        .into_iter()
        .flat_map(|page| page.expect("GetParametersByPath").parameters().to_vec())
        .filter_map(|p| p.name().map(str::to_string))
        .collect()
}

/// A user's own Route 53 zone and records, which a domain's tests start from.
pub mod dns {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };

    /// Creates a public hosted zone; returns its id without `/hostedzone/`.
    pub async fn hosted_zone(route53: &aws_sdk_route53::Client, name: &str) -> String {
        let made = route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("{name}-{}", std::process::id()))
            .send()
            .await
            .expect("the emulator makes the hosted zone");
        made.hosted_zone()
            .expect("a zone")
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string()
    }

    /// Writes a record of one value into the zone, as its owner would.
    pub async fn put_record(
        route53: &aws_sdk_route53::Client,
        zone: &str,
        name: &str,
        kind: RrType,
        value: &str,
    ) {
        let record = ResourceRecordSet::builder()
            .name(name)
            .r#type(kind)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value(value).build().unwrap())
            .build()
            .unwrap();
        let change = Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(record)
            .build()
            .unwrap();
        route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
            .send()
            .await
            .expect("the emulator writes the record");
    }
}
