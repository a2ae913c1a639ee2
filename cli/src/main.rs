//! `fargate-provisioner`: runs the provisioner's state machine and follows it stage by stage,
//! and shows the environments it made.
//!
//! - `run`: creates, updates or deletes an environment through a deployed state machine.
//! - `plan --spec FILE`: what `run` would create, change and delete, and the monthly cost.
//! - `status ENV`, `list`: one environment's health, or every environment, from AWS.
//! - `cost --spec FILE`: its monthly cost at list prices, without asking AWS.
//! - `local` (with the `local` feature): the same on this machine, on the local emulator with the
//!   functions and the state machine from template.yaml; `--destroy` then deletes it again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use provisioner_cli::environment::{self, Clients, Environment};
use provisioner_cli::execution::{self, Finished};
use provisioner_cli::listing;
use provisioner_cli::progress::Display;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    version,
    about = "Create, update and delete ECS Fargate environments through the provisioner's state machine"
)]
struct Cli {
    /// `text` for people (a live display on a terminal, plain lines when piped); `json` prints
    /// one JSON document on standard output for scripts, progress on standard error.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
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
        /// Create or update the environment of this spec (a path from the current folder).
        #[arg(long, conflicts_with = "destroy", required_unless_present = "destroy")]
        spec: Option<PathBuf>,
        /// Delete this environment.
        #[arg(long)]
        destroy: Option<String>,
        /// Give up following after this many minutes (the execution goes on).
        #[arg(long, default_value_t = 45)]
        minutes: u64,
        /// The environments table, to show the owner and the state after the run.
        #[arg(long, env = TABLE_VAR)]
        table: Option<String>,
    },
    /// What an apply of the spec would create, change (field by field: live -> spec) and
    /// delete, and what the environment costs a month. Runs the stages' own reconcile code through
    /// the state machine's plan path; sends no change to AWS.
    Plan {
        #[arg(long, env = "STATE_MACHINE_ARN")]
        state_machine_arn: String,
        /// The spec (a path from the current folder).
        #[arg(long)]
        spec: PathBuf,
        /// Give up following after this many minutes.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
    },
    /// One environment: owner, state and last error, network, URL, service, deployments, image
    /// digests and targets.
    Status {
        environment: String,
        /// The environments table (the stack's `EnvironmentsTable` output).
        #[arg(long, env = TABLE_VAR)]
        table: String,
    },
    /// What the environment of a spec costs a month at list prices, and with a NAT gateway
    /// instead of the interface endpoints. Sends no AWS request.
    Cost {
        /// The spec (a path from the current folder).
        #[arg(long)]
        spec: PathBuf,
        /// The region it would be in.
        #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
        region: String,
    },
    /// Every environment, with its owner, state and URL.
    List {
        /// The environments table (the stack's `EnvironmentsTable` output).
        #[arg(long, env = TABLE_VAR)]
        table: String,
    },
}

/// Where `status` and `list` find the environments table when `--table` is not given.
pub(crate) const TABLE_VAR: &str = "FARGATE_PROVISIONER_TABLE";

#[cfg(feature = "local")]
mod local;

type Failure = Box<dyn std::error::Error>;

pub(crate) fn read_spec(path: &PathBuf) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
}

/// Starts an execution on `input` and follows it to its end, showing each finished state, then
/// the outcome: how long it took, or where and why it failed.
pub(crate) async fn run_and_follow(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    input: Value,
    every: Duration,
    limit: Duration,
    display: &Display,
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
    display.say(&format!("execution {arn}"));
    let followed = execution::follow(sfn, &arn, every, limit, |p| display.show(p)).await;
    display.finish();
    let finished = followed?;
    if finished.succeeded() {
        display.say(&format!(
            "succeeded: {:.0} s of AWS time ({:.1} s here)",
            finished.aws_seconds,
            finished.elapsed.as_secs_f64()
        ));
    } else {
        display.say(&execution::failure_line(&finished));
    }
    Ok(finished)
}

/// What a script reads after a run: the outcome and the environment.
pub(crate) fn outcome_json(finished: &Finished, environment: Option<&Environment>) -> Value {
    json!({
        "outcome": {
            "status": finished.status.as_str(),
            "execution": finished.execution_arn,
            "awsSeconds": finished.aws_seconds.round(),
            "failure": finished.failure(),
        },
        "environment": environment,
    })
}

struct RunArgs {
    state_machine_arn: String,
    spec: Option<PathBuf>,
    destroy: Option<String>,
    minutes: u64,
    table: Option<String>,
}

