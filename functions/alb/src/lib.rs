//! The ALB stage: an internet-facing application load balancer in the public subnets, an `ip`
//! target group for the Fargate tasks and the listeners; with `alb.domain`, the name's alias
//! record and (unless the spec gives one) its certificate; with a blue/green, canary or linear
//! rollout, a second target group and the production listener rule ECS shifts traffic with.
//! Outputs go to `/fargate-provisioner/<environment>/alb/`.

pub mod certificate;
pub mod dns;
pub mod domain;
pub mod listeners;
pub mod load_balancer;
pub mod production_rule;
pub mod target_group;

use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, LoadBalancerStateEnum};
use provisioner_core::outputs::network;
use provisioner_core::{
    Action, Names, Outputs, ProvisionError, Readiness, Stage, StageContext, StageSummary,
};

/// Output names under `/fargate-provisioner/<environment>/alb/`.
pub use provisioner_core::outputs::alb as outputs;

pub struct AlbStage {
    elb: aws_sdk_elasticloadbalancingv2::Client,
    acm: aws_sdk_acm::Client,
    route53: aws_sdk_route53::Client,
    ctx: StageContext,
}

/// The AWS clients the stage uses besides SSM.
pub struct Clients {
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
}

impl provisioner_core::stage::FromSdkConfig for Clients {
    fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
        }
    }
}

/// Who owns the load balancing resources in `names`' environment.
fn owner(names: &Names) -> provisioner_core::Owner<'_> {
    <AlbStage as Stage>::owner(names)
}

/// Ready when active (for apply: also while provisioning, since what depends on the load
/// balancer needs only its target group and listeners); `failed` is an error with AWS's reason.
fn readiness(lb: &LoadBalancer, action: Action) -> Result<(Readiness, String), ProvisionError> {
    let name = lb.load_balancer_name().unwrap_or_default();
    let state = lb.state();
    let reason = state.and_then(|s| s.reason()).unwrap_or("no reason given");
    match state.and_then(|s| s.code()) {
        Some(LoadBalancerStateEnum::Active) => Ok((
            Readiness::Ready,
            format!(
                "load balancer {name} is active at {}",
                lb.dns_name().unwrap_or_default()
            ),
        )),
        Some(LoadBalancerStateEnum::Failed) => Err(ProvisionError::Conflict(format!(
            "load balancer {name} failed: {reason}; destroy the ALB stage and apply again"
        ))),
        other if action == Action::Apply => Ok((
            Readiness::Ready,
            format!(
                "load balancer {name} is {} at {}; the service stage waits for it to become active",
                other.map(|s| s.as_str()).unwrap_or("unknown"),
                lb.dns_name().unwrap_or_default()
            ),
        )),
        other => Ok((
            Readiness::Pending,
            format!(
                "waiting for load balancer {name} to become active (now {})",
                other.map(|s| s.as_str()).unwrap_or("unknown")
            ),
        )),
    }
}

impl AlbStage {
    /// With a blue/green, canary or linear rollout: the alternate target group and the
    /// production rule on `forwarding`, as (alternate ARN, rule ARN). With a rolling one, those
    /// an earlier spec made go once no task is registered in the alternate group (tasks there
    /// are the service's live ones: the service stage refuses to switch back to rolling in
    /// place, and they stay until it is destroyed).
    /// `alternate` is the alternate target group when the spec wants one.
    async fn ensure_rollout_resources(
        &self,
        names: &Names,
        recorded: &Outputs,
        primary: &str,
        alternate: Option<String>,
        forwarding: &str,
        listener_arns: &[String],
    ) -> Result<Option<(String, String)>, ProvisionError> {
        let others: Vec<String> = listener_arns
            .iter()
            .filter(|a| a.as_str() != forwarding)
            .cloned()
            .collect();
        if let Some(alternate) = alternate {
            let rule =
                production_rule::ensure(&self.elb, names, forwarding, &others, primary, &alternate)
                    .await?;
            return Ok(Some((alternate, rule)));
        }
        let one = |key: &str| {
            recorded
                .get(key)
                .map(provisioner_core::OutputValue::to_parameter_value)
        };
        let (Some(alternate), Some(rule)) = (
            one(outputs::ALTERNATE_TARGET_GROUP_ARN),
            one(outputs::PRODUCTION_LISTENER_RULE_ARN),
        ) else {
            return Ok(None);
        };
        if target_group::has_targets(&self.elb, &alternate).await? {
            return Ok(Some((alternate, rule)));
        }
        production_rule::remove(&self.elb, listener_arns).await?;
        let change = provisioner_core::Change::delete("target group", &alternate)
            .because("the rollout is ROLLING");
        if provisioner_core::changes::carry_out(change) {
            target_group::delete(&self.elb, &alternate).await?;
        }
        Ok(None)
    }
}

