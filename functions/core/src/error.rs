//! The provisioner's error type and its stable Lambda error names.
//!
//! The state machine's Retry and Catch match on [`ErrorKind::name`], so those names never change.
//! Errors from AWS keep their code and message, and the SDK error stays as the source.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::spec::SpecError;

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The fixed set of error names a caller (the state machine) can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: fix the spec or the request. Never retried.
    Validation,
    /// Throttling, a 5xx or a network failure: retry with backoff.
    Retryable,
    /// AWS refuses to delete something still in use (ENIs of endpoints or tasks): retry later.
    DependencyViolation,
    /// A wait ran out.
    Timeout,
    /// What exists cannot be reconciled with the spec without replacing it, or is ambiguous.
    Conflict,
    /// An upstream stage's output is missing: run that stage first.
    MissingOutput,
    /// The ECS deployment failed (circuit breaker): the message carries the tasks' reasons.
    DeploymentFailed,
    /// Any other error AWS returned.
    Aws,
    /// A bug on our side: a request we could not build or an answer we could not encode.
    Internal,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Retryable => "Retryable",
            ErrorKind::DependencyViolation => "DependencyViolation",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::MissingOutput => "MissingOutput",
            ErrorKind::DeploymentFailed => "DeploymentFailed",
            ErrorKind::Aws => "AwsError",
            ErrorKind::Internal => "InternalError",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Spec(#[from] SpecError),

    #[error("{}: {}", crate::spec::short_field(.field), crate::spec::short_quotes(.problem))]
    Request { field: String, problem: String },

    /// AWS's code and message as AWS sent them; a quota code adds which quota and how to raise it.
    #[error("{operation} for {resource} failed: {code}: {message}{}", crate::quotas::hint(.code))]
    Aws {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
        kind: ErrorKind,
        /// AWS may have applied the call although the caller heard an error (a 5xx, a timeout,
        /// a broken connection or an unreadable answer): look before sending it again.
        ambiguous: bool,
        #[source]
        source: BoxError,
    },

    #[error("{0}")]
    Conflict(String),

    #[error("missing {parameter}: run the {stage} stage for this environment first")]
    MissingOutput { stage: String, parameter: String },

    #[error("{0}")]
    Timeout(String),

    /// Something is still finishing (a service draining): the same call succeeds later.
    #[error("{0}")]
    Busy(String),

    #[error("{0}")]
    DeploymentFailed(String),

    /// A request builder or an encoder refused what we gave it: a bug, never the user's input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProvisionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProvisionError::Spec(_) | ProvisionError::Request { .. } => ErrorKind::Validation,
            ProvisionError::Aws { kind, .. } => *kind,
            ProvisionError::Conflict(_) => ErrorKind::Conflict,
            ProvisionError::MissingOutput { .. } => ErrorKind::MissingOutput,
            ProvisionError::Timeout(_) => ErrorKind::Timeout,
            ProvisionError::Busy(_) => ErrorKind::Retryable,
            ProvisionError::DeploymentFailed(_) => ErrorKind::DeploymentFailed,
            ProvisionError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The AWS error code, when AWS answered with one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            ProvisionError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// AWS's message, when AWS answered with an error code.
    pub fn aws_message(&self) -> Option<&str> {
        match self {
            ProvisionError::Aws { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True when AWS may have applied the call that failed: a create must look for what it
    /// made before it sends the call again.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            ProvisionError::Aws {
                ambiguous: true,
                ..
            }
        )
    }

    /// True for AWS's "it is not there" answers, which lookups read as `None` and teardown
    /// treats as done.
    pub fn is_not_found(&self) -> bool {
        match self {
            // ECS answers a task definition family without ACTIVE revisions this way.
            ProvisionError::Aws { code, message, .. } if code == "ClientException" => {
                message.contains("Unable to describe task definition")
            }
            _ => self.aws_code().is_some_and(is_not_found_code),
        }
    }

    /// A builder or encoder failure, with what was being built.
    pub fn internal(what: &str, err: impl std::fmt::Display) -> Self {
        ProvisionError::Internal(format!("{what}: {err}"))
    }

    pub fn request(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ProvisionError::Request {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// The one way to treat AWS's "it is not there": `None` for a lookup by name or id, done for an
/// idempotent delete.
pub trait NotFoundAsNone<T> {
    fn not_found_as_none(self) -> Result<Option<T>, ProvisionError>;

    /// For deletes: gone already counts as deleted.
    fn gone_is_fine(self) -> Result<(), ProvisionError>
    where
        Self: Sized,
    {
        self.not_found_as_none().map(|_| ())
    }
}

impl<T> NotFoundAsNone<T> for Result<T, ProvisionError> {
    fn not_found_as_none(self) -> Result<Option<T>, ProvisionError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// EC2 uses `InvalidVpcID.NotFound` and friends, SSM `ParameterNotFound`, ELB `LoadBalancerNotFound`,
/// ECS `ServiceNotFoundException`, CloudWatch Logs `ResourceNotFoundException`.
pub fn is_not_found_code(code: &str) -> bool {
    code.ends_with("NotFound")
        || code.ends_with("NotFoundException")
        || code == "Gateway.NotAttached"
}

/// Throttling: AWS refused the call before doing anything (EC2 answers it with a 503).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
];

pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

const RETRYABLE_CODES: &[&str] = &[
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "Unavailable",
    "IncorrectState",
];

/// Whether AWS may have applied a call that ended in `err`: any answer in the 5xx range (in the
/// service's format or a proxy's HTML), a timeout, a connection that broke, an unreadable answer.
pub fn is_ambiguous<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error() && !e.err().code().is_some_and(is_throttling_code)
        }
        _ => false,
    }
}

