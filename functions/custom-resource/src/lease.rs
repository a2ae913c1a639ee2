//! One writer per environment, and who owns it. Each environment has one item in a DynamoDB
//! table: `holder`, the execution changing it now (its lease), and `owner`, who made it (a
//! CloudFormation stack's resource, or the console).
//!
//! An execution takes the lease before its first stage and gives it back when it reports; a
//! second execution for the same environment waits for it. DynamoDB's conditional writes are
//! atomic, so of two executions asking at once exactly one gets it, and a lease whose holder is
//! no longer running is taken over with a compare-and-swap on the holder (Parameter Store, where
//! the rest of the state lives, has create-if-absent but no compare-and-swap). The item outlives
//! the lease, so the owner stays recorded until a teardown forgets the environment.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use provisioner_core::{AwsContext, ProvisionError};
use serde::{Deserialize, Serialize};

use provisioner_core::registry::{LastRun, Registry, APPLIED, ENVIRONMENT, HOLDER, LAST, OWNER};

/// The owner of environments made from the console (or any execution not started by a stack).
pub const CONSOLE: &str = "the console";

/// What asking for the lease gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseAnswer {
    pub held: bool,
    /// The execution that holds it, when it is another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Who owns the environment, once the lease is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Another stack owns the environment and this execution is a stack's Delete: it ends at
    /// once, successfully, without touching it.
    #[serde(default)]
    pub foreign: bool,
    /// Nothing was ever recorded for the environment before this lease (no run ended, no apply
    /// succeeded): its spec parameter need not be read before it is written.
    #[serde(default)]
    pub first: bool,
    pub message: String,
}

