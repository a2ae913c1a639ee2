//! Route tables: the public one sends 0.0.0.0/0 to the internet gateway. A private one has only
//! the VPC's local route (tasks reach AWS through the endpoints), or with NAT gateways sends
//! 0.0.0.0/0 to its zone's (with one per zone, each zone's private subnets get a table of their
//! own: `private-route-table-<zone>`).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, RouteTable};
use provisioner_core::tags::ec2::{filter, on_create, role_of};
use provisioner_core::{
    changes, exactly_once, AwsContext, Change, Names, NotFoundAsNone, ProvisionError,
};

use crate::owner;
use crate::subnets::WantedSubnet;
use provisioner_core::spec::{NatGateways, NetworkSpec};

pub const PUBLIC_ROLE: &str = "public-route-table";
pub const PRIVATE_ROLE: &str = "private-route-table";
pub const INTERNET: &str = "0.0.0.0/0";

/// Where a table's 0.0.0.0/0 goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultRoute<'a> {
    InternetGateway(&'a str),
    NatGateway(&'a str),
    /// Left as it is: the NAT gateway it will go to is not available yet.
    Unchanged,
    /// Nowhere: no such route.
    Absent,
}

/// The private tables the spec asks for, by role: one per zone of the private subnets with a NAT
/// gateway per zone, else one.
pub fn private_roles(spec: &NetworkSpec, wanted: &[WantedSubnet]) -> Vec<String> {
    let per_zone = spec.nat_gateways == NatGateways::PerZone;
    let mut roles: Vec<String> = Vec::new();
    for subnet in wanted.iter().filter(|w| w.role.starts_with("private-")) {
        let role = private_role(per_zone, &subnet.zone);
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles
}

/// The environment's private tables in the VPC that the spec no longer has (after a change of
/// `natGateways`): their subnets have moved to the wanted ones. `(role, id)`.
pub fn retired(tables: &[RouteTable], wanted_roles: &[String]) -> Vec<(String, String)> {
    tables
        .iter()
        .filter_map(|t| {
            let role = role_of(t.tags())?;
            (role.starts_with(PRIVATE_ROLE) && !wanted_roles.iter().any(|w| w == role)).then(|| {
                (
                    role.to_string(),
                    t.route_table_id().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

/// Deletes a table the spec no longer has; one already gone is fine.
pub async fn delete(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<(), ProvisionError> {
    ec2.delete_route_table()
        .route_table_id(id)
        .send()
        .await
        .context("DeleteRouteTable", id)
        .not_found_as_none()?;
    Ok(())
}

/// What one route table should look like.
pub struct WantedRouteTable<'a> {
    pub role: String,
    pub subnet_ids: Vec<&'a str>,
    pub default_route: DefaultRoute<'a>,
}

/// The private route table of `zone`: one per zone with a NAT gateway per zone, else one for all.
pub fn private_role(per_zone: bool, zone: &str) -> String {
    if per_zone {
        format!("{PRIVATE_ROLE}-{zone}")
    } else {
        PRIVATE_ROLE.to_string()
    }
}

/// Every route table of the VPC (ours, the main one, any other), so associations can be moved.
pub async fn all_in_vpc(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
) -> Result<Vec<RouteTable>, ProvisionError> {
    if changes::is_new(vpc_id) {
        return Ok(Vec::new());
    }
    let out = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .context("DescribeRouteTables", vpc_id)?;
    Ok(out.route_tables().to_vec())
}

/// Makes each wanted table exist with its route and subnet associations. Returns ids by role.
/// The route tables of `roles` in the VPC, found or created, before their routes and subnets:
/// see [`ensure_routes`].
pub async fn ensure_tables(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    roles: &[String],
) -> Result<Tables, ProvisionError> {
    // A VPC this request made has only its main table, which is not ours.
    let tables = if changes::is_fresh(vpc_id) {
        Vec::new()
    } else {
        all_in_vpc(ec2, vpc_id).await?
    };
    let mut by_role = BTreeMap::new();
    for role in roles {
        // The VPC is the environment's own, so a role tag inside it is enough to recognise ours.
        let table = match tables
            .iter()
            .find(|t| role_of(t.tags()) == Some(role.as_str()))
        {
            Some(t) => t.clone(),
            None => create(ec2, names, vpc_id, role).await?,
        };
        by_role.insert(role.clone(), table);
    }
    Ok(Tables {
        all: tables,
        by_role,
    })
}

/// The VPC's route tables as found, and the environment's by role.
pub struct Tables {
    pub all: Vec<RouteTable>,
    by_role: BTreeMap<String, RouteTable>,
}

/// Gives each table its default route and its subnets. Run once the tables, subnets and gateway
/// exist: their ids have then had time to settle.
pub async fn ensure_routes(
    ec2: &aws_sdk_ec2::Client,
    tables: &Tables,
    wanted: &[WantedRouteTable<'_>],
) -> Result<BTreeMap<String, String>, ProvisionError> {
    let mut ids = BTreeMap::new();
    for want in wanted {
        let Some(table) = tables.by_role.get(&want.role) else {
            return Err(ProvisionError::Internal(format!(
                "no route table {} was ensured",
                want.role
            )));
        };
        let table_id = table.route_table_id().unwrap_or_default().to_string();
        ensure_default_route(ec2, table, want.default_route).await?;
        for subnet_id in &want.subnet_ids {
            ensure_association(ec2, &tables.all, &table_id, subnet_id).await?;
        }
        ids.insert(want.role.clone(), table_id);
    }
    Ok(ids)
}

async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    role: &str,
) -> Result<RouteTable, ProvisionError> {
    let name = names.display_name(role);
    if !changes::carry_out(Change::create("route table", &name)) {
        return Ok(RouteTable::builder()
            .route_table_id(changes::new_id(&name))
            .build());
    }
    let out = ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .tag_specifications(on_create(owner(names), ResourceType::RouteTable, role))
        .client_token(exactly_once::client_token(&[vpc_id, role]))
        .send()
        .await
        .context("CreateRouteTable", names.display_name(role))?;
    let table = out
        .route_table()
        .cloned()
        .unwrap_or_else(|| RouteTable::builder().build());
    tracing::info!(route_table = table.route_table_id().unwrap_or_default(), %role, "created route table");
    Ok(table)
}

async fn ensure_default_route(
    ec2: &aws_sdk_ec2::Client,
    table: &RouteTable,
    wanted: DefaultRoute<'_>,
) -> Result<(), ProvisionError> {
    let table_id = table.route_table_id().unwrap_or_default();
    let name = format!("{table_id} {INTERNET}");
    let current = table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some(INTERNET));
    let live = current.and_then(|r| r.gateway_id().or(r.nat_gateway_id()));
    let target = match wanted {
        DefaultRoute::Unchanged => return Ok(()),
        DefaultRoute::Absent => {
            if current.is_none()
                || !changes::carry_out(Change::delete("route", &name).field(
                    "target",
                    live.unwrap_or("?"),
                    "(none)",
                ))
            {
                return Ok(());
            }
            let deleted = ec2
                .delete_route()
                .route_table_id(table_id)
                .destination_cidr_block(INTERNET)
                .send()
                .await
                .context("DeleteRoute", &name)
                .not_found_as_none();
            deleted?;
            tracing::info!(route_table = %table_id, "removed the route to the internet");
            return Ok(());
        }
        DefaultRoute::InternetGateway(id) | DefaultRoute::NatGateway(id) => id,
    };
    if live == Some(target) {
        return Ok(());
    }
    let change = match current {
        Some(_) => Change::update("route", &name).field("target", live.unwrap_or("?"), target),
        None => Change::create("route", &name).set("target", target),
    };
    if !changes::carry_out(change) {
        return Ok(());
    }
    // The target goes in the parameter of its kind.
    let (gateway, nat_gateway) = match wanted {
        DefaultRoute::NatGateway(id) => (None, Some(id.to_string())),
        _ => (Some(target.to_string()), None),
    };
    if current.is_some() {
        ec2.replace_route()
            .route_table_id(table_id)
            .destination_cidr_block(INTERNET)
            .set_gateway_id(gateway)
            .set_nat_gateway_id(nat_gateway)
            .send()
            .await
            .context("ReplaceRoute", &name)?;
        tracing::info!(route_table = %table_id, %target, "pointed 0.0.0.0/0 at its gateway");
        return Ok(());
    }
    // A resend of a create AWS applied answers that the route exists.
    let created = ec2
        .create_route()
        .route_table_id(table_id)
        .destination_cidr_block(INTERNET)
        .set_gateway_id(gateway)
        .set_nat_gateway_id(nat_gateway)
        .send()
        .await
        .context("CreateRoute", &name)
        .map(|_| ());
    exactly_once::already_done(created, &["RouteAlreadyExists"])
}

/// Associates `subnet_id` with `table_id`, moving it off another table if it is associated there.
async fn ensure_association(
    ec2: &aws_sdk_ec2::Client,
    tables: &[RouteTable],
    table_id: &str,
    subnet_id: &str,
) -> Result<(), ProvisionError> {
    let current = tables.iter().find_map(|t| {
        t.associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet_id))
            .map(|a| {
                (
                    t.route_table_id().unwrap_or_default(),
                    a.route_table_association_id().unwrap_or_default(),
                )
            })
    });
    match current {
        Some((table, _)) if table == table_id => Ok(()),
        Some((other, _))
            if !changes::carry_out(Change::update("route table association", subnet_id).field(
                "route table",
                other,
                table_id,
            )) =>
        {
            Ok(())
        }
        None if !changes::carry_out(
            Change::create("route table association", subnet_id).set("route table", table_id),
        ) =>
        {
            Ok(())
        }
        Some((other, association)) => {
            ec2.replace_route_table_association()
                .association_id(association)
                .route_table_id(table_id)
                .send()
                .await
                .context(
                    "ReplaceRouteTableAssociation",
                    format!("{subnet_id} from {other} to {table_id}"),
                )?;
            Ok(())
        }
        None => {
            // A resend of an association AWS applied answers that the subnet is associated.
            let associated = ec2
                .associate_route_table()
                .route_table_id(table_id)
                .subnet_id(subnet_id)
                .send()
                .await
                .context("AssociateRouteTable", format!("{subnet_id} to {table_id}"))
                .map(|_| ());
            exactly_once::already_done(associated, &["Resource.AlreadyAssociated"])
        }
    }
}
