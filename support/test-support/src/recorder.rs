//! Records every request the SDK sends (each attempt), with its service, operation and body.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// One request as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub service: String,
    pub operation: String,
    /// The serialized body (form-encoded for EC2, JSON for SSM).
    pub body: String,
}

impl Request {
    pub fn is_mutating(&self) -> bool {
        is_mutating(&self.operation)
    }
}

/// Reads are Describe*, Get*, List*; everything else changes something.
pub fn is_mutating(operation: &str) -> bool {
    !["Describe", "Get", "List"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn mutating(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_mutating)
            .collect()
    }

    /// Operation names of the mutating requests, in order.
    pub fn mutating_operations(&self) -> Vec<String> {
        self.mutating().into_iter().map(|r| r.operation).collect()
    }

    /// Operation names of the requests, in order.
    pub fn operations(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.operation).collect()
    }

    /// The requests of one operation.
    pub fn of(&self, operation: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.operation == operation)
            .collect()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "test-support::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg.load::<Metadata>();
        let body = context
            .request()
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.requests.lock().unwrap().push(Request {
            service: metadata
                .map(|m| m.service().to_string())
                .unwrap_or_default(),
            operation: metadata.map(|m| m.name().to_string()).unwrap_or_default(),
            body,
        });
        Ok(())
    }
}
