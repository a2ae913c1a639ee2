//! Reads the state machine out of template.yaml: its definition file and the function each
//! `${...}` substitution names, so the local run executes exactly what SAM deploys.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template.yaml is not YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

/// A Lambda function of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFunction {
    pub logical_id: String,
    /// The cargo binary SAM builds for it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
}

/// The state machine of the template.
#[derive(Debug, Clone)]
pub struct StateMachineTemplate {
    pub logical_id: String,
    /// Path of the definition file, relative to the template.
    pub definition_uri: String,
    /// Substitution name -> the function it stands for.
    pub function_substitutions: BTreeMap<String, TemplateFunction>,
    /// Every function of the template, by logical id.
    pub functions: BTreeMap<String, TemplateFunction>,
}

fn shape(message: impl Into<String>) -> TemplateError {
    TemplateError::Shape(message.into())
}

/// `!GetAtt X.Arn` or `Fn::GetAtt: [X, Arn]` -> `X`.
fn get_att_target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
            let text = tagged.value.as_str()?;
            Some(text.split('.').next()?.to_string())
        }
        Value::Mapping(map) => {
            let list = map.get("Fn::GetAtt")?.as_sequence()?;
            Some(list.first()?.as_str()?.to_string())
        }
        _ => None,
    }
}

pub fn read(template_path: &Path) -> Result<StateMachineTemplate, TemplateError> {
    let text = std::fs::read_to_string(template_path).map_err(|source| TemplateError::Read {
        path: template_path.display().to_string(),
        source,
    })?;
    let template: Value = serde_yaml_ng::from_str(&text)?;
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| shape("no Resources"))?;
    let mut functions = BTreeMap::new();
    let mut machine = None;
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or_default().to_string();
        match resource.get("Type").and_then(Value::as_str) {
            Some("AWS::Serverless::Function") => {
                let binary = resource
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|m| m.get("Binary"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(format!("{id} has no Metadata.BuildProperties.Binary")))?;
                functions.insert(
                    id.clone(),
                    TemplateFunction {
                        logical_id: id,
                        binary: binary.to_string(),
                    },
                );
            }
            Some("AWS::Serverless::StateMachine") => machine = Some((id, resource.clone())),
            _ => {}
        }
    }
    let (logical_id, resource) =
        machine.ok_or_else(|| shape("no AWS::Serverless::StateMachine"))?;
    let properties = resource
        .get("Properties")
        .ok_or_else(|| shape(format!("{logical_id} has no Properties")))?;
    let definition_uri = properties
        .get("DefinitionUri")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(format!("{logical_id} has no DefinitionUri file")))?
        .to_string();
    let mut function_substitutions = BTreeMap::new();
    if let Some(subs) = properties
        .get("DefinitionSubstitutions")
        .and_then(Value::as_mapping)
    {
        for (name, value) in subs {
            let name = name.as_str().unwrap_or_default().to_string();
            let target = get_att_target(value).ok_or_else(|| {
                shape(format!(
                    "substitution {name} is not a !GetAtt of a function"
                ))
            })?;
            let function = functions.get(&target).ok_or_else(|| {
                shape(format!(
                    "substitution {name} names {target}, which is not a function of the template"
                ))
            })?;
            function_substitutions.insert(name, function.clone());
        }
    }
    Ok(StateMachineTemplate {
        logical_id,
        definition_uri,
        function_substitutions,
        functions,
    })
}

/// The definition with every `${Name}` replaced by `value_of(function)`.
pub fn fill_definition(
    definition: &str,
    template: &StateMachineTemplate,
    value_of: impl Fn(&TemplateFunction) -> String,
) -> String {
    template
        .function_substitutions
        .iter()
        .fold(definition.to_string(), |text, (name, function)| {
            text.replace(&format!("${{{name}}}"), &value_of(function))
        })
}
