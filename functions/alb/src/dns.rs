//! Records in the user's Route 53 hosted zone: the certificate's validation CNAME and the alias
//! of the environment's name to the load balancer. The zone is the user's; only records the
//! provisioner wrote are ever changed or deleted.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use provisioner_core::spec::DomainSpec;
use provisioner_core::{changes, AwsContext, ProvisionError};

/// How long resolvers keep the validation record: ACM's own examples use 300 s.
const VALIDATION_TTL: i64 = 300;

/// A name without Route 53's trailing dot, in lower case, for comparisons.
pub fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Checks that the hosted zone exists, is public and holds `domain.name`, before anything is
/// written to it or requested for it.
pub async fn check_zone(
    route53: &aws_sdk_route53::Client,
    domain: &DomainSpec,
) -> Result<(), ProvisionError> {
    let field = "alb.domain.hostedZoneId";
    let zone = match route53
        .get_hosted_zone()
        .id(&domain.hosted_zone_id)
        .send()
        .await
        .context("GetHostedZone", &domain.hosted_zone_id)
    {
        Ok(found) => found,
        Err(e) if matches!(e.aws_code(), Some("NoSuchHostedZone" | "InvalidInput")) => {
            return Err(ProvisionError::request(
                field,
                format!(
                    "hosted zone {} does not exist in this account: {}",
                    domain.hosted_zone_id,
                    e.aws_message().unwrap_or_default()
                ),
            ))
        }
        Err(e) => return Err(e),
    };
    let Some(zone) = zone.hosted_zone() else {
        return Err(ProvisionError::Internal(
            "GetHostedZone answered no zone".into(),
        ));
    };
    let zone_name = normal(zone.name());
    if zone.config().is_some_and(|c| c.private_zone()) {
        return Err(ProvisionError::request(field, format!("hosted zone {} ({zone_name}) is private; ACM validates and users resolve the name through a public zone", domain.hosted_zone_id)));
    }
    let name = normal(&domain.name);
    if name != zone_name && !name.ends_with(&format!(".{zone_name}")) {
        return Err(ProvisionError::request(
            field,
            format!(
                "hosted zone {} is {zone_name}, which does not hold {name}; give the zone of {name}",
                domain.hosted_zone_id
            ),
        ));
    }
    Ok(())
}

