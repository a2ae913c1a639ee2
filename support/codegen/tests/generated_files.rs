//! The committed generated files match what the code generates: the state machine (from the
//! stage table), the JSON Schema (from the spec types) and the docs' diagrams and tables.

use serde_json::Value;

#[test]
fn every_generated_file_is_fresh() {
    let stale = codegen::stale(&codegen::repository_root());
    assert!(
        stale.is_empty(),
        "{}; run cargo run -p codegen",
        stale.join("; ")
    );
}

#[test]
fn a_stale_section_is_detected() {
    let generated = codegen::Generated {
        path: "README.md",
        section: Some("demo"),
        content: "new".into(),
    };
    let current = "a\n<!-- BEGIN GENERATED: demo (cargo run -p codegen) -->\nold\n<!-- END GENERATED: demo -->\nb";
    let fresh = codegen::apply(current, &generated).unwrap();
    assert_eq!(
        fresh,
        "a\n<!-- BEGIN GENERATED: demo (cargo run -p codegen) -->\nnew\n<!-- END GENERATED: demo -->\nb"
    );
    assert_eq!(codegen::apply(&fresh, &generated).unwrap(), fresh);
    assert!(codegen::apply("no markers", &generated).is_none());
}

fn states(definition: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut stack = vec![definition.clone()];
    while let Some(machine) = stack.pop() {
        for (name, state) in machine["States"].as_object().unwrap() {
            found.push((name.clone(), state.clone()));
            for branch in state["Branches"].as_array().into_iter().flatten() {
                stack.push(branch.clone());
            }
            if state.get("Iterator").is_some() {
                stack.push(state["Iterator"].clone());
            }
        }
    }
    found
}

#[test]
fn every_task_retries_with_the_one_policy_and_every_wait_has_a_budget() {
    let definition = codegen::state_machine::definition();
    let all = states(&definition);
    let tasks: Vec<&(String, Value)> = all.iter().filter(|(_, s)| s["Type"] == "Task").collect();
    assert!(tasks.len() > 10, "{}", tasks.len());
    let first_policy = &tasks[0].1["Retry"][0];
    for (name, task) in &tasks {
        assert_eq!(&task["Retry"][0], first_policy, "{name}");
    }
    for (name, state) in &all {
        if state["Type"] == "Choice" && name.ends_with("Ready") {
            let budget = state["Choices"][1]["NumericGreaterThanEqualsPath"]
                .as_str()
                .unwrap();
            let step = name.trim_end_matches("Ready");
            assert_eq!(budget, format!("$.request.budgets.{step}"));
        }
    }
    // The generator writes the retry literal once: a second copy in its source would drift.
    let source = include_str!("../src/state_machine.rs");
    assert_eq!(source.matches("\"ErrorEquals\": TRANSIENT").count(), 1);
}

#[test]
fn destroy_and_apply_visit_every_stage() {
    let definition = codegen::state_machine::definition();
    let names: Vec<String> = states(&definition).into_iter().map(|(n, _)| n).collect();
    for stage in provisioner_core::stages::STAGES {
        for action in ["Apply", "Destroy"] {
            let state = format!("{}{action}", stage.title);
            assert!(names.contains(&state), "{state} missing: {names:?}");
        }
    }
}
