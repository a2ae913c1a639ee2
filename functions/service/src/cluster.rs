//! The environment's ECS cluster, with the FARGATE and FARGATE_SPOT capacity providers.

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, Cluster, ClusterField};
use provisioner_core::{
    changes, not_yet, AwsContext, Change, Names, NotFoundAsNone, ProvisionError,
};

use provisioner_core::tags::ecs;

use crate::owner;

pub const ROLE: &str = "cluster";
const CAPACITY_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

fn default_strategy() -> Result<CapacityProviderStrategyItem, ProvisionError> {
    CapacityProviderStrategyItem::builder()
        .capacity_provider("FARGATE")
        .weight(1)
        .build()
        .map_err(|e| ProvisionError::internal("capacity provider strategy", e))
}

/// The cluster of that name when it is ACTIVE.
pub async fn find(
    ecs: &aws_sdk_ecs::Client,
    names: &Names,
) -> Result<Option<Cluster>, ProvisionError> {
    let name = names.cluster();
    let out = ecs
        .describe_clusters()
        .clusters(&name)
        .include(ClusterField::Tags)
        .send()
        .await
        .context("DescribeClusters", &name)?;
    Ok(out
        .clusters()
        .iter()
        .find(|c| c.status() == Some("ACTIVE"))
        .cloned())
}

/// Creates the cluster or adopts it, adding the Fargate capacity providers when missing.
pub async fn ensure(ecs: &aws_sdk_ecs::Client, names: &Names) -> Result<String, ProvisionError> {
    let name = names.cluster();
    let Some(cluster) = find(ecs, names).await? else {
        let change = Change::create("ECS cluster", &name)
            .set("capacity providers", CAPACITY_PROVIDERS.join(", "));
        if !changes::carry_out(change) {
            return Ok(changes::new_id(&format!("ECS cluster {name}")));
        }
        let created = ecs
            .create_cluster()
            .cluster_name(&name)
            .set_capacity_providers(Some(CAPACITY_PROVIDERS.map(String::from).to_vec()))
            .default_capacity_provider_strategy(default_strategy()?)
            .set_tags(Some(ecs::on_create(owner(names), ROLE)))
            // A new account's first cluster waits for ECS's service-linked role to propagate.
            .customize()
            .config_override(
                aws_sdk_ecs::config::Builder::default()
                    .retry_config(not_yet::LINKED_ROLE_PROPAGATING.retries())
                    .retry_classifier(not_yet::LINKED_ROLE_PROPAGATING),
            )
            .send()
            .await
            .context("CreateCluster", &name)?;
        let arn = created
            .cluster()
            .and_then(|c| c.cluster_arn())
            .unwrap_or_default()
            .to_string();
        changes::made(&arn);
        tracing::info!(cluster = %arn, "created cluster");
        return Ok(arn);
    };
    let arn = cluster.cluster_arn().unwrap_or_default().to_string();
    let has_all = CAPACITY_PROVIDERS
        .iter()
        .all(|p| cluster.capacity_providers().iter().any(|c| c == p));
    let change = || {
        Change::update("ECS cluster", &name).field(
            "capacity providers",
            cluster.capacity_providers().join(", "),
            CAPACITY_PROVIDERS.join(", "),
        )
    };
    if !has_all && changes::carry_out(change()) {
        ecs.put_cluster_capacity_providers()
            .cluster(&name)
            .set_capacity_providers(Some(CAPACITY_PROVIDERS.map(String::from).to_vec()))
            .default_capacity_provider_strategy(default_strategy()?)
            .send()
            .await
            .context("PutClusterCapacityProviders", &name)?;
        tracing::info!(cluster = %arn, "added the Fargate capacity providers");
    }
    Ok(arn)
}

/// Deletes the cluster when the stage created it; already gone is fine.
pub async fn delete(ecs: &aws_sdk_ecs::Client, names: &Names) -> Result<bool, ProvisionError> {
    let Some(cluster) = find(ecs, names).await? else {
        return Ok(false);
    };
    if !ecs::owns(owner(names), cluster.tags()) {
        tracing::info!(cluster = ?cluster.cluster_arn(), "cluster was not created by this stage; left in place");
        return Ok(false);
    }
    let name = names.cluster();
    ecs.delete_cluster()
        .cluster(&name)
        .send()
        .await
        .context("DeleteCluster", &name)
        .not_found_as_none()?;
    tracing::info!(cluster = %name, "deleted cluster");
    Ok(true)
}
