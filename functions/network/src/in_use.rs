//! What still uses the VPC when the network is torn down. The load balancer's, the endpoints' and
//! the tasks' network interfaces linger for minutes after their owners are deleted, and while they
//! do AWS refuses to delete the subnets and groups (DependencyViolation). The teardown waits for
//! them, naming them, instead of failing blindly; anything in the VPC that the environment does not
//! own stops it at once, since waiting would never end and deleting it is not ours to do.

use aws_sdk_ec2::types::{Filter, NetworkInterface};
use provisioner_core::naming::ENVIRONMENT_TAG;
use provisioner_core::tags::ec2::{filter, pairs};
use provisioner_core::{AwsContext, Names, ProvisionError};

/// What the VPC still holds besides the network stage's own resources.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InUse {
    /// Interfaces of the environment's deleted load balancer, endpoints and tasks, which AWS
    /// releases by itself.
    pub lingering: Vec<String>,
    /// Resources the environment does not own, described for a person to remove.
    pub foreign: Vec<String>,
}

fn describe(eni: &NetworkInterface) -> String {
    let owner = eni
        .attachment()
        .and_then(|a| a.instance_owner_id())
        .or(eni.requester_id())
        .or(eni.owner_id())
        .unwrap_or("?");
    format!(
        "{} ({}; owner {owner})",
        eni.network_interface_id().unwrap_or_default(),
        eni.description().unwrap_or("no description"),
    )
}

/// Sorts the network interfaces matching `filters` (in the VPC `vpc_id`) into the environment's,
/// which linger after their owners, and foreign ones.
pub async fn interfaces(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    filters: Vec<Filter>,
) -> Result<InUse, ProvisionError> {
    let (interfaces, endpoints) = tokio::join!(
        ec2.describe_network_interfaces()
            .set_filters(Some(filters))
            .send(),
        ec2.describe_vpc_endpoints()
            .filters(filter("vpc-id", vpc_id))
            .send(),
    );
    let interfaces = interfaces.context("DescribeNetworkInterfaces", vpc_id)?;
    let endpoints = endpoints.context("DescribeVpcEndpoints", vpc_id)?;

    // The environment's endpoints, and any endpoint already on its way out.
    let ours_or_leaving: Vec<&str> = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            let state = e.state().map(|s| s.as_str().to_ascii_lowercase());
            let leaving = matches!(state.as_deref(), Some("deleting" | "deleted"));
            let tagged =
                pairs(e.tags()).any(|(k, v)| k == ENVIRONMENT_TAG && v == names.environment());
            leaving || tagged
        })
        .filter_map(|e| e.vpc_endpoint_id())
        .collect();
    let load_balancer = format!("ELB app/{}/", names.load_balancer());

    let mut found = InUse::default();
    for eni in interfaces.network_interfaces() {
        let description = eni.description().unwrap_or_default();
        let ours = description.starts_with(&load_balancer)
            || description
                .strip_prefix("VPC Endpoint Interface ")
                .is_some_and(|id| ours_or_leaving.contains(&id))
            // A Fargate task's interface; the service stage has stopped the environment's tasks.
            || (eni.requester_managed() == Some(true) && description.starts_with("arn:aws:ecs:"));
        if ours {
            found.lingering.push(describe(eni));
        } else {
            found
                .foreign
                .push(format!("network interface {}", describe(eni)));
        }
    }
    Ok(found)
}

/// Sorts the VPC's interfaces, subnets and groups that the network stage did not create.
/// `own_subnets` and `own_groups` are the stage's.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    own_subnets: &[String],
    own_groups: &[String],
) -> Result<InUse, ProvisionError> {
    let in_vpc = || vec![filter("vpc-id", vpc_id)];
    let (found, subnets, groups) = tokio::join!(
        interfaces(ec2, names, vpc_id, in_vpc()),
        ec2.describe_subnets().set_filters(Some(in_vpc())).send(),
        ec2.describe_security_groups()
            .set_filters(Some(in_vpc()))
            .send(),
    );
    let mut found = found?;
    let subnets = subnets.context("DescribeSubnets", vpc_id)?;
    let groups = groups.context("DescribeSecurityGroups", vpc_id)?;
    for subnet in subnets.subnets() {
        let id = subnet.subnet_id().unwrap_or_default();
        if !own_subnets.iter().any(|s| s == id) {
            found.foreign.push(format!(
                "subnet {id} ({})",
                subnet.cidr_block().unwrap_or("?")
            ));
        }
    }
    for group in groups.security_groups() {
        let id = group.group_id().unwrap_or_default();
        let default = group.group_name() == Some("default");
        if !default && !own_groups.iter().any(|g| g == id) {
            found.foreign.push(format!(
                "security group {id} ({})",
                group.group_name().unwrap_or("?")
            ));
        }
    }
    Ok(found)
}