impl Stage for AlbStage {
    const NAME: &'static str = outputs::STAGE;

    type Clients = Clients;

    fn new(clients: Clients, ctx: StageContext) -> Self {
        Self {
            elb: clients.elb,
            acm: clients.acm,
            route53: clients.route53,
            ctx,
        }
    }

    async fn apply(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let (spec, stored) = self.ctx.load(names, &[network::STAGE, Self::NAME]).await?;
        let net = stored.upstream(network::STAGE);
        let placement = load_balancer::Placement {
            vpc_id: net.one(network::VPC_ID)?,
            public_subnet_ids: net.list(network::PUBLIC_SUBNET_IDS)?,
            security_group_id: net.one(network::ALB_SECURITY_GROUP_ID)?,
        };
        let container_port = i32::try_from(spec.service.container_port).unwrap_or(80);
        let group = |group| {
            target_group::ensure(
                &self.elb,
                names,
                group,
                &placement.vpc_id,
                container_port,
                &spec.alb,
            )
        };
        // The second target group of blue/green, canary and linear rollouts.
        let alternate = async {
            match spec.service.rollout_strategy().shifts_traffic() {
                true => group(target_group::Group::Alternate).await.map(Some),
                false => Ok(None),
            }
        };
        // Joined, not raced: every create finishes before a failure is reported.
        let (lb, target_group_arn, alternate) = tokio::join!(
            load_balancer::ensure(&self.elb, names, &placement),
            group(target_group::Group::Primary),
            alternate,
        );
        let (lb, target_group_arn, alternate) = (lb?, target_group_arn?, alternate?);
        let lb_arn = lb.load_balancer_arn().unwrap_or_default();
        let dns_name = lb.dns_name().unwrap_or_default().to_string();
        let mut current = stored.outputs(Self::NAME);
        let before = domain::Domain::from_outputs(&current);
        let clients = domain::Clients {
            acm: &self.acm,
            route53: &self.route53,
        };
        let now = domain::ensure(clients, names, &spec.alb, &before).await?;
        if now.record_to_write().is_some() {
            let mut remembered = current.clone();
            now.write_outputs(&mut remembered);
            self.ctx
                .store
                .replace_stage_outputs(names, Self::NAME, &current, &remembered)
                .await?;
            current = remembered;
            domain::write_record(clients, &now).await?;
        }
        let serving = match spec
            .alb
            .certificate_arn
            .clone()
            .or(now.issued_certificate())
        {
            Some(arn) => Some(arn),
            // Until the requested certificate is issued, HTTPS keeps the one it serves (a
            // certificate given before, or the old name's): a switch does not take it down.
            None if now.waiting_for().is_some() => {
                listeners::serving_certificate(&self.elb, lb_arn).await?
            }
            None => None,
        };
        let wanted = listeners::wanted(&spec.alb, serving.as_deref(), &target_group_arn);
        let listener_arns = listeners::ensure(&self.elb, names, lb_arn, &wanted).await?;
        let forwarding = wanted
            .iter()
            .position(|w| matches!(w.behaviour, listeners::Behaviour::Forward { .. }))
            .map(|i| listener_arns[i].clone())
            .unwrap_or_default();
        let rollout = self
            .ensure_rollout_resources(
                names,
                &current,
                &target_group_arn,
                alternate,
                &forwarding,
                &listener_arns,
            )
            .await?;
        let now = domain::point_and_retire(clients, names, &lb, &spec.alb, before, now).await?;

        let host = spec.alb.domain.as_ref().map_or(&dns_name, |d| &d.name);
        let scheme = if serving.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{host}");
        let mut out = Outputs::new();
        out.insert(outputs::LOAD_BALANCER_ARN.into(), lb_arn.to_string().into());
        out.insert(outputs::DNS_NAME.into(), dns_name.clone().into());
        out.insert(
            outputs::HOSTED_ZONE_ID.into(),
            lb.canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string()
                .into(),
        );
        out.insert(outputs::TARGET_GROUP_ARN.into(), target_group_arn.into());
        out.insert(outputs::LISTENER_ARNS.into(), listener_arns.into());
        out.insert(outputs::URL.into(), url.into());
        if let Some((alternate, rule)) = rollout {
            out.insert(outputs::ALTERNATE_TARGET_GROUP_ARN.into(), alternate.into());
            out.insert(outputs::PRODUCTION_LISTENER_RULE_ARN.into(), rule.into());
        }
        now.write_outputs(&mut out);
        self.ctx
            .store
            .replace_stage_outputs(names, Self::NAME, &current, &out)
            .await?;
        if let Some(waiting) = now.waiting_for() {
            let message = format!("waiting for {waiting}");
            return Ok(self
                .summary(Action::Apply, names, Readiness::Pending, out, message)
                .not_before(domain::VALIDATION_POLL_SECONDS));
        }
        let (state, message) = readiness(&lb, Action::Apply)?;
        Ok(self.summary(Action::Apply, names, state, out, message))
    }

