//! The endpoints stage: the PrivateLink interface endpoints and the S3 gateway endpoint that let
//! tasks in private subnets (no internet route) pull images, ship logs and read secrets.
//! Which endpoints, and why, comes from the table in [`plan`].

mod private_dns;
pub mod vpc_endpoints;

use aws_sdk_ec2::types::VpcEndpoint;
use provisioner_core::outputs::network;
use provisioner_core::{
    Action, Names, OutputValue, Outputs, ProvisionError, Readiness, Stage, StageContext,
    StageSummary, UpstreamOutputs,
};

use provisioner_core::endpoint_plan::{self as plan, EndpointKind, PlannedEndpoint};
use vpc_endpoints::{is_state, Placement};

/// Output names under `/fargate-provisioner/<environment>/endpoints/`.
pub use provisioner_core::outputs::endpoints as outputs;

pub struct EndpointsStage {
    ec2: aws_sdk_ec2::Client,
    /// For apply: the network's ids may be seconds old, and so are the endpoints it creates.
    patient: aws_sdk_ec2::Client,
    ctx: StageContext,
}

/// Who owns the endpoints in `names`' environment.
fn owner(names: &Names) -> provisioner_core::Owner<'_> {
    <EndpointsStage as Stage>::owner(names)
}

impl EndpointsStage {
    fn placement(network: &UpstreamOutputs) -> Result<Placement, ProvisionError> {
        Ok(Placement {
            vpc_id: network.one(network::VPC_ID)?,
            private_subnet_ids: network.list(network::PRIVATE_SUBNET_IDS)?,
            private_route_table_ids: network.list(network::PRIVATE_ROUTE_TABLE_IDS)?,
            security_group_id: network.one(network::PRIVATELINK_SECURITY_GROUP_ID)?,
        })
    }

