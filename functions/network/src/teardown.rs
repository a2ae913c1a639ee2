//! `destroy`: everything the stage made, in dependency order, each step tolerating what is gone.
//! Resources are found by tag, not from the stored outputs, so a half-finished apply is cleaned too.

use provisioner_core::tags::ec2::owned;
use provisioner_core::{AwsContext, Names, NotFoundAsNone, ProvisionError};

use crate::owner;
use crate::{gateway, security_groups, subnets, vpc};

/// Deletes the stage's resources; returns how many it deleted.
pub async fn destroy(ec2: &aws_sdk_ec2::Client, names: &Names) -> Result<usize, ProvisionError> {
    let mut deleted = 0;

    let groups = security_groups::find(ec2, names, None).await?;
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

    let found = ec2
        .describe_subnets()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeSubnets", names.environment())?;
    for subnet in found.subnets() {
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
    Ok(deleted)
}
