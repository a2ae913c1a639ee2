//! The container's CloudWatch Logs group, created by the stage (not left to the task) with the
//! spec's retention. The awslogs driver in a private subnet reaches it through the `logs` endpoint.

use aws_sdk_cloudwatchlogs::types::LogGroup;
use provisioner_core::tags::logs as log_tags;
use provisioner_core::{
    changes, exactly_once, AwsContext, Change, Names, NotFoundAsNone, ProvisionError,
};

use crate::owner;

pub const ROLE: &str = "log-group";

async fn find(
    logs: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
) -> Result<Option<LogGroup>, ProvisionError> {
    let out = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .context("DescribeLogGroups", name)?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .cloned())
}

/// Creates the log group or adopts it; keeps its retention as the spec says.
pub async fn ensure(
    logs: &aws_sdk_cloudwatchlogs::Client,
    names: &Names,
    retention_days: i32,
) -> Result<String, ProvisionError> {
    let name = names.log_group();
    let current = match find(logs, &name).await? {
        Some(group) => group.retention_in_days(),
        None if !changes::carry_out(
            Change::create("log group", &name).set("retentionInDays", retention_days),
        ) =>
        {
            return Ok(name);
        }
        None => {
            // A resend of a create CloudWatch Logs applied answers that the group exists.
            let created = logs
                .create_log_group()
                .log_group_name(&name)
                .set_tags(Some(log_tags::on_create(owner(names), ROLE)))
                .send()
                .await
                .context("CreateLogGroup", &name)
                .map(|_| ());
            exactly_once::already_done(created, &["ResourceAlreadyExistsException"])?;
            tracing::info!(log_group = %name, "created log group");
            None
        }
    };
    let change = || {
        Change::update("log group", &name).field(
            "retentionInDays",
            current.map_or("never expire".to_string(), |d| d.to_string()),
            retention_days,
        )
    };
    if current != Some(retention_days) && changes::carry_out(change()) {
        logs.put_retention_policy()
            .log_group_name(&name)
            .retention_in_days(retention_days)
            .send()
            .await
            .context("PutRetentionPolicy", &name)?;
        tracing::info!(log_group = %name, retention_days, "set log retention");
    }
    Ok(name)
}

/// Deletes the log group if this stage created it (a group someone else made stays).
pub async fn delete(
    logs: &aws_sdk_cloudwatchlogs::Client,
    names: &Names,
) -> Result<bool, ProvisionError> {
    let name = names.log_group();
    let Some(group) = find(logs, &name).await? else {
        return Ok(false);
    };
    let arn = group.arn().unwrap_or_default().trim_end_matches(":*");
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .context("ListTagsForResource", arn)?;
    let owned = tags
        .tags()
        .is_some_and(|tags| log_tags::owns(owner(names), tags));
    if !owned {
        tracing::info!(log_group = %name, "log group was not created by this stage; left in place");
        return Ok(false);
    }
    logs.delete_log_group()
        .log_group_name(&name)
        .send()
        .await
        .context("DeleteLogGroup", &name)
        .not_found_as_none()?;
    tracing::info!(log_group = %name, "deleted log group");
    Ok(true)
}