    /// Ready when every endpoint is `available` and every recorded one exists; an endpoint that
    /// `failed` or was `rejected` is an error naming it.
    async fn readiness(
        &self,
        names: &Names,
        outputs: &Outputs,
    ) -> Result<(Readiness, String), ProvisionError> {
        let found = vpc_endpoints::find(&self.ec2, names, None).await?;
        let describe = |e: &VpcEndpoint| {
            format!(
                "{} ({})",
                e.vpc_endpoint_id().unwrap_or_default(),
                e.service_name().unwrap_or_default()
            )
        };
        if let Some(bad) = found
            .iter()
            .find(|e| is_state(e, "failed") || is_state(e, "rejected"))
        {
            let reason = bad
                .last_error()
                .map(|e| {
                    format!(
                        ": {}: {}",
                        e.code().unwrap_or_default(),
                        e.message().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Err(ProvisionError::Conflict(format!(
                "VPC endpoint {} is {}{reason}; run destroy for the endpoints stage and apply again",
                describe(bad),
                bad.state().map(|s| s.as_str()).unwrap_or_default()
            )));
        }
        let mut waiting: Vec<String> = found
            .iter()
            .filter(|e| !is_state(e, "available"))
            .map(|e| {
                format!(
                    "{} is {}",
                    describe(e),
                    e.state().map(|s| s.as_str()).unwrap_or("unknown")
                )
            })
            .collect();
        let recorded = outputs
            .get(outputs::ENDPOINT_IDS)
            .map(OutputValue::values)
            .unwrap_or_default();
        waiting.extend(
            recorded
                .iter()
                .filter(|id| {
                    !found
                        .iter()
                        .any(|e| e.vpc_endpoint_id() == Some(id.as_str()))
                })
                .map(|id| format!("{id} does not exist (run apply)")),
        );
        Ok(if waiting.is_empty() && found.is_empty() {
            (
                Readiness::Ready,
                format!("no VPC endpoints of {} remain", names.environment()),
            )
        } else if waiting.is_empty() {
            (
                Readiness::Ready,
                format!(
                    "{} VPC endpoints of {} are available",
                    found.len(),
                    names.environment()
                ),
            )
        } else {
            (
                Readiness::Pending,
                format!("waiting: {}", waiting.join("; ")),
            )
        })
    }
}

fn describe_plan(planned: &[PlannedEndpoint]) -> Vec<String> {
    planned
        .iter()
        .map(|p| format!("{} ({}): {}", p.service, p.kind.as_str(), p.why))
        .collect()
}

impl Stage for EndpointsStage {
    const NAME: &'static str = outputs::STAGE;

    type Clients = aws_sdk_ec2::Client;

    fn new(ec2: Self::Clients, ctx: StageContext) -> Self {
        let patient = provisioner_core::not_yet::patient_ec2(&ec2);
        Self { ec2, patient, ctx }
    }

    async fn apply(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let (spec, stored) = self.ctx.load(names, &[network::STAGE, Self::NAME]).await?;
        let placement = Self::placement(&stored.upstream(network::STAGE))?;
        // A VPC this run made holds no endpoint but this run's, whose creates resend with the
        // same client token: no need to look for them.
        let made_in = stored
            .upstream(network::STAGE)
            .one(network::VPC_MADE_IN)
            .ok();
        if made_in.is_some() && made_in == provisioner_core::exactly_once::current_execution() {
            provisioner_core::changes::made(&placement.vpc_id);
        }
        let planned = plan::for_service(&spec.service, &self.ctx.region);
        for p in &planned {
            tracing::info!(service = %p.service_name, kind = p.kind.as_str(), why = p.why, "endpoint planned");
        }
        let ids = vpc_endpoints::ensure(&self.patient, names, &placement, &planned).await?;

        let mut out = Outputs::new();
        let ordered: Vec<String> = planned.iter().map(|p| ids[p.service].clone()).collect();
        out.insert(outputs::ENDPOINT_IDS.into(), ordered.into());
        for p in &planned {
            out.insert(
                outputs::endpoint_id(p.service),
                ids[p.service].clone().into(),
            );
        }
        out.insert(outputs::PLAN.into(), describe_plan(&planned).into());
        self.ctx
            .store
            .replace_stage_outputs(names, Self::NAME, &stored.outputs(Self::NAME), &out)
            .await?;
        // An interface endpoint created just now is `pending` for a minute at least: no need to
        // read it back before the first poll.
        let just_made: Vec<String> = planned
            .iter()
            .filter(|p| p.kind == EndpointKind::Interface)
            .filter(|p| provisioner_core::changes::is_fresh(&ids[p.service]))
            .map(|p| format!("{} ({}) is pending", ids[p.service], p.service_name))
            .collect();
        let (state, waiting) = if provisioner_core::changes::is_planning() {
            (Readiness::Ready, String::new())
        } else if !just_made.is_empty() {
            (
                Readiness::Pending,
                format!("waiting: {}", just_made.join("; ")),
            )
        } else {
            self.readiness(names, &out).await?
        };
        let message = format!(
            "endpoints of {environment}: {}. {waiting}",
            describe_plan(&planned).join("; ")
        );
        let summary = self.summary(Action::Apply, names, state, out, message);
        Ok(if state == Readiness::Pending {
            summary.not_before(provisioner_core::earliest::INTERFACE_ENDPOINT_SECONDS)
        } else {
            summary
        })
    }

    async fn status(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let outputs = self.ctx.own_outputs(names, Self::NAME).await?;
        let (state, message) = self.readiness(names, &outputs).await?;
        Ok(self.summary(Action::Status, names, state, outputs, message))
    }

    /// Starts deleting every endpoint of the environment. Their network interfaces block deleting
    /// the security groups and subnets, so the answer is `pending` until `status` sees them gone.
    async fn destroy(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let found = vpc_endpoints::find(&self.ec2, names, None).await?;
        let ids: Vec<String> = found
            .iter()
            .filter(|e| !is_state(e, "deleting"))
            .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
            .collect();
        vpc_endpoints::delete(&self.ec2, &ids).await?;
        self.ctx
            .store
            .delete_stage_outputs(names, Self::NAME)
            .await?;
        let (state, waiting) = self.readiness(names, &Outputs::new()).await?;
        let message = format!(
            "deleting {} VPC endpoints of {environment}. {waiting}",
            ids.len()
        );
        Ok(self.summary(Action::Destroy, names, state, Outputs::new(), message))
    }
}
