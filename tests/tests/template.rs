//! The SAM template and the state machine checked offline with the tools AWS users trust:
//! cfn-lint, `sam validate --lint`, statelint for the definition, event-ruler for the ECR rule;
//! and every function the state machine names exists in the template and in the workspace.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use local_lambda::template;
use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;

fn root() -> PathBuf {
    local_aws::repository_root()
}

fn tool(name: &str) -> Command {
    let mut command = Command::new(root().join(".venv/bin").join(name));
    command
        .current_dir(root())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| {
        panic!("{command:?} does not run (scripts/setup-tools installs it): {e}")
    })
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn cfn_lint_is_clean_on_the_template_and_the_example() {
    for file in ["template.yaml", "examples/custom-resource.yaml"] {
        let out = run(tool("cfn-lint").arg(file));
        assert!(out.status.success(), "cfn-lint {file}:\n{}", text(&out));
    }
}

#[test]
fn sam_validate_lint_is_clean() {
    let out = run(tool("sam").args(["validate", "--lint", "--template", "template.yaml"]));
    assert!(out.status.success(), "{}", text(&out));
}

fn filled_definition() -> String {
    let template = template::read(&root().join("template.yaml")).unwrap();
    let definition = std::fs::read_to_string(root().join(&template.definition_uri)).unwrap();
    template::fill_definition(&definition, &template, |f| {
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            f.binary
        )
    })
}

fn statelint(definition: &str) -> Output {
    let path = std::env::temp_dir().join(format!(
        "asl-{}-{}.json",
        std::process::id(),
        definition.len()
    ));
    std::fs::write(&path, definition).unwrap();
    let out = run(tool("statelint").arg(&path));
    let _ = std::fs::remove_file(&path);
    out
}

#[test]
fn the_state_machine_passes_statelint_and_a_broken_one_does_not() {
    let definition = filled_definition();
    assert!(!definition.contains("${"), "every substitution is filled");
    let out = statelint(&definition);
    assert!(out.status.success(), "{}", text(&out));

    // The check can fail: an undefined Next is caught.
    let broken = definition.replacen("\"Next\": \"Route\"", "\"Next\": \"Nowhere\"", 1);
    assert_ne!(broken, definition);
    let out = statelint(&broken);
    assert!(!out.status.success());
    assert!(text(&out).contains("Nowhere"), "{}", text(&out));
}

#[test]
fn every_function_of_the_state_machine_is_in_the_template_and_the_workspace() {
    let template = template::read(&root().join("template.yaml")).unwrap();
    let definition = std::fs::read_to_string(root().join(&template.definition_uri)).unwrap();
    let used: BTreeSet<String> = definition
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect();
    let substituted: BTreeSet<String> = template.function_substitutions.keys().cloned().collect();
    assert_eq!(
        used, substituted,
        "substitutions used in the definition vs given in the template"
    );

    let metadata = run(Command::new(env!("CARGO")).current_dir(root()).args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
    ]));
    let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let binaries: BTreeSet<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .filter(|t| t["kind"].as_array().unwrap().contains(&json!("bin")))
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    for function in template.functions.values() {
        assert!(
            binaries.contains(&function.binary),
            "{} builds {}, which is no binary of the workspace",
            function.logical_id,
            function.binary
        );
    }
    // The template's functions are exactly the stage table's, with the same binaries.
    let in_template: BTreeSet<(String, String)> = template
        .functions
        .values()
        .map(|f| (f.logical_id.clone(), f.binary.clone()))
        .collect();
    let in_table: BTreeSet<(String, String)> = provisioner_core::stages::functions()
        .map(|f| (f.logical_id.to_string(), f.binary.to_string()))
        .collect();
    assert_eq!(in_template, in_table);
    for stage in provisioner_core::stages::STAGES {
        assert!(
            substituted.contains(&stage.function.substitution()),
            "{} is not substituted into the state machine",
            stage.function.substitution()
        );
    }
}

/// The ECR rule's pattern, with the repository narrowing resolved one way or the other.
fn ecr_pattern(repositories: Option<&[&str]>) -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    let pattern = &template["Resources"]["ProvisionerStateMachine"]["Properties"]["Events"]
        ["EcrPush"]["Properties"]["Pattern"];
    let mut pattern: Value = serde_json::to_value(strip_tags(pattern, repositories)).unwrap();
    if repositories.is_none() {
        pattern["detail"]
            .as_object_mut()
            .unwrap()
            .remove("repository-name");
    }
    pattern
}