    async fn status(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let outputs = self.ctx.own_outputs(names, Self::NAME).await?;
        let found = load_balancer::find(&self.elb, names).await?;
        let (state, message) = match (found.first(), outputs.is_empty()) {
            (Some(lb), _) => readiness(lb, Action::Status)?,
            (None, true) => (
                Readiness::Ready,
                format!("environment {environment} has no load balancer"),
            ),
            (None, false) => (
                Readiness::Pending,
                format!(
                    "load balancer {} does not exist; run apply for the ALB stage",
                    names.load_balancer()
                ),
            ),
        };
        Ok(self.summary(Action::Status, names, state, outputs, message))
    }

    /// Deletes the name's alias, then listeners, then the load balancer, then the target group
    /// (which a listener would keep in use), then the certificates the stage requested and their
    /// validation records. Each may already be gone.
    async fn destroy(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let own = self.ctx.store.stage_outputs(names, Self::NAME).await?;
        let mut before = domain::Domain::from_outputs(&own);
        if before.name.is_none() {
            // An alias or a certificate made by an apply that failed before it wrote its
            // outputs is found by the spec's name.
            if let Ok(spec) = self.ctx.store.spec(names, &self.ctx.region).await {
                if let Some(domain) = &spec.alb.domain {
                    before.name = Some(domain.name.clone());
                    before.zone = Some(domain.hosted_zone_id.clone());
                }
            }
        }
        let clients = domain::Clients {
            acm: &self.acm,
            route53: &self.route53,
        };
        domain::remove_alias(clients, names, &before).await?;
        let mut deleted = 0;
        for lb in load_balancer::find(&self.elb, names).await? {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            for listener in listeners::find(&self.elb, arn).await? {
                listeners::delete(&self.elb, listener.listener_arn().unwrap_or_default()).await?;
                deleted += 1;
            }
            load_balancer::delete(&self.elb, arn).await?;
            deleted += 1;
        }
        for group in [target_group::Group::Primary, target_group::Group::Alternate] {
            for tg in target_group::find(&self.elb, names, group).await? {
                target_group::delete(&self.elb, tg.target_group_arn().unwrap_or_default()).await?;
                deleted += 1;
            }
        }
        let left = domain::remove_certificates(clients, names, &before).await?;
        if let Some(in_use) = left {
            let message = format!("waiting for the load balancer to let go of certificate {in_use} before deleting it");
            return Ok(self
                .summary(Action::Destroy, names, Readiness::Pending, own, message)
                .not_before(domain::VALIDATION_POLL_SECONDS));
        }
        self.ctx
            .store
            .delete_stage_outputs(names, Self::NAME)
            .await?;
        Ok(self.destroyed(
            names,
            format!("deleted {deleted} load balancing resources of {environment}"),
        ))
    }
}
