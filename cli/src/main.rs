//! Local run: starts the emulator, stores a spec, applies the network stage, prints what it made,
//! and destroys it again unless `--keep` is given. Usage: fargate-provisioner [SPEC.json] [--keep]

use network_stage::NetworkStage;
use provisioner_core::{EnvironmentSpec, Names, SsmStore, Stage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keep = args.iter().any(|a| a == "--keep");
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "events/reference-spec.json".into());
    let region = local_aws::DEFAULT_REGION;
    let spec = EnvironmentSpec::from_json_str(&std::fs::read_to_string(&path)?, region)?;

    let emulator = local_aws::Emulator::start()?;
    println!("local AWS emulator on {}", emulator.endpoint());
    let config = emulator.sdk_config(region).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let store = SsmStore::new(ssm.clone());
    store.put_spec(&spec).await?;
    let stage = NetworkStage::new(aws_sdk_ec2::Client::new(&config), ssm, region);

    let applied = stage.apply(&spec.name).await?;
    println!("network of {}: {}", spec.name, applied.message);
    for (name, value) in &applied.outputs {
        println!("  {name:32} {}", value.to_parameter_value());
    }
    if !keep {
        let destroyed = stage.destroy(&spec.name).await?;
        store.delete_spec(&Names::new(&spec.name)).await?;
        println!("{}", destroyed.message);
    }
    Ok(())
}
