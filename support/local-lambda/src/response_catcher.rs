//! A local stand-in for the S3 bucket behind CloudFormation's pre-signed ResponseURLs: it keeps
//! every custom resource answer PUT to it, so a local run (or a test) can read what
//! CloudFormation would have been told.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::put;
use serde_json::Value;

type Answers = Arc<Mutex<Vec<(String, Value)>>>;

pub struct ResponseCatcher {
    port: u16,
    answers: Answers,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ResponseCatcher {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn keep(
    State(answers): State<Answers>,
    Path(key): Path<String>,
    body: Bytes,
) -> &'static str {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut answers) = answers.lock() {
        answers.push((key, value));
    }
    ""
}

impl ResponseCatcher {
    pub async fn start() -> std::io::Result<Self> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let port = listener.local_addr()?.port();
        let answers: Answers = Arc::default();
        let app = axum::Router::new()
            .route("/{*key}", put(keep))
            .with_state(answers.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            port,
            answers,
            server,
        })
    }

    /// The prefix to allow in the response URL policy.
    pub fn prefix(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// A response URL for one request.
    pub fn url(&self, key: &str) -> String {
        format!("{}{key}", self.prefix())
    }

    /// The answer PUT to `url(key)`, waiting up to `limit` for it.
    pub async fn answer(&self, key: &str, limit: Duration) -> Option<Value> {
        let started = Instant::now();
        loop {
            let found = self.answers.lock().ok().and_then(|answers| {
                answers
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            });
            if found.is_some() || started.elapsed() > limit {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn count(&self) -> usize {
        self.answers.lock().map(|a| a.len()).unwrap_or(0)
    }
}
