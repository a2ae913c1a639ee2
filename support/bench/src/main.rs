//! `scripts/bench`: prints, in one run, what the provisioner costs. Each figure says whether it
//! is absolute (this machine's), a ratio (machine-independent enough to compare), or modelled
//! (AWS seconds on the local world's clock, from AWS's typical latencies: independent of this
//! machine).

mod cold_start;
mod runtime_api;
mod system;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use provisioner_core::stages::{self, Function};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Cold starts, memory, package sizes, AWS calls and modelled AWS time")]
struct Args {
    /// Where the release (host) builds of the function binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where `cargo lambda build --arm64 --output-format zip` left the zipped functions
    /// (`<binary>/bootstrap.zip`); without it, the host binaries are zipped instead.
    #[arg(long)]
    arm64_dir: Option<PathBuf>,
    /// How many environments to create and destroy at once (repeatable).
    #[arg(long = "many", default_values_t = [10, 40])]
    many: Vec<usize>,
    /// Skips the many-environments runs (the longest part).
    #[arg(long, default_value_t = false)]
    quick: bool,
    /// Runs only the many-environments runs.
    #[arg(long, default_value_t = false, conflicts_with = "quick")]
    only_many: bool,
}

/// A function of the template, the clients its Python twin creates, and the event it is given.
struct Measured {
    function: Function,
    python_clients: &'static [&'static str],
    event: Value,
    env: Vec<(&'static str, String)>,
}

fn functions() -> Vec<Measured> {
    let status = json!({"action": "status", "environment": "bench"});
    let stage = |function, python_clients| Measured {
        function,
        python_clients,
        event: status.clone(),
        env: vec![],
    };
    vec![
        stage(stages::NETWORK.function, &["ec2", "ssm"]),
        stage(stages::ENDPOINTS.function, &["ec2", "ssm"]),
        stage(stages::ALB.function, &["elbv2", "ssm"]),
        stage(stages::SERVICE.function, &["ecs", "logs", "elbv2", "ssm"]),
        Measured {
            function: stages::CONTROL,
            python_clients: &["ssm", "dynamodb", "ec2", "stepfunctions"],
            event: json!({"operation": "prepare", "execution": "bench",
                          "input": {"action": "destroy", "environment": "bench"}}),
            env: vec![
                ("LEASE_TABLE", "bench-leases".into()),
                ("REQUEST_TABLE", "bench-requests".into()),
            ],
        },
        Measured {
            function: stages::CUSTOM_RESOURCE,
            python_clients: &["stepfunctions", "dynamodb", "ssm"],
            // Not a CloudFormation request: answered with a validation error, no AWS call.
            event: json!({"RequestType": "Bogus"}),
            env: vec![
                (
                    "STATE_MACHINE_ARN",
                    "arn:aws:states:us-east-1:123456789012:stateMachine:bench".into(),
                ),
                ("REQUEST_TABLE", "bench-requests".into()),
            ],
        },
    ]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The best of `runs` cold starts (the least disturbed by this machine's other work).
async fn best_of(
    runs: usize,
    make: impl Fn() -> cold_start::Subject<'static>,
    endpoint: &str,
    workdir: &Path,
) -> Result<cold_start::ColdStart, String> {
    let mut best: Option<cold_start::ColdStart> = None;
    for _ in 0..runs {
        let run = cold_start::measure(make(), endpoint, workdir).await?;
        if best.as_ref().is_none_or(|b| run.init < b.init) {
            best = Some(run);
        }
    }
    best.ok_or_else(|| "no run".to_string())
}

async fn cold_starts(args: &Args, root: &Path) -> Result<(), String> {
    println!("== Cold start and memory: release build, local Runtime API, best of 5 ==");
    println!(
        "   INIT and first invocation are absolute (this machine); the ratio to Python + boto3"
    );
    println!("   creating the same clients is the comparable figure.");
    let emulator = local_aws::Emulator::start().map_err(|e| e.to_string())?;
    let endpoint = emulator.endpoint();
    create_tables(&emulator).await?;
    let python = local_aws::python_path();
    let script = root.join("support/bench/python_function.py");
    println!(
        "   {:<24} {:>10} {:>12} {:>10} {:>12} {:>12} {:>7}",
        "function", "INIT", "1st invoke", "peak RSS", "Python INIT", "Python RSS", "ratio"
    );
    for m in functions() {
        let binary = args.bin_dir.join(m.function.binary);
        if !binary.exists() {
            return Err(format!(
                "{} is missing: build the functions with `cargo build --release`",
                binary.display()
            ));
        }
        let rust = best_of(
            5,
            || cold_start::Subject {
                command: vec![binary.display().to_string()],
                env: m.env.clone(),
                event: m.event.clone(),
            },
            &endpoint,
            root,
        )
        .await?;
        let mut command = vec![python.display().to_string(), script.display().to_string()];
        command.extend(m.python_clients.iter().map(|c| c.to_string()));
        let py = best_of(
            5,
            || cold_start::Subject {
                command: command.clone(),
                env: vec![],
                event: m.event.clone(),
            },
            &endpoint,
            root,
        )
        .await?;
        let ratio = rust.init.as_secs_f64() / py.init.as_secs_f64().max(1e-9);
        println!(
            "   {:<24} {:>10} {:>12} {:>10} {:>12} {:>12} {:>7.3}{}",
            m.function.logical_id,
            ms(rust.init),
            ms(rust.first_invocation),
            mib(rust.peak_rss_kib),
            ms(py.init),
            mib(py.peak_rss_kib),
            ratio,
            if rust.peak_rss_kib > 16 * 1024 {
                "  (peak over 16 MiB)"
            } else {
                ""
            }
        );
        if rust.failed && m.function != stages::CUSTOM_RESOURCE {
            println!("      the function answered an error: {}", rust.answer);
        }
    }
    Ok(())
}

/// The control function's tables, as the template makes them (keyed by environment and by
/// execution name), so its first invocation reads a table that exists.
async fn create_tables(emulator: &local_aws::Emulator) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let dynamodb =
        aws_sdk_dynamodb::Client::new(&emulator.sdk_config(local_aws::DEFAULT_REGION).await);
    for (table, key) in [
        ("bench-leases", "environment"),
        ("bench-requests", "execution"),
    ] {
        dynamodb
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("CreateTable {table}: {e}"))?;
    }
    Ok(())
}

