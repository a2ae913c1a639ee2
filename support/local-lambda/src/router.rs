//! The Lambda side of the local run. The emulator's Step Functions interpreter sends every Lambda
//! task to `http://localhost:$MOTO_PORT/2015-03-31/functions/{name}/invocations`; this router
//! listens on that port, answers invocations from the functions' own handlers (in-process), and
//! passes every other request through to the emulator.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

use crate::faults::{self, FaultKind, FaultPlan};

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, Diagnostic>> + Send>>;
/// A function's handler: the event in, the answer or a Diagnostic out.
pub type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

/// A hosted function as an AWS caller: its AWS calls are signed with its name as the access key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its deployed name.
    pub function: String,
    /// Its logical id in template.yaml.
    pub logical_id: String,
    pub role_arn: String,
    /// Its role's policy documents.
    pub policies: Vec<Value>,
    /// Seconds Lambda lets one invocation run (AWS seconds).
    pub timeout_seconds: u64,
}

/// The IAM behaviour: the simulator and what it needs to read.
pub struct Iam {
    pub check: crate::iam::IamCheck,
    pub tags: crate::iam::TagReader,
}

#[derive(Clone)]
pub struct Functions {
    handlers: Arc<HashMap<String, Handler>>,
    /// By access key.
    callers: Arc<HashMap<String, Caller>>,
    upstream: String,
    next_request: Arc<AtomicU64>,
    calls: Arc<Mutex<Vec<String>>>,
    iam: Option<Arc<Iam>>,
    faults: FaultPlan,
    /// Invocations running, by function name: a fault can end them.
    running: Arc<Mutex<HashMap<String, Vec<tokio::sync::oneshot::Sender<FaultKind>>>>>,
    /// World seconds per wall second (a function's timeout is in world seconds).
    scale: f64,
    /// Whether an invocation ends at its function's timeout.
    timeouts: bool,
}

impl Functions {
    /// `upstream` is the emulator's endpoint, for everything that is not an invocation.
    pub fn new(
        handlers: HashMap<String, Handler>,
        callers: HashMap<String, Caller>,
        upstream: impl Into<String>,
    ) -> Self {
        Self {
            handlers: Arc::new(handlers),
            callers: Arc::new(callers),
            upstream: upstream.into(),
            next_request: Arc::new(AtomicU64::new(1)),
            calls: Arc::default(),
            iam: None,
            faults: FaultPlan::default(),
            running: Arc::default(),
            scale: 1.0,
            timeouts: false,
        }
    }

    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = scale.max(1.0);
        self
    }

    /// Invocations end at their function's timeout, in AWS seconds on the world's clock.
    pub fn with_timeouts(mut self) -> Self {
        self.timeouts = true;
        self
    }

    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    fn caller_named(&self, name: &str) -> Option<&Caller> {
        self.callers.values().find(|c| c.function == name)
    }

    /// Ends the running invocations of `function` with `kind`.
    fn end_invocations(&self, function: &str, kind: FaultKind) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for end in running.remove(function).unwrap_or_default() {
            let _ = end.send(kind);
        }
    }

    /// Authorizes every call of a hosted function against its role's policies.
    pub fn with_iam(mut self, iam: Iam) -> Self {
        self.iam = Some(Arc::new(iam));
        self
    }

    /// The hosted function that signed a request, if one did.
    pub fn caller_of(&self, headers: &axum::http::HeaderMap) -> Option<&Caller> {
        let authorization = headers.get("authorization")?.to_str().ok()?;
        let key = authorization
            .split("Credential=")
            .nth(1)?
            .split('/')
            .next()?;
        self.callers.get(key)
    }

    /// The AWS operations the hosted functions passed through to the emulator so far, e.g.
    /// `CreateVpc`, `PutParameter` (other callers' are not counted).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn clear_calls(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}

/// The function name inside whatever the caller sent: a name, a full or partial ARN, with or
/// without a `:qualifier`.
pub fn function_name(called: &str) -> &str {
    let name = called
        .rsplit_once("function:")
        .map(|(_, rest)| rest)
        .unwrap_or(called);
    name.split(':').next().unwrap_or(name)
}

pub fn app(functions: Functions) -> axum::Router {
    axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .fallback(pass_through)
        .with_state(functions)
}

