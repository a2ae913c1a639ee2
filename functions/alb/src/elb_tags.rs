//! Tags on the stage's load balancing resources and the ownership check that goes with them:
//! names are looked up first, and a resource of that name counts as ours only with our tags.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::Tag;
use provisioner_core::naming::{ENVIRONMENT_TAG, STAGE_TAG};
use provisioner_core::{AwsContext, Names, ProvisionError};

use crate::STAGE;

pub fn tags(names: &Names, role: &str) -> Vec<Tag> {
    names
        .tags(STAGE, role)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The subset of `arns` tagged for this environment and stage.
pub async fn owned(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    arns: &[String],
) -> Result<BTreeSet<String>, ProvisionError> {
    let mut ours = BTreeSet::new();
    // DescribeTags takes at most 20 ARNs.
    for chunk in arns.chunks(20) {
        let out = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .context("DescribeTags", chunk.join(", "))?;
        for description in out.tag_descriptions() {
            let has = |key: &str, value: &str| {
                description
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(key) && t.value() == Some(value))
            };
            if has(ENVIRONMENT_TAG, names.environment()) && has(STAGE_TAG, STAGE) {
                ours.extend(description.resource_arn().map(str::to_string));
            }
        }
    }
    Ok(ours)
}

/// Keeps the resources that are ours; one of that name that is not ours is a conflict, since
/// AWS names are unique per region and account.
pub async fn only_ours<T>(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    kind: &str,
    name: &str,
    found: Vec<T>,
    arn_of: impl Fn(&T) -> Option<&str>,
) -> Result<Vec<T>, ProvisionError> {
    let arns: Vec<String> = found
        .iter()
        .filter_map(|r| arn_of(r).map(str::to_string))
        .collect();
    let ours = owned(elb, names, &arns).await?;
    if let Some(foreign) = arns.iter().find(|a| !ours.contains(*a)) {
        return Err(ProvisionError::Conflict(format!(
            "a {kind} named {name} already exists ({foreign}) and is not tagged \
             {ENVIRONMENT_TAG}={} {STAGE_TAG}={STAGE}; delete it or choose another environment name",
            names.environment()
        )));
    }
    Ok(found)
}
