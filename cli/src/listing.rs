//! `list`: every environment in the environments table, with its owner, its state and its URL.

use std::fmt;

use provisioner_core::registry::Registry;
use provisioner_core::{outputs, Names, OutputValue, ProvisionError, SsmStore};
use serde::Serialize;

/// One environment's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub environment: String,
    pub owner: String,
    /// `changing`, or how the last run ended.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The environments, by name.
pub async fn list(
    registry: &Registry,
    ssm: &aws_sdk_ssm::Client,
) -> Result<Vec<Listed>, ProvisionError> {
    let store = SsmStore::new(ssm.clone());
    let mut listed = Vec::new();
    for record in registry.all().await? {
        let names = Names::new(&record.environment);
        let stored = store.load(&names, &[outputs::alb::STAGE]).await?;
        let url = stored
            .outputs(outputs::alb::STAGE)
            .get(outputs::alb::URL)
            .map(OutputValue::to_parameter_value);
        listed.push(Listed {
            state: record.state(),
            owner: record.owner.clone().unwrap_or_else(|| "-".into()),
            environment: record.environment,
            url,
        });
    }
    Ok(listed)
}

/// A table with a header.
pub struct Table<'a>(pub &'a [Listed]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(f, "no environments");
        }
        let width = |get: fn(&Listed) -> &str, title: &str| {
            self.0
                .iter()
                .map(|l| get(l).len())
                .chain([title.len()])
                .max()
                .unwrap_or_default()
        };
        let (e, o, s) = (
            width(|l| &l.environment, "ENVIRONMENT"),
            width(|l| &l.owner, "OWNER"),
            width(|l| &l.state, "STATE"),
        );
        writeln!(
            f,
            "{:<e$}  {:<o$}  {:<s$}  URL",
            "ENVIRONMENT", "OWNER", "STATE"
        )?;
        for l in self.0 {
            writeln!(
                f,
                "{:<e$}  {:<o$}  {:<s$}  {}",
                l.environment,
                l.owner,
                l.state,
                l.url.as_deref().unwrap_or("-")
            )?;
        }
        Ok(())
    }
}
