//! Mermaid diagrams and the stage table for the docs, drawn from the stage table.

use provisioner_core::stages::{self, Poll, StageDef};
use provisioner_core::Action;

fn node(stage: &StageDef, action: Action, poll: Poll) -> String {
    let id = stages::state_name(stage, action);
    let waits = match poll {
        Poll::None => "",
        Poll::Status { .. } => "<br/>waits: status polls",
        Poll::Repeat { .. } => "<br/>waits: repeats until done",
    };
    format!("{id}[\"{} {}{waits}\"]", stage.name, action.as_str())
}

/// One group of a path: its stages, each with the action it runs.
type Group = Vec<(&'static StageDef, Action)>;

/// Edges from every step of one group to every step of the next, starting at `from` (an apply's
/// groups, its groundwork beside the first, then its cleanup).
fn path(lines: &mut Vec<String>, from: &str, label: &str, groups: &[Group], to: &str) {
    let mut previous: Vec<String> = vec![from.to_string()];
    let mut first = true;
    for group in groups {
        let nodes: Vec<String> = group
            .iter()
            .map(|(s, action)| {
                node(
                    s,
                    *action,
                    stages::poll_of(s, *action).unwrap_or(Poll::None),
                )
            })
            .collect();
        for p in &previous {
            for n in &nodes {
                let arrow = if first {
                    format!(" -- {label} --> ")
                } else {
                    " --> ".to_string()
                };
                lines.push(format!("    {p}{arrow}{n}"));
            }
        }
        first = false;
        previous = group
            .iter()
            .map(|(s, action)| stages::state_name(s, *action))
            .collect();
    }
    for p in &previous {
        lines.push(format!("    {p} --> {to}"));
    }
}

/// Each group of `order` with `action`.
fn steps(order: Vec<Vec<&'static StageDef>>, action: Action) -> Vec<Group> {
    order
        .into_iter()
        .map(|g| g.into_iter().map(|s| (s, action)).collect())
        .collect()
}

/// The state machine's paths: apply, destroy, plan and redeploy.
pub fn state_machine() -> String {
    let mut lines = vec![
        "```mermaid".to_string(),
        "flowchart TD".to_string(),
        "    Prepare[\"Prepare: validate, store the spec\"] --> Route{action}".to_string(),
    ];
    let mut apply = steps(stages::apply_order(), Action::Apply);
    apply.extend(steps(stages::cleanup_order(), Action::Cleanup));
    path(&mut lines, "Route", "apply", &apply, "ReportSuccess");
    // A stage's groundwork runs beside every stage before it.
    for stage in stages::groundwork() {
        lines.push(format!(
            "    Route -- apply --> {}",
            node(stage, Action::Groundwork, Poll::None)
        ));
        lines.push(format!(
            "    {} --> {}",
            stages::state_name(stage, Action::Groundwork),
            stages::state_name(stage, Action::Apply)
        ));
    }
    path(
        &mut lines,
        "Route",
        "destroy",
        &steps(stages::destroy_order(), Action::Destroy),
        "Forget[\"Forget: delete the spec\"]",
    );
    lines.push("    Forget --> ReportSuccess".into());
    // A plan runs every stage's plan one after another: each reads what the ones before planned.
    let plan: Vec<_> = stages::apply_order()
        .into_iter()
        .flatten()
        .map(|s| vec![(s, Action::Plan)])
        .collect();
    path(&mut lines, "Route", "plan", &plan, "ReportSuccess");
    if let Some(stage) = stages::STAGES.iter().find(|s| s.redeploy.is_some()) {
        lines.push(format!(
            "    Route -- \"ECR push\" --> FindRedeployTargets[\"{} stage: environments that follow the pushed tag\"]",
            stage.name
        ));
        lines.push(format!(
            "    FindRedeployTargets --> RedeployEach[[\"each environment: {} redeploy, waits: status polls\"]]",
            stage.name
        ));
        lines.push("    RedeployEach --> ReportSuccess".into());
    }
    lines.push("    ReportSuccess[\"ReportSuccess: attributes or the plan and its cost, answer CloudFormation\"] --> Done([Succeeded])".into());
    lines.push(
        "    Failure[\"any failure\"] -.-> ReportFailure[\"ReportFailure: answer CloudFormation FAILED\"] --> Failed([Failed: the stage's error and reason])"
            .into(),
    );
    lines.push("```".into());
    lines.join("\n")
}

/// The environment: what each stage makes, and what it builds on.
pub fn environment() -> String {
    let mut lines = vec!["```mermaid".to_string(), "flowchart LR".to_string()];
    for stage in stages::STAGES {
        lines.push(format!(
            "    subgraph {}[\"{} stage ({})\"]",
            stage.name, stage.name, stage.function.binary
        ));
        for (i, item) in stage.makes.iter().enumerate() {
            lines.push(format!("        {}{i}[\"{item}\"]", stage.name));
        }
        lines.push("    end".into());
    }
    for stage in stages::STAGES {
        for upstream in stage.after {
            lines.push(format!("    {upstream} --> {}", stage.name));
        }
    }
    lines.push("```".into());
    lines.join("\n")
}

/// The stage table as Markdown.
pub fn stage_table() -> String {
    let wait = |poll: Poll| match poll {
        Poll::None => "-".to_string(),
        Poll::Status { budget_seconds } => format!("status polls, {} min", budget_seconds / 60),
        Poll::Repeat { budget_seconds } => {
            format!("repeats until done, {} min", budget_seconds / 60)
        }
    };
    let mut lines = vec![
        "| stage | Lambda (binary) | after | groundwork | apply waits | destroy waits | redeploy | cleanup | attributes |"
            .to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for stage in stages::STAGES {
        let after = if stage.after.is_empty() {
            "-".to_string()
        } else {
            stage.after.join(", ")
        };
        let attributes: Vec<&str> = stage.attributes.iter().map(|a| a.name).collect();
        lines.push(format!(
            "| {} | {} ({}) | {after} | {} | {} | {} | {} | {} | {} |",
            stage.name,
            stage.function.logical_id,
            stage.function.binary,
            if stage.groundwork {
                "beside the stages before it"
            } else {
                "-"
            },
            wait(stage.apply),
            wait(stage.destroy),
            stage.redeploy.map(wait).unwrap_or_else(|| "-".into()),
            stage.cleanup.map(wait).unwrap_or_else(|| "-".into()),
            attributes.join(", ")
        ));
    }
    lines.join("\n")
}

/// The local world's behaviours, from the table in support/local-aws/src/world.rs.
pub fn behaviours() -> String {
    use local_aws::world::{Side, BEHAVIOURS};
    let mut lines = vec![
        "| behaviour | where | on by default | what AWS does | AWS seconds | source |".to_string(),
        "| --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    for b in BEHAVIOURS {
        let side = match b.side {
            Side::Emulator => "emulator",
            Side::Router => "router",
        };
        let on = if b.on_by_default { "yes" } else { "no" };
        let mut settings: Vec<String> = b
            .seconds
            .iter()
            .map(|(name, seconds)| format!("{name} {seconds}"))
            .collect();
        settings.extend(
            b.values
                .iter()
                .map(|(name, value)| format!("{name} {value}")),
        );
        lines.push(format!(
            "| `{}` | {side} | {on} | {} | {} | {} |",
            b.id,
            b.what.replace('|', "\\|"),
            settings.join(", "),
            b.source.replace('|', "\\|"),
        ));
    }
    lines.join("\n")
}