async fn run(args: RunArgs, output: Output) -> Result<bool, Failure> {
    let RunArgs {
        state_machine_arn: arn,
        spec,
        destroy,
        minutes,
        table,
    } = args;
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
    let destroying = input["action"] == "destroy";
    let display = Display::choose(output == Output::Json);
    let finished = run_and_follow(
        &sfn,
        &arn,
        input,
        Duration::from_secs(3),
        Duration::from_secs(minutes * 60),
        &display,
    )
    .await?;
    let clients = Clients::new(&config);
    if destroying {
        let left = environment::leftovers(&clients, &name).await?;
        match output {
            Output::Json => println!(
                "{}",
                json!({"outcome": outcome_json(&finished, None)["outcome"], "leftovers": left})
            ),
            Output::Text if left.is_empty() => println!("nothing of {name} is left"),
            Output::Text => println!("still there: {}", left.join(", ")),
        }
        return Ok(finished.succeeded() && left.is_empty());
    }
    // A spec refused before any change made nothing to show.
    let env = match finished.failed_state.as_deref() {
        Some(provisioner_core::stages::states::PREPARE) => None,
        _ => {
            let record = match &table {
                Some(table) => clients.registry(table).get(&name).await?,
                None => None,
            };
            Some(environment::describe(&clients, &name, record.as_ref()).await?)
        }
    };
    match (output, &env) {
        (Output::Json, _) => println!("{}", outcome_json(&finished, env.as_ref())),
        (Output::Text, Some(env)) => println!("\n{env}"),
        (Output::Text, None) => {}
    }
    Ok(finished.succeeded())
}

/// `status ENV`: the environment with its entry in the environments table.
pub(crate) async fn status(
    config: &aws_config::SdkConfig,
    table: &str,
    name: &str,
    output: Output,
) -> Result<bool, Failure> {
    let clients = Clients::new(config);
    let record = clients.registry(table).get(name).await?;
    let env = environment::describe(&clients, name, record.as_ref()).await?;
    let known = record.is_some() || env.vpc.is_some();
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&env)?),
        Output::Text if !known => println!("no environment {name} (see `list`)"),
        Output::Text => print!("{env}"),
    }
    Ok(known)
}

/// `list`: every environment.
pub(crate) async fn list(
    config: &aws_config::SdkConfig,
    table: &str,
    output: Output,
) -> Result<bool, Failure> {
    let clients = Clients::new(config);
    let listed = listing::list(&clients.registry(table), &clients.ssm).await?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&listed)?),
        Output::Text => print!("{}", listing::Table(&listed)),
    }
    Ok(true)
}

/// `plan --spec FILE`: the plan execution's answer, printed.
async fn plan(
    state_machine_arn: &str,
    path: &PathBuf,
    minutes: u64,
    output: Output,
) -> Result<bool, Failure> {
    let config = provisioner_core::aws::load_config(None).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let input = json!({"action": "plan", "spec": read_spec(path)?});
    let display = Display::choose(output == Output::Json);
    let finished = run_and_follow(
        &sfn,
        state_machine_arn,
        input,
        Duration::from_secs(2),
        Duration::from_secs(minutes * 60),
        &display,
    )
    .await?;
    Ok(print_plan(&finished, output))
}

/// Prints what a plan execution answered; false when it failed.
pub(crate) fn print_plan(finished: &Finished, output: Output) -> bool {
    let plan = finished
        .output
        .as_ref()
        .and_then(provisioner_core::changes::Plan::of_output);
    match (output, &plan) {
        (Output::Json, _) => println!(
            "{}",
            json!({"outcome": outcome_json(finished, None)["outcome"], "plan": plan})
        ),
        (Output::Text, Some(plan)) => print!("\n{plan}"),
        (Output::Text, None) => {}
    }
    finished.succeeded() && plan.is_some()
}

/// `cost --spec FILE`: the spec is validated for the region first, as an apply would.
fn cost(path: &PathBuf, region: &str, output: Output) -> Result<bool, Failure> {
    let spec = provisioner_core::EnvironmentSpec::from_json(&read_spec(path)?, region)?;
    let estimate = provisioner_core::cost::estimate(&spec, region);
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&estimate)?),
        Output::Text => print!("{estimate}"),
    }
    Ok(true)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.output;
    let result = match cli.command {
        #[cfg(feature = "local")]
        Command::Local(args) => local::run(args, output).await,
        Command::Run {
            state_machine_arn,
            spec,
            destroy,
            minutes,
            table,
        } => {
            let args = RunArgs {
                state_machine_arn,
                spec,
                destroy,
                minutes,
                table,
            };
            run(args, output).await
        }
        Command::Plan {
            state_machine_arn,
            spec,
            minutes,
        } => plan(&state_machine_arn, &spec, minutes, output).await,
        Command::Status { environment, table } => {
            let config = provisioner_core::aws::load_config(None).await;
            status(&config, &table, &environment, output).await
        }
        Command::Cost { spec, region } => cost(&spec, &region, output),
        Command::List { table } => {
            let config = provisioner_core::aws::load_config(None).await;
            list(&config, &table, output).await
        }
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
