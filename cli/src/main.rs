//! `fargate-provisioner`: runs the provisioner's state machine and follows it stage by stage.
//!
//! - `run`: creates, updates or deletes an environment through a deployed state machine.
//! - `local` (with the `local` feature): the same on this machine, on the local emulator with the
//!   functions and the state machine from template.yaml; `--destroy` then deletes it again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use provisioner_cli::environment::{self, Clients};
use provisioner_cli::execution::{self, Finished};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    version,
    about = "Create, update and delete ECS Fargate environments through the provisioner's state machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on the local AWS emulator: no account needed.
    #[cfg(feature = "local")]
    Local(local::LocalArgs),
    /// Start and follow an execution of a deployed state machine.
    Run {
        #[arg(long, env = "STATE_MACHINE_ARN")]
        state_machine_arn: String,
        /// Create or update the environment of this spec.
        #[arg(long, conflicts_with = "destroy", required_unless_present = "destroy")]
        spec: Option<PathBuf>,
        /// Delete this environment.
        #[arg(long)]
        destroy: Option<String>,
        /// Give up following after this many minutes (the execution goes on).
        #[arg(long, default_value_t = 45)]
        minutes: u64,
    },
}

#[cfg(feature = "local")]
mod local;

type Failure = Box<dyn std::error::Error>;

pub(crate) fn read_spec(path: &PathBuf) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
}

pub(crate) async fn run_and_follow(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    input: Value,
    every: Duration,
    limit: Duration,
) -> Result<Finished, Failure> {
    let what = format!(
        "{}-{}",
        input["action"].as_str().unwrap_or("run"),
        input
            .get("environment")
            .or_else(|| input.pointer("/spec/name"))
            .and_then(Value::as_str)
            .unwrap_or("environment")
    );
    let arn = execution::start(
        sfn,
        state_machine_arn,
        &execution::execution_name(&what),
        &input,
    )
    .await?;
    println!("execution {arn}");
    let finished = execution::follow(sfn, &arn, every, limit, execution::print_progress).await?;
    if finished.succeeded() {
        println!(
            "succeeded: {:.0} s of AWS time ({:.1} s here)",
            finished.aws_seconds,
            finished.elapsed.as_secs_f64()
        );
    } else {
        println!("{}", execution::failure_line(&finished));
    }
    Ok(finished)
}

async fn run(
    arn: String,
    spec: Option<PathBuf>,
    destroy: Option<String>,
    minutes: u64,
) -> Result<bool, Failure> {
    let config = provisioner_core::aws::load_config(None).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let (input, name) = match (spec, destroy) {
        (Some(path), _) => {
            let spec = read_spec(&path)?;
            let name = spec
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (json!({"action": "apply", "spec": spec}), name)
        }
        (None, Some(name)) => (json!({"action": "destroy", "environment": name}), name),
        (None, None) => return Err("give --spec FILE or --destroy NAME".into()),
    };
    let finished = run_and_follow(
        &sfn,
        &arn,
        input,
        Duration::from_secs(3),
        Duration::from_secs(minutes * 60),
    )
    .await?;
    println!(
        "\n{}",
        environment::describe(&Clients::new(&config), &name).await?
    );
    Ok(finished.succeeded())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "local")]
        Command::Local(args) => local::run(args).await,
        Command::Run {
            state_machine_arn,
            spec,
            destroy,
            minutes,
        } => run(state_machine_arn, spec, destroy, minutes).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
