//! Finding, creating, correcting and deleting the environment's VPC endpoints. Endpoints are found
//! by VPC + service name + tag before anything is created: a client token lasts only one run, and
//! the tag set in the create call is what lets a later run find the endpoint again. (In a VPC the
//! same run made, the token alone is enough: see `outputs::network::VPC_MADE_IN`.)

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{ResourceType, VpcEndpoint, VpcEndpointType};
use provisioner_core::tags::ec2::{filter, on_create, owned};
use provisioner_core::{changes, AwsContext, Change, Names, ProvisionError};

use crate::owner;
use provisioner_core::endpoint_plan::{EndpointKind, PlannedEndpoint};

/// Where the endpoints go, from the network stage's outputs.
#[derive(Debug, Clone)]
pub struct Placement {
    pub vpc_id: String,
    pub private_subnet_ids: Vec<String>,
    pub private_route_table_ids: Vec<String>,
    pub security_group_id: String,
}

/// The role tag of an endpoint: `endpoint-<service>`.
pub fn role(service: &str) -> String {
    format!("endpoint-{service}")
}

fn state_of(endpoint: &VpcEndpoint) -> String {
    endpoint
        .state()
        .map(|s| s.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

/// AWS reports states in any case (the emulator in lowercase): compare lowercased.
pub fn is_state(endpoint: &VpcEndpoint, state: &str) -> bool {
    state_of(endpoint) == state.to_ascii_lowercase()
}

/// Every endpoint of the environment that has not finished deleting, optionally in one VPC.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: Option<&str>,
) -> Result<Vec<VpcEndpoint>, ProvisionError> {
    if vpc_id.is_some_and(changes::is_new) {
        return Ok(Vec::new());
    }
    let mut filters = owned(owner(names));
    if let Some(vpc_id) = vpc_id {
        filters.push(filter("vpc-id", vpc_id));
    }
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_vpc_endpoints()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("DescribeVpcEndpoints", names.environment())?;
        found.extend(
            page.vpc_endpoints()
                .iter()
                .filter(|e| !is_state(e, "deleted"))
                .cloned(),
        );
    }
    Ok(found)
}

/// Makes the endpoints of the VPC exactly `planned`: creates what is missing, corrects subnets,
/// security groups and route tables, deletes duplicates and endpoints no longer planned.
/// Returns the endpoint id of each planned service.
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    placement: &Placement,
    planned: &[PlannedEndpoint],
) -> Result<BTreeMap<&'static str, String>, ProvisionError> {
    let mut by_service: BTreeMap<String, Vec<VpcEndpoint>> = BTreeMap::new();
    // In a VPC this execution made, only this execution's endpoints can be, and their creates
    // resend with the same client token.
    let found = if changes::is_fresh(&placement.vpc_id) {
        Vec::new()
    } else {
        find(ec2, names, Some(&placement.vpc_id)).await?
    };
    for endpoint in found {
        let service = endpoint.service_name().unwrap_or_default().to_string();
        by_service.entry(service).or_default().push(endpoint);
    }
    let mut ids = BTreeMap::new();
    let mut unwanted = Vec::new();
    for want in planned {
        let mut existing = by_service.remove(&want.service_name).unwrap_or_default();
        let id = if existing.is_empty() {
            create(ec2, names, placement, want).await?
        } else {
            // Keep the oldest; anything else tagged for this service is a duplicate.
            existing.sort_by_key(|e| e.creation_timestamp().map(|t| t.as_nanos()));
            let keep = existing.remove(0);
            unwanted.extend(existing);
            correct(ec2, placement, want, &keep).await?;
            keep.vpc_endpoint_id().unwrap_or_default().to_string()
        };
        ids.insert(want.service, id);
    }
    unwanted.extend(by_service.into_values().flatten());
    let stale: Vec<String> = unwanted
        .iter()
        .filter(|e| !is_state(e, "deleting"))
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect();
    let stale: Vec<String> = stale
        .into_iter()
        .filter(|id| {
            let service = unwanted
                .iter()
                .find(|e| e.vpc_endpoint_id() == Some(id.as_str()))
                .and_then(|e| e.service_name())
                .unwrap_or_default();
            changes::carry_out(
                Change::delete("VPC endpoint", id)
                    .because(format!("{service}: a duplicate, or no longer needed")),
            )
        })
        .collect();
    delete(ec2, &stale).await?;
    Ok(ids)
}

async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    placement: &Placement,
    want: &PlannedEndpoint,
) -> Result<String, ProvisionError> {
    let change = Change::create("VPC endpoint", &want.service_name)
        .set("type", want.kind.as_str())
        .because(want.why);
    let change = match want.kind {
        EndpointKind::Interface => change
            .set("subnets", placement.private_subnet_ids.join(", "))
            .set("security group", &placement.security_group_id)
            .set("private DNS", true),
        EndpointKind::Gateway => {
            change.set("route tables", placement.private_route_table_ids.join(", "))
        }
    };
    if !changes::carry_out(change) {
        return Ok(changes::new_id(&want.service_name));
    }
    let request = ec2
        .create_vpc_endpoint()
        .vpc_id(&placement.vpc_id)
        .service_name(&want.service_name)
        .tag_specifications(on_create(
            owner(names),
            ResourceType::VpcEndpoint,
            &role(want.service),
        ));
    let request = match want.kind {
        EndpointKind::Interface => request
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .set_subnet_ids(Some(placement.private_subnet_ids.clone()))
            .security_group_ids(&placement.security_group_id)
            .private_dns_enabled(true),
        EndpointKind::Gateway => request
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(placement.private_route_table_ids.clone())),
    };
    let created = request
        .client_token(provisioner_core::exactly_once::client_token(&[
            &placement.vpc_id,
            &want.service_name,
        ]))
        .customize()
        .config_override(crate::private_dns::retries())
        .send()
        .await
        .context("CreateVpcEndpoint", &want.service_name);
    let created = match created {
        Ok(created) => created,
        Err(e) => return Err(crate::private_dns::explain(ec2, &placement.vpc_id, e).await),
    };
    let id = created
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .unwrap_or_default()
        .to_string();
    changes::made(&id);
    tracing::info!(endpoint = %id, service = want.service, kind = want.kind.as_str(), why = want.why, "created VPC endpoint");
    Ok(id)
}