async fn invoke(
    State(functions): State<Functions>,
    Path(called): Path<String>,
    body: Bytes,
) -> Response {
    let request_id = format!(
        "local-{:08}",
        functions.next_request.fetch_add(1, Ordering::Relaxed)
    );
    let name = function_name(&called);
    let Some(handler) = functions.handlers.get(name).cloned() else {
        let mut response = (
            StatusCode::NOT_FOUND,
            json!({"Type": "User", "message": format!("Function not found: {called}; served here: {:?}", functions.names())}).to_string(),
        )
            .into_response();
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        add_request_id(&mut response, &request_id);
        return response;
    };
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    tracing::debug!(function = name, %request_id, "invoke");
    // Lambda ends an invocation that runs past the function's timeout; a fault may end it sooner.
    let (end, ended) = tokio::sync::oneshot::channel();
    functions
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.to_string())
        .or_default()
        .push(end);
    let timeout = functions
        .caller_named(name)
        .map(|c| c.timeout_seconds as f64);
    let outcome = tokio::select! {
        answer = handler(event) => answer,
        kind = ended => Err(lambda_error(kind.unwrap_or(FaultKind::Crash))),
        _ = world_timeout(functions.upstream.clone(), timeout, functions.scale) => Err(lambda_error(FaultKind::Timeout)),
    };
    let (body, failed) = match outcome {
        Ok(answer) => (answer, false),
        Err(d) => {
            tracing::info!(function = name, error_type = %d.error_type, error = %d.error_message, "function error");
            (
                json!({"errorType": d.error_type, "errorMessage": d.error_message}),
                true,
            )
        }
    };
    // A function error is HTTP 200 with X-Amz-Function-Error, as Lambda answers it; only then do
    // the state machine's ErrorEquals see our error names.
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    if failed {
        response.headers_mut().insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    add_request_id(&mut response, &request_id);
    response
}

/// Ends `seconds` of world time from now (never, for `None`). The world's clock stands still
/// while the emulator works, so a function is timed in AWS seconds, however slow this machine.
async fn world_timeout(upstream: String, seconds: Option<f64>, scale: f64) {
    match seconds {
        Some(seconds) => local_aws::clock::sleep_on_world(&upstream, scale, seconds).await,
        None => std::future::pending().await,
    }
}

fn lambda_error(kind: FaultKind) -> Diagnostic {
    let (error_type, message) = kind
        .lambda_error()
        .unwrap_or(("Runtime.ExitError", "exited"));
    Diagnostic {
        error_type: error_type.to_string(),
        error_message: message.to_string(),
    }
}