/// `!If [NarrowToRepositories, !Ref RedeployRepositories, !Ref AWS::NoValue]` resolved.
fn strip_tags(value: &Yaml, repositories: Option<&[&str]>) -> Yaml {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "If" => match repositories {
            Some(list) => {
                Yaml::Sequence(list.iter().map(|r| Yaml::String(r.to_string())).collect())
            }
            None => Yaml::Null,
        },
        Yaml::Mapping(map) => Yaml::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), strip_tags(v, repositories)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn matches(pattern: &Value, event_file: &str) -> bool {
    let event = std::fs::read_to_string(root().join("events").join(event_file)).unwrap();
    let out = run(tool("python").args([
        "-c",
        "import sys, event_ruler; print(event_ruler.test_event_pattern(sys.argv[1], sys.argv[2]))",
        &event,
        &pattern.to_string(),
    ]));
    assert!(
        out.status.success(),
        "event-ruler rejects the pattern {pattern}: {}",
        text(&out)
    );
    let answer = String::from_utf8_lossy(&out.stdout);
    answer.trim_start().starts_with("True") || answer.contains("(True")
}

#[test]
fn the_ecr_rule_matches_pushes_and_nothing_else() {
    let everything = ecr_pattern(None);
    assert!(matches(&everything, "ecr-push.json"), "{everything}");
    assert!(!matches(&everything, "ecr-delete.json"));
    assert!(!matches(&everything, "ecr-push-failed.json"));
    assert!(!matches(&everything, "console-create.json"));

    assert!(matches(
        &ecr_pattern(Some(&["web", "api"])),
        "ecr-push.json"
    ));
    assert!(!matches(&ecr_pattern(Some(&["api"])), "ecr-push.json"));
}

/// Destructive actions that AWS authorizes only on `*`, without resource tags to condition on.
const UNCONDITIONABLE: &[(&str, &str)] = &[
    (
        "ecs:DeregisterTaskDefinition",
        "task definitions take no resource-level permissions or tag conditions for this action",
    ),
    (
        "cloudwatch:DeleteAlarms",
        "Application Auto Scaling checks it for the target tracking alarms it made itself, which carry none of the provisioner's tags",
    ),
    // Scalable targets take tag conditions (ABAC with Application Auto Scaling), but the local
    // IAM layer cannot read a scalable target's tags yet: until it can, the code scopes these
    // to the environment's own service by its resource id.
    (
        "application-autoscaling:DeregisterScalableTarget",
        "only the environment's own service's target, by resource id (tag condition: follow-up)",
    ),
    (
        "application-autoscaling:DeleteScalingPolicy",
        "only the environment's own policies, by name (tag condition: follow-up)",
    ),
];

fn is_destructive(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Delete", "Detach", "Revoke", "Deregister", "Disassociate"]
        .iter()
        .any(|verb| name.starts_with(verb))
        && name != "DisassociateRouteTable"
}

fn template_yaml() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

#[test]
fn destructive_actions_reach_only_what_the_provisioner_tagged() {
    let template = template_yaml();
    let tag_key = format!(
        "aws:ResourceTag/{}",
        provisioner_core::naming::ENVIRONMENT_TAG
    );
    let mut checked = 0;
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let policies = resource["Properties"]["Policies"].as_sequence();
        for statement in policies
            .into_iter()
            .flatten()
            .filter_map(|p| p["Statement"].as_sequence())
            .flatten()
        {
            let actions: Vec<&str> = match &statement["Action"] {
                Yaml::String(one) => vec![one.as_str()],
                Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).collect(),
                _ => vec![],
            };
            // A statement on named resources (the lease table) reaches nothing else.
            let on_everything = statement["Resource"].as_str() == Some("*");
            let conditioned_on_tag =
                statement["Condition"]["Null"][tag_key.as_str()].as_str() == Some("false");
            for action in actions.into_iter().filter(|a| is_destructive(a)) {
                checked += 1;
                assert!(
                    !on_everything
                        || conditioned_on_tag
                        || UNCONDITIONABLE.iter().any(|(a, _)| *a == action),
                    "{id:?} may {action} on resources the provisioner did not tag"
                );
            }
        }
    }
    assert!(checked >= 14, "only {checked} destructive actions found");
}

/// What a `!Ref NAME` names.
fn reference(value: &Yaml) -> Option<String> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_string),
        _ => None,
    }
}

#[test]
fn every_function_logs_to_a_group_of_the_stack_with_its_retention() {
    let template = template_yaml();
    let resources = &template["Resources"];
    for function in provisioner_core::stages::functions() {
        let group =
            reference(&resources[function.logical_id]["Properties"]["LoggingConfig"]["LogGroup"])
                .unwrap_or_else(|| panic!("{} names no log group", function.logical_id));
        let declared = &resources[group.as_str()];
        assert_eq!(
            declared["Type"].as_str(),
            Some("AWS::Logs::LogGroup"),
            "{group}"
        );
        let retention = reference(&declared["Properties"]["RetentionInDays"]);
        assert_eq!(retention.as_deref(), Some("LogRetentionDays"), "{group}");
    }
}

#[test]
fn the_state_machine_logs_leave_out_execution_data_which_holds_the_response_url() {
    let template = template_yaml();
    let logging = &template["Resources"]["ProvisionerStateMachine"]["Properties"]["Logging"];
    assert_eq!(logging["IncludeExecutionData"].as_bool(), Some(false));
}
