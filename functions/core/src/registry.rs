//! The environments table: one DynamoDB item per environment, keyed by its name. The control
//! function writes it (the lease, the owner, the last applied spec, how the last execution
//! ended); `list` and `status` read it. This module is the item's format and its readers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::{AwsContext, ProvisionError};

/// The key: the environment name.
pub const ENVIRONMENT: &str = "environment";
/// The execution holding the lease, while one changes the environment.
pub const HOLDER: &str = "holder";
/// Who made the environment: a CloudFormation stack's resource, or the console.
pub const OWNER: &str = "owner";
/// The spec of the last apply that succeeded (JSON).
pub const APPLIED: &str = "applied";
/// How the last execution that held the lease ended ([`LastRun`], JSON).
pub const LAST: &str = "last";

/// How an execution that changed the environment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// `apply` or `destroy`.
    pub action: String,
    /// `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// The execution's ARN.
    pub execution: String,
    /// For a failure: the error name (`Conflict`, `ValidationError`, `States.Timeout`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a failure: the failing stage's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl LastRun {
    pub fn succeeded(&self) -> bool {
        self.status == "SUCCEEDED"
    }
}

/// One environment's item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub environment: String,
    pub holder: Option<String>,
    pub owner: Option<String>,
    pub last: Option<LastRun>,
}

impl Record {
    fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        Some(Record {
            environment: text(ENVIRONMENT)?,
            holder: text(HOLDER),
            owner: text(OWNER),
            last: text(LAST).and_then(|t| serde_json::from_str(&t).ok()),
        })
    }

    /// What the environment is doing or how it last ended, in a word or two.
    pub fn state(&self) -> String {
        match (&self.holder, &self.last) {
            (Some(_), _) => "changing".into(),
            (None, Some(last)) => format!(
                "{} {}",
                last.action,
                if last.succeeded() {
                    "succeeded"
                } else {
                    "failed"
                }
            ),
            (None, None) => "unknown".into(),
        }
    }
}

/// Reads the environments table.
#[derive(Debug, Clone)]
pub struct Registry {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Registry {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamodb,
            table: table.into(),
        }
    }

    /// One environment's item, read consistently.
    pub async fn get(&self, environment: &str) -> Result<Option<Record>, ProvisionError> {
        Ok(self
            .item(environment)
            .await?
            .as_ref()
            .and_then(Record::from_item))
    }

    /// One text attribute of an environment's item, read consistently.
    pub async fn attribute(
        &self,
        environment: &str,
        name: &str,
    ) -> Result<Option<String>, ProvisionError> {
        Ok(self
            .item(environment)
            .await?
            .and_then(|mut item| item.remove(name))
            .and_then(|v| v.as_s().ok().cloned()))
    }

    async fn item(
        &self,
        environment: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, ProvisionError> {
        let read = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .consistent_read(true)
            .send()
            .await
            .context("GetItem", environment)?;
        Ok(read.item)
    }

    /// Every environment, by name.
    pub async fn all(&self) -> Result<Vec<Record>, ProvisionError> {
        let mut records = Vec::new();
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.context("Scan", &self.table)?;
            records.extend(page.items().iter().filter_map(Record::from_item));
        }
        records.sort_by(|a, b| a.environment.cmp(&b.environment));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect()
    }

    #[test]
    fn a_record_says_changing_while_held_and_how_the_last_run_ended_otherwise() {
        let failed = r#"{"action":"apply","status":"FAILED","execution":"arn:x","error":"Conflict","reason":"network stage: taken"}"#;
        let held = Record::from_item(&item(&[
            ("environment", "web"),
            ("holder", "arn:y"),
            ("last", failed),
        ]))
        .unwrap();
        assert_eq!(held.state(), "changing");
        let idle = Record::from_item(&item(&[("environment", "web"), ("last", failed)])).unwrap();
        assert_eq!(idle.state(), "apply failed");
        assert_eq!(idle.last.unwrap().error.as_deref(), Some("Conflict"));
        assert!(Record::from_item(&item(&[("owner", "stack")])).is_none());
    }
}
