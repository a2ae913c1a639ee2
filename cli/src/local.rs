//! `fargate-provisioner local`: the whole system on this machine (the emulator, the functions
//! and the state machine from template.yaml), with no AWS account.

use std::path::PathBuf;
use std::time::Duration;

use provisioner_cli::environment::{self, Clients};
use serde_json::{json, Value};

use crate::{read_spec, run_and_follow, Failure};

/// Creates the environment of `spec` on the local emulator, prints it, and with `destroy`
/// deletes it again and checks that nothing is left.
pub async fn run(spec: Option<PathBuf>, destroy: bool) -> Result<bool, Failure> {
    let spec_path =
        spec.unwrap_or_else(|| local_aws::repository_root().join("events/reference-spec.json"));
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
