//! The SSM Parameter Store layout every stage shares: `/fargate-provisioner/<environment>/spec`
//! and `/fargate-provisioner/<environment>/<stage>/outputs` (one JSON object per stage).
//!
//! One parameter per stage keeps a create to a handful of writes (Parameter Store's default
//! throughput is shared by every environment of the account), and a stage reads the spec and
//! every output it needs in one `GetParameters`. Writes compare first, so a stage whose outputs
//! did not change sends no `PutParameter`.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use serde::{Deserialize, Serialize};

use crate::error::{AwsContext, NotFoundAsNone, ProvisionError};
use crate::naming::{Names, ENVIRONMENT_TAG, SSM_ROOT, STAGE_TAG};
use crate::spec::EnvironmentSpec;

/// One output: a single value or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputValue {
    One(String),
    List(Vec<String>),
}

impl OutputValue {
    /// The value as one string; lists are comma-separated.
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
    parameter: String,
    stage: String,
    outputs: Outputs,
}

impl UpstreamOutputs {
    fn get(&self, key: &str) -> Result<&OutputValue, ProvisionError> {
        self.outputs
            .get(key)
            .ok_or_else(|| ProvisionError::MissingOutput {
                stage: self.stage.clone(),
                parameter: format!("{} ({key})", self.parameter),
            })
    }

    /// A single-valued output.
    pub fn one(&self, key: &str) -> Result<String, ProvisionError> {
        Ok(self.get(key)?.to_parameter_value())
    }

    /// A single-valued output the stage writes only sometimes.
    pub fn maybe(&self, key: &str) -> Option<String> {
        self.outputs.get(key).map(OutputValue::to_parameter_value)
    }

    /// A list output.
    pub fn list(&self, key: &str) -> Result<Vec<String>, ProvisionError> {
        Ok(self.get(key)?.values())
    }
}

/// What one read brought back: the environment's stored spec and the outputs of the stages
/// asked for (empty for a stage that has written none).
#[derive(Debug, Clone)]
pub struct Stored {
    names: Names,
    spec: Option<String>,
    outputs: BTreeMap<String, Outputs>,
}

impl Stored {
    /// The stored spec, validated again for `region`.
    pub fn spec(&self, region: &str) -> Result<EnvironmentSpec, ProvisionError> {
        let Some(text) = &self.spec else {
            return Err(ProvisionError::MissingOutput {
                stage: "spec".to_string(),
                parameter: self.names.spec_parameter(),
            });
        };
        Ok(EnvironmentSpec::from_json_str(text, region)?)
    }

    /// What a plan reads instead: its spec, and the outputs its earlier stages would write.
    pub fn planned(mut self, plan: &crate::changes::PlanInput) -> Result<Self, ProvisionError> {
        self.spec = Some(
            serde_json::to_string(&plan.spec)
                .map_err(|e| ProvisionError::internal("encoding the planned spec", e))?,
        );
        for (stage, planned) in &plan.upstream {
            self.outputs.insert(stage.clone(), planned.outputs.clone());
        }
        Ok(self)
    }

    /// The outputs `stage` has written (it must have been asked for).
    pub fn outputs(&self, stage: &str) -> Outputs {
        self.outputs.get(stage).cloned().unwrap_or_default()
    }

