//! The listeners: HTTP on the listener port forwarding to the target group; with a certificate,
//! HTTPS on 443 forwarding and HTTP answering with a permanent redirect to HTTPS.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use provisioner_core::spec::AlbSpec;
use provisioner_core::tags::elb;
use provisioner_core::{changes, AwsContext, Change, Names, NotFoundAsNone, ProvisionError};

use crate::owner;

pub const HTTPS_PORT: i32 = 443;
/// TLS 1.3 and 1.2 only.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What a listener does with a request, in the terms `apply` compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Forward { target_group_arn: String },
    RedirectToHttps,
    Other(String),
}

impl Behaviour {
    fn of(actions: &[Action]) -> Self {
        let [action] = actions else {
            return Behaviour::Other(format!("{} actions", actions.len()));
        };
        match action.r#type() {
            Some(ActionTypeEnum::Forward) => {
                let arn = action.target_group_arn().or_else(|| {
                    let groups = action.forward_config()?.target_groups();
                    match groups {
                        [only] => only.target_group_arn(),
                        _ => None,
                    }
                });
                match arn {
                    Some(arn) => Behaviour::Forward {
                        target_group_arn: arn.to_string(),
                    },
                    None => Behaviour::Other("forward to several target groups".into()),
                }
            }
            Some(ActionTypeEnum::Redirect) => {
                let redirect = action.redirect_config();
                let https = redirect.and_then(|r| r.protocol()) == Some("HTTPS")
                    && redirect.and_then(|r| r.port()) == Some("443")
                    && redirect.and_then(|r| r.status_code())
                        == Some(&RedirectActionStatusCodeEnum::Http301);
                if https {
                    Behaviour::RedirectToHttps
                } else {
                    Behaviour::Other("another redirect".into())
                }
            }
            other => Behaviour::Other(format!("{other:?}")),
        }
    }

    /// In words, for a plan.
    fn describe(&self) -> String {
        match self {
            Behaviour::Forward { target_group_arn } => format!("forward to {target_group_arn}"),
            Behaviour::RedirectToHttps => "redirect to HTTPS".to_string(),
            Behaviour::Other(what) => what.clone(),
        }
    }

    fn action(&self) -> Action {
        match self {
            Behaviour::Forward { target_group_arn } => Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(target_group_arn)
                .build(),
            Behaviour::RedirectToHttps | Behaviour::Other(_) => Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port(HTTPS_PORT.to_string())
                        .status_code(RedirectActionStatusCodeEnum::Http301)
                        .build(),
                )
                .build(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedListener {
    pub port: i32,
    pub protocol: ProtocolEnum,
    pub certificate_arn: Option<String>,
    pub behaviour: Behaviour,
}

impl WantedListener {
    fn role(&self) -> String {
        format!("listener-{}", self.port)
    }
}

/// The listeners for `certificate`: the spec's, or the one requested for its domain once
/// issued. Until then, HTTP forwards.
pub fn wanted(
    alb: &AlbSpec,
    certificate: Option<&str>,
    target_group_arn: &str,
) -> Vec<WantedListener> {
    let forward = Behaviour::Forward {
        target_group_arn: target_group_arn.to_string(),
    };
    let port = i32::try_from(alb.listener_port).unwrap_or(80);
    match certificate {
        None => vec![WantedListener {
            port,
            protocol: ProtocolEnum::Http,
            certificate_arn: None,
            behaviour: forward,
        }],
        Some(certificate) => vec![
            WantedListener {
                port,
                protocol: ProtocolEnum::Http,
                certificate_arn: None,
                behaviour: Behaviour::RedirectToHttps,
            },
            WantedListener {
                port: HTTPS_PORT,
                protocol: ProtocolEnum::Https,
                certificate_arn: Some(certificate.to_string()),
                behaviour: forward,
            },
        ],
    }
}

pub async fn find(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    load_balancer_arn: &str,
) -> Result<Vec<Listener>, ProvisionError> {
    if changes::is_new(load_balancer_arn) {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let mut pages = elb
        .describe_listeners()
        .load_balancer_arn(load_balancer_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page
            .context("DescribeListeners", load_balancer_arn)
            .not_found_as_none()?
        {
            Some(page) => found.extend(page.listeners().iter().cloned()),
            None => break,
        }
    }
    Ok(found)
}

/// The certificate the load balancer's HTTPS listener serves now, if it has one.
pub async fn serving_certificate(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    load_balancer_arn: &str,
) -> Result<Option<String>, ProvisionError> {
    if changes::is_fresh(load_balancer_arn) {
        return Ok(None);
    }
    let listeners = find(elb, load_balancer_arn).await?;
    Ok(listeners
        .iter()
        .find(|l| l.port() == Some(HTTPS_PORT))
        .and_then(|l| l.certificates().first())
        .and_then(|c| c.certificate_arn())
        .map(str::to_string))
}

fn matches(current: &Listener, want: &WantedListener) -> bool {
    let certificate = current
        .certificates()
        .first()
        .and_then(|c| c.certificate_arn());
    current.protocol() == Some(&want.protocol)
        && Behaviour::of(current.default_actions()) == want.behaviour
        && certificate == want.certificate_arn.as_deref()
}

/// Makes the load balancer's listeners exactly `wanted`. Returns their ARNs in `wanted` order.
pub async fn ensure(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    load_balancer_arn: &str,
    wanted: &[WantedListener],
) -> Result<Vec<String>, ProvisionError> {
    // A load balancer this request made has none yet.
    let mut existing = if changes::is_fresh(load_balancer_arn) {
        Vec::new()
    } else {
        find(elb, load_balancer_arn).await?
    };
    let mut arns = Vec::new();
    for want in wanted {
        let certificates = want
            .certificate_arn
            .as_ref()
            .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]);
        let ssl_policy = want
            .certificate_arn
            .as_ref()
            .map(|_| SSL_POLICY.to_string());
        let position = existing.iter().position(|l| l.port() == Some(want.port));
        let arn = match position.map(|i| existing.remove(i)) {
            Some(current) => {
                let arn = current.listener_arn().unwrap_or_default().to_string();
                if !matches(&current, want) && changes::carry_out(listener_change(&current, want)) {
                    elb.modify_listener()
                        .listener_arn(&arn)
                        .protocol(want.protocol.clone())
                        .port(want.port)
                        .default_actions(want.behaviour.action())
                        .set_certificates(certificates)
                        .set_ssl_policy(ssl_policy)
                        .send()
                        .await
                        .context("ModifyListener", &arn)?;
                    tracing::info!(listener = %arn, port = want.port, "corrected listener");
                }
                arn
            }
            None if !changes::carry_out(
                Change::create("listener", format!("port {}", want.port))
                    .set("protocol", want.protocol.as_str())
                    .set("action", want.behaviour.describe()),
            ) =>
            {
                changes::new_id(&format!("listener port {}", want.port))
            }
            None => {
                let created = elb
                    .create_listener()
                    .load_balancer_arn(load_balancer_arn)
                    .protocol(want.protocol.clone())
                    .port(want.port)
                    .default_actions(want.behaviour.action())
                    .set_certificates(certificates)
                    .set_ssl_policy(ssl_policy)
                    .set_tags(Some(elb::on_create(owner(names), &want.role())))
                    .send()
                    .await
                    .context("CreateListener", format!("port {}", want.port))?;
                let arn = created
                    .listeners()
                    .first()
                    .and_then(|l| l.listener_arn())
                    .unwrap_or_default()
                    .to_string();
                tracing::info!(listener = %arn, port = want.port, "created listener");
                arn
            }
        };
        arns.push(arn);
    }
    // Listeners on ports the spec no longer has (say, HTTPS after the certificate was removed).
    for stale in existing {
        let change = Change::delete(
            "listener",
            format!("port {}", stale.port().unwrap_or_default()),
        )
        .because("the spec no longer has it");
        if changes::carry_out(change) {
            delete(elb, stale.listener_arn().unwrap_or_default()).await?;
        }
    }
    Ok(arns)
}

/// What correcting `current` into `want` changes, field by field.
fn listener_change(current: &Listener, want: &WantedListener) -> Change {
    let mut change = Change::update("listener", format!("port {}", want.port));
    let protocol = current.protocol().map(|p| p.as_str()).unwrap_or("?");
    if protocol != want.protocol.as_str() {
        change = change.field("protocol", protocol, want.protocol.as_str());
    }
    let behaviour = Behaviour::of(current.default_actions());
    if behaviour != want.behaviour {
        change = change.field("action", behaviour.describe(), want.behaviour.describe());
    }
    let certificate = current
        .certificates()
        .first()
        .and_then(|c| c.certificate_arn());
    if certificate != want.certificate_arn.as_deref() {
        change = change.field(
            "certificate",
            certificate.unwrap_or("(none)"),
            want.certificate_arn.as_deref().unwrap_or("(none)"),
        );
    }
    change
}

pub async fn delete(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<(), ProvisionError> {
    elb.delete_listener()
        .listener_arn(arn)
        .send()
        .await
        .context("DeleteListener", arn)
        .not_found_as_none()?;
    tracing::info!(listener = %arn, "deleted listener");
    Ok(())
}
