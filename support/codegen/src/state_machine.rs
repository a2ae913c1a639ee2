//! The state machine, generated from the stage table: Prepare routes each execution to the
//! apply, destroy or redeploy path; each path runs the stages in the table's order, side by side
//! where the table allows; every wait is the same loop; every failure ends in ReportFailure.

use provisioner_core::stages::{self, Function, Poll, StageDef, CONTROL};
use provisioner_core::Action;
use serde_json::{json, Map, Value};

/// Where SAM reads the definition (template.yaml's `DefinitionUri`).
pub const PATH: &str = "statemachine/provisioner.asl.json";

use provisioner_core::stages::states::{
    FIND_REDEPLOY_TARGETS, FORGET, HAS_ENVIRONMENT, LEASE, LEASE_COUNT, LEASE_HELD, LEASE_POLLS,
    LEASE_TIMED_OUT, LEASE_WAIT, PLAN, PREPARE, REDEPLOY_EACH, REPORT_FAILURE, REPORT_SUCCESS,
    ROUTE,
};
const DONE: &str = "Done";
/// The prefix of the lease states inside a redeploy's Map iteration.
const REDEPLOY_PREFIX: &str = "Redeploy";
const FAILED: &str = "Failed";
/// Where the apply path keeps the groundwork's answers, by stage name.
const GROUNDWORK: &str = "groundwork";

/// Errors worth another attempt: a stage's own `Retryable` and Lambda's service errors.
const TRANSIENT: [&str; 5] = [
    "Retryable",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// A function that crashed (`Runtime.ExitError`, `Lambda.Unknown` for one killed out of memory)
/// or ran out of time (`Sandbox.Timedout`). Every action converges when run again after a crash
/// at any call, and each run keeps what the last one made, so these get more attempts, closer
/// together: about four minutes in all before the step fails.
const DIED: [&str; 3] = ["Lambda.Unknown", "Runtime.ExitError", "Sandbox.Timedout"];

/// Where a step sits: at the top level, where a failure goes to ReportFailure, or in a branch of
/// a Parallel or Map, where a failure ends the branch and the Parallel's or Map's Catch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Branch,
}

#[derive(Default)]
struct States(Map<String, Value>);

impl States {
    fn add(&mut self, name: &str, state: Value) {
        let previous = self.0.insert(name.to_string(), state);
        assert!(previous.is_none(), "state {name} is defined twice");
    }
}

fn resource(function: Function) -> String {
    format!("${{{}}}", function.substitution())
}

/// The one retry policy of every task. A teardown also waits out `DependencyViolation`: network
/// interfaces that AWS releases some minutes after their owner is deleted.
fn retry(action: Action) -> Value {
    let mut policies = vec![
        json!({
            "ErrorEquals": TRANSIENT,
            "IntervalSeconds": 2,
            "MaxAttempts": 5,
            "BackoffRate": 2.0
        }),
        json!({
            "ErrorEquals": DIED,
            "IntervalSeconds": 3,
            "MaxAttempts": 10,
            "BackoffRate": 1.5
        }),
    ];
    if matches!(action, Action::Destroy | Action::Cleanup) {
        policies.push(json!({
            "ErrorEquals": ["DependencyViolation"],
            "IntervalSeconds": 20,
            "MaxAttempts": 30,
            "BackoffRate": 1.0
        }));
    }
    Value::Array(policies)
}

fn catch_into_report() -> Value {
    json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": REPORT_FAILURE}])
}

fn task(
    function: Function,
    parameters: Value,
    result_path: Value,
    action: Action,
    place: Place,
    next: &str,
) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": resource(function),
        "Parameters": parameters,
        "ResultPath": result_path,
        "Retry": retry(action),
        "Next": next
    });
    if place == Place::Top {
        state["Catch"] = catch_into_report();
    }
    state
}

fn stage_request(stage: &StageDef, action: Action) -> Value {
    // The execution id keys the client tokens of the stage's creates: a step run again after a
    // crash resends the same tokens, so AWS answers with what the first run made.
    let mut request = json!({
        "action": action.as_str(),
        "environment.$": "$.request.environment",
        "execution.$": "$$.Execution.Id",
        "pollSeconds.$": "$.request.pollSeconds"
    });
    if action == Action::Status {
        // The stage's last answer carries its outputs: no need to read them again.
        request["outputs.$"] = json!("$.stage.outputs");
    }
    if action == Action::Apply && stage.groundwork {
        // What its groundwork made, kept by the apply path (`apply_path`): found, not looked for.
        request["outputs.$"] = json!(format!("$.{GROUNDWORK}.{}", stage.name));
    }
    if action == Action::Redeploy {
        request["image.$"] = json!("$.image");
        request["pushedAt.$"] = json!("$.pushedAt");
    }
    request
}