fn classify<E>(err: &SdkError<E, HttpResponse>, code: &str, message: &str) -> ErrorKind
where
    E: ProvideErrorMetadata,
{
    // Every 5xx and timeout is worth another attempt, whatever the body says.
    if is_ambiguous(err) {
        return ErrorKind::Retryable;
    }
    // Still propagating after the SDK's patient retries: later, not never.
    if crate::not_yet::LINKED_ROLE_PROPAGATING.matches(code, message) {
        return ErrorKind::Retryable;
    }
    kind_of_code(code)
}

/// The kind of an error AWS reported with `code`.
pub fn kind_of_code(code: &str) -> ErrorKind {
    // ELB says ResourceInUse where EC2 says DependencyViolation: both clear up with time.
    if code == "DependencyViolation" || code == "ResourceInUse" {
        ErrorKind::DependencyViolation
    } else if is_throttling_code(code) || RETRYABLE_CODES.contains(&code) {
        ErrorKind::Retryable
    } else if code.starts_with("Invalid") && !is_not_found_code(code)
        || code.ends_with("ValidationException")
    {
        ErrorKind::Validation
    } else {
        ErrorKind::Aws
    }
}

/// Adds the operation and the resource to an SDK error, keeping AWS's code and message.
pub trait AwsContext<T> {
    fn context(
        self,
        operation: &'static str,
        resource: impl Into<String>,
    ) -> Result<T, ProvisionError>;
}

impl<T, E> AwsContext<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    fn context(
        self,
        operation: &'static str,
        resource: impl Into<String>,
    ) -> Result<T, ProvisionError> {
        self.map_err(|err| {
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = match err.message() {
                Some(m) => m.to_string(),
                None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            };
            ProvisionError::Aws {
                operation,
                resource: resource.into(),
                kind: classify(&err, &code, &message),
                ambiguous: is_ambiguous(&err),
                code,
                message,
                source: Box::new(err),
            }
        })
    }
}

/// The error name and message of a failed Step Functions state, from what Catch put in the state
/// (`Error` and `Cause`; a Lambda's Cause is itself JSON with `errorMessage`).
pub fn failure_of(error: Option<&serde_json::Value>) -> (String, String) {
    let Some(error) = error else {
        return (
            "ProvisioningFailed".into(),
            "the execution failed (see its history)".into(),
        );
    };
    let text = |key: &str| error.get(key).and_then(serde_json::Value::as_str);
    let name = text("Error").unwrap_or("Error").to_string();
    let cause = text("Cause").unwrap_or("");
    let message = serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|c| Some(c.get("errorMessage")?.as_str()?.to_string()))
        .unwrap_or_else(|| cause.to_string());
    (name, message)
}

impl From<ProvisionError> for lambda_runtime::Diagnostic {
    fn from(err: ProvisionError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.kind().name().to_string(),
            error_message: err.to_string(),
        }
    }
}
