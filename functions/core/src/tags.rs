//! Tags and ownership. Every resource the provisioner creates carries the environment, stage and
//! role tags (see [`crate::naming`]); a resource counts as a stage's own only when both the
//! environment and the stage tag say so. That one predicate, [`Owner::owns`], decides for every
//! service; the per-service modules only convert between it and each SDK's tag types. Each module
//! sits behind a cargo feature of the same name, so a function links only the SDKs it calls.

use crate::naming::{Names, ENVIRONMENT_TAG, ROLE_TAG, STAGE_TAG};
use crate::ProvisionError;

/// Who owns a resource: an environment's stage.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub names: &'a Names,
    pub stage: &'a str,
}

impl<'a> Owner<'a> {
    pub fn new(names: &'a Names, stage: &'a str) -> Self {
        Self { names, stage }
    }

    /// The tags a resource with `role` gets: environment, stage, role and `Name`.
    pub fn tags(&self, role: &str) -> Vec<(String, String)> {
        self.names.tags(self.stage, role)
    }

    /// True when the tags say this stage created the resource for this environment.
    pub fn owns<'t>(&self, tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> bool {
        let (mut environment, mut stage) = (false, false);
        for (key, value) in tags {
            environment |= key == ENVIRONMENT_TAG && value == self.names.environment();
            stage |= key == STAGE_TAG && value == self.stage;
        }
        environment && stage
    }

    /// The error for a resource that has our name but not our tags: AWS names are unique per
    /// account and region, so it cannot be created, and it is not ours to adopt.
    pub fn name_taken(&self, kind: &str, name: &str, id: &str) -> ProvisionError {
        ProvisionError::Conflict(format!(
            "a {kind} named {name} already exists ({id}) and is not tagged \
             {ENVIRONMENT_TAG}={} {STAGE_TAG}={}; delete it or choose another environment name",
            self.names.environment(),
            self.stage
        ))
    }
}

/// `on_create` for a service whose tags are a list of `Tag { key, value }`.
#[allow(unused_macros)]
macro_rules! tag_list {
    ($tag:path) => {
        /// The tags of a new resource with `role`, for the create call.
        pub fn on_create(owner: super::Owner<'_>, role: &str) -> Vec<$tag> {
            owner
                .tags(role)
                .into_iter()
                .map(|(k, v)| <$tag>::builder().key(k).value(v).build())
                .collect()
        }
    };
}

/// The role tag among `tags` (`vpc`, `public-subnet-1`, ...).
pub fn role_in<'t>(tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Option<&'t str> {
    tags.into_iter()
        .find(|(key, _)| *key == ROLE_TAG)
        .map(|(_, value)| value)
}

/// EC2: tags set in the create call itself, and server-side filters by tag.
#[cfg(feature = "ec2")]
pub mod ec2 {
    use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

    use super::Owner;
    use crate::naming::{ENVIRONMENT_TAG, STAGE_TAG};

    /// Tags applied by the create call, so a crash right after creation still leaves a resource
    /// the next run finds.
    pub fn on_create(owner: Owner<'_>, resource: ResourceType, role: &str) -> TagSpecification {
        let tags = owner
            .tags(role)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        TagSpecification::builder()
            .resource_type(resource)
            .set_tags(Some(tags))
            .build()
    }

    /// Filters selecting what the owner made (EC2 applies [`Owner::owns`] server-side).
    pub fn owned(owner: Owner<'_>) -> Vec<Filter> {
        vec![
            filter(&format!("tag:{ENVIRONMENT_TAG}"), owner.names.environment()),
            filter(&format!("tag:{STAGE_TAG}"), owner.stage),
        ]
    }

    pub fn filter(name: &str, value: &str) -> Filter {
        Filter::builder().name(name).values(value).build()
    }

    pub fn pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?)))
    }

    /// The role tag of a resource.
    pub fn role_of(tags: &[Tag]) -> Option<&str> {
        super::role_in(pairs(tags))
    }
}

/// Elastic Load Balancing: tags in the create call; ownership read with DescribeTags.
#[cfg(feature = "elb")]
pub mod elb {
    use std::collections::BTreeSet;

    use super::Owner;
    use crate::{AwsContext, ProvisionError};

    tag_list!(aws_sdk_elasticloadbalancingv2::types::Tag);

