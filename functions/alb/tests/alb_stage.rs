//! The ALB stage against the local emulator: load balancer, target group and listeners as the
//! spec says, a re-run changes nothing, drift and spec changes make only the needed calls, a crash
//! after any call converges, and `destroy` cleans up.

use std::collections::BTreeMap;

use alb_stage::{outputs, AlbStage};
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, TargetGroupAttribute};
use network_stage::NetworkStage;
use provisioner_core::{EnvironmentSpec, ErrorKind, Names, Readiness, SsmStore, Stage};
use serde_json::{json, Value};
use test_support::{assert_changes_nothing, assert_converges_after_any_crash, Harness, REGION};

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";

/// Stores the spec (the reference plus `alb`) and builds the network with plain clients.
async fn network_for(h: &Harness, env: &str, alb: Value) -> BTreeMap<String, Vec<String>> {
    let spec = EnvironmentSpec::from_json(
        &json!({"name": env, "alb": alb, "service": {"image": IMAGE}}),
        REGION,
    )
    .unwrap();
    SsmStore::new(h.plain_ssm()).put_spec(&spec).await.unwrap();
    let network = NetworkStage::new(h.plain_ec2(), h.plain_context());
    network
        .apply(&Names::new(env))
        .await
        .unwrap()
        .outputs
        .into_iter()
        .map(|(k, v)| (k, v.values()))
        .collect()
}

fn stage(h: &Harness) -> AlbStage {
    AlbStage::new(
        alb_stage::Clients {
            elb: h.elbv2(),
            acm: h.acm(),
            route53: h.route53(),
        },
        h.context(),
    )
}

/// name, protocol, port, target type, health check path, [interval, timeout, healthy, unhealthy],
/// matcher, deregistration delay.
type TargetGroupRow = (
    String,
    String,
    i32,
    String,
    String,
    Vec<i32>,
    String,
    String,
);

/// The account's load balancing resources, without ARNs.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    load_balancers: Vec<(String, String, Vec<String>, Vec<String>)>,
    target_groups: Vec<TargetGroupRow>,
    listeners: Vec<(i32, String, String, Option<String>)>,
}

/// Ids of the network replaced by the name of the network output that holds them.
async fn network_names(h: &Harness) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let ssm = h.plain_ssm();
    let params = ssm
        .get_parameters_by_path()
        .path("/fargate-provisioner")
        .recursive(true)
        .into_paginator()
        .send();
    let pages: Vec<_> = params.collect().await;
    for page in pages {
        for p in page.unwrap().parameters() {
            if !p.name().unwrap().ends_with("/outputs") {
                continue;
            }
            let outputs: provisioner_core::Outputs =
                serde_json::from_str(p.value().unwrap()).unwrap();
            for (key, value) in outputs {
                for id in value.values() {
                    names.insert(id, key.clone());
                }
            }
        }
    }
    names
}

/// The environment's load balancing resources; its name appears as `<env>`.
async fn snapshot(h: &Harness, env: &str) -> Snapshot {
    let named = network_names(h).await;
    let name = |id: &str| named.get(id).cloned().unwrap_or_else(|| id.to_string());
    let anonymous = |n: &str| n.replacen(env, "<env>", 1);
    let elb = h.plain_elbv2();
    let lbs = elb
        .describe_load_balancers()
        .names(format!("{env}-alb"))
        .send()
        .await
        .map(|o| o.load_balancers().to_vec())
        .unwrap_or_default();
    let mut load_balancers = Vec::new();
    let mut listeners = Vec::new();
    for lb in &lbs {
        let mut subnets: Vec<String> = lb
            .availability_zones()
            .iter()
            .map(|z| name(z.subnet_id().unwrap()))
            .collect();
        subnets.sort();
        load_balancers.push((
            anonymous(lb.load_balancer_name().unwrap()),
            lb.scheme().unwrap().as_str().to_string(),
            subnets,
            lb.security_groups().iter().map(|g| name(g)).collect(),
        ));
        let found = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        for l in found.listeners() {
            let action = &l.default_actions()[0];
            let what = match action.r#type().unwrap() {
                ActionTypeEnum::Forward => "forward to the target group".to_string(),
                ActionTypeEnum::Redirect => {
                    let r = action.redirect_config().unwrap();
                    format!(
                        "redirect {} {} {}",
                        r.protocol().unwrap(),
                        r.port().unwrap(),
                        r.status_code().unwrap().as_str()
                    )
                }
                other => format!("{other:?}"),
            };
            listeners.push((
                l.port().unwrap(),
                l.protocol().unwrap().as_str().to_string(),
                what,
                l.certificates()
                    .first()
                    .and_then(|c| c.certificate_arn())
                    .map(str::to_string),
            ));
        }
    }
    listeners.sort();
    let tgs = elb
        .describe_target_groups()
        .names(format!("{env}-tg"))
        .send()
        .await
        .map(|o| o.target_groups().to_vec())
        .unwrap_or_default();
    let mut target_groups = Vec::new();
    for tg in &tgs {
        let attributes = elb
            .describe_target_group_attributes()
            .target_group_arn(tg.target_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        let delay = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .unwrap()
            .to_string();
        target_groups.push((
            anonymous(tg.target_group_name().unwrap()),
            tg.protocol().unwrap().as_str().to_string(),
            tg.port().unwrap(),
            tg.target_type().unwrap().as_str().to_string(),
            tg.health_check_path().unwrap().to_string(),
            vec![
                tg.health_check_interval_seconds().unwrap(),
                tg.health_check_timeout_seconds().unwrap(),
                tg.healthy_threshold_count().unwrap(),
                tg.unhealthy_threshold_count().unwrap(),
            ],
            tg.matcher()
                .and_then(|m| m.http_code())
                .unwrap()
                .to_string(),
            delay,
        ));
    }
    Snapshot {
        load_balancers,
        target_groups,
        listeners,
    }
}

