//! The internet gateway of the public subnets.

use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use provisioner_core::tags::ec2::{on_create, owned, role_of};
use provisioner_core::{
    changes, exactly_once, no_blind_resend, AwsContext, Change, Names, ProvisionError,
};

use crate::owner;

pub const ROLE: &str = "internet-gateway";

/// Internet gateways this stage created for the environment, attached or not.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
) -> Result<Vec<InternetGateway>, ProvisionError> {
    let out = ec2
        .describe_internet_gateways()
        .set_filters(Some(owned(owner(names))))
        .send()
        .await
        .context("DescribeInternetGateways", names.display_name(ROLE))?;
    Ok(out
        .internet_gateways()
        .iter()
        .filter(|g| role_of(g.tags()) == Some(ROLE))
        .cloned()
        .collect())
}

/// The environment's gateways, one created when there is none. Needs no VPC, so it runs beside
/// the VPC's create: by the time the gateway is attached, EC2 knows its id everywhere.
pub async fn ensure_one(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
) -> Result<Vec<InternetGateway>, ProvisionError> {
    let found = find(ec2, names).await?;
    if !found.is_empty() {
        return Ok(found);
    }
    Ok(vec![create(ec2, names).await?])
}

/// Attaches one of `found` to the VPC: the one already attached to it, else a detached one (left
/// by a crash), else a new one. Returns its id.
pub async fn attach(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    found: &[InternetGateway],
    vpc_id: &str,
) -> Result<String, ProvisionError> {
    let attached_here =
        |g: &&InternetGateway| g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id));
    let chosen = found
        .iter()
        .find(attached_here)
        .or_else(|| found.iter().find(|g| g.attachments().is_empty()))
        .cloned();
    let gateway = match chosen {
        Some(g) => g,
        None => create(ec2, names).await?,
    };
    let id = gateway
        .internet_gateway_id()
        .unwrap_or_default()
        .to_string();
    // A gateway a plan would create is attached as part of it.
    if attached_here(&&gateway) || changes::is_new(&id) {
        return Ok(id);
    }
    let change = Change::update("internet gateway", &id).field("attached to", "(none)", vpc_id);
    if changes::carry_out(change) {
        // A resend of an attach AWS applied answers that it is attached already.
        let attach = ec2
            .attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(vpc_id)
            .send()
            .await
            .context("AttachInternetGateway", format!("{id} to {vpc_id}"))
            .map(|_| ());
        exactly_once::already_done(attach, &["Resource.AlreadyAssociated"])?;
        tracing::info!(internet_gateway = %id, vpc = %vpc_id, "attached internet gateway");
    }
    Ok(id)
}

/// Creates a gateway, not attached yet; under a plan, a stand-in.
async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
) -> Result<InternetGateway, ProvisionError> {
    let change = Change::create("internet gateway", names.display_name(ROLE))
        .set("attached to", names.display_name(crate::vpc::ROLE));
    if !changes::carry_out(change) {
        return Ok(InternetGateway::builder()
            .internet_gateway_id(changes::new_id(&names.display_name(ROLE)))
            .build());
    }
    // No client token: after an ambiguous failure, look before resending.
    let create = || async {
        let out = ec2
            .create_internet_gateway()
            .tag_specifications(on_create(owner(names), ResourceType::InternetGateway, ROLE))
            .customize()
            .config_override(no_blind_resend!(aws_sdk_ec2))
            .send()
            .await
            .context("CreateInternetGateway", names.display_name(ROLE))?;
        Ok(out
            .internet_gateway()
            .cloned()
            .unwrap_or_else(|| InternetGateway::builder().build()))
    };
    let found = || async { Ok(find(ec2, names).await?.into_iter().next()) };
    let gateway =
        exactly_once::create_or_find("internet gateway", ec2.config().sleep_impl(), create, found)
            .await?;
    tracing::info!(
        internet_gateway = gateway.internet_gateway_id().unwrap_or_default(),
        "created internet gateway"
    );
    Ok(gateway)
}
