//! What a stage changes, said the same way whether it carries the changes out (`apply`) or only
//! says what it would do (`plan`). Every create, update and delete a stage's reconcile code
//! decides on goes through [`carry_out`]: under a plan it is recorded and not sent, so plan and
//! apply run the same code and cannot disagree. A resource a plan would create has no id yet:
//! it gets a [`new_id`], and reads that would name it are skipped ([`is_new`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Outputs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

impl ChangeKind {
    /// The sign a plan is printed with, as Terraform and CDK print theirs.
    pub fn sign(self) -> char {
        match self {
            ChangeKind::Create => '+',
            ChangeKind::Update => '~',
            ChangeKind::Delete => '-',
        }
    }
}

/// One field of a change: its live value (none for a create) and the value it gets (none for a
/// delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One create, update or delete of an AWS resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// What kind of resource, in words: `subnet`, `VPC endpoint`, `ECS service`.
    pub resource: String,
    /// Which one: its name or role, or its id when it has no name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, where the reason is not the spec's field itself (an endpoint the tasks need).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Change {
    pub fn create(resource: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(ChangeKind::Create, resource, name)
    }

    pub fn update(resource: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(ChangeKind::Update, resource, name)
    }

    pub fn delete(resource: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(ChangeKind::Delete, resource, name)
    }

    fn new(kind: ChangeKind, resource: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            resource: resource.into(),
            name: name.into(),
            fields: Vec::new(),
            reason: None,
        }
    }

    /// A field a create sets.
    pub fn set(mut self, field: impl Into<String>, to: impl ToString) -> Self {
        self.fields.push(FieldChange {
            field: field.into(),
            from: None,
            to: Some(to.to_string()),
        });
        self
    }

    /// A field an update changes from its live value.
    pub fn field(
        mut self,
        field: impl Into<String>,
        from: impl ToString,
        to: impl ToString,
    ) -> Self {
        self.fields.push(FieldChange {
            field: field.into(),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
        });
        self
    }

    /// The fields of `pairs` (field, live, wanted) whose values differ.
    pub fn differing<'a>(self, pairs: impl IntoIterator<Item = (&'a str, String, String)>) -> Self {
        pairs
            .into_iter()
            .filter(|(_, from, to)| from != to)
            .fold(self, |change, (field, from, to)| {
                change.field(field, from, to)
            })
    }

    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// One line: `~ ECS service demo: desiredCount 2 -> 3`.
    pub fn line(&self) -> String {
        let mut line = format!("{} {} {}", self.kind.sign(), self.resource, self.name);
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| match (shown(&f.from), shown(&f.to)) {
                (Some(from), Some(to)) => format!("{} {from} -> {to}", f.field),
                (None, Some(to)) => format!("{} {to}", f.field),
                (Some(from), None) => format!("{} {from} -> (none)", f.field),
                (None, None) => f.field.clone(),
            })
            .collect();
        if !fields.is_empty() {
            line.push_str(": ");
            line.push_str(&fields.join(", "));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(" ({reason})"));
        }
        line
    }
}

/// What a plan execution answers: every stage's changes in the stage table's order, and what the
/// environment costs a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<PlannedChange>,
    pub cost: crate::cost::Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedChange {
    pub stage: String,
    #[serde(flatten)]
    pub change: Change,
}

impl Plan {
    /// The plan in a finished plan execution's output (`result.plan`).
    pub fn of_output(output: &Value) -> Option<Self> {
        serde_json::from_value(output.pointer("/result/plan")?.clone()).ok()
    }

    fn count(&self, kind: ChangeKind) -> usize {
        self.changes
            .iter()
            .filter(|c| c.change.kind == kind)
            .count()
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let environment = &self.cost.environment;
        if self.changes.is_empty() {
            writeln!(f, "{environment} is as the spec says: no changes")?;
        } else {
            writeln!(
                f,
                "plan for {environment}: {} to create, {} to change, {} to delete",
                self.count(ChangeKind::Create),
                self.count(ChangeKind::Update),
                self.count(ChangeKind::Delete)
            )?;
        }
        let mut stage = None;
        for planned in &self.changes {
            if stage != Some(&planned.stage) {
                writeln!(f, "{} stage", planned.stage)?;
                stage = Some(&planned.stage);
            }
            writeln!(f, "  {}", planned.change.line())?;
        }
        writeln!(f)?;
        write!(f, "{}", self.cost)
    }
}

/// A field's value as a plan prints it: an empty one is `(none)`.
fn shown(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(|v| if v.is_empty() { "(none)" } else { v })
}

/// What a plan is given in place of what an apply reads from Parameter Store: the spec it would
/// store and the outputs the stages before it would write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanInput {
    pub spec: Value,
    /// By stage name: what an earlier stage's plan answered (ids it would create are
    /// [`new_id`]s in its outputs).
    #[serde(default)]
    pub upstream: BTreeMap<String, PlannedStage>,
}

/// The part of an earlier stage's plan answer a later stage reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedStage {
    #[serde(default)]
    pub outputs: Outputs,
}

/// The changes of one stage request.
#[derive(Debug)]
struct Recorder {
    plan: Option<PlanInput>,
    changes: Mutex<Vec<Change>>,
    /// Ids this request has just created (see [`made`]).
    made: Mutex<std::collections::BTreeSet<String>>,
}

