//! Route tables: the public one sends 0.0.0.0/0 to the internet gateway; the private one has only
//! the VPC's local route (tasks reach AWS through the endpoints, never the internet).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, RouteTable};
use provisioner_core::tags::ec2::{filter, on_create, role_of};
use provisioner_core::{changes, exactly_once, AwsContext, Change, Names, ProvisionError};

use crate::owner;

pub const PUBLIC_ROLE: &str = "public-route-table";
pub const PRIVATE_ROLE: &str = "private-route-table";
pub const INTERNET: &str = "0.0.0.0/0";

/// What one route table should look like.
pub struct WantedRouteTable<'a> {
    pub role: &'static str,
    pub subnet_ids: Vec<&'a str>,
    /// The internet gateway that 0.0.0.0/0 goes to, for the public table.
    pub internet_gateway: Option<&'a str>,
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
    roles: &[&'static str],
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
        let table = match tables.iter().find(|t| role_of(t.tags()) == Some(*role)) {
            Some(t) => t.clone(),
            None => create(ec2, names, vpc_id, role).await?,
        };
        by_role.insert(*role, table);
    }
    Ok(Tables {
        all: tables,
        by_role,
    })
}

/// The VPC's route tables as found, and the environment's by role.
pub struct Tables {
    all: Vec<RouteTable>,
    by_role: BTreeMap<&'static str, RouteTable>,
}

/// Gives each table its default route and its subnets. Run once the tables, subnets and gateway
/// exist: their ids have then had time to settle.
pub async fn ensure_routes(
    ec2: &aws_sdk_ec2::Client,
    tables: &Tables,
    wanted: &[WantedRouteTable<'_>],
) -> Result<BTreeMap<&'static str, String>, ProvisionError> {
    let mut ids = BTreeMap::new();
    for want in wanted {
        let Some(table) = tables.by_role.get(want.role) else {
            return Err(ProvisionError::Internal(format!(
                "no route table {} was ensured",
                want.role
            )));
        };
        let table_id = table.route_table_id().unwrap_or_default().to_string();
        if let Some(gateway) = want.internet_gateway {
            ensure_default_route(ec2, table, gateway).await?;
        }
        for subnet_id in &want.subnet_ids {
            ensure_association(ec2, &tables.all, &table_id, subnet_id).await?;
        }
        ids.insert(want.role, table_id);
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
    gateway: &str,
) -> Result<(), ProvisionError> {
    let table_id = table.route_table_id().unwrap_or_default();
    let current = table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some(INTERNET));
    match current {
        Some(route) if route.gateway_id() == Some(gateway) => Ok(()),
        Some(route)
            if !changes::carry_out(
                Change::update("route", format!("{table_id} {INTERNET}")).field(
                    "target",
                    route.gateway_id().or(route.nat_gateway_id()).unwrap_or("?"),
                    gateway,
                ),
            ) =>
        {
            Ok(())
        }
        None if !changes::carry_out(
            Change::create("route", format!("{table_id} {INTERNET}")).set("target", gateway),
        ) =>
        {
            Ok(())
        }
        Some(_) => {
            ec2.replace_route()
                .route_table_id(table_id)
                .destination_cidr_block(INTERNET)
                .gateway_id(gateway)
                .send()
                .await
                .context("ReplaceRoute", format!("{table_id} {INTERNET}"))?;
            tracing::info!(route_table = %table_id, %gateway, "pointed 0.0.0.0/0 back at the internet gateway");
            Ok(())
        }
        None => {
            // A resend of a create AWS applied answers that the route exists.
            let created = ec2
                .create_route()
                .route_table_id(table_id)
                .destination_cidr_block(INTERNET)
                .gateway_id(gateway)
                .send()
                .await
                .context("CreateRoute", format!("{table_id} {INTERNET}"))
                .map(|_| ());
            exactly_once::already_done(created, &["RouteAlreadyExists"])
        }
    }
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