/// A stage's step, and when it waits, its loop:
/// `{Step}` → `{Step}Polls` → `{Step}Ready` → (`{Step}Count` → `{Step}Wait` → `{Step}Poll` →
/// `{Step}Ready`)* → `next`, or `{Step}TimedOut` once the waits reach the budget (AWS seconds)
/// Prepare computed. Each wait lasts what the stage's last answer asked for (`waitSeconds`: the
/// brisk poll interval, or longer while what it awaits cannot be done yet). A `blocked` answer
/// runs the action itself again after its wait (`{Step}Which` → `{Step}Again`).
/// Returns the name of its first state.
fn stage_step(
    states: &mut States,
    stage: &StageDef,
    action: Action,
    poll: Poll,
    place: Place,
    next: &str,
) -> String {
    let step = stages::state_name(stage, action);
    let (polls, ready, wait, poll_state, count, timed_out) = (
        format!("{step}Polls"),
        format!("{step}Ready"),
        format!("{step}Wait"),
        format!("{step}Poll"),
        format!("{step}Count"),
        format!("{step}TimedOut"),
    );
    // A task of the stage's function asking for `requested`; retried as `action`'s are.
    let stage_task = |requested: Action, next: &str| {
        task(
            stage.function,
            stage_request(stage, requested),
            json!("$.stage"),
            action,
            place,
            next,
        )
    };
    let poll_action = match poll {
        Poll::None => {
            states.add(&step, stage_task(action, next));
            return step;
        }
        Poll::Status { .. } => Action::Status,
        Poll::Repeat { .. } => action,
    };
    states.add(&step, stage_task(action, &polls));
    states.add(
        &polls,
        json!({"Type": "Pass", "Result": {"n": 0}, "ResultPath": "$.polls", "Next": ready}),
    );
    states.add(
        &ready,
        json!({"Type": "Choice", "Choices": [
            {"Variable": "$.stage.state", "StringEquals": "ready", "Next": next},
            {"Variable": "$.polls.n", "NumericGreaterThanEqualsPath": format!("$.request.budgets.{step}"), "Next": timed_out}
        ], "Default": count}),
    );
    states.add(
        &count,
        json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.polls.n, $.stage.waitSeconds)"}, "ResultPath": "$.polls", "Next": wait}),
    );
    // A loop that polls `status` runs the action again when it answers `blocked`; a loop that
    // repeats the action does so anyway.
    let after_wait = if poll_action != action {
        let (which, again) = (format!("{step}Which"), format!("{step}Again"));
        states.add(
            &which,
            json!({"Type": "Choice", "Choices": [
                {"Variable": "$.stage.state", "StringEquals": "blocked", "Next": again}
            ], "Default": poll_state}),
        );
        states.add(&again, stage_task(action, &ready));
        which
    } else {
        poll_state.clone()
    };
    states.add(
        &wait,
        json!({"Type": "Wait", "SecondsPath": "$.stage.waitSeconds", "Next": after_wait}),
    );
    states.add(&poll_state, stage_task(poll_action, &ready));
    let cause = format!(
        "States.Format('{step} did not finish within its wait budget; last status: {{}}', $.stage.message)"
    );
    match place {
        Place::Branch => states.add(
            &timed_out,
            json!({"Type": "Fail", "Error": "Timeout", "CausePath": cause}),
        ),
        Place::Top => states.add(
            &timed_out,
            json!({
                "Type": "Pass",
                "Parameters": {"Error": "Timeout", "Cause.$": cause},
                "ResultPath": "$.error",
                "Next": REPORT_FAILURE
            }),
        ),
    }
    step
}

/// One stage's step in a group: the stage, what it is asked, and how its answer is awaited.
#[derive(Clone, Copy)]
struct Step {
    stage: &'static StageDef,
    action: Action,
    poll: Poll,
}

