//! Reading ECS tasks by ARN, for the service stage's readiness and the CLI's status.

use aws_sdk_ecs::types::Task;

use crate::{AwsContext, ProvisionError};

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
