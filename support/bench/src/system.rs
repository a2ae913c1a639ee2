//! The whole system on the local realistic world: what a create, a no-op re-apply, a redeploy and
//! a destroy cost in AWS calls and modelled AWS time, and many environments at once.

use std::time::{Duration, Instant};

use local_lambda::{LocalOptions, LocalSystem};
use provisioner_cli::environment::{self, Clients};
use provisioner_cli::execution::{self, Finished};
use serde_json::{json, Value};

/// One execution's figures.
pub struct Run {
    pub finished: Finished,
    pub calls: usize,
    pub mutating: usize,
    /// Mutating calls on the provisioner's own bookkeeping (the lease, pending requests).
    pub bookkeeping: usize,
    pub put_parameter: usize,
    /// The most frequent operations, for reading where the calls go.
    pub top: Vec<(String, usize)>,
}

const BOOKKEEPING: [&str; 3] = ["PutItem", "UpdateItem", "DeleteItem"];

/// Runs `input` to its end on `system`, up to `limit` of wall time.
pub async fn execute(
    system: &LocalSystem,
    input: &Value,
    name: &str,
    limit: Duration,
) -> Result<Finished, String> {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let arn = execution::start(&sfn, &system.state_machine_arn, name, input)
        .await
        .map_err(|e| e.to_string())?;
    execution::wait(&sfn, &arn, Duration::from_millis(300), limit)
        .await
        .map_err(|e| e.to_string())
}

/// Runs `input` with the calls counted.
pub async fn measured(system: &LocalSystem, input: &Value, name: &str) -> Result<Run, String> {
    system.clear_calls();
    let finished = execute(system, input, name, Duration::from_secs(900)).await?;
    let calls = system.aws_calls();
    let mutating = system.mutating_calls();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for call in &calls {
        *counts.entry(call.clone()).or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(8);
    Ok(Run {
        finished,
        calls: calls.len(),
        bookkeeping: mutating
            .iter()
            .filter(|c| BOOKKEEPING.contains(&c.as_str()))
            .count(),
        mutating: mutating.len(),
        put_parameter: calls.iter().filter(|c| *c == "PutParameter").count(),
        top,
    })
}

/// The reference spec (its image in the default region's ECR) under another name.
pub fn reference_spec(name: &str) -> Result<Value, String> {
    let path = local_aws::repository_root().join("events/reference-spec.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut spec: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    spec["name"] = json!(name);
    Ok(spec)
}

/// An ECR push of the reference spec's image, as EventBridge delivers it.
pub fn ecr_push() -> Result<Value, String> {
    let path = local_aws::repository_root().join("events/ecr-push.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Starts one execution per name at once (`input` of the name) and follows them all to their
/// end; returns the wall time and each outcome.
async fn all_at_once(
    system: &LocalSystem,
    names: &[String],
    what: &str,
    input: impl Fn(&str) -> Result<Value, String>,
    limit: Duration,
) -> (Duration, Vec<Result<Finished, String>>) {
    let started = Instant::now();
    let outcomes = futures::future::join_all(names.iter().map(|name| {
        let input = input(name);
        async move { execute(system, &input?, &format!("{what}-{name}"), limit).await }
    }))
    .await;
    (started.elapsed(), outcomes)
}

/// How many outcomes succeeded (each passed to `succeeded`); the others go to `failures`.
fn tally(
    names: &[String],
    what: &str,
    outcomes: Vec<Result<Finished, String>>,
    failures: &mut Vec<String>,
    mut succeeded: impl FnMut(&Finished),
) -> usize {
    let mut count = 0;
    for (name, outcome) in names.iter().zip(outcomes) {
        match outcome {
            Ok(f) if f.succeeded() => {
                count += 1;
                succeeded(&f);
            }
            Ok(f) => failures.push(format!(
                "{what} {name}: {} {}",
                f.error.unwrap_or_default(),
                f.cause.unwrap_or_default()
            )),
            Err(e) => failures.push(format!("{what} {name}: {e}")),
        }
    }
    count
}

/// What `n` environments created and then destroyed at once came to.
pub struct Many {
    pub n: usize,
    pub created: usize,
    pub create_wall: Duration,
    pub create_modelled_max: f64,
    pub destroyed: usize,
    pub destroy_wall: Duration,
    pub left: Vec<String>,
    pub failures: Vec<String>,
}

/// Creates `n` environments at once, then destroys them at once, and lists what is left.
pub async fn many(n: usize, options: LocalOptions) -> Result<Many, String> {
    let system = LocalSystem::start(options)
        .await
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = (0..n).map(|i| format!("many{i}")).collect();
    let limit = Duration::from_secs(3600);
    let mut failures = Vec::new();

    let inputs = |name: &str| -> Result<Value, String> {
        Ok(json!({"action": "apply", "spec": reference_spec(name)?}))
    };
    let (create_wall, creates) = all_at_once(&system, &names, "create", inputs, limit).await;
    let mut create_modelled_max: f64 = 0.0;
    let created = tally(&names, "create", creates, &mut failures, |f| {
        create_modelled_max = create_modelled_max.max(f.aws_seconds)
    });
    let inputs = |name: &str| Ok(json!({"action": "destroy", "environment": name}));
    let (destroy_wall, destroys) = all_at_once(&system, &names, "destroy", inputs, limit).await;
    let destroyed = tally(&names, "destroy", destroys, &mut failures, |_| {});
    let clients = Clients::new(&system.config);
    // A check that fails is reported with the figures above, not in their place.
    let mut left = Vec::new();
    for name in &names {
        match environment::leftovers(&clients, name).await {
            Ok(found) => left.extend(found),
            Err(e) => left.push(format!("{name}: the check failed: {e}")),
        }
    }
    Ok(Many {
        n,
        created,
        create_wall,
        create_modelled_max,
        destroyed,
        destroy_wall,
        left,
        failures,
    })
}
