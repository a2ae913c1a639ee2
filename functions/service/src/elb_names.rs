//! How CloudWatch and Application Auto Scaling name a load balancer and its target group: the
//! ends of their ARNs (`app/<name>/<id>`, `<name>/<id>` after `targetgroup/`).

use provisioner_core::{changes, ProvisionError};

/// What follows `marker` in `arn`. A plan's name for a load balancer or target group it would
/// make is taken as it is.
pub fn after(arn: &str, marker: &str) -> Result<String, ProvisionError> {
    match arn.split_once(marker) {
        Some((_, rest)) => Ok(rest.to_string()),
        None if changes::is_new(arn) => Ok(arn.to_string()),
        None => Err(ProvisionError::Internal(format!(
            "`{arn}` has no `{marker}`"
        ))),
    }
}

/// `app/<name>/<id>` of a load balancer ARN.
pub fn load_balancer(arn: &str) -> Result<String, ProvisionError> {
    after(arn, ":loadbalancer/")
}

/// `<name>/<id>` of a target group ARN.
pub fn target_group(arn: &str) -> Result<String, ProvisionError> {
    after(arn, ":targetgroup/")
}
