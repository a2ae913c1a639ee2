//! Redeploys on ECR image pushes. The EventBridge `ECR Image Action` event names a repository,
//! a tag and a digest; every environment whose spec runs that repository and tag is rolled onto
//! `repository@digest`. Pinning the digest is what makes a push of the same tag redeploy: the
//! task definition changes, so ECS starts new tasks that pull the new image.

use provisioner_core::image::ImageRef;
use provisioner_core::{EnvironmentSpec, ProvisionError};
use serde::{Deserialize, Serialize};

pub use provisioner_core::outputs::{
    is_ecr_image_event as is_image_event, ECR_IMAGE_ACTION as DETAIL_TYPE,
};

#[derive(Debug, Deserialize)]
struct Event {
    source: String,
    /// When ECR took the push (RFC 3339, UTC): which of two pushes is the later.
    #[serde(default)]
    time: String,
    account: String,
    region: String,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Detail {
    result: String,
    action_type: String,
    repository_name: String,
    image_digest: String,
    #[serde(default)]
    image_tag: Option<String>,
}

/// A successful push, read from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePush {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// The event's time.
    pub pushed_at: String,
}

impl ImagePush {
    pub fn from_event(event: serde_json::Value) -> Result<Self, ProvisionError> {
        let event: Event = serde_path_to_error::deserialize(event).map_err(|e| {
            ProvisionError::request(
                e.path().to_string(),
                format!(
                    "{}; expected an EventBridge `{DETAIL_TYPE}` event from aws.ecr",
                    e.inner()
                ),
            )
        })?;
        let must = |field: &str, value: &str, allowed: &str| {
            if value == allowed {
                Ok(())
            } else {
                Err(ProvisionError::request(
                    field,
                    format!("`{value}` cannot trigger a redeploy; allowed: {allowed}"),
                ))
            }
        };
        must("source", &event.source, "aws.ecr")?;
        must("detail.action-type", &event.detail.action_type, "PUSH")?;
        must("detail.result", &event.detail.result, "SUCCESS")?;
        let Some(tag) = event.detail.image_tag.filter(|t| !t.is_empty()) else {
            return Err(ProvisionError::request(
                "detail.image-tag",
                "missing: only tagged pushes redeploy (an environment follows a tag)",
            ));
        };
        if !event.detail.image_digest.starts_with("sha256:") {
            return Err(ProvisionError::request(
                "detail.image-digest",
                format!(
                    "`{}` is not a digest; expected sha256:<hex>",
                    event.detail.image_digest
                ),
            ));
        }
        Ok(Self {
            registry: format!("{}.dkr.ecr.{}.amazonaws.com", event.account, event.region),
            repository: event.detail.repository_name,
            tag,
            digest: event.detail.image_digest,
            pushed_at: event.time,
        })
    }

    /// `<registry>/<repository>@<digest>`
    pub fn pinned(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }

    /// True when `image` (from a spec) follows this push's repository and tag.
    pub fn is_followed_by(&self, image: &str) -> bool {
        let Ok(reference) = ImageRef::parse(image) else {
            return false;
        };
        reference.digest().is_none()
            && reference.registry() == self.registry
            && reference.repository() == self.repository
            && reference.tag().unwrap_or("latest") == self.tag
    }
}

/// What the state machine maps over: the pinned image and the environments that run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeployTargets {
    pub image: String,
    pub environments: Vec<String>,
    /// When the image was pushed: an environment already on a later push skips this one.
    pub pushed_at: String,
}

pub fn targets(push: &ImagePush, specs: &[EnvironmentSpec]) -> RedeployTargets {
    RedeployTargets {
        image: push.pinned(),
        pushed_at: push.pushed_at.clone(),
        environments: specs
            .iter()
            .filter(|s| push.is_followed_by(&s.service.image))
            .map(|s| s.name.clone())
            .collect(),
    }
}

/// Checks that a redeploy `image` is pinned by digest and is the spec's repository.
pub fn check_pin(spec_image: &str, image: &str) -> Result<(), ProvisionError> {
    let pinned = ImageRef::parse(image).map_err(|e| {
        ProvisionError::request("image", format!("`{image}` is not an image reference: {e}"))
    })?;
    if pinned.digest().is_none() {
        return Err(ProvisionError::request(
            "image",
            format!("`{image}` is not pinned; expected <repository>@sha256:<digest>"),
        ));
    }
    let followed =
        ImageRef::parse(spec_image).map_err(|e| ProvisionError::request("service.image", e))?;
    if (pinned.registry(), pinned.repository()) != (followed.registry(), followed.repository()) {
        return Err(ProvisionError::request(
            "image",
            format!(
                "`{image}` is not of the repository the environment runs ({spec_image}); allowed: {}/{}@sha256:...",
                followed.registry(),
                followed.repository()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

    fn event(action: &str, result: &str, tag: &str) -> serde_json::Value {
        json!({
            "version": "0", "id": "1", "detail-type": DETAIL_TYPE, "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {"result": result, "repository-name": "web", "image-digest": DIGEST,
                       "action-type": action, "image-tag": tag}
        })
    }

    #[test]
    fn a_push_pins_the_digest_and_matches_repository_and_tag() {
        let push = ImagePush::from_event(event("PUSH", "SUCCESS", "latest")).unwrap();
        assert_eq!(
            push.pinned(),
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{DIGEST}")
        );
        let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert!(push.is_followed_by(&format!("{registry}/web:latest")));
        assert!(push.is_followed_by(&format!("{registry}/web")));
        assert!(!push.is_followed_by(&format!("{registry}/web:v2")));
        assert!(!push.is_followed_by(&format!("{registry}/api:latest")));
        assert!(!push.is_followed_by("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:latest"));
        assert!(!push.is_followed_by(&format!("{registry}/web@{DIGEST}")));
    }

    #[test]
    fn other_actions_and_failures_are_rejected_naming_the_field() {
        let err = ImagePush::from_event(event("DELETE", "SUCCESS", "latest")).unwrap_err();
        assert!(err.to_string().starts_with("detail.action-type:"), "{err}");
        let err = ImagePush::from_event(event("PUSH", "FAILURE", "latest")).unwrap_err();
        assert!(err.to_string().starts_with("detail.result:"), "{err}");
        let err = ImagePush::from_event(event("PUSH", "SUCCESS", "")).unwrap_err();
        assert!(err.to_string().starts_with("detail.image-tag:"), "{err}");
        let mut broken = event("PUSH", "SUCCESS", "latest");
        broken["detail"]
            .as_object_mut()
            .unwrap()
            .remove("repository-name");
        let err = ImagePush::from_event(broken).unwrap_err();
        assert!(err.to_string().contains("repository-name"), "{err}");
    }

    #[test]
    fn a_redeploy_image_must_be_pinned_and_of_the_same_repository() {
        let spec = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest";
        assert!(check_pin(
            spec,
            &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{DIGEST}")
        )
        .is_ok());
        let err =
            check_pin(spec, "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2").unwrap_err();
        assert!(err.to_string().contains("not pinned"), "{err}");
        let err = check_pin(
            spec,
            &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/api@{DIGEST}"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not of the repository"), "{err}");
    }
}