/// One group of the table's order: a single step runs in line; several run as a Parallel whose
/// branches end in Succeed. Returns the name of the group's first state.
fn group_step(states: &mut States, group: &[Step], place: Place, next: &str) -> String {
    if let [step] = group {
        return stage_step(states, step.stage, step.action, step.poll, place, next);
    }
    let titles: Vec<&str> = group.iter().map(|s| s.stage.title).collect();
    let first = group[0];
    // `EndpointsAndAlbApply`; steps asked different things name each: `NetworkApplyAndServiceGroundwork`.
    let name = if group.iter().all(|s| s.action == first.action) {
        format!(
            "{}{}",
            titles.join("And"),
            stages::state_name(first.stage, first.action).trim_start_matches(first.stage.title)
        )
    } else {
        group
            .iter()
            .map(|s| stages::state_name(s.stage, s.action))
            .collect::<Vec<_>>()
            .join("And")
    };
    let branches: Vec<Value> = group
        .iter()
        .map(|step| {
            let mut branch = States::default();
            let done = format!("{}Done", stages::state_name(step.stage, step.action));
            let start = stage_step(
                &mut branch,
                step.stage,
                step.action,
                step.poll,
                Place::Branch,
                &done,
            );
            branch.add(&done, json!({"Type": "Succeed"}));
            json!({"StartAt": start, "States": branch.0})
        })
        .collect();
    let mut parallel = json!({
        "Type": "Parallel",
        "Comment": format!("{} depend only on earlier stages: they run side by side.", titles.join(" and ")),
        "Branches": branches,
        "ResultPath": null,
        "Next": next
    });
    // In a branch, a failure ends the branch; the enclosing Parallel's Catch reports it.
    if place == Place::Top {
        parallel["Catch"] = catch_into_report();
    }
    states.add(&name, parallel);
    name
}

/// The groups of `order`, each stage asked `action`.
fn steps_of(
    order: &[Vec<&'static StageDef>],
    action: Action,
    poll_of: impl Fn(&StageDef) -> Poll,
) -> Vec<Vec<Step>> {
    order
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|&stage| Step {
                    stage,
                    action,
                    poll: poll_of(stage),
                })
                .collect()
        })
        .collect()
}

/// The groups, chained, ending at `last`. Returns the first state.
fn chain(states: &mut States, groups: &[Vec<Step>], place: Place, last: &str) -> String {
    groups.iter().rev().fold(last.to_string(), |next, group| {
        group_step(states, group, place, &next)
    })
}

/// The apply path: the table's order. A stage with groundwork has it made beside every stage
/// before it (one branch runs those stages, one branch per groundwork), and its apply is handed
/// what the groundwork answered (`$.groundwork.<stage>`).
fn apply_path(states: &mut States, last: &str) -> String {
    let groups = steps_of(&stages::apply_order(), Action::Apply, |s| s.apply);
    let early: Vec<&StageDef> = stages::groundwork().collect();
    let split = groups
        .iter()
        .position(|g| g.iter().any(|s| s.stage.groundwork))
        .unwrap_or(groups.len());
    if early.is_empty() || split == 0 {
        return chain(states, &groups, Place::Top, last);
    }
    let (before, after) = groups.split_at(split);
    let rest = chain(states, after, Place::Top, last);
    let titles: Vec<String> = early
        .iter()
        .map(|s| stages::state_name(s, Action::Groundwork))
        .collect();
    let name = format!("{}Beside", titles.join("And"));
    let mut branches = Vec::new();
    let mut before_branch = States::default();
    let before_done = format!("{name}StagesDone");
    let start = chain(&mut before_branch, before, Place::Branch, &before_done);
    before_branch.add(&before_done, json!({"Type": "Succeed"}));
    branches.push(json!({"StartAt": start, "States": before_branch.0}));
    let mut kept = Map::new();
    for (i, stage) in early.iter().enumerate() {
        let mut branch = States::default();
        let done = format!("{}Done", stages::state_name(stage, Action::Groundwork));
        let start = stage_step(
            &mut branch,
            stage,
            Action::Groundwork,
            Poll::None,
            Place::Branch,
            &done,
        );
        branch.add(&done, json!({"Type": "Succeed"}));
        branches.push(json!({"StartAt": start, "States": branch.0}));
        kept.insert(
            format!("{}.$", stage.name),
            json!(format!("$[{}].stage.outputs", i + 1)),
        );
    }
    states.add(
        &name,
        json!({
            "Type": "Parallel",
            "Comment": "Work that needs no earlier stage is made while the earlier stages run.",
            "Branches": branches,
            "ResultSelector": kept,
            "ResultPath": format!("$.{GROUNDWORK}"),
            "Catch": catch_into_report(),
            "Next": rest
        }),
    );
    name
}

fn control(operation: &str, parameters: Value, result_path: Value, next: &str) -> Value {
    control_at(Place::Top, operation, parameters, result_path, next)
}

fn control_at(
    place: Place,
    operation: &str,
    mut parameters: Value,
    result_path: Value,
    next: &str,
) -> Value {
    parameters["operation"] = json!(operation);
    task(CONTROL, parameters, result_path, Action::Apply, place, next)
}