/// Differences between two id sets: (to add, to remove).
fn difference(wanted: &[String], current: &[&str]) -> (Vec<String>, Vec<String>) {
    let wanted: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    let current: BTreeSet<&str> = current.iter().copied().collect();
    (
        wanted.difference(&current).map(|s| s.to_string()).collect(),
        current.difference(&wanted).map(|s| s.to_string()).collect(),
    )
}

/// One ModifyVpcEndpoint with every correction, or none when the endpoint is as planned.
async fn correct(
    ec2: &aws_sdk_ec2::Client,
    placement: &Placement,
    want: &PlannedEndpoint,
    current: &VpcEndpoint,
) -> Result<(), ProvisionError> {
    let id = current.vpc_endpoint_id().unwrap_or_default();
    let mut request = ec2.modify_vpc_endpoint().vpc_endpoint_id(id);
    let mut change = Change::update("VPC endpoint", &want.service_name);
    match want.kind {
        EndpointKind::Interface => {
            let subnets: Vec<&str> = current.subnet_ids().iter().map(String::as_str).collect();
            let (add, remove) = difference(&placement.private_subnet_ids, &subnets);
            if !add.is_empty() || !remove.is_empty() {
                change = change.field(
                    "subnets",
                    subnets.join(", "),
                    placement.private_subnet_ids.join(", "),
                );
                request = request
                    .set_add_subnet_ids(Some(add).filter(|v| !v.is_empty()))
                    .set_remove_subnet_ids(Some(remove).filter(|v| !v.is_empty()));
            }
            let groups: Vec<&str> = current
                .groups()
                .iter()
                .filter_map(|g| g.group_id())
                .collect();
            let (add, remove) =
                difference(std::slice::from_ref(&placement.security_group_id), &groups);
            if !add.is_empty() || !remove.is_empty() {
                change = change.field(
                    "security groups",
                    groups.join(", "),
                    &placement.security_group_id,
                );
                request = request
                    .set_add_security_group_ids(Some(add).filter(|v| !v.is_empty()))
                    .set_remove_security_group_ids(Some(remove).filter(|v| !v.is_empty()));
            }
            if current.private_dns_enabled() == Some(false) {
                change = change.field("private DNS", false, true);
                request = request.private_dns_enabled(true);
            }
        }
        EndpointKind::Gateway => {
            let tables: Vec<&str> = current
                .route_table_ids()
                .iter()
                .map(String::as_str)
                .collect();
            let (add, remove) = difference(&placement.private_route_table_ids, &tables);
            if !add.is_empty() || !remove.is_empty() {
                change = change.field(
                    "route tables",
                    tables.join(", "),
                    placement.private_route_table_ids.join(", "),
                );
                request = request
                    .set_add_route_table_ids(Some(add).filter(|v| !v.is_empty()))
                    .set_remove_route_table_ids(Some(remove).filter(|v| !v.is_empty()));
            }
        }
    }
    if change.fields.is_empty() || !changes::carry_out(change) {
        return Ok(());
    }
    let modified = request
        .customize()
        .config_override(crate::private_dns::retries())
        .send()
        .await
        .context("ModifyVpcEndpoint", format!("{id} ({})", want.service));
    match modified {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::private_dns::explain(ec2, &placement.vpc_id, e).await),
    }
}

/// Starts deleting `ids`; endpoints already gone count as deleted.
pub async fn delete(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<(), ProvisionError> {
    if ids.is_empty() {
        return Ok(());
    }
    let out = ec2
        .delete_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(ids.to_vec()))
        .send()
        .await
        .context("DeleteVpcEndpoints", ids.join(", "))?;
    // Per-endpoint failures come back in the answer, not as an error.
    for item in out.unsuccessful() {
        let error = item.error();
        let code = error.and_then(|e| e.code()).unwrap_or("Unknown");
        if provisioner_core::error::is_not_found_code(code) {
            continue;
        }
        return Err(ProvisionError::Aws {
            operation: "DeleteVpcEndpoints",
            resource: item.resource_id().unwrap_or_default().to_string(),
            code: code.to_string(),
            message: error
                .and_then(|e| e.message())
                .unwrap_or_default()
                .to_string(),
            kind: provisioner_core::error::kind_of_code(code),
            ambiguous: false,
            source: code.to_string().into(),
        });
    }
    tracing::info!(endpoints = %ids.join(", "), "deleting VPC endpoints");
    Ok(())
}