    /// The outputs of an upstream stage, each one an error naming the stage when missing.
    pub fn upstream(&self, stage: &str) -> UpstreamOutputs {
        UpstreamOutputs {
            parameter: self.names.stage_outputs_parameter(stage),
            stage: stage.to_string(),
            outputs: self.outputs(stage),
        }
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

/// `GetParameters` takes at most 10 names.
const GET_PARAMETERS_LIMIT: usize = 10;

fn encode_outputs(outputs: &Outputs) -> Result<String, ProvisionError> {
    serde_json::to_string(outputs).map_err(|e| ProvisionError::internal("encoding outputs", e))
}

/// A spec as it is stored: its parameter's text, within the parameter's size.
pub fn encode_spec(spec: &EnvironmentSpec) -> Result<String, ProvisionError> {
    let value = serde_json::to_string(spec)
        .map_err(|e| ProvisionError::internal("encoding the spec", e))?;
    crate::spec::check_stored_size(&value).map_err(|p| ProvisionError::request("spec", p))?;
    Ok(value)
}

fn decode_outputs(parameter: &str, text: &str) -> Result<Outputs, ProvisionError> {
    serde_json::from_str(text).map_err(|e| {
        ProvisionError::Conflict(format!(
            "parameter {parameter} does not hold a stage's outputs (a JSON object of strings and lists of strings): {e}; delete it and apply again"
        ))
    })
}

/// How many outputs differ between two sets: added, changed or removed.
fn differing(current: &Outputs, desired: &Outputs) -> usize {
    let changed = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .count();
    changed + current.keys().filter(|k| !desired.contains_key(*k)).count()
}

impl SsmStore {
    pub fn new(ssm: aws_sdk_ssm::Client) -> Self {
        Self { ssm }
    }

    /// Every parameter under `prefix`, by name.
    async fn read_path(&self, prefix: &str) -> Result<BTreeMap<String, String>, ProvisionError> {
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
                    found.insert(name.to_string(), value.to_string());
                }
            }
        }
        Ok(found)
    }

    /// The spec and the outputs of `stages`, in one call.
    pub async fn load(&self, names: &Names, stages: &[&str]) -> Result<Stored, ProvisionError> {
        let spec_name = names.spec_parameter();
        let wanted: Vec<(Option<&str>, String)> = std::iter::once((None, spec_name.clone()))
            .chain(
                stages
                    .iter()
                    .map(|s| (Some(*s), names.stage_outputs_parameter(s))),
            )
            .collect();
        debug_assert!(wanted.len() <= GET_PARAMETERS_LIMIT);
        let answer = self
            .ssm
            .get_parameters()
            .set_names(Some(wanted.iter().map(|(_, n)| n.clone()).collect()))
            .send()
            .await
            .context("GetParameters", &spec_name)?;
        let values: BTreeMap<&str, &str> = answer
            .parameters()
            .iter()
            .filter_map(|p| Some((p.name()?, p.value()?)))
            .collect();
        let mut stored = Stored {
            names: names.clone(),
            spec: values.get(spec_name.as_str()).map(|v| v.to_string()),
            outputs: BTreeMap::new(),
        };
        for (stage, name) in &wanted {
            if let Some(stage) = stage {
                let outputs = match values.get(name.as_str()) {
                    Some(text) => decode_outputs(name, text)?,
                    None => Outputs::new(),
                };
                stored.outputs.insert(stage.to_string(), outputs);
            }
        }
        Ok(stored)
    }

    /// The outputs a stage has written.
    pub async fn stage_outputs(
        &self,
        names: &Names,
        stage: &str,
    ) -> Result<Outputs, ProvisionError> {
        let name = names.stage_outputs_parameter(stage);
        match self.get(&name).await? {
            Some(text) => decode_outputs(&name, &text),
            None => Ok(Outputs::new()),
        }
    }

    /// Makes the stored outputs of `stage` equal `desired` (`current`, as just read), in one
    /// write when they differ. Returns how many outputs differed.
    pub async fn replace_stage_outputs(
        &self,
        names: &Names,
        stage: &str,
        current: &Outputs,
        desired: &Outputs,
    ) -> Result<usize, ProvisionError> {
        let changes = differing(current, desired);
        // A plan writes nothing; the outputs are internal, not a change to show.
        if changes == 0 || crate::changes::is_planning() {
            return Ok(changes);
        }
        let name = names.stage_outputs_parameter(stage);
        if desired.is_empty() {
            self.delete_names(vec![name]).await?;
            return Ok(changes);
        }
        let previous = if current.is_empty() {
            None
        } else {
            Some(encode_outputs(current)?)
        };
        self.put(
            names,
            stage,
            &name,
            &encode_outputs(desired)?,
            previous.as_deref(),
        )
        .await?;
        Ok(changes)
    }

    /// Deletes everything `stage` stored; nothing there is fine.
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
        previous: Option<&str>,
    ) -> Result<(), ProvisionError> {
        if previous.is_none() {
            match self.create(names, stage, name, value).await {
                // Written by a run that crashed before it could report: overwrite it below.
                Err(e) if e.aws_code() == Some("ParameterAlreadyExists") => {}
                other => return other,
            }
        }
        self.request(name, value, previous)
            .overwrite(true)
            .send()
            .await
            .context("PutParameter", name)?;
        Ok(())
    }

    /// Creates the parameter, tagged; `ParameterAlreadyExists` when there is one.
    async fn create(
        &self,
        names: &Names,
        stage: &str,
        name: &str,
        value: &str,
    ) -> Result<(), ProvisionError> {
        // SSM refuses tags together with Overwrite: tag on create, overwrite without tags.
        self.request(name, value, None)
            .tags(tag(ENVIRONMENT_TAG, names.environment()))
            .tags(tag(STAGE_TAG, stage))
            .send()
            .await
            .context("PutParameter", name)?;
        Ok(())
    }

    /// A PutParameter of `value`, in the tier it needs.
    fn request(
        &self,
        name: &str,
        value: &str,
        previous: Option<&str>,
    ) -> aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder {
        // AWS never takes a parameter back from the advanced tier to the standard one.
        let was_advanced = previous.is_some_and(|p| p.len() > STANDARD_TIER_LIMIT);
        let tier = if value.len() > STANDARD_TIER_LIMIT || was_advanced {
            ParameterTier::Advanced
        } else {
            ParameterTier::Standard
        };
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .tier(tier)
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
        let value = encode_spec(spec)?;
        let name = names.spec_parameter();
        let current = self.get(&name).await?;
        self.put_spec_over(&names, &value, current).await
    }

    /// [`Self::put_spec`] of an environment of which nothing was ever recorded: written without
    /// being read first (one call less on a first create). Found there after all (a run that
    /// crashed before it recorded anything), it is read and written as usual.
    pub async fn put_first_spec(&self, spec: &EnvironmentSpec) -> Result<bool, ProvisionError> {
        let names = Names::new(&spec.name);
        let value = encode_spec(spec)?;
        let name = names.spec_parameter();
        match self.create(&names, "spec", &name, &value).await {
            Err(e) if e.aws_code() == Some("ParameterAlreadyExists") => {
                let current = self.get(&name).await?;
                self.put_spec_over(&names, &value, current).await
            }
            other => other.map(|()| true),
        }
    }

    async fn put_spec_over(
        &self,
        names: &Names,
        value: &str,
        current: Option<String>,
    ) -> Result<bool, ProvisionError> {
        let name = names.spec_parameter();
        if current.as_deref() == Some(value) {
            return Ok(false);
        }
        self.put(names, "spec", &name, value, current.as_deref())
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
        self.put(names, "spec", &name, text, current.as_deref())
            .await
    }

    /// The stored spec, validated again for `region`.
    pub async fn spec(
        &self,
        names: &Names,
        region: &str,
    ) -> Result<EnvironmentSpec, ProvisionError> {
        self.load(names, &[]).await?.spec(region)
    }

    /// Every stored environment with its spec. A spec that no longer parses is skipped with a
    /// warning, so one broken environment does not stop redeploys of the others.
    pub async fn all_specs(&self, region: &str) -> Result<Vec<EnvironmentSpec>, ProvisionError> {
        let found = self.read_path(SSM_ROOT).await?;
        let mut specs = Vec::new();
        for (name, text) in found {
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
