//! `cleanup`: the subnets the spec no longer has. Apply leaves them, because the load balancer,
//! the endpoints and the tasks still have network interfaces in them until the later stages move
//! them to the wanted subnets. After the whole apply, the cleanup deletes each one once no
//! interface is left in it; an interface the environment does not own stops it, named.

use provisioner_core::{changes, zones, Change, Names, ProvisionError};

use crate::{in_use, routes, subnets, vpc};

/// What a cleanup pass did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The subnets deleted (id and role); empty when the spec dropped none.
    Done(Vec<String>),
    /// Nothing deleted yet: interfaces of the environment are still in these subnets.
    Waiting(Vec<String>),
}

pub async fn run(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    spec: &provisioner_core::EnvironmentSpec,
    region: &str,
) -> Result<Cleanup, ProvisionError> {
    let Some(found) = vpc::find(ec2, names).await? else {
        return Ok(Cleanup::Done(vec![]));
    };
    let vpc_id = found.vpc_id().unwrap_or_default();
    let spec = zones::named(ec2, spec.clone(), region).await?;
    let wanted = subnets::wanted(&spec.network, region)?;
    let retired: Vec<(String, String)> = subnets::find(ec2, names, vpc_id)
        .await?
        .into_iter()
        .filter(|(role, _)| !wanted.iter().any(|w| &w.role == role))
        .map(|(role, s)| (role, s.subnet_id().unwrap_or_default().to_string()))
        .collect();
    let mut deleted = retire_tables(ec2, names, vpc_id, &spec, &wanted).await?;
    if retired.is_empty() {
        return Ok(Cleanup::Done(deleted));
    }
    let ids: Vec<String> = retired.iter().map(|(_, id)| id.clone()).collect();
    let in_them = in_use::interfaces(ec2, names, vpc_id, vec![filter_subnets(&ids)]).await?;
    if !in_them.foreign.is_empty() {
        return Err(ProvisionError::Conflict(format!(
            "the subnets {} of environment {}, which the spec no longer has, hold what the environment does not own: {}. They were kept; remove these (or put the subnets back in the spec), then apply again",
            ids.join(", "),
            names.environment(),
            in_them.foreign.join("; ")
        )));
    }
    // A plan runs before the apply that moves the interfaces off: it says what would go.
    if !in_them.lingering.is_empty() && !changes::is_planning() {
        return Ok(Cleanup::Waiting(in_them.lingering));
    }
    for (role, id) in retired {
        let change = Change::delete("subnet", names.display_name(&role))
            .because(format!("{id}: the spec no longer has it"));
        if !changes::carry_out(change) {
            continue;
        }
        subnets::delete(ec2, &id).await?;
        tracing::info!(subnet = %id, %role, "deleted subnet the spec no longer has");
        deleted.push(format!("{id} ({role})"));
    }
    Ok(Cleanup::Done(deleted))
}

/// Deletes the private route tables of another `natGateways` setting: apply moved their subnets
/// to the wanted tables, and the endpoints stage its gateway endpoint.
async fn retire_tables(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    spec: &provisioner_core::EnvironmentSpec,
    wanted: &[subnets::WantedSubnet],
) -> Result<Vec<String>, ProvisionError> {
    let roles = routes::private_roles(&spec.network, wanted);
    let tables = routes::all_in_vpc(ec2, vpc_id).await?;
    let mut deleted = Vec::new();
    for (role, id) in routes::retired(&tables, &roles) {
        let change = Change::delete("route table", names.display_name(&role))
            .because(format!("{id}: the spec's natGateways no longer has it"));
        if !changes::carry_out(change) {
            continue;
        }
        routes::delete(ec2, &id).await?;
        tracing::info!(route_table = %id, %role, "deleted route table the spec no longer has");
        deleted.push(format!("{id} ({role})"));
    }
    Ok(deleted)
}

/// Interfaces in any of the subnets `ids`.
fn filter_subnets(ids: &[String]) -> aws_sdk_ec2::types::Filter {
    ids.iter()
        .fold(
            aws_sdk_ec2::types::Filter::builder().name("subnet-id"),
            |f, id| f.values(id),
        )
        .build()
}