fn zipped_size(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .unix_permissions(0o755);
        zip.start_file("bootstrap", options)
            .map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
        zip.finish().map_err(|e| e.to_string())?;
    }
    Ok(buffer.into_inner().len() as u64)
}

fn package_sizes(args: &Args) -> Result<(), String> {
    let every: Vec<Function> = stages::STAGES
        .iter()
        .map(|s| s.function)
        .chain([stages::CONTROL, stages::CUSTOM_RESOURCE])
        .collect();
    match &args.arm64_dir {
        Some(dir) => {
            println!("\n== Zipped packages: arm64 (provided.al2023), absolute ==");
            for f in every {
                let zip = dir.join(f.binary).join("bootstrap.zip");
                let size = std::fs::metadata(&zip)
                    .map_err(|e| format!("{}: {e}", zip.display()))?
                    .len();
                print_size(f, size);
            }
        }
        None => {
            println!("\n== Zipped packages: x86_64 host build (no arm64 build given), absolute ==");
            for f in every {
                print_size(f, zipped_size(&args.bin_dir.join(f.binary))?);
            }
        }
    }
    Ok(())
}

fn print_size(f: Function, bytes: u64) {
    let mb = bytes as f64 / 1e6;
    println!(
        "   {:<24} {:>6.2} MB{}",
        f.logical_id,
        mb,
        if mb > 3.5 { "  (over 3.5 MB)" } else { "" }
    );
}

fn print_run(what: &str, run: &system::Run) {
    println!(
        "   {:<18} {:>6.0} s modelled   {:>4} calls, {:>3} mutating ({} bookkeeping), {:>2} PutParameter   {}",
        what,
        run.finished.aws_seconds,
        run.calls,
        run.mutating,
        run.bookkeeping,
        run.put_parameter,
        if run.finished.succeeded() { "succeeded".to_string() } else {
            format!("FAILED: {} {}", run.finished.error.clone().unwrap_or_default(), run.finished.cause.clone().unwrap_or_default())
        }
    );
    let top: Vec<String> = run.top.iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("   {:<18} most sent: {}", "", top.join(", "));
}

async fn lifecycle() -> Result<(), String> {
    println!("\n== One environment (the reference spec) on the realistic local world ==");
    println!("   Modelled AWS seconds come from AWS's typical latencies (machine-independent);");
    println!("   calls are what the functions sent, retries included.");
    let system = local_lambda::LocalSystem::start(local_lambda::LocalOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let apply = json!({"action": "apply", "spec": system::reference_spec("demo")?});
    let create = system::measured(&system, &apply, "bench-create").await?;
    print_run("create", &create);
    let again = system::measured(&system, &apply, "bench-reapply").await?;
    print_run("no-op re-apply", &again);
    let redeploy = system::measured(&system, &system::ecr_push()?, "bench-redeploy").await?;
    print_run("redeploy (ECR)", &redeploy);
    let destroy = system::measured(
        &system,
        &json!({"action": "destroy", "environment": "demo"}),
        "bench-destroy",
    )
    .await?;
    print_run("destroy", &destroy);
    Ok(())
}

async fn many(sizes: &[usize]) -> Result<(), String> {
    for &n in sizes {
        println!("\n== {n} environments created, then destroyed, at once (wall time absolute) ==");
        // A quota raised for the run, as an account running many environments would have it.
        let quota = json!(n + 5);
        let world = local_aws::World::realistic()
            .with_scale(60.0)
            .with_value("quotas", "vpcsPerRegion", quota.clone())
            .with_value("quotas", "internetGatewaysPerRegion", quota);
        let options = local_lambda::LocalOptions {
            world,
            ..local_lambda::LocalOptions::default()
        };
        let m = system::many(n, options).await?;
        println!(
            "   created {}/{} in {:.0} s wall (slowest {:.0} s modelled); destroyed {}/{} in {:.0} s wall; left: {}",
            m.created,
            m.n,
            m.create_wall.as_secs_f64(),
            m.create_modelled_max,
            m.destroyed,
            m.n,
            m.destroy_wall.as_secs_f64(),
            if m.left.is_empty() { "nothing".to_string() } else { m.left.join(", ") }
        );
        for failure in m.failures.iter().take(5) {
            println!("   failed: {failure}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let root = local_aws::repository_root();
    let result = async {
        if !args.only_many {
            cold_starts(&args, &root).await?;
            package_sizes(&args)?;
            lifecycle().await?;
        }
        if !args.quick {
            many(&args.many).await?;
        }
        Ok::<(), String>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
