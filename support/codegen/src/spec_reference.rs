//! docs/SPEC.md: every field of the environment spec with its type, default, allowed values and
//! limits, read from the JSON Schema (which is generated from the spec types), so the reference
//! cannot drift from what validation accepts.

use serde_json::Value;

pub const PATH: &str = "docs/SPEC.md";

/// The whole page.
pub fn text(schema: &Value) -> String {
    let mut rows = Vec::new();
    let required = names(schema.get("required"));
    fields(schema, schema, "", &required, &mut rows);
    let mut out = String::from(
        "# The environment spec\n\n\
         Generated from `schema/environment-spec.schema.json` by `cargo run -p codegen`; do not edit.\n\
         Numbers and booleans may also be given as strings (CloudFormation passes every property as\n\
         a string). A field not listed here is an error that names it. Limits are checked before\n\
         any AWS call.\n\n\
         | field | type | default | description |\n\
         |---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The definition a `$ref` names, or the schema itself.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|p| format!("/{p}"))
            .and_then(|pointer| root.pointer(&pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

/// One row per field of `object`, depth first, named by its dotted path.
fn fields(root: &Value, object: &Value, prefix: &str, required: &[String], rows: &mut Vec<String>) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, field) in properties {
        let path = format!("{prefix}{name}");
        let definition = resolve(root, field);
        let description = field
            .get("description")
            .or_else(|| definition.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        let default = if required.contains(name) {
            "required".to_string()
        } else {
            match field.get("default") {
                Some(Value::Object(_)) => "see its fields".into(),
                Some(v) => format!("`{v}`"),
                None => "none".into(),
            }
        };
        rows.push(format!(
            "| `{path}` | {} | {default} | {description} |",
            type_of(root, field)
        ));
        let nested = match definition.get("items") {
            Some(items) => Some((resolve(root, items), format!("{path}[]."))),
            None => Some((definition, format!("{path}."))),
        };
        if let Some((object, prefix)) = nested {
            fields(root, object, &prefix, &names(object.get("required")), rows);
        }
    }
}

/// A short type: `integer`, `string`, `one of A, B`, `list of object`...
fn type_of(root: &Value, field: &Value) -> String {
    let definition = resolve(root, field);
    if let Some(values) = definition.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{}`", text_of(v))).collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(options) = definition.get("anyOf").and_then(Value::as_array) {
        // A number or boolean that may come as a string: the first option is the real type.
        return options
            .first()
            .map(|o| type_of(root, o))
            .unwrap_or_default();
    }
    if let Some(items) = definition.get("items") {
        return format!("list of {}", type_of(root, items));
    }
    match definition.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ if definition.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_spec_has_a_row_with_its_default_and_limits() {
        let schema =
            serde_json::to_value(provisioner_core::EnvironmentSpec::json_schema()).unwrap();
        let page = text(&schema);
        for row in [
            "| `name` | string | required |",
            "| `service.image` | string | required |",
            "| `alb.deregistrationDelaySeconds` | integer | `30` |",
            "| `alb.healthCheck.path` | string | `\"/\"` |",
            "| `network.publicSubnets[].cidr` | string | required |",
        ] {
            assert!(page.contains(row), "{row} in\n{page}");
        }
        assert!(page.contains("one of `FARGATE`, `EC2`"), "{page}");
        assert!(
            page.contains("(0-3600)"),
            "limits come from the descriptions"
        );
    }
}
