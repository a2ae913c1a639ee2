//! The SSM Parameter Store layout every stage shares:
//! `/fargate-provisioner/<environment>/spec` and `/fargate-provisioner/<environment>/<stage>/<output>`.
//!
//! Writes compare first, so a stage whose outputs did not change sends no `PutParameter`.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use serde::{Deserialize, Serialize};

use crate::error::{AwsContext, NotFoundAsNone, ProvisionError};
use crate::naming::{Names, ENVIRONMENT_TAG, SSM_ROOT, STAGE_TAG};
use crate::spec::EnvironmentSpec;

/// One output: a single value (String parameter) or a list (StringList parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputValue {
    One(String),
    List(Vec<String>),
}

impl OutputValue {
    /// The value as SSM stores it; lists are comma-separated.
    pub fn to_parameter_value(&self) -> String {
        match self {
            OutputValue::One(v) => v.clone(),
            OutputValue::List(v) => v.join(","),
        }
    }

    /// The values, one for a single output.
    pub fn values(&self) -> Vec<String> {
        match self {
            OutputValue::One(v) => vec![v.clone()],
            OutputValue::List(v) => v.clone(),
        }
    }

    fn parameter_type(&self) -> ParameterType {
        match self {
            OutputValue::One(_) => ParameterType::String,
            OutputValue::List(_) => ParameterType::StringList,
        }
    }
}

impl From<String> for OutputValue {
    fn from(v: String) -> Self {
        OutputValue::One(v)
    }
}

impl From<Vec<String>> for OutputValue {
    fn from(v: Vec<String>) -> Self {
        OutputValue::List(v)
    }
}

/// A stage's outputs by name (`vpc-id`, `private-subnet-ids`, ...).
pub type Outputs = BTreeMap<String, OutputValue>;

/// An upstream stage's outputs; a missing one is an error that says which stage to run first.
#[derive(Debug, Clone)]
pub struct UpstreamOutputs {
    prefix: String,
    stage: String,
    outputs: Outputs,
}

impl UpstreamOutputs {
    fn get(&self, key: &str) -> Result<&OutputValue, ProvisionError> {
        self.outputs
            .get(key)
            .ok_or_else(|| ProvisionError::MissingOutput {
                stage: self.stage.clone(),
                parameter: format!("{}{key}", self.prefix),
            })
    }

    /// A single-valued output.
    pub fn one(&self, key: &str) -> Result<String, ProvisionError> {
        Ok(self.get(key)?.to_parameter_value())
    }

    /// A list output.
    pub fn list(&self, key: &str) -> Result<Vec<String>, ProvisionError> {
        Ok(self.get(key)?.values())
    }
}

/// Reads and writes an environment's spec and stage outputs.
#[derive(Clone, Debug)]
pub struct SsmStore {
    ssm: aws_sdk_ssm::Client,
}

/// Standard parameters hold 4 KB; a larger value goes to the advanced tier.
const STANDARD_TIER_LIMIT: usize = 4096;

/// Advanced parameters hold 8 KB, the most Parameter Store holds.
pub const ADVANCED_TIER_LIMIT: usize = 8192;

impl SsmStore {
    pub fn new(ssm: aws_sdk_ssm::Client) -> Self {
        Self { ssm }
    }