fn respond((status, content_type, body): (u16, &'static str, String)) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    response
}

fn add_request_id(response: &mut Response, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
}

/// Hop-by-hop and length headers are the transport's business, not the request's.
const NOT_FORWARDED: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

async fn pass_through(State(functions): State<Functions>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b.to_vec(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let caller = functions.caller_of(&parts.headers).cloned();
    let operation = operation_of(&parts.headers, &body)
        .or_else(|| crate::iam::rest_operation(parts.method.as_str(), parts.uri.path()));
    if let (Some(_), Some(operation)) = (&caller, &operation) {
        if let Ok(mut calls) = functions.calls.lock() {
            calls.push(operation.clone());
        }
    }
    let scope = signing_scope(&parts.headers);
    let fault = match (&caller, &operation) {
        (Some(c), Some(op)) => functions.faults.decide([&c.logical_id, &c.function], op),
        _ => None,
    };
    let service_name = scope.as_ref().map(|(_, s)| s.as_str()).unwrap_or_default();
    match fault {
        Some(FaultKind::ThrottleBefore) => return respond(faults::throttling(service_name)),
        Some(FaultKind::ServerErrorBefore) => return respond(faults::server_error(service_name)),
        Some(FaultKind::GatewayErrorBefore) => return respond(faults::gateway_error()),
        Some(FaultKind::Hang) => {
            // As long as an hour of AWS time: the caller's timeouts or its Lambda's end it first.
            tokio::time::sleep(std::time::Duration::from_secs(3600).div_f64(functions.scale)).await;
            return (StatusCode::GATEWAY_TIMEOUT, "hung").into_response();
        }
        _ => {}
    }
    if let (Some(iam), Some(caller), Some(operation), Some((region, service))) =
        (&functions.iam, &caller, &operation, &scope)
    {
        let json = parts.headers.contains_key("x-amz-target");
        let cbor = parts
            .headers
            .get("smithy-protocol")
            .is_some_and(|p| p == "rpc-v2-cbor");
        let params = if cbor {
            crate::iam::Params::parse_cbor(&body)
        } else {
            crate::iam::Params::parse(&body, json)
        };
        let target = crate::iam::Target {
            service,
            operation,
            params: &params,
            region,
            path: parts.uri.path(),
        };
        let tags = iam
            .tags
            .of(service, &crate::iam::tagged_resources(&target))
            .await;
        let needed =
            crate::iam::authorizations(&target, &tags, iam.check.first_use(service, operation));
        // AWS evaluates IAM as part of the call: the simulator's time is not world time. Held
        // and released in a task of its own, so a caller that hangs up cannot leave the world's
        // clock stopped.
        let (upstream, iam_of_task, caller_of_task) =
            (functions.upstream.clone(), iam.clone(), caller.clone());
        let evaluated = tokio::spawn(async move {
            let hold = |on: bool| {
                let upstream = upstream.clone();
                tokio::task::spawn_blocking(move || local_aws::hold_clock_at(&upstream, on))
            };
            let held = matches!(hold(true).await, Ok(Ok(())));
            let decision = iam_of_task.check.check(&caller_of_task, &needed).await;
            if held {
                let _ = hold(false).await;
            }
            decision
        })
        .await;
        let decision = evaluated.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match decision {
            Ok(crate::iam::Decision::Allowed) => {}
            Ok(crate::iam::Decision::Denied {
                authorization,
                explicit,
            }) => {
                tracing::info!(function = %caller.function, action = %authorization.action, resource = %authorization.resource, "denied by IAM");
                return respond(crate::iam::access_denied(
                    service,
                    caller,
                    &authorization,
                    explicit,
                ));
            }
            Err(e) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
            }
        }
    }
    let mut forward = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", functions.upstream));
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            forward = forward.header(name, value);
        }
    }
    let Ok(forward) = forward.body(body) else {
        return (StatusCode::BAD_REQUEST, "unforwardable request").into_response();
    };
    let answer = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent.run(forward)?;
        let (parts, mut body) = response.into_parts();
        let bytes = body.read_to_vec()?;
        Ok::<_, ureq::Error>((parts, bytes))
    })
    .await;
    match answer {
        Ok(Ok((parts, bytes))) => {
            if let (Some(iam), Some(operation), Some((_, service))) =
                (&functions.iam, &operation, &scope)
            {
                if parts.status.is_success() {
                    iam.check.note_success(service, operation);
                }
            }
            match (fault, &caller) {
                (Some(FaultKind::ServerErrorAfter), _) => {
                    return respond(faults::server_error(service_name))
                }
                (Some(kind @ (FaultKind::Crash | FaultKind::Timeout)), Some(caller)) => {
                    functions.end_invocations(&caller.function, kind);
                }
                _ => {}
            }
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = parts.status;
            for (name, value) in &parts.headers {
                if !NOT_FORWARDED.contains(&name.as_str()) {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        }
        Ok(Err(e)) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The region and signing service of a SigV4-signed request
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
fn signing_scope(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let scope = authorization.split("Credential=").nth(1)?;
    let mut parts = scope.split('/').skip(2);
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((region, service))
}

/// The AWS operation of a request: `X-Amz-Target: Service.Operation` (JSON protocols) or the
/// `Action=` form field (EC2, ELB).
fn operation_of(headers: &axum::http::HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().map(str::to_string);
    }
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn names_arns_and_qualifiers_resolve_to_the_function() {
        for called in [
            "network-stage",
            "network-stage:live",
            "arn:aws:lambda:us-east-1:123456789012:function:network-stage",
            "arn:aws:lambda:us-east-1:123456789012:function:network-stage:3",
            "123456789012:function:network-stage",
        ] {
            assert_eq!(function_name(called), "network-stage", "{called}");
        }
    }
}
