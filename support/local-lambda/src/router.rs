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

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, Diagnostic>> + Send>>;
/// A function's handler: the event in, the answer or a Diagnostic out.
pub type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

#[derive(Clone)]
pub struct Functions {
    handlers: Arc<HashMap<String, Handler>>,
    upstream: String,
    next_request: Arc<AtomicU64>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Functions {
    /// `upstream` is the emulator's endpoint, for everything that is not an invocation.
    pub fn new(handlers: HashMap<String, Handler>, upstream: impl Into<String>) -> Self {
        Self {
            handlers: Arc::new(handlers),
            upstream: upstream.into(),
            next_request: Arc::new(AtomicU64::new(1)),
            calls: Arc::default(),
        }
    }

    /// The AWS operations passed through to the emulator so far (the functions' clients talk to
    /// the emulator through this router), e.g. `CreateVpc`, `PutParameter`.
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
    let (body, failed) = match handler(event).await {
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
    if let Some(operation) = operation_of(&parts.headers, &body) {
        if let Ok(mut calls) = functions.calls.lock() {
            calls.push(operation);
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
