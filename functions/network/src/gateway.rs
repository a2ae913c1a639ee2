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

/// Finds or creates the gateway and attaches it to the VPC.
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
) -> Result<String, ProvisionError> {
    let found = find(ec2, names).await?;
    // Prefer the one already attached to this VPC; a detached one left by a crash is adopted.
    let existing = found
        .iter()
        .find(|g| g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)))
        .or_else(|| found.iter().find(|g| g.attachments().is_empty()));
    let (id, attached) = match existing {
        Some(g) => (
            g.internet_gateway_id().unwrap_or_default().to_string(),
            g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)),
        ),
        None if !changes::carry_out(
            Change::create("internet gateway", names.display_name(ROLE)).set("attached to", vpc_id),
        ) =>
        {
            (changes::new_id(&names.display_name(ROLE)), true)
        }
        None => {
            // No client token: after an ambiguous failure, look before resending.
            let create = || async {
                let out = ec2
                    .create_internet_gateway()
                    .tag_specifications(on_create(
                        owner(names),
                        ResourceType::InternetGateway,
                        ROLE,
                    ))
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
            let gateway = exactly_once::create_or_find(
                "internet gateway",
                ec2.config().sleep_impl(),
                create,
                found,
            )
            .await?;
            let id = gateway
                .internet_gateway_id()
                .unwrap_or_default()
                .to_string();
            tracing::info!(internet_gateway = %id, "created internet gateway");
            let attached = gateway
                .attachments()
                .iter()
                .any(|a| a.vpc_id() == Some(vpc_id));
            (id, attached)
        }
    };
    let attach = || Change::update("internet gateway", &id).field("attached to", "(none)", vpc_id);
    if !attached && changes::carry_out(attach()) {
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