    /// Every parameter under `prefix`, by name.
    async fn read_path(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<String, (ParameterType, String)>, ProvisionError> {
        let mut found = BTreeMap::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(prefix.trim_end_matches('/'))
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context("GetParametersByPath", prefix)?;
            for p in page.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    let kind = p.r#type().cloned().unwrap_or(ParameterType::String);
                    found.insert(name.to_string(), (kind, value.to_string()));
                }
            }
        }
        Ok(found)
    }

    /// The outputs a stage has written.
    pub async fn stage_outputs(
        &self,
        names: &Names,
        stage: &str,
    ) -> Result<Outputs, ProvisionError> {
        let prefix = names.stage_prefix(stage);
        let found = self.read_path(&prefix).await?;
        Ok(found
            .into_iter()
            .filter_map(|(name, (kind, value))| {
                let key = name.strip_prefix(&prefix)?.to_string();
                let value = match kind {
                    ParameterType::StringList => {
                        OutputValue::List(value.split(',').map(str::to_string).collect())
                    }
                    _ => OutputValue::One(value),
                };
                Some((key, value))
            })
            .collect())
    }

    /// The outputs of an upstream stage, read once.
    pub async fn upstream(
        &self,
        names: &Names,
        stage: &str,
    ) -> Result<UpstreamOutputs, ProvisionError> {
        Ok(UpstreamOutputs {
            prefix: names.stage_prefix(stage),
            stage: stage.to_string(),
            outputs: self.stage_outputs(names, stage).await?,
        })
    }

    /// Makes the stored outputs of `stage` equal `desired`: writes what changed, deletes what is
    /// no longer an output. Returns the number of parameters written or deleted.
    pub async fn write_stage_outputs(
        &self,
        names: &Names,
        stage: &str,
        desired: &Outputs,
    ) -> Result<usize, ProvisionError> {
        let current = self.stage_outputs(names, stage).await?;
        self.replace_stage_outputs(names, stage, &current, desired)
            .await
    }

    /// [`Self::write_stage_outputs`] for a caller that has just read the stored outputs.
    pub async fn replace_stage_outputs(
        &self,
        names: &Names,
        stage: &str,
        current: &Outputs,
        desired: &Outputs,
    ) -> Result<usize, ProvisionError> {
        let mut changes = 0;
        for (key, value) in desired {
            if current.get(key) == Some(value) {
                continue;
            }
            let name = format!("{}{key}", names.stage_prefix(stage));
            let previous = current.get(key).map(OutputValue::to_parameter_value);
            self.put(
                names,
                stage,
                &name,
                &value.to_parameter_value(),
                value.parameter_type(),
                previous.as_deref(),
            )
            .await?;
            changes += 1;
        }
        let stale: Vec<String> = current
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .map(|k| format!("{}{k}", names.stage_prefix(stage)))
            .collect();
        changes += stale.len();
        self.delete_names(stale).await?;
        Ok(changes)
    }

    /// Deletes every output of `stage`; nothing there is fine.
    pub async fn delete_stage_outputs(
        &self,
        names: &Names,
        stage: &str,
    ) -> Result<(), ProvisionError> {
        let found = self.read_path(&names.stage_prefix(stage)).await?;
        self.delete_names(found.into_keys().collect()).await
    }

    async fn put(
        &self,
        names: &Names,
        stage: &str,
        name: &str,
        value: &str,
        kind: ParameterType,
        previous: Option<&str>,
    ) -> Result<(), ProvisionError> {
        // AWS never takes a parameter back from the advanced tier to the standard one.
        let was_advanced = previous.is_some_and(|p| p.len() > STANDARD_TIER_LIMIT);
        let tier = if value.len() > STANDARD_TIER_LIMIT || was_advanced {
            ParameterTier::Advanced
        } else {
            ParameterTier::Standard
        };
        let request = || {
            self.ssm
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(kind.clone())
                .tier(tier.clone())
        };
        // SSM refuses tags together with Overwrite: tag on create, overwrite without tags.
        if previous.is_none() {
            let created = request()
                .tags(tag(ENVIRONMENT_TAG, names.environment()))
                .tags(tag(STAGE_TAG, stage))
                .send()
                .await
                .context("PutParameter", name);
            match created {
                // Written by a run that crashed before it could report: overwrite it below.
                Err(e) if e.aws_code() == Some("ParameterAlreadyExists") => {}
                other => return other.map(|_| ()),
            }
        }
        request()
            .overwrite(true)
            .send()
            .await
            .context("PutParameter", name)?;
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<String>, ProvisionError> {
        let out = self
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .context("GetParameter", name)
            .not_found_as_none()?;
        Ok(out.and_then(|o| Some(o.parameter()?.value()?.to_string())))
    }

    async fn delete_names(&self, names: Vec<String>) -> Result<(), ProvisionError> {
        // DeleteParameters takes at most 10 names per call.
        for chunk in names.chunks(10) {
            self.ssm
                .delete_parameters()
                .set_names(Some(chunk.to_vec()))
                .send()
                .await
                .context("DeleteParameters", chunk.join(", "))?;
        }
        Ok(())
    }

    /// Validates a spec given as JSON, names its zones in full from the region's `zones`, and
    /// stores it: the entry every caller uses. A bad spec is rejected before it is stored.
    pub async fn submit_spec(
        &self,
        json: &serde_json::Value,
        zones: &crate::zones::RegionZones,
    ) -> Result<EnvironmentSpec, ProvisionError> {
        let spec = zones.accept(json)?;
        self.put_spec(&spec).await?;
        Ok(spec)
    }

    /// Stores the validated spec (with defaults filled in) for the stages to read. Returns whether
    /// it changed.
    pub async fn put_spec(&self, spec: &EnvironmentSpec) -> Result<bool, ProvisionError> {
        let names = Names::new(&spec.name);
        let value = serde_json::to_string(spec)
            .map_err(|e| ProvisionError::internal("encoding the spec", e))?;
        crate::spec::check_stored_size(&value).map_err(|p| ProvisionError::request("spec", p))?;
        let name = names.spec_parameter();
        let current = self.get(&name).await?;
        if current.as_deref() == Some(value.as_str()) {
            return Ok(false);
        }
        self.put(
            &names,
            "spec",
            &name,
            &value,
            ParameterType::String,
            current.as_deref(),
        )
        .await?;
        Ok(true)
    }

    /// The stored spec as stored (JSON), if any.
    pub async fn spec_text(&self, names: &Names) -> Result<Option<String>, ProvisionError> {
        self.get(&names.spec_parameter()).await
    }

    /// Puts back a spec read with [`Self::spec_text`] (the last one an apply succeeded with).
    pub async fn restore_spec_text(&self, names: &Names, text: &str) -> Result<(), ProvisionError> {
        let name = names.spec_parameter();
        let current = self.get(&name).await?;
        if current.as_deref() == Some(text) {
            return Ok(());
        }
        self.put(
            names,
            "spec",
            &name,
            text,
            ParameterType::String,
            current.as_deref(),
        )
        .await
    }

    /// The stored spec, validated again for `region`.
    pub async fn spec(
        &self,
        names: &Names,
        region: &str,
    ) -> Result<EnvironmentSpec, ProvisionError> {
        let name = names.spec_parameter();
        let Some(text) = self.get(&name).await? else {
            return Err(ProvisionError::MissingOutput {
                stage: "spec".to_string(),
                parameter: name,
            });
        };
        Ok(EnvironmentSpec::from_json_str(&text, region)?)
    }

    /// Every stored environment with its spec. A spec that no longer parses is skipped with a
    /// warning, so one broken environment does not stop redeploys of the others.
    pub async fn all_specs(&self, region: &str) -> Result<Vec<EnvironmentSpec>, ProvisionError> {
        let found = self.read_path(SSM_ROOT).await?;
        let mut specs = Vec::new();
        for (name, (_, text)) in found {
            let Some(environment) = name
                .strip_prefix(SSM_ROOT)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.strip_suffix("/spec"))
                .filter(|env| !env.contains('/'))
            else {
                continue;
            };
            match EnvironmentSpec::from_json_str(&text, region) {
                Ok(spec) => specs.push(spec),
                Err(e) => {
                    tracing::warn!(environment, error = %e, "stored spec does not parse; skipped")
                }
            }
        }
        Ok(specs)
    }

    /// Deletes the stored spec; nothing there is fine.
    pub async fn delete_spec(&self, names: &Names) -> Result<(), ProvisionError> {
        let name = names.spec_parameter();
        self.ssm
            .delete_parameter()
            .name(&name)
            .send()
            .await
            .context("DeleteParameter", &name)
            .gone_is_fine()
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}
