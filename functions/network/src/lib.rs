//! The network stage: VPC (DNS support and hostnames on), public and private subnets, internet
//! gateway, route tables and the three security groups. Outputs go to
//! `/fargate-provisioner/<environment>/network/`.

mod gateway;
mod in_use;
mod nat;
mod retired;
mod routes;
mod security_groups;
mod subnets;
mod teardown;
mod vpc;

use provisioner_core::{
    zones, Action, Names, Outputs, ProvisionError, Readiness, Stage, StageContext, StageSummary,
};

pub use security_groups::{ALB_ROLE, PRIVATELINK_ROLE, WEB_ROLE};

use subnets::WantedSubnet;

/// Output names under `/fargate-provisioner/<environment>/network/`.
pub use provisioner_core::outputs::network as outputs;

pub struct NetworkStage {
    ec2: aws_sdk_ec2::Client,
    /// For apply, which names ids it has just created: waits out EC2's eventual consistency.
    patient: aws_sdk_ec2::Client,
    ctx: StageContext,
}

/// Who owns the network's resources in `names`' environment.
fn owner(names: &Names) -> provisioner_core::Owner<'_> {
    <NetworkStage as Stage>::owner(names)
}

impl Stage for NetworkStage {
    const NAME: &'static str = outputs::STAGE;

    type Clients = aws_sdk_ec2::Client;

    fn new(ec2: Self::Clients, ctx: StageContext) -> Self {
        let patient = provisioner_core::not_yet::patient_ec2(&ec2);
        Self { ec2, patient, ctx }
    }

