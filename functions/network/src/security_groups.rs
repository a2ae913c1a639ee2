//! The three security groups and exactly their ingress rules (the reference design):
//! sec-alb: the listener port(s) from anywhere; sec-web-via-alb: the container port from sec-alb only;
//! sec-privatelink: 443 from sec-web-via-alb only. Any other ingress rule is removed.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair};
use provisioner_core::tags::ec2::{filter, on_create, owned, role_of};
use provisioner_core::{
    changes, exactly_once, no_blind_resend, settle_all, AwsContext, Change, EnvironmentSpec, Names,
    NotFoundAsNone, ProvisionError,
};

use crate::owner;

pub const ALB_ROLE: &str = "sec-alb";
pub const WEB_ROLE: &str = "sec-web-via-alb";
pub const PRIVATELINK_ROLE: &str = "sec-privatelink";
pub const HTTPS: i32 = 443;
pub const ANYWHERE: &str = "0.0.0.0/0";

const GROUPS: [(&str, &str); 3] = [
    (ALB_ROLE, "Load balancer: listener ports from anywhere"),
    (
        WEB_ROLE,
        "Tasks: container port from the load balancer only",
    ),
    (PRIVATELINK_ROLE, "VPC endpoints: HTTPS from the tasks only"),
];

/// Where traffic may come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Ipv6Cidr(String),
    Group(String),
    PrefixList(String),
}

/// One ingress rule, as AWS stores it once flattened (one source per rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

impl Rule {
    fn tcp(port: i32, source: Source) -> Self {
        Rule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            source,
        }
    }

    /// `tcp 443 from sg-0123`, as a plan shows it.
    fn describe(&self) -> String {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        let source = match &self.source {
            Source::Cidr(c) | Source::Ipv6Cidr(c) | Source::Group(c) | Source::PrefixList(c) => c,
        };
        format!("{} {ports} from {source}", self.protocol)
    }

    fn to_permission(&self, description: &str) -> IpPermission {
        let p = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .from_port(self.from_port)
            .to_port(self.to_port);
        match &self.source {
            Source::Cidr(c) => p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .description(description)
                    .build(),
            ),
            Source::Group(g) => p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .description(description)
                    .build(),
            ),
            Source::Ipv6Cidr(c) => p.ipv6_ranges(
                aws_sdk_ec2::types::Ipv6Range::builder()
                    .cidr_ipv6(c)
                    .build(),
            ),
            Source::PrefixList(id) => p.prefix_list_ids(
                aws_sdk_ec2::types::PrefixListId::builder()
                    .prefix_list_id(id)
                    .build(),
            ),
        }
        .build()
    }
}

/// The rules AWS holds for a group, one per source.
pub fn current_rules(group: &SecurityGroup) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for p in group.ip_permissions() {
        let base = |source| Rule {
            protocol: p.ip_protocol().unwrap_or("-1").to_string(),
            from_port: p.from_port().unwrap_or(-1),
            to_port: p.to_port().unwrap_or(-1),
            source,
        };
        rules.extend(
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .map(|c| base(Source::Cidr(c.into()))),
        );
        rules.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6())
                .map(|c| base(Source::Ipv6Cidr(c.into()))),
        );
        rules.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id())
                .map(|g| base(Source::Group(g.into()))),
        );
        rules.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|l| l.prefix_list_id())
                .map(|l| base(Source::PrefixList(l.into()))),
        );
    }
    rules
}

/// The ingress rules each group must have, by role, given the group ids.
pub fn wanted_rules(
    spec: &EnvironmentSpec,
    ids: &BTreeMap<&str, String>,
) -> BTreeMap<&'static str, BTreeSet<Rule>> {
    let mut alb = BTreeSet::from([Rule::tcp(
        spec.alb.listener_port as i32,
        Source::Cidr(ANYWHERE.into()),
    )]);
    if spec.alb.serves_https() {
        alb.insert(Rule::tcp(HTTPS, Source::Cidr(ANYWHERE.into())));
    }
    BTreeMap::from([
        (ALB_ROLE, alb),
        (
            WEB_ROLE,
            BTreeSet::from([Rule::tcp(
                spec.service.container_port as i32,
                Source::Group(ids[ALB_ROLE].clone()),
            )]),
        ),
        (
            PRIVATELINK_ROLE,
            BTreeSet::from([Rule::tcp(HTTPS, Source::Group(ids[WEB_ROLE].clone()))]),
        ),
    ])
}

/// The stage's security groups, by role.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: Option<&str>,
) -> Result<BTreeMap<String, SecurityGroup>, ProvisionError> {
    if vpc_id.is_some_and(changes::is_new) {
        return Ok(BTreeMap::new());
    }
    let mut filters = owned(owner(names));
    if let Some(vpc_id) = vpc_id {
        filters.push(filter("vpc-id", vpc_id));
    }
    let out = ec2
        .describe_security_groups()
        .set_filters(Some(filters))
        .send()
        .await
        .context("DescribeSecurityGroups", names.environment())?;
    Ok(out
        .security_groups()
        .iter()
        .filter_map(|g| Some((role_of(g.tags())?.to_string(), g.clone())))
        .collect())
}