fn reference() -> Snapshot {
    Snapshot {
        load_balancers: vec![(
            "<env>-alb".into(),
            "internet-facing".into(),
            vec!["public-subnet-ids".into(), "public-subnet-ids".into()],
            vec!["alb-security-group-id".into()],
        )],
        target_groups: vec![(
            "<env>-tg".into(),
            "HTTP".into(),
            80,
            "ip".into(),
            "/".into(),
            vec![10, 5, 2, 3],
            "200-399".into(),
            "30".into(),
        )],
        listeners: vec![(
            80,
            "HTTP".into(),
            "forward to the target group".into(),
            None,
        )],
    }
}

#[tokio::test]
async fn apply_builds_the_reference_alb_and_a_rerun_changes_nothing() {
    let h = Harness::start().await;
    network_for(&h, "web", json!({})).await;

    let summary = stage(&h).apply(&Names::new("web")).await.unwrap();
    assert_eq!(snapshot(&h, "web").await, reference());
    for key in [
        outputs::LOAD_BALANCER_ARN,
        outputs::DNS_NAME,
        outputs::HOSTED_ZONE_ID,
        outputs::TARGET_GROUP_ARN,
        outputs::LISTENER_ARNS,
    ] {
        assert!(!summary.outputs[key].values()[0].is_empty(), "{key}");
    }
    let dns = summary.outputs[outputs::DNS_NAME].values()[0].clone();
    assert_eq!(
        summary.outputs[outputs::URL].values(),
        [format!("http://{dns}")]
    );
    let stored = SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new("web"), alb_stage::outputs::STAGE)
        .await
        .unwrap();
    assert_eq!(stored, summary.outputs);
    // The target group is created with the whole health check in one request.
    let create = &h.recorder.of("CreateTargetGroup")[0];
    for field in [
        "TargetType=ip",
        "HealthCheckPath=%2F",
        "HealthCheckIntervalSeconds=10",
        "Matcher.HttpCode=200-399",
    ] {
        assert!(create.body.contains(field), "{field} in {}", create.body);
    }

    let again =
        assert_changes_nothing(&h, async || stage(&h).apply(&Names::new("web")).await).await;
    assert_eq!(again.outputs, summary.outputs);
    assert_eq!(
        stage(&h).status(&Names::new("web")).await.unwrap().state,
        Readiness::Ready
    );
}

