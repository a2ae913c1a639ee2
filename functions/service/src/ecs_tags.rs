//! Tags on the stage's ECS and CloudWatch Logs resources.

use std::collections::HashMap;

use provisioner_core::naming::{ENVIRONMENT_TAG, STAGE_TAG};
use provisioner_core::Names;

use crate::STAGE;

pub fn ecs(names: &Names, role: &str) -> Vec<aws_sdk_ecs::types::Tag> {
    names
        .tags(STAGE, role)
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn map(names: &Names, role: &str) -> HashMap<String, String> {
    names.tags(STAGE, role).into_iter().collect()
}

/// True when the tags say the stage created the resource for this environment.
pub fn is_ours<'a>(names: &Names, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let tags: HashMap<&str, &str> = tags.into_iter().collect();
    tags.get(ENVIRONMENT_TAG) == Some(&names.environment()) && tags.get(STAGE_TAG) == Some(&STAGE)
}
