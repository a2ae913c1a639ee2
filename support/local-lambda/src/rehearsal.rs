//! The deploy rehearsal: template.yaml packaged, transformed and created as a CloudFormation stack
//! on the emulator, the way `sam deploy` creates it on AWS (the work is done by the emulator's
//! Python package, `localaws.rehearsal`). What runs locally is then the stack's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// A function as the stack created it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedFunction {
    /// Its logical id in template.yaml (its row in the stage table).
    pub logical_id: String,
    /// Its physical name, which the state machine's ARNs name.
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    /// Seconds Lambda lets one invocation run.
    pub timeout: u64,
    /// Its environment variables (the emulator may keep a resolved `!Ref` of a number as one).
    #[serde(deserialize_with = "as_strings")]
    pub environment: HashMap<String, String>,
    /// The policy documents of its role: inline and attached.
    pub policies: Vec<Value>,
}

fn as_strings<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<HashMap<String, String>, D::Error> {
    let values = HashMap::<String, Value>::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

/// The stack.
#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    pub stack: String,
    pub outputs: BTreeMap<String, String>,
    /// Physical id by logical id.
    pub resources: BTreeMap<String, String>,
    pub functions: Vec<DeployedFunction>,
}

#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    #[error("the deploy rehearsal could not run: {0}")]
    Run(#[from] std::io::Error),
    #[error("the deploy rehearsal failed: {0}")]
    Failed(String),
    #[error("the deploy rehearsal answered no stack ({0})")]
    Answer(#[from] serde_json::Error),
    #[error("the stack has no output {0}")]
    MissingOutput(&'static str),
}

impl Stack {
    pub fn output(&self, key: &'static str) -> Result<&str, RehearsalError> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or(RehearsalError::MissingOutput(key))
    }
}

/// Deploys `template` as stack `name` with `parameters`.
pub fn deploy(
    python: &Path,
    launcher: &Path,
    endpoint: &str,
    region: &str,
    template: &Path,
    name: &str,
    parameters: &[(&str, String)],
) -> Result<Stack, RehearsalError> {
    let output = Command::new(python)
        .args(["-m", "localaws.rehearsal", endpoint, region])
        .arg(template)
        .arg(name)
        .args(parameters.iter().map(|(k, v)| format!("{k}={v}")))
        .env("PYTHONPATH", launcher)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(RehearsalError::Failed(
            last.into_iter().rev().collect::<Vec<_>>().join("\n"),
        ));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}
