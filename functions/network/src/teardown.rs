//! `destroy`: everything the stage made, in dependency order, each step tolerating what is gone.
//! Resources are found by tag, not from the stored outputs, so a half-finished apply is cleaned too.
//! Nothing is deleted while the VPC still holds what the other stages' resources left behind
//! (their network interfaces linger after them) or what the environment does not own.

use provisioner_core::tags::ec2::owned;
use provisioner_core::{AwsContext, Names, NotFoundAsNone, ProvisionError};

use crate::owner;
use crate::{gateway, in_use, nat, security_groups, subnets, vpc};

/// How far a teardown got.
#[derive(Debug, PartialEq, Eq)]
pub enum Teardown {
    /// Everything is deleted; how many resources this pass deleted.
    Done(usize),
    /// Nothing deleted yet: AWS has still to release these interfaces.
    Waiting(Vec<String>),
}

/// Deletes the stage's resources, or says what it waits for.
pub async fn destroy(ec2: &aws_sdk_ec2::Client, names: &Names) -> Result<Teardown, ProvisionError> {
    // NAT gateways first: their interfaces and addresses hold the public subnets and the
    // internet gateway until they are deleted.
    let vpc_id = vpc::find(ec2, names)
        .await?
        .and_then(|v| v.vpc_id().map(str::to_string));
    let leaving = nat::remove_unwanted(ec2, names, vpc_id.as_deref(), &[], true).await?;
    if !leaving.is_empty() {
        return Ok(Teardown::Waiting(leaving));
    }
    let groups = security_groups::find(ec2, names, None).await?;
    let own_subnets = ec2
        .describe_subnets()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeSubnets", names.environment())?;
    if let Some(found) = vpc::find(ec2, names).await? {
        let vpc_id = found.vpc_id().unwrap_or_default();
        let subnet_ids: Vec<String> = own_subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_string))
            .collect();
        let group_ids: Vec<String> = groups
            .values()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        let in_use = in_use::find(ec2, names, vpc_id, &subnet_ids, &group_ids).await?;
        if !in_use.foreign.is_empty() {
            return Err(ProvisionError::Conflict(format!(
                "VPC {vpc_id} of environment {} holds what the environment does not own: {}. \
                 Nothing was deleted; remove these (or move them out of the VPC), then run the \
                 destroy again",
                names.environment(),
                in_use.foreign.join("; ")
            )));
        }
        if !in_use.lingering.is_empty() {
            return Ok(Teardown::Waiting(in_use.lingering));
        }
    }
    let mut deleted = 0;

    for group in groups.values() {
        security_groups::revoke_all(ec2, group).await?;
    }
    for group in groups.values() {
        let id = group.group_id().unwrap_or_default();
        ec2.delete_security_group()
            .group_id(id)
            .send()
            .await
            .context("DeleteSecurityGroup", id)
            .gone_is_fine()?;
        deleted += 1;
    }

    for subnet in own_subnets.subnets() {
        subnets::delete(ec2, subnet.subnet_id().unwrap_or_default()).await?;
        deleted += 1;
    }

    let found = ec2
        .describe_route_tables()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeRouteTables", names.environment())?;
    for table in found.route_tables() {
        let id = table.route_table_id().unwrap_or_default();
        for association in table
            .associations()
            .iter()
            .filter(|a| a.main() != Some(true))
        {
            let association_id = association.route_table_association_id().unwrap_or_default();
            ec2.disassociate_route_table()
                .association_id(association_id)
                .send()
                .await
                .context("DisassociateRouteTable", association_id)
                .gone_is_fine()?;
        }
        ec2.delete_route_table()
            .route_table_id(id)
            .send()
            .await
            .context("DeleteRouteTable", id)
            .gone_is_fine()?;
        deleted += 1;
    }

    for igw in gateway::find(ec2, names).await? {
        let id = igw.internet_gateway_id().unwrap_or_default();
        for attachment in igw.attachments() {
            let vpc_id = attachment.vpc_id().unwrap_or_default();
            ec2.detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc_id)
                .send()
                .await
                .context("DetachInternetGateway", format!("{id} from {vpc_id}"))
                .gone_is_fine()?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .context("DeleteInternetGateway", id)
            .gone_is_fine()?;
        deleted += 1;
    }

    if let Some(found) = vpc::find(ec2, names).await? {
        let id = found.vpc_id().unwrap_or_default();
        ec2.delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .context("DeleteVpc", id)
            .gone_is_fine()?;
        deleted += 1;
    }
    Ok(Teardown::Done(deleted))
}