tokio::task_local! {
    static RECORDER: Arc<Recorder>;
}

/// Runs `work` recording its changes and carrying them out.
pub async fn recording<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<Change>) {
    scoped(None, work).await
}

/// Runs `work` as a plan: its changes are recorded and none is sent.
pub async fn planning<T>(
    input: PlanInput,
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<Change>) {
    scoped(Some(input), work).await
}

async fn scoped<T>(
    plan: Option<PlanInput>,
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<Change>) {
    let recorder = Arc::new(Recorder {
        plan,
        changes: Mutex::new(Vec::new()),
        made: Mutex::new(Default::default()),
    });
    let result = RECORDER.scope(recorder.clone(), work).await;
    let changes = std::mem::take(&mut *recorder.changes.lock().expect("not poisoned"));
    (result, changes)
}

/// Records `change`. True when the caller is to carry it out; false under a plan, where nothing
/// is sent.
pub fn carry_out(change: Change) -> bool {
    RECORDER
        .try_with(|r| {
            tracing::info!(change = %change.line(), planned = r.plan.is_some(), "change");
            r.changes.lock().expect("not poisoned").push(change);
            r.plan.is_none()
        })
        .unwrap_or(true)
}

/// True under a plan.
pub fn is_planning() -> bool {
    RECORDER.try_with(|r| r.plan.is_some()).unwrap_or(false)
}

/// What a plan was given, under a plan.
pub fn plan_input() -> Option<PlanInput> {
    RECORDER.try_with(|r| r.plan.clone()).ok().flatten()
}

const NEW_PREFIX: &str = "(new ";

/// The id a plan gives a resource it would create: `(new demo-private-subnet-1)`.
pub fn new_id(name: &str) -> String {
    format!("{NEW_PREFIX}{name})")
}

/// True for an id a plan made up ([`new_id`]): nothing on AWS has it, so nothing is read by it.
pub fn is_new(id: &str) -> bool {
    id.starts_with(NEW_PREFIX)
}

/// Notes that this request has just created `id` (a VPC, a load balancer, a target group):
/// nothing inside it can exist yet and its attributes are AWS's defaults, so [`is_fresh`] spares
/// the look-ups. Only a create made after a look-up found nothing is noted; a run again after a
/// crash finds the resource and looks.
pub fn made(id: &str) {
    let _ = RECORDER.try_with(|r| {
        r.made.lock().expect("not poisoned").insert(id.to_string());
    });
}

/// True when nothing can be inside `id` yet and its attributes are the defaults: a plan's
/// [`new_id`], or an id this request [`made`].
pub fn is_fresh(id: &str) -> bool {
    is_new(id)
        || RECORDER
            .try_with(|r| r.made.lock().expect("not poisoned").contains(id))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plan_records_and_sends_nothing_an_apply_records_and_sends() {
        let change = || Change::update("ECS service", "demo").field("desiredCount", 2, 3);
        let (sent, changes) = planning(PlanInput::default(), async { carry_out(change()) }).await;
        assert!(!sent);
        assert_eq!(changes, vec![change()]);
        assert_eq!(changes[0].line(), "~ ECS service demo: desiredCount 2 -> 3");
        let (sent, changes) = recording(async { carry_out(change()) }).await;
        assert!(sent);
        assert_eq!(changes.len(), 1);
        assert!(
            carry_out(change()),
            "outside a scope every change is carried out"
        );
    }

    #[test]
    fn a_plan_prints_its_counts_each_stage_once_and_the_cost() {
        let spec = crate::EnvironmentSpec::from_json(
            &serde_json::json!({"name": "shop", "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1"}}),
            "us-east-1",
        )
        .unwrap();
        let planned = |stage: &str, change: Change| PlannedChange {
            stage: stage.into(),
            change,
        };
        let plan = Plan {
            changes: vec![
                planned(
                    "network",
                    Change::delete("subnet", "shop-private-subnet-2").because("subnet-1: gone"),
                ),
                planned(
                    "alb",
                    Change::update("target group", "shop-tg").field("port", 80, 8080),
                ),
                planned("alb", Change::create("listener", "port 443")),
            ],
            cost: crate::cost::estimate(&spec, "us-east-1"),
        };
        let text = plan.to_string();
        assert!(
            text.starts_with("plan for shop: 1 to create, 1 to change, 1 to delete\nnetwork stage\n  - subnet shop-private-subnet-2 (subnet-1: gone)\nalb stage\n  ~ target group shop-tg: port 80 -> 8080\n  + listener port 443\n\nmonthly cost of shop"),
            "{text}"
        );
        let output = serde_json::json!({"result": {"plan": plan}});
        assert_eq!(Plan::of_output(&output), Some(plan));
    }

    #[test]
    fn made_up_ids_are_recognised() {
        let id = new_id("demo-vpc");
        assert_eq!(id, "(new demo-vpc)");
        assert!(is_new(&id));
        assert!(!is_new("vpc-0123"));
        let line = Change::create("subnet", "demo-private-a")
            .set("cidr", "10.0.1.0/24")
            .because("spec")
            .line();
        assert_eq!(line, "+ subnet demo-private-a: cidr 10.0.1.0/24 (spec)");
    }
}
