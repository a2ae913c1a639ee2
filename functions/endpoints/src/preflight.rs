//! Checks that must pass before an interface endpoint with private DNS is created. AWS refuses
//! private DNS on a VPC without both DNS attributes; the emulator does not, so the code checks.

use provisioner_core::{not_yet, vpc_dns, ProvisionError};

/// The network stage turned both attributes on moments ago, and a read may still show the old
/// value for a while (eventual consistency): an attribute counts as off only once it has read
/// off for as long as AWS takes to converge.
pub async fn private_dns_possible(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
) -> Result<(), ProvisionError> {
    let mut off = Vec::new();
    for attribute in vpc_dns::ATTRIBUTES {
        let read = || vpc_dns::is_on(ec2, vpc_id, attribute.clone());
        if !not_yet::read_until_true(ec2.config().sleep_impl(), read).await? {
            off.push(attribute.as_str().to_string());
        }
    }
    if off.is_empty() {
        return Ok(());
    }
    let commands: Vec<String> = off
        .iter()
        .map(|a| {
            format!(
                "`aws ec2 modify-vpc-attribute --vpc-id {vpc_id} --{}`",
                kebab(a)
            )
        })
        .collect();
    Err(ProvisionError::Conflict(format!(
        "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes \
         set to true, but {} is off on VPC {vpc_id}. Fix: run the network stage's apply for this \
         environment (it turns both on), or {}, then apply the endpoints stage again",
        off.join(" and "),
        commands.join(" then ")
    )))
}

/// `enableDnsHostnames` -> `enable-dns-hostnames`
fn kebab(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let lower = c.to_ascii_lowercase();
            let dash = c.is_ascii_uppercase().then_some('-');
            dash.into_iter().chain(std::iter::once(lower))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn kebab_case_of_attribute_names() {
        assert_eq!(super::kebab("enableDnsHostnames"), "enable-dns-hostnames");
    }
}
