//! One writer per environment. An execution takes the environment's lease before its first stage
//! and gives it back when it reports; a second execution for the same environment waits for it.
//!
//! The lease is an item of a DynamoDB table, written with a condition: DynamoDB's conditional
//! writes are atomic, so of two executions asking at once exactly one gets it, and a lease whose
//! holder is no longer running is taken over with a compare-and-swap on the holder (Parameter
//! Store, where the rest of the state lives, has create-if-absent but no compare-and-swap).

use aws_sdk_dynamodb::types::AttributeValue;
use provisioner_core::{AwsContext, ProvisionError};
use serde::{Deserialize, Serialize};

/// The table's key: the environment name.
const ENVIRONMENT: &str = "environment";
/// The execution holding the lease.
const HOLDER: &str = "holder";

/// What asking for the lease gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseAnswer {
    pub held: bool,
    /// The execution that holds it, when it is another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    pub message: String,
}

pub struct Leases {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub table: String,
}

fn is_condition_failed(e: &ProvisionError) -> bool {
    e.aws_code() == Some("ConditionalCheckFailedException")
}

impl Leases {
    /// Takes the lease of `environment` for `execution`, or says who holds it.
    pub async fn acquire(
        &self,
        environment: &str,
        execution: &str,
    ) -> Result<LeaseAnswer, ProvisionError> {
        let held = |message: String| LeaseAnswer {
            held: true,
            holder: None,
            message,
        };
        // Free, or already ours (a retried step): take it.
        let taken = self
            .put(
                environment,
                execution,
                "attribute_not_exists(#env) OR #holder = :me",
                &[(":me", execution)],
            )
            .await;
        match taken {
            Ok(()) => return Ok(held(format!("{environment} is ours"))),
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(e),
        }
        let Some(holder) = self.holder(environment).await? else {
            // Released in between: ask again at the next poll.
            return Ok(LeaseAnswer {
                held: false,
                holder: None,
                message: format!("{environment} was just released"),
            });
        };
        if self.is_running(&holder).await? {
            return Ok(LeaseAnswer {
                held: false,
                message: format!("waiting for {holder}, which is changing {environment}"),
                holder: Some(holder),
            });
        }
        // The holder ended without giving it back: take it over, unless someone else just did.
        match self
            .put(
                environment,
                execution,
                "attribute_exists(#env) AND #holder = :dead",
                &[(":dead", &holder)],
            )
            .await
        {
            Ok(()) => Ok(held(format!(
                "{environment} is ours (taken over from {holder}, which is no longer running)"
            ))),
            Err(e) if is_condition_failed(&e) => Ok(LeaseAnswer {
                held: false,
                holder: None,
                message: format!("{environment} was just taken by another execution"),
            }),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease back if `execution` holds it; anything else is left alone.
    pub async fn release(&self, environment: &str, execution: &str) -> Result<(), ProvisionError> {
        let released = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_values(":me", AttributeValue::S(execution.into()))
            .send()
            .await
            .context("DeleteItem", environment);
        match released {
            Err(e) if is_condition_failed(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Writes `execution` as the holder if `condition` holds; `values` are its placeholders.
    async fn put(
        &self,
        environment: &str,
        execution: &str,
        condition: &str,
        values: &[(&str, &str)],
    ) -> Result<(), ProvisionError> {
        let request = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item(ENVIRONMENT, AttributeValue::S(environment.into()))
            .item(HOLDER, AttributeValue::S(execution.into()))
            .condition_expression(condition)
            .expression_attribute_names("#env", ENVIRONMENT)
            .expression_attribute_names("#holder", HOLDER);
        let request = values.iter().fold(request, |r, (name, value)| {
            r.expression_attribute_values(*name, AttributeValue::S((*value).into()))
        });
        request.send().await.context("PutItem", environment)?;
        Ok(())
    }

    async fn holder(&self, environment: &str) -> Result<Option<String>, ProvisionError> {
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .consistent_read(true)
            .send()
            .await
            .context("GetItem", environment)?;
        Ok(item
            .item()
            .and_then(|i| i.get(HOLDER))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    async fn is_running(&self, execution: &str) -> Result<bool, ProvisionError> {
        let described = self
            .sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .context("DescribeExecution", execution);
        match described {
            Ok(d) => Ok(d.status() == &aws_sdk_sfn::types::ExecutionStatus::Running),
            Err(e) if e.aws_code() == Some("ExecutionDoesNotExist") => Ok(false),
            Err(e) => Err(e),
        }
    }
}