/// Makes the three groups exist with exactly their rules. Returns group ids by role.
/// The environment's security groups, found or created, without their rules yet: see
/// [`ensure_rules`].
pub async fn ensure(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
) -> Result<Groups, ProvisionError> {
    // A VPC this request made holds none yet. (After an ambiguous create, `create` still looks.)
    let existing = if changes::is_fresh(vpc_id) {
        BTreeMap::new()
    } else {
        find(ec2, names, Some(vpc_id)).await?
    };
    let groups = settle_all(GROUPS.iter().map(|(role, description)| {
        let found = existing.get(*role).cloned();
        async move {
            let group = match found {
                Some(g) => g,
                None => create(ec2, names, vpc_id, role, description).await?,
            };
            Ok::<_, ProvisionError>((*role, group))
        }
    }))
    .await?;
    let ids = groups
        .iter()
        .map(|(role, g)| (*role, g.group_id().unwrap_or_default().to_string()))
        .collect();
    Ok(Groups { groups, ids })
}

/// The security groups by role, as found or created, and their ids.
pub struct Groups {
    groups: Vec<(&'static str, SecurityGroup)>,
    pub ids: BTreeMap<&'static str, String>,
}

/// Makes each group's inbound rules the spec's. Run once the groups are a few seconds old: a
/// rule naming a group EC2 does not know everywhere yet fails with `InvalidGroup.NotFound` and is
/// sent again.
pub async fn ensure_rules(
    ec2: &aws_sdk_ec2::Client,
    Groups { groups, ids }: &Groups,
    spec: &EnvironmentSpec,
) -> Result<(), ProvisionError> {
    let wanted = wanted_rules(spec, ids);
    settle_all(groups.iter().map(|(role, group)| {
        let description = GROUPS
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, d)| *d)
            .unwrap_or_default();
        reconcile_rules(ec2, group, &wanted[role], description)
    }))
    .await?;
    Ok(())
}

async fn create(
    ec2: &aws_sdk_ec2::Client,
    names: &Names,
    vpc_id: &str,
    role: &str,
    description: &str,
) -> Result<SecurityGroup, ProvisionError> {
    let name = names.security_group(role);
    if !changes::carry_out(Change::create("security group", &name).set("description", description))
    {
        return Ok(SecurityGroup::builder()
            .group_id(changes::new_id(&name))
            .group_name(&name)
            .build());
    }
    let found = || async { Ok(find(ec2, names, Some(vpc_id)).await?.remove(role)) };
    // No client token: after an ambiguous failure, look before resending.
    let create = || async {
        let sent = ec2
            .create_security_group()
            .group_name(&name)
            .description(description)
            .vpc_id(vpc_id)
            .tag_specifications(on_create(owner(names), ResourceType::SecurityGroup, role))
            .customize()
            .config_override(no_blind_resend!(aws_sdk_ec2))
            .send()
            .await
            .context("CreateSecurityGroup", &name);
        match sent {
            // A new group has no ingress rules.
            Ok(out) => Ok(SecurityGroup::builder()
                .group_id(out.group_id().unwrap_or_default())
                .group_name(&name)
                .build()),
            // The name is taken: by our own earlier attempt, which the lookup did not see yet,
            // or by someone else's group, which stays theirs.
            Err(e) if e.aws_code() == Some("InvalidGroup.Duplicate") => match found().await? {
                Some(ours) => Ok(ours),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    };
    let group =
        exactly_once::create_or_find(&name, ec2.config().sleep_impl(), create, found).await?;
    tracing::info!(security_group = %group.group_id().unwrap_or_default(), %name, "created security group");
    Ok(group)
}

/// Authorizes what is missing and revokes what is extra, one call each and only when needed.
async fn reconcile_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &SecurityGroup,
    wanted: &BTreeSet<Rule>,
    description: &str,
) -> Result<(), ProvisionError> {
    let group_id = group.group_id().unwrap_or_default();
    let current = current_rules(group);
    let (extra, missing): (Vec<&Rule>, Vec<&Rule>) = (
        current.difference(wanted).collect(),
        wanted.difference(&current).collect(),
    );
    if extra.is_empty() && missing.is_empty() {
        return Ok(());
    }
    let name = group.group_name().unwrap_or(group_id);
    // A group a plan would create gets its rules as part of it.
    let mut change = if changes::is_new(group_id) {
        Change::create("ingress rules of", name)
    } else {
        Change::update("security group", name)
    };
    for rule in &extra {
        change = change.field("ingress", rule.describe(), "(none)");
    }
    for rule in &missing {
        change = change.set("ingress", rule.describe());
    }
    if !changes::carry_out(change) {
        return Ok(());
    }
    let permissions = |rules: Vec<&Rule>| -> Vec<IpPermission> {
        rules.iter().map(|r| r.to_permission(description)).collect()
    };
    let (extra, missing) = (permissions(extra), permissions(missing));
    if !extra.is_empty() {
        tracing::info!(security_group = %group_id, rules = extra.len(), "revoking ingress rules the design does not allow");
        ec2.revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(extra))
            .send()
            .await
            .context("RevokeSecurityGroupIngress", group_id)
            .gone_is_fine()?;
    }
    if !missing.is_empty() {
        // A resend of an authorize AWS applied answers that the rule exists.
        let authorized = ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(missing))
            .send()
            .await
            .context("AuthorizeSecurityGroupIngress", group_id)
            .map(|_| ());
        exactly_once::already_done(authorized, &["InvalidPermission.Duplicate"])?;
    }
    Ok(())
}

/// Revokes every ingress rule of a group: the groups reference each other, and AWS refuses to
/// delete a group another group's rule points at.
pub async fn revoke_all(
    ec2: &aws_sdk_ec2::Client,
    group: &SecurityGroup,
) -> Result<(), ProvisionError> {
    let group_id = group.group_id().unwrap_or_default();
    if group.ip_permissions().is_empty() {
        return Ok(());
    }
    ec2.revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(group.ip_permissions().to_vec()))
        .send()
        .await
        .context("RevokeSecurityGroupIngress", group_id)
        .gone_is_fine()
}