#[tokio::test]
async fn a_certificate_adds_https_and_redirects_http_and_removing_it_reverts() {
    let h = Harness::start().await;
    let certificate = h
        .emulator
        .call_json(
            "acm",
            "CertificateManager.RequestCertificate",
            &json!({"DomainName": "app.example.com"}),
        )
        .unwrap()["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
    network_for(&h, "tls", json!({"certificateArn": certificate})).await;
    let summary = stage(&h).apply(&Names::new("tls")).await.unwrap();
    let mut expected = reference();
    expected.listeners = vec![
        (
            80,
            "HTTP".into(),
            "redirect HTTPS 443 HTTP_301".into(),
            None,
        ),
        (
            443,
            "HTTPS".into(),
            "forward to the target group".into(),
            Some(certificate.clone()),
        ),
    ];
    assert_eq!(snapshot(&h, "tls").await, expected);
    assert_eq!(summary.outputs[outputs::LISTENER_ARNS].values().len(), 2);
    assert!(summary.outputs[outputs::URL].values()[0].starts_with("https://"));
    let https = h
        .recorder
        .of("CreateListener")
        .into_iter()
        .find(|r| r.body.contains("&Protocol=HTTPS&"))
        .unwrap();
    assert!(
        https
            .body
            .contains("SslPolicy=ELBSecurityPolicy-TLS13-1-2-2021-06"),
        "{}",
        https.body
    );

    network_for(&h, "tls", json!({})).await;
    h.recorder.clear();
    stage(&h).apply(&Names::new("tls")).await.unwrap();
    assert_eq!(snapshot(&h, "tls").await, reference());
    let calls: Vec<String> = h.recorder.mutating_operations();
    assert_eq!(
        calls,
        [
            "ModifyListener",
            "DeleteListener",
            // The listener ARNs and the URL, in the stage's one outputs parameter.
            "PutParameter"
        ]
    );
}

#[tokio::test]
async fn drift_is_corrected_with_only_the_needed_calls() {
    let h = Harness::start().await;
    network_for(&h, "drift", json!({})).await;
    let first = stage(&h).apply(&Names::new("drift")).await.unwrap();
    let elb = h.plain_elbv2();
    let tg = &first.outputs[outputs::TARGET_GROUP_ARN].values()[0];
    elb.modify_target_group()
        .target_group_arn(tg)
        .health_check_path("/elsewhere")
        .send()
        .await
        .unwrap();
    elb.modify_target_group_attributes()
        .target_group_arn(tg)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .unwrap();

    h.recorder.clear();
    stage(&h).apply(&Names::new("drift")).await.unwrap();
    assert_eq!(snapshot(&h, "drift").await, reference());
    let calls: Vec<String> = h.recorder.mutating_operations();
    assert_eq!(calls, ["ModifyTargetGroup", "ModifyTargetGroupAttributes"]);

    // A spec change of the health check and the drain reaches the target group the same way.
    network_for(
        &h,
        "drift",
        json!({"healthCheck": {"path": "/health"}, "deregistrationDelaySeconds": "10"}),
    )
    .await;
    h.recorder.clear();
    stage(&h).apply(&Names::new("drift")).await.unwrap();
    let calls: Vec<String> = h.recorder.mutating_operations();
    assert_eq!(calls, ["ModifyTargetGroup", "ModifyTargetGroupAttributes"]);
    let after = snapshot(&h, "drift").await;
    assert_eq!(after.target_groups[0].4, "/health");
    assert_eq!(after.target_groups[0].7, "10");
}

#[tokio::test]
async fn crash_after_any_mutating_call_converges_on_rerun() {
    let h = Harness::start().await;
    let calls = assert_converges_after_any_crash(
        &h,
        "crash",
        async |env| {
            network_for(&h, env, json!({})).await;
        },
        async |env| stage(&h).apply(&Names::new(env)).await,
        async |env| snapshot(&h, env).await,
    )
    .await;
    assert!(calls >= 5, "{calls} mutating calls");
}

#[tokio::test]
async fn a_load_balancer_of_the_same_name_from_elsewhere_is_a_conflict() {
    let h = Harness::start().await;
    let network = network_for(&h, "taken", json!({})).await;
    h.plain_elbv2()
        .create_load_balancer()
        .name("taken-alb")
        .set_subnets(Some(network["public-subnet-ids"].clone()))
        .send()
        .await
        .unwrap();
    let err = stage(&h).apply(&Names::new("taken")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string().contains("load balancer named taken-alb"),
        "{err}"
    );
    assert!(h.recorder.of("CreateLoadBalancer").is_empty());
}

#[tokio::test]
async fn destroy_removes_everything_and_a_second_destroy_succeeds() {
    let h = Harness::start().await;
    network_for(&h, "gone", json!({})).await;
    stage(&h).apply(&Names::new("gone")).await.unwrap();

    h.recorder.clear();
    stage(&h).destroy(&Names::new("gone")).await.unwrap();
    let deletes: Vec<String> = h
        .recorder
        .mutating_operations()
        .into_iter()
        .filter(|op| op != "DeleteParameters")
        .collect();
    assert_eq!(
        deletes,
        ["DeleteListener", "DeleteLoadBalancer", "DeleteTargetGroup"]
    );
    let empty = Snapshot {
        load_balancers: vec![],
        target_groups: vec![],
        listeners: vec![],
    };
    assert_eq!(snapshot(&h, "gone").await, empty);
    stage(&h).destroy(&Names::new("gone")).await.unwrap();
    assert_eq!(
        stage(&h).status(&Names::new("gone")).await.unwrap().state,
        Readiness::Ready
    );
    assert!(SsmStore::new(h.plain_ssm())
        .stage_outputs(&Names::new("gone"), alb_stage::outputs::STAGE)
        .await
        .unwrap()
        .is_empty());
}
