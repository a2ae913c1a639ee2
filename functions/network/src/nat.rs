//! NAT gateways: outbound internet for the private subnets, when the spec asks for it. Each has an
//! Elastic IP of its own and sits in a public subnet; the private route tables send 0.0.0.0/0 to
//! it once it is `available` (a route to a gateway still `pending` is refused). Both are found by
//! their role tag (`nat-gateway-<zone>`, `nat-address-<zone>`) before anything is made.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Address, DomainType, NatGateway, NatGatewayState, ResourceType};
use provisioner_core::spec::{NatGateways, NetworkSpec};
use provisioner_core::tags::ec2::{filter, on_create, owned, pairs, role_of};
use provisioner_core::{
    changes, exactly_once, no_blind_resend, AwsContext, Change, Names, NotFoundAsNone,
    ProvisionError,
};

use crate::owner;
use crate::subnets::WantedSubnet;

fn role(zone: &str) -> String {
    format!("nat-gateway-{zone}")
}

fn address_role(zone: &str) -> String {
    format!("nat-address-{zone}")
}

/// A NAT gateway the spec asks for: its zone and the public subnet it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedNat {
    pub zone: String,
    pub subnet_id: String,
}

/// The zones whose private subnets get a NAT gateway: none, the first private subnet's, or each
/// private subnet's.
pub fn zones(spec: &NetworkSpec, subnets: &[WantedSubnet]) -> Vec<String> {
    let mut zones: Vec<String> = Vec::new();
    for subnet in subnets.iter().filter(|s| s.role.starts_with("private-")) {
        if !zones.contains(&subnet.zone) {
            zones.push(subnet.zone.clone());
        }
    }
    match spec.nat_gateways {
        NatGateways::None => Vec::new(),
        NatGateways::One => zones.into_iter().take(1).collect(),
        NatGateways::PerZone => zones,
    }
}

/// Where each NAT gateway goes: a public subnet of its zone (for ONE, the first public subnet when
/// its zone has none).
pub fn wanted(
    spec: &NetworkSpec,
    region: &str,
    subnets: &[WantedSubnet],
    ids: &BTreeMap<String, String>,
) -> Result<Vec<WantedNat>, ProvisionError> {
    let public: Vec<&WantedSubnet> = subnets
        .iter()
        .filter(|s| s.role.starts_with("public-"))
        .collect();
    zones(spec, subnets)
        .into_iter()
        .map(|zone| {
            let in_zone = public.iter().find(|s| s.zone == zone);
            let chosen = match (in_zone, spec.nat_gateways) {
                (Some(s), _) => *s,
                (None, NatGateways::One) => public.first().copied().ok_or_else(|| {
                    ProvisionError::request(
                        "network.publicSubnets",
                        "none given; a NAT gateway needs a public subnet",
                    )
                })?,
                (None, _) => {
                    let problem =
                        provisioner_core::spec::nat_zones_without_public_subnet(spec, region)
                            .unwrap_or_else(|| {
                                format!("no public subnet in {zone} for its NAT gateway")
                            });
                    return Err(ProvisionError::request("network.natGateways", problem));
                }
            };
            let subnet_id = ids.get(&chosen.role).cloned().ok_or_else(|| {
                ProvisionError::Internal(format!("no subnet {} was ensured", chosen.role))
            })?;
            Ok(WantedNat { zone, subnet_id })
        })
        .collect()
}

/// The environment's NAT gateways in the VPC, in any state AWS still reports.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
) -> Result<Vec<NatGateway>, ProvisionError> {
    if changes::is_new(vpc_id) {
        return Ok(Vec::new());
    }
    let out = ec2
        .describe_nat_gateways()
        .filter(filter("vpc-id", vpc_id))
        .send()
        .await
        .context("DescribeNatGateways", vpc_id)?;
    Ok(out
        .nat_gateways()
        .iter()
        .filter(|g| owner(names).owns(pairs(g.tags())))
        .cloned()
        .collect())
}

fn state(gateway: &NatGateway) -> NatGatewayState {
    gateway.state().cloned().unwrap_or(NatGatewayState::Pending)
}

fn is_live(gateway: &NatGateway) -> bool {
    matches!(
        state(gateway),
        NatGatewayState::Pending | NatGatewayState::Available
    )
}

