//! How long each wait of the state machine may last. The stage table gives a floor per wait; a
//! spec that asks for slow health checks, a long grace period or a long deregistration delay
//! raises the service's waits so that a valid spec never times out.

use std::collections::BTreeMap;

use crate::spec::EnvironmentSpec;
use crate::stages::{self, StageDef};
use crate::Action;

/// AWS seconds a Fargate task may take from PROVISIONING to RUNNING, image pull included.
const TASK_START_SECONDS: u64 = 300;

/// AWS seconds a task may take to stop once asked (ECS's default stop timeout, then SIGKILL).
const TASK_STOP_SECONDS: u64 = 30;

/// Slack on top of the modelled time: the calls, the polls, AWS being slower than typical.
const SLACK_SECONDS: u64 = 300;

/// The actions that are steps of the state machine.
const STEPS: [Action; 4] = [
    Action::Apply,
    Action::Destroy,
    Action::Redeploy,
    Action::Cleanup,
];

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// How many waves of new tasks a rolling deployment of the spec's service takes: each wave
/// starts as many tasks as maximumPercent leaves room for and minimumHealthyPercent lets stop.
fn waves(spec: &EnvironmentSpec) -> u64 {
    let s = &spec.service;
    let desired = non_negative(s.desired_count);
    if desired == 0 {
        return 0;
    }
    let extra = (desired * non_negative(s.maximum_percent) / 100).saturating_sub(desired);
    let may_stop =
        desired.saturating_sub((desired * non_negative(s.minimum_healthy_percent)).div_ceil(100));
    desired.div_ceil((extra + may_stop).max(1))
}

/// AWS seconds one rolling deployment of the spec's service may take: per wave, the new tasks
/// start, pass the grace period and the healthy threshold, then the old ones drain.
pub fn rollout_seconds(spec: &EnvironmentSpec) -> u64 {
    let hc = &spec.alb.health_check;
    let healthy =
        non_negative(hc.healthy_threshold) * non_negative(hc.interval_seconds + hc.timeout_seconds);
    let per_wave = TASK_START_SECONDS
        + non_negative(spec.service.health_check_grace_period_seconds)
        + healthy
        + non_negative(spec.alb.deregistration_delay_seconds);
    waves(spec).max(1) * per_wave
}

/// AWS seconds the wait of `stage`'s `action` may last for `spec` (the table's floor when no
/// spec is known, as for a destroy whose spec is gone).
pub fn seconds(stage: &StageDef, action: Action, spec: Option<&EnvironmentSpec>) -> Option<u64> {
    let poll = stages::poll_of(stage, action)?;
    let floor = u64::from(poll.budget_seconds()?);
    let Some(spec) = spec.filter(|_| stage.name == stages::SERVICE.name) else {
        return Some(floor);
    };
    let needed = match action {
        // A failed rollout is rolled back by the circuit breaker: a second rollout.
        Action::Apply | Action::Redeploy => 2 * rollout_seconds(spec) + SLACK_SECONDS,
        _ => {
            non_negative(spec.alb.deregistration_delay_seconds) + TASK_STOP_SECONDS + SLACK_SECONDS
        }
    };
    Some(floor.max(needed))
}

/// The AWS seconds each wait loop may wait in all, by the name of its step (`ServiceApply`):
/// enough for the slowest of `specs` (one execution redeploys every environment that runs a
/// pushed image), the table's floors when there is none. The state machine adds up the waits
/// the stage asked for and stops the loop once they reach the budget.
pub fn budgets(specs: &[EnvironmentSpec]) -> BTreeMap<String, u32> {
    let specs: Vec<Option<&EnvironmentSpec>> = if specs.is_empty() {
        vec![None]
    } else {
        specs.iter().map(Some).collect()
    };
    let clamp = |seconds: u64| u32::try_from(seconds).unwrap_or(u32::MAX);
    let mut budgets = BTreeMap::new();
    // Another execution holding the environment's lease takes at most all the waits together.
    let mut everything = 0;
    for stage in stages::STAGES {
        for action in STEPS {
            let longest = specs
                .iter()
                .filter_map(|s| seconds(stage, action, *s))
                .max();
            if let Some(seconds) = longest {
                budgets.insert(stages::state_name(stage, action), clamp(seconds));
                everything += seconds;
            }
        }
    }
    budgets.insert(stages::states::LEASE.to_string(), clamp(everything));
    budgets
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> EnvironmentSpec {
        let mut base = json!({"name": "x", "service": {
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1"}});
        for (section, fields) in extra.as_object().unwrap() {
            for (k, v) in fields.as_object().unwrap() {
                base[section.as_str()][k.as_str()] = v.clone();
            }
        }
        EnvironmentSpec::from_json(&base, "us-east-1").unwrap()
    }

    #[test]
    fn the_reference_spec_keeps_the_tables_floors() {
        let reference = spec(json!({}));
        for stage in stages::STAGES {
            for action in STEPS {
                assert_eq!(
                    seconds(stage, action, Some(&reference)),
                    seconds(stage, action, None),
                    "{} {action:?}",
                    stage.name
                );
            }
        }
    }

    #[test]
    fn slow_health_checks_and_long_drains_raise_the_service_waits() {
        let slow = spec(json!({
            "alb": {"deregistrationDelaySeconds": 3600,
                    "healthCheck": {"intervalSeconds": 300, "timeoutSeconds": 120, "healthyThreshold": 10}},
            "service": {"healthCheckGracePeriodSeconds": 3600, "desiredCount": 4,
                        "minimumHealthyPercent": 100, "maximumPercent": 150}
        }));
        // Two waves of two tasks, each: start, grace, 10 x 420 s healthy, 3600 s drain.
        let wave = TASK_START_SECONDS + 3600 + 4200 + 3600;
        assert_eq!(waves(&slow), 2);
        assert_eq!(rollout_seconds(&slow), 2 * wave);
        let apply = seconds(&stages::SERVICE, Action::Apply, Some(&slow)).unwrap();
        assert!(apply >= 4 * wave, "{apply}");
        let redeploy = seconds(&stages::SERVICE, Action::Redeploy, Some(&slow)).unwrap();
        assert_eq!(redeploy, apply);
        let destroy = seconds(&stages::SERVICE, Action::Destroy, Some(&slow)).unwrap();
        assert!(destroy >= 3600 + TASK_STOP_SECONDS, "{destroy}");
        // Other stages do not depend on the service's settings.
        assert_eq!(
            seconds(&stages::ALB, Action::Apply, Some(&slow)),
            seconds(&stages::ALB, Action::Apply, None)
        );
        let reference = spec(json!({}));
        let budgets = budgets(&[reference.clone(), slow]);
        assert_eq!(budgets["ServiceApply"], u32::try_from(apply).unwrap());
        assert_eq!(
            budgets["EndpointsApply"],
            super::budgets(&[reference])["EndpointsApply"]
        );
    }

    #[test]
    fn one_task_at_a_time_is_one_wave_per_task() {
        let careful = spec(
            json!({"service": {"desiredCount": 3, "minimumHealthyPercent": 100,
                                              "maximumPercent": 134}}),
        );
        assert_eq!(waves(&careful), 3);
    }
}
