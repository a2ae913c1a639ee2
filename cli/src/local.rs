//! `fargate-provisioner local`: the whole system on this machine (the emulator, the functions
//! and the state machine from template.yaml), with no AWS account.

use std::path::PathBuf;
use std::time::Duration;

use provisioner_cli::environment::{self, Clients};
use serde_json::{json, Value};

use crate::{read_spec, run_and_follow, Failure};

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
    #[arg(long)]
    destroy: bool,
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

/// What the functions asked of AWS since the calls were last cleared.
fn calls_line(system: &local_lambda::LocalSystem) -> String {
    let calls = system.aws_calls();
    let mutating = system.mutating_calls().len();
    let puts = calls.iter().filter(|c| *c == "PutParameter").count();
    let mut h = std::collections::BTreeMap::new();
    for c in &calls {
        *h.entry(c.clone()).or_insert(0) += 1;
    }
    eprintln!("TEMP {h:?}");
    format!(
        "AWS calls: {} ({mutating} mutating, {puts} PutParameter)",
        calls.len()
    )
}

/// Creates the environment of the spec on the local emulator, prints it, and with `--destroy`
/// deletes it again and checks that nothing is left.
pub async fn run(args: LocalArgs) -> Result<bool, Failure> {
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
    println!("starting the local AWS emulator and the functions...");
    let options = args.options();
    let system = local_lambda::LocalSystem::start(options.clone()).await?;
    match args.aws {
        Aws::Realistic => println!(
            "realistic AWS in {}: every behaviour on{}; the clock runs {}x",
            options.region,
            if args.without.is_empty() {
                String::new()
            } else {
                format!(" but {}", args.without.join(", "))
            },
            options.world.scale
        ),
        Aws::Instant => println!("plain emulator in {}: instant and lenient", options.region),
    }
    println!(
        "template.yaml deployed as stack {}; state machine {}",
        local_lambda::system::STACK_NAME,
        system.state_machine_arn
    );
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let (every, limit) = (Duration::from_millis(300), Duration::from_secs(600));

    println!("\ncreate {name} ({})", spec_path.display());
    system.clear_calls();
    let created = run_and_follow(
        &sfn,
        &system.state_machine_arn,
        json!({"action": "apply", "spec": spec}),
        every,
        limit,
    )
    .await?;
    println!("{}", calls_line(&system));
    let clients = Clients::new(&system.config);
    println!("\n{}", environment::describe(&clients, &name).await?);
    if !created.succeeded() {
        return Ok(false);
    }
    if destroy {
        println!("delete {name}");
        system.clear_calls();
        let deleted = run_and_follow(
            &sfn,
            &system.state_machine_arn,
            json!({"action": "destroy", "environment": name}),
            every,
            limit,
        )
        .await?;
        println!("{}", calls_line(&system));
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
