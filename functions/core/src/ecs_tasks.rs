//! Reading ECS tasks by ARN, and where they are placed, for the service stage's readiness and
//! the CLI's status.

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, Task};

use crate::{AwsContext, ProvisionError};

/// One provider of a capacity provider strategy as the service stage records a change of it and
/// the CLI shows it: `FARGATE_SPOT base=0 weight=3`.
pub fn placement_text(item: &CapacityProviderStrategyItem) -> String {
    format!(
        "{} base={} weight={}",
        item.capacity_provider(),
        item.base(),
        item.weight()
    )
}

/// The tasks of `arns`, in calls of at most 100 tasks, the most DescribeTasks takes.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: Vec<String>,
) -> Result<Vec<Task>, ProvisionError> {
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .context("DescribeTasks", cluster)?;
        tasks.extend(out.tasks().iter().cloned());
    }
    Ok(tasks)
}
