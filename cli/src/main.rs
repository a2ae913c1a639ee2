//! `fargate-provisioner`: runs the provisioner's state machine and follows it stage by stage.
//!
//! - `local`: the whole system on this machine (emulator, the functions, the state machine from
//!   template.yaml); creates the environment of a spec and prints it; `--destroy` then deletes it
//!   through the delete path.
//! - `run`: the same against a deployed state machine in a real account.

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
    Local {
        /// The environment spec (JSON).
        #[arg(long, default_value = "events/reference-spec.json")]
        spec: PathBuf,
        /// After creating, delete the environment again through the delete path.
        #[arg(long)]
        destroy: bool,
    },
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

type Failure = Box<dyn std::error::Error>;

fn read_spec(path: &PathBuf) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
}

async fn run_and_follow(
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
        println!("succeeded in {:.1} s", finished.elapsed.as_secs_f64());
    } else {
        let reason = finished
            .output
            .as_ref()
            .and_then(|o| o.pointer("/result/reason"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| finished.cause.clone())
            .unwrap_or_default();
        println!(
            "{:?}: {} {reason}",
            finished.status,
            finished.error.clone().unwrap_or_default()
        );
    }
    Ok(finished)
}

async fn local(spec_path: PathBuf, destroy: bool) -> Result<bool, Failure> {
    let spec = read_spec(&spec_path)?;
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    println!("starting the local AWS emulator and the functions...");
    let system = local_lambda::LocalSystem::start(local_lambda::LocalOptions::default()).await?;
    println!(
        "emulator {}; state machine {} (from template.yaml)",
        system.emulator.endpoint(),
        system.state_machine_arn
    );
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let (every, limit) = (Duration::from_millis(300), Duration::from_secs(600));

    println!("\ncreate {name} ({})", spec_path.display());
    let created = run_and_follow(
        &sfn,
        &system.state_machine_arn,
        json!({"action": "apply", "spec": spec}),
        every,
        limit,
    )
    .await?;
    let clients = Clients::new(&system.config);
    println!("\n{}", environment::describe(&clients, &name).await?);
    if !created.succeeded() {
        return Ok(false);
    }
    if destroy {
        println!("delete {name}");
        let deleted = run_and_follow(
            &sfn,
            &system.state_machine_arn,
            json!({"action": "destroy", "environment": name}),
            every,
            limit,
        )
        .await?;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&system.config);
        let left = environment::leftovers(&clients, &elb, &name).await?;
        if left.is_empty() {
            println!("\nafter delete: nothing tagged for {name} remains, and no SSM parameters");
        } else {
            println!("\nafter delete, still there: {}", left.join(", "));
        }
        return Ok(deleted.succeeded() && left.is_empty());
    }
    println!(
        "(the emulator stops with this command; pass --destroy to run the delete path as well)"
    );
    Ok(true)
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
        Command::Local { spec, destroy } => local(spec, destroy).await,
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