/// The record set of `name` and `kind` in the zone, if there is one.
pub async fn find(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    kind: RrType,
) -> Result<Option<ResourceRecordSet>, ProvisionError> {
    let listed = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(kind.clone())
        .max_items(1)
        .send()
        .await
        .context("ListResourceRecordSets", format!("{name} in {zone}"))?;
    Ok(listed
        .resource_record_sets()
        .iter()
        .find(|set| normal(set.name()) == normal(name) && *set.r#type() == kind)
        .cloned())
}

/// One change to one record set. An UPSERT sent twice leaves one record, so a resend after an
/// ambiguous failure is harmless.
async fn change(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    action: ChangeAction,
    set: ResourceRecordSet,
) -> Result<(), ProvisionError> {
    let what = format!("{} {} in {zone}", set.r#type().as_str(), set.name());
    let action_sent = action.clone();
    let batch = ChangeBatch::builder()
        .changes(
            Change::builder()
                .action(action_sent)
                .resource_record_set(set)
                .build()
                .map_err(|e| ProvisionError::Internal(e.to_string()))?,
        )
        .build()
        .map_err(|e| ProvisionError::Internal(e.to_string()))?;
    let sent = route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .context("ChangeResourceRecordSets", what);
    match sent {
        // A delete sent again after an ambiguous failure finds the record gone.
        Err(e)
            if action == ChangeAction::Delete
                && e.aws_code() == Some("InvalidChangeBatch")
                && e.aws_message().is_some_and(|m| m.contains("not found")) =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// The validation CNAME ACM asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cname {
    pub name: String,
    pub value: String,
}

impl Cname {
    /// How it is kept in the stage's outputs: `<name> <value>`.
    pub fn to_output(&self) -> String {
        format!("{} {}", self.name, self.value)
    }

    pub fn from_output(text: &str) -> Option<Self> {
        let (name, value) = text.split_once(' ')?;
        Some(Self {
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    fn set(&self) -> Result<ResourceRecordSet, ProvisionError> {
        ResourceRecordSet::builder()
            .name(&self.name)
            .r#type(RrType::Cname)
            .ttl(VALIDATION_TTL)
            .resource_records(
                ResourceRecord::builder()
                    .value(&self.value)
                    .build()
                    .map_err(|e| ProvisionError::Internal(e.to_string()))?,
            )
            .build()
            .map_err(|e| ProvisionError::Internal(e.to_string()))
    }
}

/// True when the zone has the validation record (the same record validates every certificate
/// of the name in the account, so it may be there from before).
pub async fn has_cname(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    record: &Cname,
) -> Result<bool, ProvisionError> {
    let current = find(route53, zone, &record.name, RrType::Cname).await?;
    Ok(current.as_ref().is_some_and(|set| {
        set.resource_records()
            .iter()
            .any(|r| normal(r.value()) == normal(&record.value))
    }))
}

/// Writes the validation record.
pub async fn write_cname(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    record: &Cname,
) -> Result<(), ProvisionError> {
    let change_of = provisioner_core::Change::create("validation record", &record.name)
        .set("value", &record.value);
    if changes::carry_out(change_of) {
        change(route53, zone, ChangeAction::Upsert, record.set()?).await?;
        tracing::info!(record = %record.name, "wrote the certificate's validation record");
    }
    Ok(())
}

/// Deletes the validation record if it still has the value the provisioner wrote.
pub async fn delete_cname(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    record: &Cname,
) -> Result<(), ProvisionError> {
    let Some(current) = find(route53, zone, &record.name, RrType::Cname).await? else {
        return Ok(());
    };
    let ours = current
        .resource_records()
        .iter()
        .any(|r| normal(r.value()) == normal(&record.value));
    if ours
        && changes::carry_out(provisioner_core::Change::delete(
            "validation record",
            &record.name,
        ))
    {
        change(route53, zone, ChangeAction::Delete, current).await?;
        tracing::info!(record = %record.name, "deleted the certificate's validation record");
    }
    Ok(())
}

/// Where the environment's name points: the load balancer's DNS name and hosted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub load_balancer_dns: String,
    pub load_balancer_zone: String,
}

/// True when an existing A record is an alias to a load balancer named `load_balancer` (its
/// DNS name is `<name>-<id>.<region>.elb.amazonaws.com`, possibly with `dualstack.`): the
/// provisioner's, from this or an earlier load balancer of the environment.
fn points_to(set: &ResourceRecordSet, load_balancer: &str) -> bool {
    set.alias_target().is_some_and(|target| {
        let dns = normal(target.dns_name());
        let dns = dns.strip_prefix("dualstack.").unwrap_or(&dns);
        dns.starts_with(&format!("{}-", load_balancer.to_ascii_lowercase()))
    })
}

fn alias_set(alias: &Alias) -> Result<ResourceRecordSet, ProvisionError> {
    ResourceRecordSet::builder()
        .name(&alias.name)
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id(&alias.load_balancer_zone)
                .dns_name(&alias.load_balancer_dns)
                .evaluate_target_health(false)
                .build()
                .map_err(|e| ProvisionError::Internal(e.to_string()))?,
        )
        .build()
        .map_err(|e| ProvisionError::Internal(e.to_string()))
}

/// The error for a name whose A record is not the provisioner's.
fn name_taken(set: &ResourceRecordSet, name: &str, zone: &str) -> ProvisionError {
    let target = set
        .alias_target()
        .map(|t| t.dns_name().to_string())
        .unwrap_or_else(|| {
            let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
            values.join(", ")
        });
    ProvisionError::request(
        "alb.domain.name",
        format!("{name} already has an A record in hosted zone {zone}, pointing to {target}; delete it or choose another name"),
    )
}

/// Refuses a name whose A record points elsewhere, before anything is made for it.
pub async fn check_name_free(
    route53: &aws_sdk_route53::Client,
    domain: &DomainSpec,
    load_balancer: &str,
) -> Result<(), ProvisionError> {
    let zone = &domain.hosted_zone_id;
    match find(route53, zone, &domain.name, RrType::A).await? {
        Some(set) if !points_to(&set, load_balancer) => Err(name_taken(&set, &domain.name, zone)),
        _ => Ok(()),
    }
}

/// Points the name at the load balancer. A record of the name that points elsewhere is the
/// user's, and is not taken over.
pub async fn ensure_alias(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    alias: &Alias,
    load_balancer: &str,
) -> Result<(), ProvisionError> {
    let current = find(route53, zone, &alias.name, RrType::A).await?;
    if let Some(set) = &current {
        if !points_to(set, load_balancer) {
            return Err(name_taken(set, &alias.name, zone));
        }
        let target = set.alias_target();
        let same = target.is_some_and(|t| {
            normal(t.dns_name()) == normal(&alias.load_balancer_dns)
                && t.hosted_zone_id() == alias.load_balancer_zone
        });
        if same {
            return Ok(());
        }
    }
    let change_of = if current.is_some() {
        provisioner_core::Change::update("alias record", &alias.name)
    } else {
        provisioner_core::Change::create("alias record", &alias.name)
    }
    .set("target", &alias.load_balancer_dns);
    if changes::carry_out(change_of) {
        change(route53, zone, ChangeAction::Upsert, alias_set(alias)?).await?;
        tracing::info!(name = %alias.name, target = %alias.load_balancer_dns, "pointed the name at the load balancer");
    }
    Ok(())
}

/// Deletes the name's A record if it points to the environment's load balancer.
pub async fn delete_alias(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    load_balancer: &str,
) -> Result<(), ProvisionError> {
    let Some(current) = find(route53, zone, name, RrType::A).await? else {
        return Ok(());
    };
    if points_to(&current, load_balancer)
        && changes::carry_out(provisioner_core::Change::delete("alias record", name))
    {
        change(route53, zone, ChangeAction::Delete, current).await?;
        tracing::info!(%name, "deleted the alias record");
    }
    Ok(())
}
