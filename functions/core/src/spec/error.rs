//! Spec errors: every problem names the field (as a JSON path) and what is allowed.

use std::fmt;

/// One field that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `network.publicSubnets[1].cidr`; `.` is the whole spec.
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

/// A spec that cannot be used; lists every field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub errors: Vec<FieldError>,
}

impl SpecError {
    pub fn single(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                problem: problem.into(),
            }],
        }
    }

    /// The named fields, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.errors.iter().map(|e| e.field.as_str()).collect()
    }

    pub(crate) fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let message = plain(&err.inner().to_string());
        // The path of an unknown field already ends in its name; a missing field is named only in
        // the message, so add it to point at the field itself.
        let named = backticked(&message);
        let field = match named {
            Some(name) if message.starts_with("missing field") => join_path(&path, name),
            _ => path,
        };
        Self::single(field, message)
    }
}

/// A number or boolean that also takes its string form fails with the deserializer's internals
/// ("PickFirst could not deserialize any variant: First: invalid type: ..."); say instead what
/// was expected and what was given.
fn plain(message: &str) -> String {
    if !message.starts_with("PickFirst could not deserialize any variant") {
        return message.to_string();
    }
    let expected = if message.contains("expected i64") {
        "a whole number (or a string holding one, as CloudFormation passes it)"
    } else if message.contains("expected a boolean") {
        "true or false (or the string \"true\" or \"false\")"
    } else {
        "a value of another type"
    };
    let given = message
        .split("invalid type: ")
        .nth(1)
        .and_then(|rest| rest.split(", expected").next())
        .map(|given| format!(", got {given}"))
        .or_else(|| {
            message
                .contains("invalid digit")
                .then(|| ", got a string that is not a whole number".to_string())
        })
        .unwrap_or_default();
    format!("expected {expected}{given}")
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn join_path(parent: &str, name: &str) -> String {
    if parent == "." || parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid environment spec: ")?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{}: {}", short_field(&e.field), short_quotes(&e.problem))?;
        }
        Ok(())
    }
}

/// The most characters of a value from the input that a message repeats.
pub const QUOTED_CHARS: usize = 64;
/// The most characters of a field path a message repeats.
const FIELD_CHARS: usize = 160;

/// `message` with each value it quotes (between backticks or double quotes) cut to
/// [`QUOTED_CHARS`] and its control characters escaped: a huge or binary value from the input is
/// named, not repeated, so an error stays readable and within what CloudFormation shows.
pub fn short_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('`');
        let after = &rest[open + 1..];
        let Some(len) = after.find(quote) else {
            break;
        };
        out.push_str(&rest[..=open]);
        out.push_str(&shown(&after[..len]));
        out.push(quote);
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

fn shown(value: &str) -> String {
    let count = value.chars().count();
    let mut shown = shown_plain(&value.chars().take(QUOTED_CHARS).collect::<String>());
    if count > QUOTED_CHARS {
        shown.push_str(&format!("... ({count} characters)"));
    }
    shown
}

/// A field path cut to [`FIELD_CHARS`] characters (a huge key is part of its path).
pub fn short_field(field: &str) -> String {
    let count = field.chars().count();
    if count <= FIELD_CHARS {
        return shown_plain(field);
    }
    format!(
        "{}... ({count} characters)",
        shown_plain(&field.chars().take(FIELD_CHARS).collect::<String>())
    )
}

/// `text` with its control characters escaped.
fn shown_plain(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_cut_and_escaped_and_short_ones_kept() {
        let huge = "x".repeat(10_000);
        let message = short_quotes(&format!("`{huge}` is not an image; got \"a\u{7}b\""));
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("... (10000 characters)`"), "{message}");
        assert!(message.contains("\"a\\u{7}b\""), "{message}");
        assert_eq!(short_quotes("`web:1` is fine"), "`web:1` is fine");
        assert_eq!(short_quotes("an odd ` quote"), "an odd ` quote");
        let field = short_field(&format!("service.environment.{huge}"));
        assert!(
            field.len() < 200 && field.ends_with("(10020 characters)"),
            "{field}"
        );
    }
}
