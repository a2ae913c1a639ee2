//! What the whole-system tests share: the world they run in, and running an execution.

use std::time::Duration;

use local_aws::World;
use local_lambda::{LocalOptions, LocalSystem};
use provisioner_cli::execution::{self, Finished, Progress};
use serde_json::Value;

/// The realistic world the whole-system tests run in, every behaviour on, its clock faster than
/// the local run's so a test takes seconds.
pub fn world() -> World {
    World::realistic().with_scale(40.0)
}

/// The local system on that world.
pub fn options() -> LocalOptions {
    LocalOptions {
        world: world(),
        ..LocalOptions::default()
    }
}

/// Runs the state machine on `input` to its end.
pub async fn execute(system: &LocalSystem, input: Value) -> Finished {
    execute_seeing(system, input).await.0
}

/// Runs the state machine on `input` to its end, with the names of the states it went through.
pub async fn execute_seeing(system: &LocalSystem, input: Value) -> (Finished, Vec<String>) {
    let (finished, progress) = execute_watching(system, input).await;
    (finished, progress.into_iter().map(|p| p.state).collect())
}

/// Runs the state machine on `input` to its end, with the progress lines a user sees.
pub async fn execute_watching(system: &LocalSystem, input: Value) -> (Finished, Vec<Progress>) {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let name = execution::execution_name("test");
    let arn = execution::start(&sfn, &system.state_machine_arn, &name, &input)
        .await
        .expect("the execution starts");
    let mut progress = Vec::new();
    let finished = execution::follow(
        &sfn,
        &arn,
        Duration::from_millis(200),
        Duration::from_secs(300),
        |p| progress.push(p.clone()),
    )
    .await
    .expect("the execution ends within five minutes");
    (finished, progress)
}

/// The names of the state machine's executions so far.
pub async fn executions(system: &LocalSystem) -> Vec<String> {
    let sfn = aws_sdk_sfn::Client::new(&system.config);
    let listed = sfn
        .list_executions()
        .state_machine_arn(&system.state_machine_arn)
        .send()
        .await
        .expect("the executions are listed");
    listed
        .executions()
        .iter()
        .map(|e| e.name().to_string())
        .collect()
}

/// The mutating AWS calls since the calls were last cleared, besides taking and giving back the
/// environment's lease (the only DynamoDB writes).
pub fn changes(system: &LocalSystem) -> Vec<String> {
    system
        .mutating_calls()
        .into_iter()
        .filter(|op| op != "PutItem" && op != "DeleteItem")
        .collect()
}
