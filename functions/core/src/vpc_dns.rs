//! The VPC's two DNS attributes, read by the network stage (which turns them on) and checked by
//! the endpoints stage (private DNS of interface endpoints needs both).

use aws_sdk_ec2::types::VpcAttributeName;

use crate::{AwsContext, ProvisionError};

/// Both attributes, in the order AWS requires them on: hostnames only with support.
pub const ATTRIBUTES: [VpcAttributeName; 2] = [
    VpcAttributeName::EnableDnsSupport,
    VpcAttributeName::EnableDnsHostnames,
];

pub async fn is_on(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    attribute: VpcAttributeName,
) -> Result<bool, ProvisionError> {
    // A VPC a plan would create is created with both on.
    if crate::changes::is_new(vpc_id) {
        return Ok(true);
    }
    let out = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(attribute.clone())
        .send()
        .await
        .context(
            "DescribeVpcAttribute",
            format!("{vpc_id} {}", attribute.as_str()),
        )?;
    let value = match attribute {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        _ => out.enable_dns_hostnames(),
    };
    Ok(value.and_then(|v| v.value()).unwrap_or(false))
}
