//! Finding and labelling a stage's EC2 resources by tag (shared with the endpoints stage).

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use provisioner_core::naming::{ENVIRONMENT_TAG, ROLE_TAG, STAGE_TAG};
use provisioner_core::Names;

/// Tags applied in the create call itself, so a crash right after creation still leaves a
/// resource the next run finds.
pub fn tag_on_create(
    names: &Names,
    stage: &str,
    resource: ResourceType,
    role: &str,
) -> TagSpecification {
    let tags = names
        .tags(stage, role)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tags))
        .build()
}

/// Filters selecting everything `stage` made for the environment.
pub fn owned_by_stage(names: &Names, stage: &str) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{ENVIRONMENT_TAG}"), names.environment()),
        filter(&format!("tag:{STAGE_TAG}"), stage),
    ]
}

pub fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The role tag of a resource (`vpc`, `public-subnet-1`, ...).
pub fn role_of(tags: &[Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key() == Some(ROLE_TAG))
        .and_then(|t| t.value())
}
