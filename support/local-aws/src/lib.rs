//! The local AWS emulator: a moto server on a free loopback port, stopped (by PID) when dropped,
//! and ending by itself when the process that started it ends.
//!
//! moto comes from the project's virtualenv (`scripts/setup-tools` creates it) and is started
//! through this crate's Python launcher (`python/localaws`), which loads the project's additions
//! into it. `LOCAL_AWS_PYTHON` overrides the interpreter. Used by the local run and the tests.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;

pub mod clock;
pub mod world;

pub use world::World;

/// The region local runs use unless told otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long moto may take to answer after start (its first start imports a lot of Python).
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("{0} not found: run scripts/setup-tools (or set LOCAL_AWS_PYTHON)")]
    NotInstalled(PathBuf),
    #[error("could not start {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("moto did not answer on {endpoint} within {seconds} s (exit status: {status}; its log: {log})")]
    NotReady {
        endpoint: String,
        seconds: u64,
        status: String,
        log: String,
    },
    #[error("moto API call {path} failed: {message}")]
    Api { path: String, message: String },
}

/// Settings for one emulator process.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EmulatorOptions {
    /// Extra environment for the moto process, e.g. `MOTO_ECS_SERVICE_RUNNING`.
    pub env: Vec<(String, String)>,
    /// The realistic behaviours; `None` is the plain emulator (instant, lenient, consistent).
    pub world: Option<World>,
}

/// A running moto server. Dropping it stops the process.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    port: u16,
    options: EmulatorOptions,
    /// The emulator's own log (its errors, with tracebacks).
    pub log_path: PathBuf,
}

/// World time now at the emulator answering at `endpoint`, in epoch seconds.
pub fn world_now_at(endpoint: &str) -> Result<f64, EmulatorError> {
    let path = "/moto-api/localaws/clock";
    let error = |message: String| EmulatorError::Api {
        path: path.to_string(),
        message,
    };
    let text = ureq::get(format!("{endpoint}{path}"))
        .call()
        .map_err(|e| error(e.to_string()))?
        .body_mut()
        .read_to_string()
        .map_err(|e| error(e.to_string()))?;
    let clock: serde_json::Value = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    clock["now"]
        .as_f64()
        .ok_or_else(|| error(format!("no clock in {text}")))
}

/// Stops (`hold`) or restarts (`release`) the world's clock at the emulator answering at
/// `endpoint`: for work in front of the emulator that stands for AWS's own (the router's IAM
/// evaluation), which must not cost world time. Holds nest.
pub fn hold_clock_at(endpoint: &str, hold: bool) -> Result<(), EmulatorError> {
    let path = format!(
        "/moto-api/localaws/{}",
        if hold { "hold" } else { "release" }
    );
    ureq::post(format!("{endpoint}{path}"))
        .send_empty()
        .map_err(|e| EmulatorError::Api {
            path,
            message: e.to_string(),
        })?;
    Ok(())
}

