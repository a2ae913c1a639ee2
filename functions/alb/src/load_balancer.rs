//! The internet-facing application load balancer in the public subnets.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};
use provisioner_core::tags::elb;
use provisioner_core::{changes, AwsContext, Change, Names, NotFoundAsNone, ProvisionError};

use crate::owner;

pub const ROLE: &str = "load-balancer";

/// Where the load balancer goes, from the network stage's outputs.
#[derive(Debug, Clone)]
pub struct Placement {
    pub vpc_id: String,
    pub public_subnet_ids: Vec<String>,
    pub security_group_id: String,
}

/// The environment's load balancers (normally one), oldest first.
pub async fn find(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
) -> Result<Vec<LoadBalancer>, ProvisionError> {
    let name = names.load_balancer();
    let found = elb
        .describe_load_balancers()
        .names(&name)
        .send()
        .await
        .context("DescribeLoadBalancers", &name)
        .not_found_as_none()?
        .map(|out| out.load_balancers().to_vec())
        .unwrap_or_default();
    let mut ours = elb::only_ours(elb, owner(names), "load balancer", &name, found, |lb| {
        lb.load_balancer_arn()
    })
    .await?;
    ours.sort_by_key(|lb| lb.created_time().map(|t| t.as_nanos()));
    Ok(ours)
}

fn subnets_of(lb: &LoadBalancer) -> BTreeSet<&str> {
    lb.availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect()
}

/// Creates the load balancer or adopts the existing one, correcting its subnets and security
/// groups. A duplicate of the same name (possible on the emulator) is deleted.
pub async fn ensure(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    placement: &Placement,
) -> Result<LoadBalancer, ProvisionError> {
    let name = names.load_balancer();
    let mut found = find(elb, names).await?;
    if found.is_empty() {
        let change = Change::create("load balancer", &name)
            .set("scheme", "internet-facing")
            .set("subnets", placement.public_subnet_ids.join(", "))
            .set("security group", &placement.security_group_id);
        if !changes::carry_out(change) {
            return Ok(LoadBalancer::builder()
                .load_balancer_arn(changes::new_id(&name))
                .dns_name(changes::new_id(&format!("DNS name of {name}")))
                .build());
        }
        let created = elb
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .ip_address_type(IpAddressType::Ipv4)
            .set_subnets(Some(placement.public_subnet_ids.clone()))
            .security_groups(&placement.security_group_id)
            .set_tags(Some(elb::on_create(owner(names), ROLE)))
            .send()
            .await
            .context("CreateLoadBalancer", &name)?;
        let lb = created.load_balancers().first().cloned().ok_or_else(|| {
            ProvisionError::Internal(format!(
                "CreateLoadBalancer for {name} returned no load balancer"
            ))
        })?;
        changes::made(lb.load_balancer_arn().unwrap_or_default());
        tracing::info!(
            load_balancer = lb.load_balancer_arn().unwrap_or_default(),
            "created load balancer"
        );
        return Ok(lb);
    }
    let lb = found.remove(0);
    let arn = lb.load_balancer_arn().unwrap_or_default();
    for duplicate in found {
        let arn = duplicate.load_balancer_arn().unwrap_or_default();
        if changes::carry_out(
            Change::delete("load balancer", arn).because("a duplicate of the same name"),
        ) {
            delete(elb, arn).await?;
        }
    }
    if lb.scheme() != Some(&LoadBalancerSchemeEnum::InternetFacing) {
        return Err(ProvisionError::Conflict(format!(
            "load balancer {name} is {:?}, not internet-facing; the scheme cannot change in place: \
             destroy the ALB stage and apply again",
            lb.scheme()
        )));
    }
    let wanted: BTreeSet<&str> = placement
        .public_subnet_ids
        .iter()
        .map(String::as_str)
        .collect();
    let current = subnets_of(&lb);
    let change = || {
        Change::update("load balancer", &name).field(
            "subnets",
            current.iter().copied().collect::<Vec<_>>().join(", "),
            placement.public_subnet_ids.join(", "),
        )
    };
    if current != wanted && changes::carry_out(change()) {
        elb.set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(placement.public_subnet_ids.clone()))
            .send()
            .await
            .context("SetSubnets", arn)?;
        tracing::info!(load_balancer = arn, "corrected subnets");
    }
    let change = || {
        Change::update("load balancer", &name).field(
            "security groups",
            lb.security_groups().join(", "),
            &placement.security_group_id,
        )
    };
    if lb.security_groups() != [placement.security_group_id.clone()] && changes::carry_out(change())
    {
        elb.set_security_groups()
            .load_balancer_arn(arn)
            .security_groups(&placement.security_group_id)
            .send()
            .await
            .context("SetSecurityGroups", arn)?;
        tracing::info!(load_balancer = arn, "corrected security groups");
    }
    Ok(lb)
}

/// Deletes a load balancer; already gone is fine.
pub async fn delete(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<(), ProvisionError> {
    elb.delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await
        .context("DeleteLoadBalancer", arn)
        .not_found_as_none()?;
    tracing::info!(load_balancer = arn, "deleted load balancer");
    Ok(())
}
