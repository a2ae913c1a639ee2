//! `fargate-provisioner local`: the whole system on this machine (the emulator, the functions
//! and the state machine from template.yaml), with no AWS account.

use std::path::PathBuf;
use std::time::Duration;

use provisioner_cli::environment::{self, Clients};
use provisioner_cli::progress::Display;
use serde_json::{json, Value};

use crate::{outcome_json, print_plan, read_spec, run_and_follow, Failure, Output, TABLE_VAR};

/// How AWS behaves locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Aws {
    /// As AWS does: time passes, ids are eventually consistent, interfaces linger, zones differ
    /// by region... (docs/LOCAL-WORLD.md lists every behaviour).
    Realistic,
    /// The plain emulator: instant, lenient, always consistent.
    Instant,
}

#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// The environment spec (JSON), read from the current folder; when not given, the reference
    /// spec with its image in the region's ECR.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// After creating, delete the environment again through the delete path.
    #[arg(long, conflicts_with = "plan")]
    destroy: bool,
    /// Only say what an apply would create and what it costs (on the fresh emulator, every
    /// resource is a create); to plan a change, `--keep` an environment and run `plan` on it.
    #[arg(long)]
    plan: bool,
    /// Leave the emulator and the functions running after the run, and say how to point the AWS
    /// CLI and `fargate-provisioner status`, `list` and `run` at them; Ctrl-C stops them.
    #[arg(long)]
    keep: bool,
    /// The region the local account is in.
    #[arg(long, default_value = local_aws::DEFAULT_REGION)]
    region: String,
    /// How AWS behaves.
    #[arg(long, value_enum, default_value_t = Aws::Realistic)]
    aws: Aws,
    /// Switch one realistic behaviour off (repeatable), e.g. --without eventual-consistency.
    #[arg(long, value_name = "BEHAVIOUR", value_parser = behaviour_id)]
    without: Vec<String>,
    /// AWS seconds per wall second of the realistic world's clock.
    #[arg(long, default_value_t = local_aws::world::DEFAULT_SCALE)]
    scale: f64,
}