    async fn apply(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let (spec, stored) = self.ctx.load(names, &[Self::NAME]).await?;
        let ec2 = &self.patient;
        let region = &self.ctx.region;
        let spec = zones::named(ec2, spec, region).await?;

        let wanted_subnets = subnets::wanted(&spec.network, region)?;
        // The gateway needs no VPC to exist: made beside it, it is known everywhere by the time
        // it is attached.
        let (vpc_id, gateways) = tokio::join!(
            vpc::ensure(ec2, names, &spec.network.vpc_cidr),
            gateway::ensure_one(ec2, names),
        );
        let (vpc_id, gateways) = (vpc_id?, gateways?);
        // Joined, not raced: every create in flight finishes before a failure is reported.
        // What needs only the VPC is made side by side; what names two new ids (a rule naming
        // a group, a subnet's association, a route to the gateway) follows, once they settled.
        let per_zone = spec.network.nat_gateways == provisioner_core::spec::NatGateways::PerZone;
        let private_role = |zone: &str| routes::private_role(per_zone, zone);
        let table_roles: Vec<String> = std::iter::once(routes::PUBLIC_ROLE.to_string())
            .chain(routes::private_roles(&spec.network, &wanted_subnets))
            .collect();
        let (subnet_ids, gateway_id, groups, tables) = tokio::join!(
            subnets::ensure(ec2, names, &vpc_id, &wanted_subnets),
            gateway::attach(ec2, names, &gateways, &vpc_id),
            security_groups::ensure(ec2, names, &vpc_id),
            routes::ensure_tables(ec2, names, &vpc_id, &table_roles),
        );
        let (subnets, gateway_id, groups, tables) = (subnet_ids?, gateway_id?, groups?, tables?);
        let subnet_ids = &subnets.ids;
        // In a new VPC everything above was just made, and what follows names it.
        if provisioner_core::changes::is_fresh(&vpc_id) {
            provisioner_core::not_yet::settle(ec2.config().sleep_impl()).await;
        }
        let ids_of = |kind: &str| -> Vec<String> {
            wanted_subnets
                .iter()
                .filter(|w| w.role.starts_with(kind))
                .map(|w| subnet_ids[&w.role].clone())
                .collect()
        };
        let (public, private) = (ids_of("public-"), ids_of("private-"));
        // NAT gateways in the public subnets; a private table routes to its zone's once it is
        // available (with ONE, every private table to the one).
        let wanted_nats = nat::wanted(&spec.network, region, &wanted_subnets, subnet_ids)?;
        let nats = nat::ensure(ec2, names, &vpc_id, &wanted_nats).await?;
        let mut wanted_tables = vec![routes::WantedRouteTable {
            role: routes::PUBLIC_ROLE.to_string(),
            subnet_ids: public.iter().map(String::as_str).collect(),
            default_route: routes::DefaultRoute::InternetGateway(&gateway_id),
        }];
        for role in table_roles.iter().skip(1) {
            let in_table: Vec<&WantedSubnet> = wanted_subnets
                .iter()
                .filter(|w| w.role.starts_with("private-") && private_role(&w.zone) == *role)
                .collect();
            let zone = in_table
                .first()
                .map(|w| w.zone.as_str())
                .unwrap_or_default();
            let gateway = nats
                .by_zone
                .get(zone)
                .or_else(|| nats.by_zone.values().next());
            let default_route = match gateway {
                None => routes::DefaultRoute::Absent,
                Some(id) if nats.pending.contains(id) => routes::DefaultRoute::Unchanged,
                Some(id) => routes::DefaultRoute::NatGateway(id),
            };
            wanted_tables.push(routes::WantedRouteTable {
                role: role.clone(),
                subnet_ids: in_table
                    .iter()
                    .map(|w| subnet_ids[&w.role].as_str())
                    .collect(),
                default_route,
            });
        }
        // Tables of another `natGateways` go in the cleanup, once the endpoints have left them.
        let retired_tables: Vec<String> = routes::retired(&tables.all, &table_roles)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let (tables, rules) = tokio::join!(
            routes::ensure_routes(ec2, &tables, &wanted_tables),
            security_groups::ensure_rules(ec2, &groups, &spec),
        );
        let (tables, ()) = (tables?, rules?);
        // Gateways the spec no longer has, once no table routes to them.
        let kept: Vec<String> = nats.by_zone.values().cloned().collect();
        let leaving = nat::remove_unwanted(ec2, names, Some(&vpc_id), &kept, false).await?;
        let group_ids = &groups.ids;

        let mut out = Outputs::new();
        let vpc_made = provisioner_core::changes::is_fresh(&vpc_id);
        out.insert(outputs::VPC_ID.into(), vpc_id.into());
        out.insert(
            outputs::VPC_CIDR.into(),
            spec.network.vpc_cidr.clone().into(),
        );
        out.insert(outputs::PUBLIC_SUBNET_IDS.into(), public.into());
        out.insert(outputs::PRIVATE_SUBNET_IDS.into(), private.into());
        out.insert(
            outputs::PUBLIC_ROUTE_TABLE_ID.into(),
            tables[routes::PUBLIC_ROLE].clone().into(),
        );
        out.insert(
            outputs::PRIVATE_ROUTE_TABLE_IDS.into(),
            table_roles
                .iter()
                .skip(1)
                .map(|role| tables[role].clone())
                .collect::<Vec<_>>()
                .into(),
        );
        if !nats.by_zone.is_empty() {
            out.insert(
                outputs::NAT_GATEWAY_IDS.into(),
                nats.by_zone.values().cloned().collect::<Vec<_>>().into(),
            );
        }
        out.insert(outputs::INTERNET_GATEWAY_ID.into(), gateway_id.into());
        out.insert(
            outputs::ALB_SECURITY_GROUP_ID.into(),
            group_ids[ALB_ROLE].clone().into(),
        );
        out.insert(
            outputs::WEB_SECURITY_GROUP_ID.into(),
            group_ids[WEB_ROLE].clone().into(),
        );
        out.insert(
            outputs::PRIVATELINK_SECURITY_GROUP_ID.into(),
            group_ids[PRIVATELINK_ROLE].clone().into(),
        );
        out.insert(
            outputs::RETIRED_SUBNET_IDS.into(),
            subnets.retired.clone().into(),
        );
        if !retired_tables.is_empty() {
            out.insert(
                outputs::RETIRED_ROUTE_TABLE_IDS.into(),
                retired_tables.into(),
            );
        }
        let made_in = if vpc_made {
            provisioner_core::exactly_once::current_execution()
        } else {
            stored
                .outputs(Self::NAME)
                .get(outputs::VPC_MADE_IN)
                .map(|v| v.to_parameter_value())
        };
        if let Some(run) = made_in {
            out.insert(outputs::VPC_MADE_IN.into(), run.into());
        }
        let changed = self
            .ctx
            .store
            .replace_stage_outputs(names, Self::NAME, &stored.outputs(Self::NAME), &out)
            .await?;
        if !nats.pending.is_empty() || !leaving.is_empty() {
            // Applied again until the gateways are available (and the old ones gone).
            let waiting: Vec<String> = nats
                .pending
                .iter()
                .map(|id| {
                    let zone = nats.by_zone.iter().find(|(_, g)| *g == id).map(|(z, _)| z);
                    format!("NAT gateway {id} in {} (pending)", zone.map_or("?", |z| z))
                })
                .chain(leaving)
                .collect();
            let message = format!(
                "network of {environment}: waiting for {} ({changed} outputs written)",
                waiting.join(", ")
            );
            return Ok(self.summary(Action::Apply, names, Readiness::Pending, out, message));
        }
        let message = format!("network of {environment} is in place ({changed} outputs written)");
        Ok(self.summary(Action::Apply, names, Readiness::Ready, out, message))
    }