/// The redeploy path: the stage that redeploys finds the environments following the pushed
/// image, then a Map rolls each of them.
fn redeploy_path(states: &mut States) -> String {
    let (stage, poll) = stages::STAGES
        .iter()
        .find_map(|s| Some((s, s.redeploy?)))
        .expect("one stage of the table redeploys");
    states.add(
        FIND_REDEPLOY_TARGETS,
        json!({
            "Comment": "Environments whose spec follows the pushed repository and tag.",
            "Type": "Task",
            "Resource": resource(stage.function),
            "ResultPath": "$.targets",
            "Retry": retry(Action::Apply),
            "Catch": catch_into_report(),
            "Next": REDEPLOY_EACH
        }),
    );
    // Each environment is redeployed under its lease, like an apply: a push during an apply
    // of the same environment waits for it. An iteration that fails leaves its lease to be
    // taken over once this execution has ended.
    let mut iteration = States::default();
    let done = format!("{}Done", stages::state_name(stage, Action::Redeploy));
    let release = &format!("{REDEPLOY_PREFIX}Release");
    let redeploy = stage_step(
        &mut iteration,
        stage,
        Action::Redeploy,
        poll,
        Place::Branch,
        release,
    );
    iteration.add(
        release,
        control_at(
            Place::Branch,
            "release",
            json!({"environment.$": "$.request.environment", "executionArn.$": "$$.Execution.Id"}),
            Value::Null,
            &done,
        ),
    );
    iteration.add(&done, json!({"Type": "Succeed"}));
    let timed_out = format!("{REDEPLOY_PREFIX}{LEASE_TIMED_OUT}");
    iteration.add(
        &timed_out,
        json!({"Type": "Fail", "Error": "Timeout", "Cause": "another execution kept the environment for longer than its wait budget"}),
    );
    let start = lease_loop(
        &mut iteration,
        Place::Branch,
        REDEPLOY_PREFIX,
        &redeploy,
        &done,
        &timed_out,
    );
    states.add(
        REDEPLOY_EACH,
        json!({
            "Type": "Map",
            "ItemsPath": "$.targets.environments",
            "MaxConcurrency": 4,
            "Parameters": {
                "image.$": "$.targets.image",
                "pushedAt.$": "$.targets.pushedAt",
                "request": {
                    "action": "redeploy",
                    "environment.$": "$$.Map.Item.Value",
                    "pollSeconds.$": "$.request.pollSeconds",
                    "budgets.$": "$.request.budgets"
                }
            },
            "Iterator": {"StartAt": start, "States": iteration.0},
            "ResultPath": null,
            "Catch": catch_into_report(),
            "Next": REPORT_SUCCESS
        }),
    );
    FIND_REDEPLOY_TARGETS.to_string()
}

/// One writer per environment: an execution takes the environment's lease before its first
/// stage, waiting (bounded) while another execution holds it, then goes on to `held`; a stack's
/// Delete of another stack's environment goes to `foreign`; a wait past its budget goes to
/// `timed_out`. Returns the loop's first state.
fn lease_loop(
    states: &mut States,
    place: Place,
    prefix: &str,
    held: &str,
    foreign: &str,
    timed_out: &str,
) -> String {
    // State names are unique across the whole machine, Map iterations included.
    let [polls, lease, lease_held, wait, count] =
        [LEASE_POLLS, LEASE, LEASE_HELD, LEASE_WAIT, LEASE_COUNT].map(|n| format!("{prefix}{n}"));
    states.add(
        &polls,
        json!({"Type": "Pass", "Result": {"n": 0}, "ResultPath": "$.polls", "Next": lease}),
    );
    states.add(
        &lease,
        control_at(
            place,
            "lease",
            json!({"request.$": "$.request", "executionArn.$": "$$.Execution.Id"}),
            json!("$.lease"),
            &lease_held,
        ),
    );
    states.add(
        &lease_held,
        json!({
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.lease.held", "BooleanEquals": true, "Next": held},
                {"Variable": "$.lease.foreign", "BooleanEquals": true, "Next": foreign},
                {"Variable": "$.polls.n", "NumericGreaterThanEqualsPath": format!("$.request.budgets.{LEASE}"), "Next": timed_out}
            ],
            "Default": wait
        }),
    );
    states.add(
        &wait,
        json!({"Type": "Wait", "SecondsPath": "$.request.pollSeconds", "Next": count}),
    );
    states.add(
        &count,
        json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.polls.n, $.request.pollSeconds)"}, "ResultPath": "$.polls", "Next": lease}),
    );
    polls
}

