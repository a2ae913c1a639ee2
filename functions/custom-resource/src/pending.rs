//! CloudFormation requests waiting for their execution's answer. The custom resource function
//! keeps each request here, under the name of the execution it starts, instead of in the
//! execution's input: the pre-signed ResponseURL, with which anyone can answer for the stack,
//! then never appears in the execution's history or the state machine's logs. And only an
//! execution the custom resource function started finds a request to answer: a console input
//! cannot bring a CloudFormation context of its own.

use aws_sdk_dynamodb::types::AttributeValue;
use provisioner_core::{AwsContext, ProvisionError};

use crate::input::CloudFormationContext;

/// The table's key: the execution's name.
const EXECUTION: &str = "execution";
/// The request, as JSON.
const REQUEST: &str = "request";
/// When DynamoDB may drop an item nobody answered (epoch seconds, the table's TTL attribute):
/// CloudFormation gives up on a custom resource after an hour at most.
const EXPIRES: &str = "expires";
const KEPT_SECONDS: u64 = 2 * 3600;

pub struct PendingRequests {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl PendingRequests {
    /// Keeps `request` for the execution `execution_name` is about to start.
    pub async fn keep(
        &self,
        execution_name: &str,
        request: &CloudFormationContext,
    ) -> Result<(), ProvisionError> {
        let json = serde_json::to_string(request)
            .map_err(|e| ProvisionError::internal("encoding the request", e))?;
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            + KEPT_SECONDS;
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .item(EXECUTION, AttributeValue::S(execution_name.into()))
            .item(REQUEST, AttributeValue::S(json))
            .item(EXPIRES, AttributeValue::N(expires.to_string()))
            .send()
            .await
            .context("PutItem", execution_name)?;
        Ok(())
    }

    /// The request the execution named `execution_name` answers, if the custom resource
    /// function started it.
    pub async fn of(
        &self,
        execution_name: &str,
    ) -> Result<Option<CloudFormationContext>, ProvisionError> {
        // Other executions (the console's, EventBridge's) answer no request: no need to look.
        if !execution_name.starts_with(crate::entry::EXECUTION_PREFIX) {
            return Ok(None);
        }
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(EXECUTION, AttributeValue::S(execution_name.into()))
            .consistent_read(true)
            .send()
            .await
            .context("GetItem", execution_name)?;
        let Some(json) = item
            .item()
            .and_then(|i| i.get(REQUEST))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| ProvisionError::internal("reading a kept request", e))
    }

    /// Drops the request once it is answered.
    pub async fn answered(&self, execution_name: &str) -> Result<(), ProvisionError> {
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(EXECUTION, AttributeValue::S(execution_name.into()))
            .send()
            .await
            .context("DeleteItem", execution_name)?;
        Ok(())
    }
}

/// An execution's name: the last part of its ARN.
pub fn execution_name(execution_arn: &str) -> &str {
    execution_arn.rsplit(':').next().unwrap_or(execution_arn)
}