    /// Ready when the VPC and its subnets are `available`; reports the stored outputs.
    async fn status(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let Some(found) = vpc::find(&self.ec2, names).await? else {
            let message = format!("environment {environment} has no network");
            return Ok(self.summary(
                Action::Status,
                names,
                Readiness::Ready,
                Outputs::new(),
                message,
            ));
        };
        let vpc_id = found.vpc_id().unwrap_or_default();
        let subnets = subnets::find(&self.ec2, names, vpc_id).await?;
        let available =
            |state: Option<&str>| state.is_some_and(|s| s.eq_ignore_ascii_case("available"));
        let pending: Vec<&str> = std::iter::once((vpc_id, found.state().map(|s| s.as_str())))
            .chain(subnets.values().map(|s| {
                (
                    s.subnet_id().unwrap_or_default(),
                    s.state().map(|s| s.as_str()),
                )
            }))
            .filter(|(_, state)| !available(*state))
            .map(|(id, _)| id)
            .collect();
        let outputs = self.ctx.own_outputs(names, Self::NAME).await?;
        let (state, message) = if pending.is_empty() {
            (
                Readiness::Ready,
                format!("network of {environment} is available"),
            )
        } else {
            (
                Readiness::Pending,
                format!("waiting for {} to become available", pending.join(", ")),
            )
        };
        Ok(self.summary(Action::Status, names, state, outputs, message))
    }

    /// Deletes the subnets the spec dropped once nothing of the environment is left in them:
    /// pending while the load balancer's, endpoints' and tasks' interfaces are still there.
    async fn cleanup(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let (spec, stored) = self.ctx.load(names, &[Self::NAME]).await?;
        let outputs = stored.outputs(Self::NAME);
        // The apply just before found every subnet of the VPC: none retired, nothing to look for.
        // A plan looks anyway: the stored outputs are the last apply's, not its own.
        let none_retired = outputs
            .get(outputs::RETIRED_SUBNET_IDS)
            .is_some_and(|ids| ids.values().is_empty())
            && !outputs.contains_key(outputs::RETIRED_ROUTE_TABLE_IDS);
        let cleanup = if none_retired && !provisioner_core::changes::is_planning() {
            retired::Cleanup::Done(vec![])
        } else {
            retired::run(&self.ec2, names, &spec, &self.ctx.region).await?
        };
        let (state, message) =
            match cleanup {
                retired::Cleanup::Done(deleted) if deleted.is_empty() => (
                    Readiness::Ready,
                    format!("no subnets or route tables of {environment} to remove"),
                ),
                retired::Cleanup::Done(deleted) => (
                    Readiness::Ready,
                    format!(
                        "removed the subnets and route tables the spec no longer has: {}",
                        deleted.join(", ")
                    ),
                ),
                retired::Cleanup::Waiting(interfaces) => (
                    Readiness::Pending,
                    format!(
                        "waiting for {} network interfaces to leave the subnets the spec no longer has: {}",
                        interfaces.len(),
                        interfaces.join(", ")
                    ),
                ),
            };
        Ok(self.summary(Action::Cleanup, names, state, outputs, message))
    }

    /// Pending while AWS still releases the network interfaces of the environment's deleted
    /// load balancer, endpoints and tasks: the state machine runs it again.
    async fn destroy(&self, names: &Names) -> Result<StageSummary, ProvisionError> {
        let environment = names.environment();
        let deleted = match teardown::destroy(&self.ec2, names).await? {
            teardown::Teardown::Done(deleted) => deleted,
            teardown::Teardown::Waiting(interfaces) => {
                let message = format!(
                    "waiting for AWS to release {} network interfaces or gateways in the VPC of {environment}: {}",
                    interfaces.len(),
                    interfaces.join(", ")
                );
                let outputs = self.ctx.own_outputs(names, Self::NAME).await?;
                return Ok(self.summary(
                    Action::Destroy,
                    names,
                    Readiness::Pending,
                    outputs,
                    message,
                ));
            }
        };
        self.ctx
            .store
            .delete_stage_outputs(names, Self::NAME)
            .await?;
        Ok(self.destroyed(
            names,
            format!("deleted {deleted} network resources of {environment}"),
        ))
    }
}