/// The environment's Elastic IPs.
async fn find_addresses(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
) -> Result<Vec<Address>, ProvisionError> {
    let out = ec2
        .describe_addresses()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeAddresses", names.environment())?;
    Ok(out
        .addresses()
        .iter()
        .filter(|a| owner(names).owns(pairs(a.tags())))
        .cloned()
        .collect())
}

/// The NAT gateway of each wanted zone, by zone, and the ids of those still `pending`.
pub struct Ensured {
    pub by_zone: BTreeMap<String, String>,
    pub pending: Vec<String>,
}

/// Makes a NAT gateway exist in each wanted zone. A gateway that `failed` (AWS could not make it)
/// is deleted and made again.
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    wanted: &[WantedNat],
) -> Result<Ensured, ProvisionError> {
    let mut ensured = Ensured {
        by_zone: BTreeMap::new(),
        pending: Vec::new(),
    };
    if wanted.is_empty() {
        return Ok(ensured);
    }
    let found = if changes::is_fresh(vpc_id) {
        Vec::new()
    } else {
        find(ec2, names, vpc_id).await?
    };
    // Addresses are looked for only when a gateway is to be made.
    let mut addresses: Option<Vec<Address>> = None;
    for want in wanted {
        let role = role(&want.zone);
        let mine: Vec<&NatGateway> = found
            .iter()
            .filter(|g| role_of(g.tags()) == Some(role.as_str()))
            .collect();
        let gateway = match mine.iter().find(|g| is_live(g)) {
            Some(g) => (*g).clone(),
            None => {
                let failed: Vec<String> = mine
                    .iter()
                    .filter(|g| state(g) == NatGatewayState::Failed)
                    .filter_map(|g| g.nat_gateway_id().map(str::to_string))
                    .collect();
                for id in &failed {
                    delete(ec2, id).await?;
                }
                if addresses.is_none() {
                    addresses = Some(if changes::is_fresh(vpc_id) {
                        Vec::new()
                    } else {
                        find_addresses(ec2, names).await?
                    });
                }
                let known = addresses.as_deref().unwrap_or_default();
                let allocation = ensure_address(ec2, names, &want.zone, known).await?;
                create(ec2, names, vpc_id, want, &allocation, &failed).await?
            }
        };
        let id = gateway.nat_gateway_id().unwrap_or_default().to_string();
        if state(&gateway) == NatGatewayState::Pending && !changes::is_new(&id) {
            ensured.pending.push(id.clone());
        }
        ensured.by_zone.insert(want.zone.clone(), id);
    }
    Ok(ensured)
}

/// The zone's Elastic IP allocation: found by role, or allocated (no client token: after an
/// ambiguous failure, look before allocating again).
async fn ensure_address(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    zone: &str,
    addresses: &[Address],
) -> Result<String, ProvisionError> {
    let role = address_role(zone);
    let found = |list: &[Address]| {
        list.iter()
            .find(|a| role_of(a.tags()) == Some(role.as_str()))
            .and_then(|a| a.allocation_id().map(str::to_string))
    };
    if let Some(id) = found(addresses) {
        return Ok(id);
    }
    let name = names.display_name(&role);
    if !changes::carry_out(Change::create("Elastic IP", &name)) {
        return Ok(changes::new_id(&name));
    }
    let allocate = || async {
        let out = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(on_create(owner(names), ResourceType::ElasticIp, &role))
            .customize()
            .config_override(no_blind_resend!(aws_sdk_ec2))
            .send()
            .await
            .context("AllocateAddress", &name)?;
        Ok(out.allocation_id().unwrap_or_default().to_string())
    };
    let look = || async { Ok(found(&find_addresses(ec2, names).await?)) };
    let id = exactly_once::create_or_find("Elastic IP", ec2.config().sleep_impl(), allocate, look)
        .await?;
    tracing::info!(allocation = %id, %zone, "allocated Elastic IP for NAT gateway");
    Ok(id)
}

