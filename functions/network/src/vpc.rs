//! The VPC and its two DNS attributes (private DNS of interface endpoints needs both).

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName};
use provisioner_core::tags::ec2::{on_create, owned, role_of};
use provisioner_core::{
    changes, exactly_once, no_blind_resend, vpc_dns, AwsContext, Change, Names, ProvisionError,
};

use crate::owner;

pub const ROLE: &str = "vpc";

/// The environment's VPC, if there is one. More than one is a conflict a person must resolve.
pub async fn find(ec2: &aws_sdk_ec2::Client, names: &Names) -> Result<Option<Vpc>, ProvisionError> {
    let found = ec2
        .describe_vpcs()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeVpcs", names.display_name(ROLE))?;
    let mut vpcs: Vec<Vpc> = found
        .vpcs()
        .iter()
        .filter(|v| role_of(v.tags()) == Some(ROLE))
        .cloned()
        .collect();
    match vpcs.len() {
        0 | 1 => Ok(vpcs.pop()),
        n => Err(ProvisionError::Conflict(format!(
            "{n} VPCs are tagged as the VPC of environment {} ({}); delete all but one",
            names.environment(),
            vpcs.iter()
                .filter_map(|v| v.vpc_id())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Finds or creates the VPC with `cidr`, then makes sure both DNS attributes are on.
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    cidr: &str,
) -> Result<String, ProvisionError> {
    let (vpc_id, created) = match find(ec2, names).await? {
        Some(vpc) => {
            let id = vpc.vpc_id().unwrap_or_default().to_string();
            if vpc.cidr_block() != Some(cidr) {
                return Err(ProvisionError::Conflict(format!(
                    "VPC {id} of environment {} has CIDR {}, the spec asks for {cidr} (network.vpcCidr); a VPC's CIDR cannot change in place: put the old value back or destroy the environment first",
                    names.environment(),
                    vpc.cidr_block().unwrap_or("?")
                )));
            }
            (id, false)
        }
        None if !changes::carry_out(
            Change::create("VPC", names.display_name(ROLE))
                .set("cidr", cidr)
                .set("enableDnsSupport", true)
                .set("enableDnsHostnames", true),
        ) =>
        {
            return Ok(changes::new_id(&names.display_name(ROLE)));
        }
        None => {
            // CreateVpc takes no client token: after an ambiguous failure, look before resending.
            let create = || async {
                let created = ec2
                    .create_vpc()
                    .cidr_block(cidr)
                    .tag_specifications(on_create(owner(names), ResourceType::Vpc, ROLE))
                    .customize()
                    .config_override(no_blind_resend!(aws_sdk_ec2))
                    .send()
                    .await
                    .context("CreateVpc", names.display_name(ROLE))?;
                Ok(created.vpc().and_then(|v| v.vpc_id()).map(str::to_string))
            };
            let found = || async { Ok(find(ec2, names).await?.map(|v| v.vpc_id)) };
            let id = exactly_once::create_or_find("VPC", ec2.config().sleep_impl(), create, found)
                .await?
                .unwrap_or_default();
            changes::made(&id);
            tracing::info!(vpc = %id, %cidr, "created VPC");
            // Its attributes, subnets, groups and tables all name it.
            provisioner_core::not_yet::settle(ec2.config().sleep_impl()).await;
            (id, true)
        }
    };
    for attribute in vpc_dns::ATTRIBUTES {
        // A new VPC has DNS support on and hostnames off (VPC User Guide, "DNS attributes for
        // your VPC"): no need to read them.
        let known = created.then_some(attribute == VpcAttributeName::EnableDnsSupport);
        ensure_attribute(ec2, &vpc_id, attribute, known).await?;
    }
    Ok(vpc_id)
}

/// AWS takes one attribute per ModifyVpcAttribute call. The change is not read back: a read
/// right after it may still show the old value (eventual consistency), and the one reader that
/// needs it on (the endpoints stage's check before private DNS) waits that out itself.
/// `ec2` is patient: the VPC may be seconds old. `known`: the attribute's value when it need
/// not be read.
async fn ensure_attribute(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    attribute: VpcAttributeName,
    known: Option<bool>,
) -> Result<(), ProvisionError> {
    let on = match known {
        Some(on) => on,
        None => vpc_dns::is_on(ec2, vpc_id, attribute.clone()).await?,
    };
    if on {
        return Ok(());
    }
    let change = Change::update("VPC", vpc_id).field(attribute.as_str(), false, true);
    if !changes::carry_out(change) {
        return Ok(());
    }
    let on = AttributeBooleanValue::builder().value(true).build();
    let request = ec2.modify_vpc_attribute().vpc_id(vpc_id);
    let request = match attribute {
        VpcAttributeName::EnableDnsSupport => request.enable_dns_support(on),
        _ => request.enable_dns_hostnames(on),
    };
    request.send().await.context(
        "ModifyVpcAttribute",
        format!("{vpc_id} {}", attribute.as_str()),
    )?;
    tracing::info!(vpc = %vpc_id, attribute = attribute.as_str(), "turned on VPC attribute");
    Ok(())
}