    /// The subset of `arns` the owner made.
    pub async fn owned(
        elb: &aws_sdk_elasticloadbalancingv2::Client,
        owner: Owner<'_>,
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
                let pairs = description
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?)));
                if owner.owns(pairs) {
                    ours.extend(description.resource_arn().map(str::to_string));
                }
            }
        }
        Ok(ours)
    }

    /// Keeps what `name` found when it is ours; a resource of that name that is not ours is a
    /// conflict ([`Owner::name_taken`]).
    pub async fn only_ours<T>(
        elb: &aws_sdk_elasticloadbalancingv2::Client,
        owner: Owner<'_>,
        kind: &str,
        name: &str,
        found: Vec<T>,
        arn_of: impl Fn(&T) -> Option<&str>,
    ) -> Result<Vec<T>, ProvisionError> {
        let arns: Vec<String> = found
            .iter()
            .filter_map(|r| arn_of(r).map(str::to_string))
            .collect();
        let ours = owned(elb, owner, &arns).await?;
        if let Some(foreign) = arns.iter().find(|a| !ours.contains(*a)) {
            return Err(owner.name_taken(kind, name, foreign));
        }
        Ok(found)
    }
}

/// ECS: tags in the create call and on the described resource.
#[cfg(feature = "ecs")]
pub mod ecs {
    use aws_sdk_ecs::types::Tag;

    use super::Owner;

    tag_list!(aws_sdk_ecs::types::Tag);

    pub fn owns(owner: Owner<'_>, tags: &[Tag]) -> bool {
        owner.owns(tags.iter().filter_map(|t| Some((t.key()?, t.value()?))))
    }
}

/// CloudWatch Logs: tags as a map, in the create call and from ListTagsForResource.
#[cfg(feature = "logs")]
pub mod logs {
    use std::collections::HashMap;

    use super::Owner;

    pub fn on_create(owner: Owner<'_>, role: &str) -> HashMap<String, String> {
        owner.tags(role).into_iter().collect()
    }

    pub fn owns(owner: Owner<'_>, tags: &HashMap<String, String>) -> bool {
        owner.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// ACM: a certificate carries its tags apart, so finding the owned ones reads each candidate's.
#[cfg(feature = "acm")]
pub mod acm {
    use aws_sdk_acm::types::Tag;

    use super::Owner;
    use crate::{AwsContext, NotFoundAsNone, ProvisionError};

    /// The tags of a new certificate with `role`, for the request (a tag's builder fails only
    /// without a key, which every tag has).
    pub fn on_create(owner: Owner<'_>, role: &str) -> Vec<Tag> {
        owner
            .tags(role)
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    /// The ARNs of the certificates `owner` requested, for `domain` or (None) any name.
    pub async fn owned(
        acm: &aws_sdk_acm::Client,
        owner: Owner<'_>,
        domain: Option<&str>,
    ) -> Result<Vec<String>, ProvisionError> {
        let mut candidates = Vec::new();
        let mut pages = acm.list_certificates().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.context("ListCertificates", owner.names.environment())?;
            for summary in page.certificate_summary_list() {
                let for_domain = domain.is_none_or(|d| summary.domain_name() == Some(d));
                if let (true, Some(arn)) = (for_domain, summary.certificate_arn()) {
                    candidates.push(arn.to_string());
                }
            }
        }
        let mut found = Vec::new();
        for arn in candidates {
            let listed = acm
                .list_tags_for_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .context("ListTagsForCertificate", &arn)
                .not_found_as_none()?;
            let tags = listed.iter().flat_map(|l| l.tags());
            if owner.owns(tags.map(|t| (t.key(), t.value().unwrap_or_default()))) {
                found.push(arn);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_both_the_environment_and_the_stage() {
        let names = Names::new("demo");
        let owner = Owner::new(&names, "network");
        let tags = owner.tags("vpc");
        let pairs = || tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        assert!(owner.owns(pairs()));
        assert_eq!(role_in(pairs()), Some("vpc"));
        let other_env = Names::new("other");
        assert!(!Owner::new(&other_env, "network").owns(pairs()));
        assert!(!Owner::new(&names, "alb").owns(pairs()));
        assert!(!owner.owns([(ENVIRONMENT_TAG, "demo")]));
    }
}
