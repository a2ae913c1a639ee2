//! A stand-in for Lambda's Runtime API (the endpoints a custom runtime polls): it hands one event
//! to the process it serves and notes when the process first asked for work (the end of its
//! INIT) and when it answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::Notify;

const REQUEST_ID: &str = "bench-invocation-1";

/// What the served process did, and when.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The first `GET .../invocation/next`: INIT is over.
    pub ready_at: Option<Instant>,
    /// The answer to the one invocation, and when it came.
    pub answered_at: Option<Instant>,
    pub answer: Option<Value>,
    pub failed: bool,
}

#[derive(Clone)]
struct Shared {
    event: Value,
    seen: Arc<Mutex<Seen>>,
    answered: Arc<Notify>,
    handed_out: Arc<Mutex<bool>>,
}

pub struct RuntimeApi {
    pub address: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(s): State<Shared>) -> impl IntoResponse {
    let first = {
        let mut seen = s.seen.lock().unwrap();
        seen.ready_at.get_or_insert_with(Instant::now);
        let mut handed = s.handed_out.lock().unwrap();
        !std::mem::replace(&mut *handed, true)
    };
    if !first {
        // One invocation per process: later polls wait until the process is stopped.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "Lambda-Runtime-Aws-Request-Id",
        HeaderValue::from_static(REQUEST_ID),
    );
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 120_000;
    headers.insert(
        "Lambda-Runtime-Deadline-Ms",
        HeaderValue::from_str(&deadline.to_string()).expect("digits"),
    );
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    (StatusCode::OK, headers, s.event.to_string())
}

async fn answer(s: Shared, body: String, failed: bool) -> StatusCode {
    {
        let mut seen = s.seen.lock().unwrap();
        seen.answered_at = Some(Instant::now());
        seen.answer = serde_json::from_str(&body).ok();
        seen.failed = failed;
    }
    s.answered.notify_one();
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Serves `event` as the one invocation, on a free port of 127.0.0.1.
    pub async fn start(event: Value) -> std::io::Result<Self> {
        let shared = Shared {
            event,
            seen: Arc::default(),
            answered: Arc::default(),
            handed_out: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(s): State<Shared>, Path(_id): Path<String>, body: String| {
                        answer(s, body, false)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(
                    |State(s): State<Shared>, Path(_id): Path<String>, body: String| {
                        answer(s, body, true)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                post(|State(s): State<Shared>, body: String| answer(s, body, true)),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// Waits for the answer of the invocation.
    pub async fn answered(&self) -> Seen {
        loop {
            let notified = self.shared.answered.notified();
            {
                let seen = self.shared.seen.lock().unwrap();
                if seen.answered_at.is_some() {
                    return seen.clone();
                }
            }
            notified.await;
        }
    }
}
