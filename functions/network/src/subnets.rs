//! Public subnets (load balancer) and private subnets (tasks), matched to the spec by role tag.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Subnet};
use provisioner_core::spec::NetworkSpec;
use provisioner_core::tags::ec2::{filter, on_create, owned, role_of};
use provisioner_core::{
    changes, exactly_once, no_blind_resend, settle_all, AwsContext, Change, Names, NotFoundAsNone,
    ProvisionError,
};

use crate::owner;

/// A subnet the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedSubnet {
    /// `public-subnet-1`, `private-subnet-1`, ...
    pub role: String,
    pub cidr: String,
    pub zone: String,
    /// Where it comes from in the spec, for error messages.
    pub field: String,
}

/// The subnets of a spec whose zones are resolved (see `provisioner_core::zones`).
pub fn wanted(network: &NetworkSpec, region: &str) -> Result<Vec<WantedSubnet>, ProvisionError> {
    let kind = |kind: &'static str, list: &'static str| {
        move |(i, s): (usize, &provisioner_core::spec::SubnetSpec)| {
            let field = format!("network.{list}[{i}]");
            let zone = s.zone_in(region).ok_or_else(|| {
                ProvisionError::Internal(format!("{field} has no zone after zones were resolved"))
            })?;
            Ok(WantedSubnet {
                role: format!("{kind}-subnet-{}", i + 1),
                cidr: s.cidr.clone(),
                zone,
                field,
            })
        }
    };
    network
        .public_subnets
        .iter()
        .enumerate()
        .map(kind("public", "publicSubnets"))
        .chain(
            network
                .private_subnets
                .iter()
                .enumerate()
                .map(kind("private", "privateSubnets")),
        )
        .collect()
}

/// Subnets this stage created in `vpc_id`, by role.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
) -> Result<BTreeMap<String, Subnet>, ProvisionError> {
    if changes::is_new(vpc_id) {
        return Ok(BTreeMap::new());
    }
    let mut filters = owned(owner(names));
    filters.push(filter("vpc-id", vpc_id));
    let out = ec2
        .describe_subnets()
        .set_filters(Some(filters))
        .send()
        .await
        .context("DescribeSubnets", vpc_id)?;
    Ok(out
        .subnets()
        .iter()
        .filter_map(|s| Some((role_of(s.tags())?.to_string(), s.clone())))
        .collect())
}

/// What [`ensure`] found and made.
pub struct Ensured {
    /// The wanted subnets' ids, by role.
    pub ids: BTreeMap<String, String>,
    /// The ids of the subnets the spec no longer has.
    pub retired: Vec<String>,
}

/// Creates the missing subnets. Subnets the spec no longer has stay until the cleanup after the
/// apply ([`crate::retired`]): the load balancer, the endpoints and the tasks still use them
/// until the later stages move them off.
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    wanted: &[WantedSubnet],
) -> Result<Ensured, ProvisionError> {
    // A VPC this request made holds none yet. (After an ambiguous create, `create` still looks.)
    let mut existing = if changes::is_fresh(vpc_id) {
        BTreeMap::new()
    } else {
        find(ec2, names, vpc_id).await?
    };
    let mut ids = BTreeMap::new();
    let mut to_create = Vec::new();
    for want in wanted {
        match existing.remove(&want.role) {
            Some(subnet) => {
                let id = subnet.subnet_id().unwrap_or_default();
                if subnet.cidr_block() != Some(want.cidr.as_str())
                    || subnet.availability_zone() != Some(want.zone.as_str())
                {
                    return Err(ProvisionError::Conflict(format!(
                        "{} ({id}) is {} in {}, the spec asks for {} in {} ({}); a subnet cannot change in place: put the old values back or destroy the environment first",
                        want.role,
                        subnet.cidr_block().unwrap_or("?"),
                        subnet.availability_zone().unwrap_or("?"),
                        want.cidr,
                        want.zone,
                        want.field
                    )));
                }
                ids.insert(want.role.clone(), id.to_string());
            }
            None => to_create.push(want),
        }
    }
    let created = settle_all(
        to_create
            .into_iter()
            .map(|want| create(ec2, names, vpc_id, want)),
    )
    .await?;
    ids.extend(created);
    let retired = existing
        .values()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    Ok(Ensured { ids, retired })
}

async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    want: &WantedSubnet,
) -> Result<(String, String), ProvisionError> {
    let name = names.display_name(&want.role);
    let change = Change::create("subnet", &name)
        .set("cidr", &want.cidr)
        .set("zone", &want.zone);
    if !changes::carry_out(change) {
        return Ok((want.role.clone(), changes::new_id(&name)));
    }
    // CreateSubnet takes no client token: after an ambiguous failure, look before resending.
    let create = || async {
        let out = ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(&want.cidr)
            .availability_zone(&want.zone)
            .tag_specifications(on_create(owner(names), ResourceType::Subnet, &want.role))
            .customize()
            .config_override(no_blind_resend!(aws_sdk_ec2))
            .send()
            .await
            .context(
                "CreateSubnet",
                format!("{} {} in {}", want.role, want.cidr, want.zone),
            )?;
        Ok(out.subnet().and_then(|s| s.subnet_id()).map(str::to_string))
    };
    let found = || async {
        let mut existing = find(ec2, names, vpc_id).await?;
        Ok(existing.remove(&want.role).map(|s| s.subnet_id))
    };
    let id = exactly_once::create_or_find(&want.role, ec2.config().sleep_impl(), create, found)
        .await?
        .unwrap_or_default();
    tracing::info!(subnet = %id, role = %want.role, cidr = %want.cidr, zone = %want.zone, "created subnet");
    Ok((want.role.clone(), id))
}

/// Deletes a subnet; already gone is fine. Callers first wait until no network interface is
/// left in it (AWS refuses with `DependencyViolation` otherwise).
pub async fn delete(ec2: &aws_sdk_ec2::Client, subnet_id: &str) -> Result<(), ProvisionError> {
    ec2.delete_subnet()
        .subnet_id(subnet_id)
        .send()
        .await
        .context("DeleteSubnet", subnet_id)
        .gone_is_fine()
}