impl LeaseAnswer {
    fn waiting(holder: Option<String>, message: String) -> Self {
        LeaseAnswer {
            held: false,
            holder,
            owner: None,
            foreign: false,
            first: false,
            message,
        }
    }
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
    /// Takes the lease of `environment` for `execution`, or says who holds it. A held answer
    /// carries the recorded owner. `claim`: the owner to record in the same write when none is
    /// recorded yet (an apply's), so a first create spends one write on its lease, not two.
    pub async fn acquire(
        &self,
        environment: &str,
        execution: &str,
        claim: Option<&str>,
    ) -> Result<LeaseAnswer, ProvisionError> {
        let held = |(owner, first): (Option<String>, bool), message: String| LeaseAnswer {
            held: true,
            holder: None,
            owner,
            foreign: false,
            first,
            message,
        };
        // Free, or already ours (a retried step): take it.
        let taken = self
            .set_holder(
                environment,
                execution,
                "attribute_not_exists(#holder) OR #holder = :expected",
                execution,
                claim,
            )
            .await;
        match taken {
            Ok(owner) => return Ok(held(owner, format!("{environment} is ours"))),
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(e),
        }
        let Some(holder) = self.holder(environment).await? else {
            // Released in between: ask again at the next poll.
            return Ok(LeaseAnswer::waiting(
                None,
                format!("{environment} was just released"),
            ));
        };
        if self.is_running(&holder).await? {
            return Ok(LeaseAnswer::waiting(
                Some(holder.clone()),
                format!("waiting for {holder}, which is changing {environment}"),
            ));
        }
        // The holder ended without giving it back: take it over, unless someone else just did.
        match self
            .set_holder(
                environment,
                execution,
                "#holder = :expected",
                &holder,
                claim,
            )
            .await
        {
            Ok(owner) => Ok(held(
                owner,
                format!(
                    "{environment} is ours (taken over from {holder}, which is no longer running)"
                ),
            )),
            Err(e) if is_condition_failed(&e) => Ok(LeaseAnswer::waiting(
                None,
                format!("{environment} was just taken by another execution"),
            )),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease back if `execution` holds it; anything else is left alone. The owner
    /// stays recorded.
    pub async fn release(&self, environment: &str, execution: &str) -> Result<(), ProvisionError> {
        self.give_back(environment, execution, None).await
    }

    /// Gives the lease back and records how the execution ended, in the same write: `status`
    /// and `list` show it. `applied`: the spec a successful apply used, recorded with it.
    pub async fn release_after(
        &self,
        environment: &str,
        execution: &str,
        last: &LastRun,
        applied: Option<&str>,
    ) -> Result<(), ProvisionError> {
        self.give_back(environment, execution, Some((last, applied)))
            .await
    }

    async fn give_back(
        &self,
        environment: &str,
        execution: &str,
        last: Option<(&LastRun, Option<&str>)>,
    ) -> Result<(), ProvisionError> {
        let mut update = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .update_expression("REMOVE #holder")
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_values(":me", AttributeValue::S(execution.into()));
        if let Some((last, applied)) = last {
            let text = serde_json::to_string(last)
                .map_err(|e| ProvisionError::Internal(format!("last run: {e}")))?;
            update = update
                .update_expression("REMOVE #holder SET #last = :last")
                .expression_attribute_names("#last", LAST)
                .expression_attribute_values(":last", AttributeValue::S(text));
            if let Some(spec) = applied {
                update = update
                    .update_expression("REMOVE #holder SET #last = :last, #applied = :applied")
                    .expression_attribute_names("#applied", APPLIED)
                    .expression_attribute_values(":applied", AttributeValue::S(spec.into()));
            }
        }
        let released = update.send().await.context("UpdateItem", environment);
        match released {
            Err(e) if is_condition_failed(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Records `owner` as the environment's owner; `execution` must hold the lease.
    pub async fn set_owner(
        &self,
        environment: &str,
        execution: &str,
        owner: &str,
    ) -> Result<(), ProvisionError> {
        self.set_while_held(environment, execution, OWNER, owner)
            .await
    }

    /// The spec of the last apply that succeeded, if one did.
    pub async fn applied(&self, environment: &str) -> Result<Option<String>, ProvisionError> {
        self.attribute(environment, APPLIED).await
    }

    /// Sets `attribute` of the environment's item to `value`, if `execution` holds the lease.
    /// If it no longer does, an earlier attempt of the same step wrote it and gave the lease
    /// back (a report run again after a crash that followed the release): done.
    async fn set_while_held(
        &self,
        environment: &str,
        execution: &str,
        attribute: &str,
        value: &str,
    ) -> Result<(), ProvisionError> {
        let written = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .update_expression("SET #attribute = :value")
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":me", AttributeValue::S(execution.into()))
            .expression_attribute_values(":value", AttributeValue::S(value.into()))
            .send()
            .await
            .context("UpdateItem", environment);
        match written {
            Err(e) if is_condition_failed(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Forgets a destroyed environment, lease and owner, if `execution` holds its lease (or
    /// nobody does).
    pub async fn forget(&self, environment: &str, execution: &str) -> Result<(), ProvisionError> {
        let forgotten = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .condition_expression("attribute_not_exists(#holder) OR #holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_values(":me", AttributeValue::S(execution.into()))
            .send()
            .await
            .context("DeleteItem", environment);
        match forgotten {
            Err(e) if is_condition_failed(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Writes `execution` as the holder if `condition` holds, `:expected` standing for
    /// `expected`, and `claim` as the owner if none is recorded. Returns the recorded owner, and
    /// whether the item records nothing of an earlier run.
    async fn set_holder(
        &self,
        environment: &str,
        execution: &str,
        condition: &str,
        expected: &str,
        claim: Option<&str>,
    ) -> Result<(Option<String>, bool), ProvisionError> {
        let mut update = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(ENVIRONMENT, AttributeValue::S(environment.into()))
            .update_expression("SET #holder = :me")
            .condition_expression(condition)
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_values(":me", AttributeValue::S(execution.into()))
            .expression_attribute_values(":expected", AttributeValue::S(expected.into()))
            .return_values(ReturnValue::AllNew);
        if let Some(owner) = claim {
            update = update
                .update_expression("SET #holder = :me, #owner = if_not_exists(#owner, :claim)")
                .expression_attribute_names("#owner", OWNER)
                .expression_attribute_values(":claim", AttributeValue::S(owner.into()));
        }
        let updated = update.send().await.context("UpdateItem", environment)?;
        let attributes = updated.attributes();
        let owner = attributes
            .and_then(|a| a.get(OWNER))
            .and_then(|v| v.as_s().ok())
            .cloned();
        let first = attributes.is_none_or(|a| !a.contains_key(LAST) && !a.contains_key(APPLIED));
        Ok((owner, first))
    }

    async fn holder(&self, environment: &str) -> Result<Option<String>, ProvisionError> {
        self.attribute(environment, HOLDER).await
    }

    async fn attribute(
        &self,
        environment: &str,
        name: &str,
    ) -> Result<Option<String>, ProvisionError> {
        Registry::new(self.dynamodb.clone(), &self.table)
            .attribute(environment, name)
            .await
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
