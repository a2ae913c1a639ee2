//! A function's cold start as Lambda runs it: the process starts with Lambda's environment,
//! initialises (builds its AWS clients) until it first asks the Runtime API for work, handles one
//! event against the emulator, and answers. Measured: INIT, the first invocation and the peak
//! resident memory (VmHWM, what Lambda reports as "Max Memory Used").

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runtime_api::RuntimeApi;

/// One function to start.
pub struct Subject<'a> {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The function's own environment variables, besides Lambda's.
    pub env: Vec<(&'a str, String)>,
    pub event: Value,
}

#[derive(Debug, Clone)]
pub struct ColdStart {
    pub init: Duration,
    pub first_invocation: Duration,
    pub peak_rss_kib: u64,
    /// The answer, or the error the function reported.
    pub answer: String,
    pub failed: bool,
}

/// Peak resident memory of a running process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Starts `subject` against a fresh Runtime API, with AWS calls going to `aws_endpoint`.
pub async fn measure(
    subject: Subject<'_>,
    aws_endpoint: &str,
    workdir: &Path,
) -> Result<ColdStart, String> {
    let api = RuntimeApi::start(subject.event.clone())
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let (program, args) = subject.command.split_first().ok_or("no command to start")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(workdir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", local_aws::DEFAULT_REGION)
        .env("AWS_DEFAULT_REGION", local_aws::DEFAULT_REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("RUST_LOG", "warn")
        .envs(subject.env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child.id().ok_or("the process ended at once")?;
    let seen = tokio::select! {
        seen = api.answered() => seen,
        status = child.wait() => {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut stderr).await;
            }
            return Err(format!("{program} exited ({status:?}) before answering: {stderr}"));
        }
        _ = tokio::time::sleep(Duration::from_secs(60)) => {
            return Err(format!("{program} did not answer within a minute"));
        }
    };
    let peak = peak_rss_kib(pid).unwrap_or(0);
    let _ = child.kill().await;
    let ready = seen.ready_at.ok_or("answered without asking for work")?;
    let answered = seen.answered_at.ok_or("no answer")?;
    Ok(ColdStart {
        init: ready - started,
        first_invocation: answered - ready,
        peak_rss_kib: peak,
        answer: seen.answer.map(|a| a.to_string()).unwrap_or_default(),
        failed: seen.failed,
    })
}
