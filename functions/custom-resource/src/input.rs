//! The state machine's input: what the console, the custom resource and the CLI start an
//! execution with. (ECR push events arrive as EventBridge delivers them.)

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionAction {
    /// Create or update the environment described by `spec`.
    Apply,
    /// Tear down `environment`.
    Destroy,
    /// Say what an apply of `spec` would create, change and delete, and what the environment
    /// costs, changing nothing.
    Plan,
}

/// Execution input. Console example: `{"action": "apply", "spec": {...}}`,
/// `{"action": "plan", "spec": {...}}` or `{"action": "destroy", "environment": "demo"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub action: ExecutionAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// A CloudFormation request an execution answers: kept apart from the execution's input
/// ([`crate::pending`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudFormationContext {
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// The id CloudFormation knows the resource by (absent on Create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_resource_id: Option<String>,
    pub request_type: String,
}
