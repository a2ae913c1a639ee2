//! Private DNS of interface endpoints needs both DNS attributes of the VPC on. Nothing is read
//! beforehand: EC2 refuses the create or the change itself (`InvalidParameter`, "Enabling private
//! DNS requires both enableDnsSupport and enableDnsHostnames ..."). Right after the network stage
//! turned them on that answer can mean "not yet", so it is retried (two minutes, see
//! [`not_yet::PRIVATE_DNS_REFUSED`]); an answer that stays says which attribute is off and how to
//! turn it on.

use provisioner_core::{not_yet, vpc_dns, ProvisionError};

/// The retries for a create or change that asks for private DNS.
pub fn retries() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(not_yet::PRIVATE_DNS_REFUSED.retries())
        .retry_classifier(not_yet::PRIVATE_DNS_REFUSED)
}

/// `error` as the user should see it: a lasting refusal of private DNS names the attributes that
/// are off on `vpc_id` (read now) and the fix; any other error is kept as it is.
pub async fn explain(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    error: ProvisionError,
) -> ProvisionError {
    let refused = error
        .aws_code()
        .zip(error.aws_message())
        .is_some_and(|(code, message)| not_yet::PRIVATE_DNS_REFUSED.matches(code, message));
    if !refused {
        return error;
    }
    let mut off = Vec::new();
    for attribute in vpc_dns::ATTRIBUTES {
        match vpc_dns::is_on(ec2, vpc_id, attribute.clone()).await {
            Ok(true) => {}
            Ok(false) => off.push(attribute.as_str().to_string()),
            Err(_) => return error,
        }
    }
    if off.is_empty() {
        return error;
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
    ProvisionError::Conflict(format!(
        "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes \
         set to true, but {} is off on VPC {vpc_id}. Fix: run the network stage's apply for this \
         environment (it turns both on), or {}, then apply the endpoints stage again",
        off.join(" and "),
        commands.join(" then ")
    ))
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