/// The top-level lease: an apply or destroy names its environment; a redeploy takes a lease per
/// environment in its Map instead; a plan changes nothing and needs none.
fn top_lease(states: &mut States) {
    states.add(
        HAS_ENVIRONMENT,
        json!({
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.request.action", "StringEquals": "plan", "Next": ROUTE},
                {"Variable": "$.request.environment", "IsPresent": true, "Next": LEASE_POLLS}
            ],
            "Default": ROUTE
        }),
    );
    lease_loop(
        states,
        Place::Top,
        "",
        ROUTE,
        REPORT_SUCCESS,
        LEASE_TIMED_OUT,
    );
    states.add(
        LEASE_TIMED_OUT,
        json!({
            "Type": "Pass",
            "Parameters": {"Error": "Timeout", "Cause.$": "States.Format('another execution kept the environment for longer than its wait budget; {}', $.lease.message)"},
            "ResultPath": "$.error",
            "Next": REPORT_FAILURE
        }),
    );
}

/// The plan path: each stage's `plan` in the table's order, one after another (they only
/// read), each given the spec and the earlier stages' answers under `$.planned`.
fn plan_path(states: &mut States) -> String {
    let order: Vec<&StageDef> = stages::apply_order().into_iter().flatten().collect();
    let first = order
        .iter()
        .rev()
        .fold(REPORT_SUCCESS.to_string(), |next, stage| {
            let step = stages::state_name(stage, Action::Plan);
            let mut request = stage_request(stage, Action::Plan);
            request["plan"] = json!({"spec.$": "$.request.spec", "upstream.$": "$.planned"});
            states.add(
                &step,
                task(
                    stage.function,
                    request,
                    json!(format!("$.planned.{}", stage.name)),
                    Action::Plan,
                    Place::Top,
                    &next,
                ),
            );
            step
        });
    states.add(
        PLAN,
        json!({"Type": "Pass", "Result": {}, "ResultPath": "$.planned", "Next": first}),
    );
    PLAN.to_string()
}

/// The whole definition.
pub fn definition() -> Value {
    let mut states = States::default();
    states.add(
        PREPARE,
        control(
            "prepare",
            json!({"input.$": "$", "execution.$": "$$.Execution.Name"}),
            json!("$.request"),
            HAS_ENVIRONMENT,
        ),
    );
    top_lease(&mut states);
    let cleanup = chain(
        &mut states,
        &steps_of(&stages::cleanup_order(), Action::Cleanup, |s| {
            s.cleanup.unwrap_or(Poll::None)
        }),
        Place::Top,
        REPORT_SUCCESS,
    );
    let apply = apply_path(&mut states, &cleanup);
    states.add(
        FORGET,
        control(
            "forget",
            json!({"environment.$": "$.request.environment", "executionArn.$": "$$.Execution.Id"}),
            Value::Null,
            REPORT_SUCCESS,
        ),
    );
    let destroy = chain(
        &mut states,
        &steps_of(&stages::destroy_order(), Action::Destroy, |s| s.destroy),
        Place::Top,
        FORGET,
    );
    let redeploy = redeploy_path(&mut states);
    let plan = plan_path(&mut states);
    states.add(
        ROUTE,
        json!({
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.request.action", "StringEquals": "apply", "Next": apply},
                {"Variable": "$.request.action", "StringEquals": "destroy", "Next": destroy},
                {"Variable": "$.request.action", "StringEquals": "redeploy", "Next": redeploy},
                {"Variable": "$.request.action", "StringEquals": "plan", "Next": plan}
            ],
            "Default": REPORT_FAILURE
        }),
    );
    let report = |outcome: &str, next: &str| {
        let mut state = control(
            "report",
            json!({"outcome": outcome, "execution.$": "$", "executionArn.$": "$$.Execution.Id"}),
            json!("$.result"),
            next,
        );
        if outcome == "failure" {
            // A failure to report still ends the execution as failed.
            state["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.reportError", "Next": FAILED}]);
        }
        state
    };
    states.add(REPORT_SUCCESS, report("success", DONE));
    states.add(DONE, json!({"Type": "Succeed"}));
    states.add(REPORT_FAILURE, report("failure", FAILED));
    states.add(
        FAILED,
        json!({
            "Type": "Fail",
            "ErrorPath": "$.result.error",
            "CausePath": "$.result.reason"
        }),
    );
    json!({
        "Comment": "fargate-provisioner: apply, plan, destroy and ECR redeploys of an ECS Fargate environment behind an ALB. Generated from the stage table (functions/core/src/stages.rs) by `cargo run -p codegen`; do not edit.",
        "StartAt": PREPARE,
        "States": states.0
    })
}

/// The definition as committed: pretty JSON with a final newline.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&definition()).expect("a definition serializes");
    text.push('\n');
    text
}
