//! Files generated from the code: the state machine definition (from the stage table), the
//! spec's JSON Schema (from the spec types) and its reference page, and the diagrams and tables
//! in the docs. They are
//! committed (SAM and editors read them); `cargo run -p codegen` rewrites them and a test fails
//! when one is stale.

pub mod diagrams;
pub mod spec_reference;
pub mod state_machine;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives in support/codegen).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file, or a marked section of one, and what it should contain.
pub struct Generated {
    pub path: &'static str,
    /// `Some(name)`: only the text between `<!-- BEGIN GENERATED: name -->` and
    /// `<!-- END GENERATED: name -->` is generated.
    pub section: Option<&'static str>,
    pub content: String,
}

pub const SCHEMA_PATH: &str = "schema/environment-spec.schema.json";

fn schema_text() -> String {
    let schema = provisioner_core::EnvironmentSpec::json_schema();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

pub fn all() -> Vec<Generated> {
    vec![
        Generated {
            path: state_machine::PATH,
            section: None,
            content: state_machine::text(),
        },
        Generated {
            path: SCHEMA_PATH,
            section: None,
            content: schema_text(),
        },
        Generated {
            path: spec_reference::PATH,
            section: None,
            content: spec_reference::text(
                &serde_json::to_value(provisioner_core::EnvironmentSpec::json_schema())
                    .expect("a schema serializes"),
            ),
        },
        Generated {
            path: "README.md",
            section: Some("state-machine"),
            content: diagrams::state_machine(),
        },
        Generated {
            path: "docs/ARCHITECTURE.md",
            section: Some("stage-table"),
            content: diagrams::stage_table(),
        },
        Generated {
            path: "docs/ARCHITECTURE.md",
            section: Some("environment"),
            content: diagrams::environment(),
        },
        Generated {
            path: "docs/LOCAL-WORLD.md",
            section: Some("behaviours"),
            content: diagrams::behaviours(),
        },
    ]
}

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- BEGIN GENERATED: {name} (cargo run -p codegen) -->"),
        format!("<!-- END GENERATED: {name} -->"),
    )
}

/// `current` with the generated part replaced; `None` when a section's markers are missing.
pub fn apply(current: &str, generated: &Generated) -> Option<String> {
    let Some(section) = generated.section else {
        return Some(generated.content.clone());
    };
    let (begin, end) = markers(section);
    let start = current.find(&begin)? + begin.len();
    let stop = start + current[start..].find(&end)?;
    Some(format!(
        "{}\n{}\n{}",
        &current[..start],
        generated.content,
        &current[stop..]
    ))
}

/// Files whose generated part differs from what is committed, with why.
pub fn stale(root: &Path) -> Vec<String> {
    let mut stale = Vec::new();
    for generated in all() {
        let current = std::fs::read_to_string(root.join(generated.path)).unwrap_or_default();
        match apply(&current, &generated) {
            Some(fresh) if fresh == current => {}
            Some(_) => stale.push(format!(
                "{}{} is stale",
                generated.path,
                generated
                    .section
                    .map(|s| format!(" (section {s})"))
                    .unwrap_or_default()
            )),
            None => stale.push(format!(
                "{} lacks the markers of section {}",
                generated.path,
                generated.section.unwrap_or_default()
            )),
        }
    }
    stale
}

/// Rewrites every generated file or section. Returns the paths written.
pub fn write(root: &Path) -> std::io::Result<Vec<&'static str>> {
    let mut written = Vec::new();
    for generated in all() {
        let path = root.join(generated.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        let Some(fresh) = apply(&current, &generated) else {
            return Err(std::io::Error::other(format!(
                "{} lacks the markers of section {}",
                generated.path,
                generated.section.unwrap_or_default()
            )));
        };
        if fresh != current {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, fresh)?;
            written.push(generated.path);
        }
    }
    Ok(written)
}