fn behaviour_id(id: &str) -> Result<String, String> {
    match local_aws::world::behaviour(id) {
        Some(b) => Ok(b.id.to_string()),
        None => Err(format!(
            "no such behaviour; allowed: {}",
            local_aws::world::BEHAVIOURS
                .iter()
                .map(|b| b.id)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl LocalArgs {
    fn options(&self) -> local_lambda::LocalOptions {
        let mut options = match self.aws {
            Aws::Realistic => local_lambda::LocalOptions::default(),
            Aws::Instant => local_lambda::LocalOptions::instant(),
        };
        options.region = self.region.clone();
        if self.aws == Aws::Realistic {
            options.world = self
                .without
                .iter()
                .fold(options.world.with_scale(self.scale), |w, id| {
                    w.with(id, false)
                });
        }
        options
    }
}

/// The reference spec's image is in us-east-1's ECR; a run in another region pulls it from that
/// region's ECR, as a real environment there would (the tasks reach ECR only through endpoints).
fn in_region_ecr(spec: &mut Value, region: &str) {
    if let Some(image) = spec.pointer_mut("/service/image") {
        if let Some(text) = image.as_str() {
            *image = Value::String(text.replace(
                &format!(".dkr.ecr.{}.", local_aws::DEFAULT_REGION),
                &format!(".dkr.ecr.{region}."),
            ));
        }
    }
}

/// The emulator's account has no hosted zones: for a spec with `alb.domain`, makes a public
/// zone of the name's parent (`example.com` for `app.example.com`) to stand in for the user's,
/// and puts its id in the spec. Says what it did.
async fn stand_in_zone(
    config: &aws_config::SdkConfig,
    spec: &mut Value,
) -> Result<Option<String>, Failure> {
    let Some(domain) = spec
        .pointer("/alb/domain/name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let parent = domain.split_once('.').map_or(domain.as_str(), |(_, p)| p);
    let made = aws_sdk_route53::Client::new(config)
        .create_hosted_zone()
        .name(parent)
        .caller_reference(format!("local-{domain}"))
        .send()
        .await
        .map_err(|e| format!("creating the local hosted zone {parent}: {e}"))?;
    let id = made
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .unwrap_or_default();
    let given = spec
        .pointer("/alb/domain/hostedZoneId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(zone) = spec.pointer_mut("/alb/domain/hostedZoneId") {
        *zone = Value::String(id.clone());
    }
    Ok(Some(format!(
        "hosted zone {parent} made locally as {id}, standing in for the spec's {given}"
    )))
}

/// What the functions asked of AWS since the calls were last cleared.
fn calls_line(system: &local_lambda::LocalSystem) -> String {
    let calls = system.aws_calls();
    let mutating = system.mutating_calls().len();
    let puts = calls.iter().filter(|c| *c == "PutParameter").count();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for call in &calls {
        *counts.entry(call.as_str()).or_default() += 1;
    }
    let mut most: Vec<(&str, usize)> = counts.into_iter().collect();
    most.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let most: Vec<String> = most
        .iter()
        .take(12)
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    format!(
        "AWS calls: {} ({mutating} mutating, {puts} PutParameter); most: {}",
        calls.len(),
        most.join(", ")
    )
}

/// Creates the environment of the spec on the local emulator, prints it, and with `--destroy`
/// deletes it again and checks that nothing is left; with `--keep`, leaves it all running.
pub async fn run(args: LocalArgs, output: Output) -> Result<bool, Failure> {
    let LocalArgs { spec, destroy, .. } = &args;
    let destroy = *destroy;
    let reference = local_aws::repository_root().join("events/reference-spec.json");
    let spec_path = spec.clone().unwrap_or_else(|| reference.clone());
    let mut spec = read_spec(&spec_path)?;
    if spec_path == reference {
        in_region_ecr(&mut spec, &args.region);
    }
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let display = Display::choose(output == Output::Json);
    display.say("starting the local AWS emulator and the functions...");
    let mut options = args.options();
    if let Some(desired) = spec
        .pointer("/service/desiredCount")
        .and_then(Value::as_u64)
    {
        options.plain_running_tasks = u32::try_from(desired).unwrap_or(u32::MAX);
    }
    let system = local_lambda::LocalSystem::start(options.clone()).await?;
    display.say(&match args.aws {
        Aws::Realistic => format!(
            "realistic AWS in {}: every behaviour on{}; the clock runs {}x",
            options.region,
            if args.without.is_empty() {
                String::new()
            } else {
                format!(" but {}", args.without.join(", "))
            },
            options.world.scale
        ),
        Aws::Instant => format!("plain emulator in {}: instant and lenient", options.region),
    });
    display.say(&format!(
        "template.yaml deployed as stack {}; state machine {}",
        local_lambda::system::STACK_NAME,
        system.state_machine_arn
    ));
    let table = system
        .stack
        .resources
        .get(ENVIRONMENTS_TABLE)
        .cloned()
        .unwrap_or_default();
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let (every, limit) = (Duration::from_millis(300), Duration::from_secs(600));
    let clients = Clients::new(&system.config);
    let registry = clients.registry(&table);
    let follow = |input: Value| {
        run_and_follow(
            &sfn,
            &system.state_machine_arn,
            input,
            every,
            limit,
            &display,
        )
    };

    if let Some(zone) = stand_in_zone(&system.config, &mut spec).await? {
        display.say(&zone);
    }
    if args.plan {
        display.say(&format!("\nplan {name} ({})", spec_path.display()));
        system.clear_calls();
        let planned = follow(json!({"action": "plan", "spec": spec})).await?;
        display.say(&calls_line(&system));
        let ok = print_plan(&planned, output);
        if args.keep {
            keep_running(&system, &table, &name).await?;
        }
        return Ok(ok);
    }
    display.say(&format!("\ncreate {name} ({})", spec_path.display()));
    system.clear_calls();
    let created = follow(json!({"action": "apply", "spec": spec})).await?;
    display.say(&calls_line(&system));
    let record = registry.get(&name).await?;
    let env = environment::describe(&clients, &name, record.as_ref()).await?;
    let mut ok = created.succeeded();
    let mut outcome = outcome_json(&created, Some(&env));
    if output == Output::Text {
        println!("\n{env}");
    }
    if ok && destroy {
        display.say(&format!("delete {name}"));
        system.clear_calls();
        let deleted = follow(json!({"action": "destroy", "environment": name})).await?;
        display.say(&calls_line(&system));
        let left = environment::leftovers(&clients, &name).await?;
        display.say(&if left.is_empty() {
            format!("\nafter delete: nothing tagged for {name} remains, and no SSM parameters")
        } else {
            format!("\nafter delete, still there: {}", left.join(", "))
        });
        ok = deleted.succeeded() && left.is_empty();
        outcome = json!({
            "create": outcome,
            "destroy": outcome_json(&deleted, None),
            "leftovers": left,
        });
    }
    if output == Output::Json {
        println!("{outcome}");
    }
    if args.keep {
        keep_running(&system, &table, &name).await?;
    } else if !destroy && output == Output::Text {
        println!("(the emulator stops with this command: pass --keep to inspect it, --destroy to run the delete path)");
    }
    Ok(ok)
}

/// The template's logical id of the environments table.
const ENVIRONMENTS_TABLE: &str = "LeaseTable";

/// Says how to reach the running system, then waits for Ctrl-C (or SIGTERM).
async fn keep_running(
    system: &local_lambda::LocalSystem,
    table: &str,
    name: &str,
) -> Result<(), Failure> {
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "fargate-provisioner".into());
    eprintln!(
        "\nthe local AWS is running (process {}); in another shell:\n\n{}\n\nstop it with Ctrl-C here, or: kill {}",
        std::process::id(),
        keep_instructions(system, table, name, &me),
        std::process::id()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("stopping the local AWS");
    Ok(())
}

/// The environment variables and commands that reach the kept system.
pub fn keep_instructions(
    system: &local_lambda::LocalSystem,
    table: &str,
    name: &str,
    me: &str,
) -> String {
    let endpoint = system.lambda_endpoint();
    [
        format!("  export AWS_ENDPOINT_URL={endpoint} AWS_REGION={} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test", system.region),
        format!("  export STATE_MACHINE_ARN={} {TABLE_VAR}={table}", system.state_machine_arn),
        format!("  {me} status {name}"),
        format!("  {me} plan --spec CHANGED-SPEC.json"),
        format!("  {me} list"),
        format!("  {me} run --destroy {name}"),
        format!(
            "  aws ec2 describe-vpcs --filters Name=tag:{},Values={name}",
            provisioner_core::naming::ENVIRONMENT_TAG
        ),
    ]
    .join("\n")
}
