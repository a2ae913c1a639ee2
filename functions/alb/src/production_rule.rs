//! The production listener rule of blue/green, canary and linear rollouts: on the listener that
//! forwards, every path goes to the two target groups with weights. ECS owns the weights: it
//! shifts them during each deployment, so `apply` makes the rule and keeps its two target groups
//! but never sets the weights back (Terraform and CDK users meet that drift:
//! terraform-provider-aws#43905, terraform-aws-modules/terraform-aws-alb#409).

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, PathPatternConditionConfig, Rule, RuleCondition,
    TargetGroupTuple,
};
use provisioner_core::tags::elb;
use provisioner_core::{changes, AwsContext, Change, Names, NotFoundAsNone, ProvisionError};

use crate::owner;

pub const ROLE: &str = "production-rule";
/// The rule's priority on its listener: one rule of the environment's has it.
pub const PRIORITY: i32 = 10;

/// The two target groups a rule forwards to, with their weights (ARN, weight).
fn weights(rule: &Rule) -> Vec<(String, i32)> {
    rule.actions()
        .iter()
        .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .flat_map(|a| match a.forward_config() {
            Some(config) => config
                .target_groups()
                .iter()
                .filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight().unwrap_or(1))))
                .collect::<Vec<_>>(),
            None => a
                .target_group_arn()
                .map(|arn| vec![(arn.to_string(), 1)])
                .unwrap_or_default(),
        })
        .collect()
}

fn forward(weights: &[(String, i32)]) -> Action {
    let groups = weights
        .iter()
        .map(|(arn, weight)| {
            TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(*weight)
                .build()
        })
        .collect();
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(groups))
                .build(),
        )
        .build()
}

/// The environment's rule on that listener, if it has one.
async fn find(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    listener_arn: &str,
) -> Result<Option<Rule>, ProvisionError> {
    if changes::is_new(listener_arn) {
        return Ok(None);
    }
    let out = elb
        .describe_rules()
        .listener_arn(listener_arn)
        .send()
        .await
        .context("DescribeRules", listener_arn)
        .not_found_as_none()?;
    let priority = PRIORITY.to_string();
    Ok(out.and_then(|o| {
        o.rules()
            .iter()
            .find(|r| r.priority() == Some(priority.as_str()))
            .cloned()
    }))
}

/// Makes the rule on `forwarding` (the listener whose default action forwards) forward to
/// `primary` and `alternate`, and removes it from `others`. A rule that moves (HTTP forwarded
/// until a certificate was issued) keeps the weights ECS set. Returns its ARN.
pub async fn ensure(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    names: &Names,
    forwarding: &str,
    others: &[String],
    primary: &str,
    alternate: &str,
) -> Result<String, ProvisionError> {
    let groups: BTreeSet<&str> = [primary, alternate].into();
    let fresh = vec![(primary.to_string(), 100), (alternate.to_string(), 0)];
    let ours =
        |w: &[(String, i32)]| w.iter().map(|(a, _)| a.as_str()).collect::<BTreeSet<_>>() == groups;
    let mut moved = None;
    for other in others {
        if let Some(rule) = find(elb, other).await? {
            let arn = rule.rule_arn().unwrap_or_default().to_string();
            moved = Some(weights(&rule)).filter(|w| ours(w));
            let change = Change::delete("listener rule", &arn)
                .because("its listener no longer forwards; the rule moves to the one that does");
            if changes::carry_out(change) {
                delete(elb, &arn).await?;
            }
        }
    }
    if let Some(rule) = find(elb, forwarding).await? {
        let arn = rule.rule_arn().unwrap_or_default().to_string();
        let live = weights(&rule);
        if !ours(&live) {
            let change = Change::update("listener rule", &arn).field(
                "forward",
                describe(&live),
                describe(&fresh),
            );
            if changes::carry_out(change) {
                elb.modify_rule()
                    .rule_arn(&arn)
                    .actions(forward(&fresh))
                    .send()
                    .await
                    .context("ModifyRule", &arn)?;
                tracing::info!(rule = %arn, "corrected the production rule's target groups");
            }
        }
        return Ok(arn);
    }
    let weights = moved.unwrap_or(fresh);
    let change = Change::create("listener rule", format!("priority {PRIORITY}"))
        .set("path", "/*")
        .set("forward", describe(&weights));
    if !changes::carry_out(change) {
        return Ok(changes::new_id("production listener rule"));
    }
    let created = elb
        .create_rule()
        .listener_arn(forwarding)
        .priority(PRIORITY)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/*").build())
                .build(),
        )
        .actions(forward(&weights))
        .set_tags(Some(elb::on_create(owner(names), ROLE)))
        .send()
        .await
        .context("CreateRule", forwarding);
    let arn = match created {
        Ok(out) => out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_string(),
        // A resend of a create that took effect (CreateRule takes no token): the rule is there.
        Err(e) if e.aws_code() == Some("PriorityInUse") => match find(elb, forwarding).await? {
            Some(rule) => rule.rule_arn().unwrap_or_default().to_string(),
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    tracing::info!(rule = %arn, "created the production listener rule");
    Ok(arn)
}

/// `tg-a 100, tg-b 0`, for a plan.
fn describe(weights: &[(String, i32)]) -> String {
    weights
        .iter()
        .map(|(arn, w)| format!("{arn} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Removes the environment's rule from each listener that has one.
pub async fn remove(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    listeners: &[String],
) -> Result<(), ProvisionError> {
    for listener in listeners {
        if let Some(rule) = find(elb, listener).await? {
            let arn = rule.rule_arn().unwrap_or_default().to_string();
            let change = Change::delete("listener rule", &arn).because("the rollout is ROLLING");
            if changes::carry_out(change) {
                delete(elb, &arn).await?;
            }
        }
    }
    Ok(())
}

async fn delete(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<(), ProvisionError> {
    elb.delete_rule()
        .rule_arn(arn)
        .send()
        .await
        .context("DeleteRule", arn)
        .not_found_as_none()?;
    tracing::info!(rule = %arn, "deleted listener rule");
    Ok(())
}