/// The repository root, where `.venv/` lives.
pub fn repository_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The Python interpreter of the project's virtualenv.
pub fn python_path() -> PathBuf {
    std::env::var_os("LOCAL_AWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository_root().join(".venv/bin/python"))
}

/// Where the launcher package lives.
pub fn launcher_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl Emulator {
    pub fn start() -> Result<Self, EmulatorError> {
        Self::start_with(EmulatorOptions::default())
    }

    /// One emulator for the whole process, started on first use with `options` (every caller
    /// in a process must ask for the same options). Tests that share it use distinct
    /// environment names.
    pub fn shared(options: EmulatorOptions) -> Result<&'static Emulator, EmulatorError> {
        static SHARED: std::sync::Mutex<Option<&'static Emulator>> = std::sync::Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(emulator) = *shared {
            assert_eq!(
                emulator.options, options,
                "every user of the shared emulator asks for the same options"
            );
            return Ok(emulator);
        }
        let emulator: &'static Emulator = Box::leak(Box::new(Self::start_with(options)?));
        *shared = Some(emulator);
        Ok(emulator)
    }

    pub fn start_with(options: EmulatorOptions) -> Result<Self, EmulatorError> {
        let path = python_path();
        if !path.exists() {
            return Err(EmulatorError::NotInstalled(path));
        }
        let port = free_port().map_err(|source| EmulatorError::Spawn {
            path: path.clone(),
            source,
        })?;
        let log_path = std::env::temp_dir().join(format!("local-aws-{port}.log"));
        let log = std::fs::File::create(&log_path).map_err(|source| EmulatorError::Spawn {
            path: log_path.clone(),
            source,
        })?;
        let mut command = Command::new(&path);
        command
            .args(["-m", "localaws", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONPATH", launcher_path())
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(world) = &options.world {
            command.env("LOCALAWS_CONFIG", world.to_json().to_string());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| EmulatorError::Spawn {
                path: path.clone(),
                source,
            })?;
        let mut emulator = Emulator {
            child,
            port,
            options,
            log_path,
        };
        emulator.wait_until_ready()?;
        Ok(emulator)
    }

    fn wait_until_ready(&mut self) -> Result<(), EmulatorError> {
        let started = Instant::now();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(status.to_string()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
                && ureq::get(format!("{}/moto-api/", self.endpoint()))
                    .call()
                    .is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(self.not_ready("still running".into()))
    }

    fn not_ready(&self, status: String) -> EmulatorError {
        EmulatorError::NotReady {
            endpoint: self.endpoint(),
            seconds: START_TIMEOUT.as_secs(),
            status,
            log: self.log_path.display().to_string(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// AWS configuration pointing every client at the emulator, with dummy credentials and the
    /// production retry policy.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        provisioner_core::aws::loader(Some(&self.endpoint()))
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "local-emulator",
            ))
            .load()
            .await
    }

    /// The realistic behaviours it runs with, if any.
    pub fn world(&self) -> Option<&World> {
        self.options.world.as_ref()
    }

    /// World time now, in epoch seconds (wall time on the plain emulator).
    pub fn world_now(&self) -> Result<f64, EmulatorError> {
        world_now_at(&self.endpoint())
    }

    /// Replaces the world's configuration while it runs (a test switching a behaviour).
    pub fn set_world(&self, world: &World) -> Result<(), EmulatorError> {
        self.post("/moto-api/localaws/config", &world.to_json().to_string())
    }

    /// The behaviour ids the emulator implements.
    pub fn implemented_behaviours(&self) -> Result<Vec<String>, EmulatorError> {
        let path = "/moto-api/localaws/behaviours";
        let error = |message: String| EmulatorError::Api {
            path: path.to_string(),
            message,
        };
        let text = ureq::get(format!("{}{path}", self.endpoint()))
            .call()
            .map_err(|e| error(e.to_string()))?
            .body_mut()
            .read_to_string()
            .map_err(|e| error(e.to_string()))?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(answer["implemented"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// Forgets every resource: a fresh account without restarting the process.
    pub fn reset(&self) -> Result<(), EmulatorError> {
        self.post("/moto-api/reset", "")
    }

    /// Calls moto's own API (e.g. `/moto-api/config`).
    /// Calls an operation of a JSON-protocol AWS API (ACM, say) directly, for test fixtures the
    /// workspace has no SDK client for. `service` is the signing name (`acm`), which the emulator
    /// routes on; `target` is the `X-Amz-Target` header.
    pub fn call_json(
        &self,
        service: &str,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, EmulatorError> {
        let error = |message: String| EmulatorError::Api {
            path: target.to_string(),
            message,
        };
        let mut response = ureq::post(self.endpoint())
            .header("X-Amz-Target", target)
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=test/20260101/{DEFAULT_REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .header("Content-Type", "application/x-amz-json-1.1")
            .send(body.to_string())
            .map_err(|e| error(e.to_string()))?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| error(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| error(format!("{e}: {text}")))
    }

    /// Calls an operation of a query-protocol AWS API (IAM, say) directly, for test fixtures the
    /// workspace has no SDK client for. Answers the response's XML.
    pub fn call_query(
        &self,
        service: &str,
        params: &[(&str, &str)],
    ) -> Result<String, EmulatorError> {
        let action = params
            .iter()
            .find(|(k, _)| *k == "Action")
            .map_or("", |(_, v)| *v);
        let error = |message: String| EmulatorError::Api {
            path: action.to_string(),
            message,
        };
        let mut response = ureq::post(self.endpoint())
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=test/20260101/{DEFAULT_REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .config()
            .http_status_as_error(false)
            .build()
            .send_form(params.iter().copied())
            .map_err(|e| error(e.to_string()))?;
        response
            .body_mut()
            .read_to_string()
            .map_err(|e| error(e.to_string()))
    }

    pub fn post(&self, path: &str, body: &str) -> Result<(), EmulatorError> {
        ureq::post(format!("{}{path}", self.endpoint()))
            .send(body)
            .map(|_| ())
            .map_err(|e| EmulatorError::Api {
                path: path.to_string(),
                message: e.to_string(),
            })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Kept on request, for a look at what the emulator said.
        if std::env::var_os("LOCAL_AWS_KEEP_LOG").is_none() {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}