async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    want: &WantedNat,
    allocation: &str,
    failed: &[String],
) -> Result<NatGateway, ProvisionError> {
    let role = role(&want.zone);
    let name = names.display_name(&role);
    let change = Change::create("NAT gateway", &name)
        .set("subnet", &want.subnet_id)
        .set("Elastic IP", allocation);
    if !changes::carry_out(change) {
        return Ok(NatGateway::builder()
            .nat_gateway_id(changes::new_id(&name))
            .state(NatGatewayState::Available)
            .build());
    }
    // The token makes a resend answer with the same gateway; a failed one's id in it asks for a
    // new one.
    let mut parts = vec![vpc_id, role.as_str(), allocation];
    parts.extend(failed.iter().map(String::as_str));
    let out = ec2
        .create_nat_gateway()
        .subnet_id(&want.subnet_id)
        .allocation_id(allocation)
        .tag_specifications(on_create(owner(names), ResourceType::Natgateway, &role))
        .client_token(exactly_once::client_token(&parts))
        .send()
        .await
        .context("CreateNatGateway", &name)?;
    let gateway = out
        .nat_gateway()
        .cloned()
        .unwrap_or_else(|| NatGateway::builder().build());
    tracing::info!(
        nat_gateway = gateway.nat_gateway_id().unwrap_or_default(),
        zone = %want.zone,
        "created NAT gateway"
    );
    Ok(gateway)
}

async fn delete(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<(), ProvisionError> {
    if !changes::carry_out(Change::delete("NAT gateway", id)) {
        return Ok(());
    }
    ec2.delete_nat_gateway()
        .nat_gateway_id(id)
        .send()
        .await
        .context("DeleteNatGateway", id)
        .not_found_as_none()?;
    tracing::info!(nat_gateway = %id, "deleting NAT gateway");
    Ok(())
}

/// Deletes the environment's NAT gateways outside `keep` (all of them on destroy), then releases
/// the Elastic IPs no gateway holds any more. Returns the gateways still on their way out: their
/// addresses are released once they are `deleted`. Unless `every_address`, addresses are looked
/// for only when a gateway goes (an apply that keeps them all makes no extra call).
pub async fn remove_unwanted(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: Option<&str>,
    keep: &[String],
    every_address: bool,
) -> Result<Vec<String>, ProvisionError> {
    let found = match vpc_id {
        // A VPC made by this request holds no gateway of an earlier one.
        Some(vpc_id) if !changes::is_fresh(vpc_id) => find(ec2, names, vpc_id).await?,
        _ => Vec::new(),
    };
    // Addresses to release come from gateways that go (a deleted one stays listed for a while).
    let going = found
        .iter()
        .any(|g| !keep.iter().any(|k| Some(k.as_str()) == g.nat_gateway_id()));
    if !going && !every_address {
        return Ok(Vec::new());
    }
    let mut leaving = Vec::new();
    for gateway in &found {
        let id = gateway.nat_gateway_id().unwrap_or_default();
        if keep.iter().any(|k| k == id) {
            continue;
        }
        match state(gateway) {
            NatGatewayState::Deleted => continue,
            NatGatewayState::Deleting => {}
            _ => delete(ec2, id).await?,
        }
        leaving.push(format!("NAT gateway {id} (deleting)"));
    }
    if !leaving.is_empty() {
        return Ok(leaving);
    }
    // The addresses the kept gateways hold stay; the rest are free once their gateway is gone.
    let held: Vec<&str> = found
        .iter()
        .filter(|g| keep.iter().any(|k| Some(k.as_str()) == g.nat_gateway_id()))
        .flat_map(|g| g.nat_gateway_addresses())
        .filter_map(|a| a.allocation_id())
        .collect();
    let zones_kept: Vec<String> = found
        .iter()
        .filter(|g| keep.iter().any(|k| Some(k.as_str()) == g.nat_gateway_id()))
        .filter_map(|g| role_of(g.tags()).map(str::to_string))
        .collect();
    for address in find_addresses(ec2, names).await? {
        let id = address.allocation_id().unwrap_or_default();
        let role = role_of(address.tags()).unwrap_or_default();
        // An address of a kept zone waits for its gateway even before the gateway names it.
        let zone_kept = zones_kept
            .iter()
            .any(|r| r.strip_prefix("nat-gateway-") == role.strip_prefix("nat-address-"));
        if held.contains(&id) || zone_kept {
            continue;
        }
        if !changes::carry_out(Change::delete("Elastic IP", id)) {
            continue;
        }
        ec2.release_address()
            .allocation_id(id)
            .send()
            .await
            .context("ReleaseAddress", id)
            .not_found_as_none()?;
        tracing::info!(allocation = %id, "released Elastic IP");
    }
    Ok(Vec::new())
}
