//! The rollback alarms (`service.rollbackAlarms`): CloudWatch alarms on the load balancer's view
//! of the service, its 5xx rate and its response time. The service's deployments watch them: a
//! deployment during which one goes into ALARM fails, and ECS rolls back to the last one that
//! completed ("How CloudWatch alarms detect Amazon ECS deployment failures", ECS Developer Guide).

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic, Tag,
};
use provisioner_core::spec::RollbackAlarmsSpec;
use provisioner_core::{changes, AwsContext, Change, Names, NotFoundAsNone, ProvisionError};

use crate::{elb_names, owner};

const NAMESPACE: &str = "AWS/ApplicationELB";
const FIVE_XX: &str = "5xx";
const LATENCY: &str = "latency";

/// What the alarms watch: the target group behind the load balancer, as CloudWatch names them
/// (`app/<name>/<id>` and `targetgroup/<name>/<id>`, read off the ARNs); or, when deployments
/// move the tasks between two target groups (blue/green, canary, linear), the whole load
/// balancer, so the new tasks' answers count wherever they are.
pub struct Watched {
    pub load_balancer: String,
    pub target_group: Option<String>,
}

impl Watched {
    pub fn of(
        load_balancer_arn: &str,
        target_group_arn: Option<&str>,
    ) -> Result<Self, ProvisionError> {
        Ok(Self {
            load_balancer: elb_names::load_balancer(load_balancer_arn)?,
            target_group: match target_group_arn {
                Some(arn) => Some(format!("targetgroup/{}", elb_names::target_group(arn)?)),
                None => None,
            },
        })
    }

    fn dimensions(&self) -> Vec<Dimension> {
        let mut dimensions = vec![Dimension::builder()
            .name("LoadBalancer")
            .value(&self.load_balancer)
            .build()];
        if let Some(target_group) = &self.target_group {
            dimensions.push(
                Dimension::builder()
                    .name("TargetGroup")
                    .value(target_group)
                    .build(),
            );
        }
        dimensions
    }
}

/// The names of the environment's rollback alarms.
pub fn names_of(names: &Names) -> Vec<String> {
    vec![names.rollback_alarm(FIVE_XX), names.rollback_alarm(LATENCY)]
}

/// One alarm as the spec wants it, in the terms `ensure` compares.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    name: String,
    threshold: f64,
    period: i32,
    evaluation_periods: i32,
    /// The metric math of the 5xx rate, or the metric of the response time.
    what: String,
}

fn wanted(names: &Names, spec: &RollbackAlarmsSpec, watched: &Watched) -> Vec<Wanted> {
    let period = i32::try_from(spec.period_seconds).unwrap_or(60);
    let evaluation_periods = i32::try_from(spec.evaluation_periods).unwrap_or(3);
    let on = format!(
        "{} {}",
        watched.load_balancer,
        watched.target_group.as_deref().unwrap_or_default()
    );
    vec![
        Wanted {
            name: names.rollback_alarm(FIVE_XX),
            threshold: spec.max_5xx_percent,
            period,
            evaluation_periods,
            what: format!("{FIVE_XX_RATE} on {on}"),
        },
        Wanted {
            name: names.rollback_alarm(LATENCY),
            threshold: spec.max_response_time_seconds,
            period,
            evaluation_periods,
            what: format!("TargetResponseTime Average on {on}"),
        },
    ]
}

/// The 5xx answers of the tasks in percent of the requests; no requests is no error.
const FIVE_XX_RATE: &str = "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)";

/// What an existing alarm is, in the terms of [`Wanted`].
fn as_found(alarm: &MetricAlarm) -> Wanted {
    let dims = |dimensions: &[Dimension]| {
        let value = |name: &str| {
            dimensions
                .iter()
                .find(|d| d.name() == Some(name))
                .and_then(|d| d.value())
                .unwrap_or_default()
                .to_string()
        };
        format!("{} {}", value("LoadBalancer"), value("TargetGroup"))
    };
    let queries = alarm.metrics();
    let (period, what) = match queries.iter().find(|q| q.expression().is_some()) {
        Some(expression) => {
            let stat = queries.iter().find_map(|q| q.metric_stat());
            let on = stat
                .and_then(|s| s.metric())
                .map(|m| dims(m.dimensions()))
                .unwrap_or_default();
            (
                stat.and_then(|s| s.period()).unwrap_or_default(),
                format!("{} on {on}", expression.expression().unwrap_or_default()),
            )
        }
        None => (
            alarm.period().unwrap_or_default(),
            format!(
                "{} {} on {}",
                alarm.metric_name().unwrap_or_default(),
                alarm.statistic().map(|s| s.as_str()).unwrap_or_default(),
                dims(alarm.dimensions())
            ),
        ),
    };
    Wanted {
        name: alarm.alarm_name().unwrap_or_default().to_string(),
        threshold: alarm.threshold().unwrap_or_default(),
        period,
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        what,
    }
}

async fn find(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &Names,
) -> Result<Vec<MetricAlarm>, ProvisionError> {
    let found = cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names_of(names)))
        .send()
        .await
        .context("DescribeAlarms", names.environment())?;
    Ok(found.metric_alarms().to_vec())
}

fn tags(names: &Names, role: &str) -> Vec<Tag> {
    owner(names)
        .tags(role)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn put(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &Names,
    want: &Wanted,
    watched: &Watched,
) -> Result<(), ProvisionError> {
    let metric = |name: &str| {
        Metric::builder()
            .namespace(NAMESPACE)
            .metric_name(name)
            .set_dimensions(Some(watched.dimensions()))
            .build()
    };
    let stat = |id: &str, name: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(metric(name))
                    .period(want.period)
                    .stat("Sum")
                    .build(),
            )
            .return_data(false)
            .build()
    };
    let request = cloudwatch
        .put_metric_alarm()
        .alarm_name(&want.name)
        .alarm_description(format!(
            "fargate-provisioner: deployments of {} fail and roll back while this is in ALARM",
            names.environment()
        ))
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .threshold(want.threshold)
        .evaluation_periods(want.evaluation_periods)
        .datapoints_to_alarm(want.evaluation_periods)
        .treat_missing_data("notBreaching")
        .set_tags(Some(tags(names, "rollback-alarm")));
    let request = if want.name.ends_with(FIVE_XX) {
        request
            .metrics(stat("errors", "HTTPCode_Target_5XX_Count"))
            .metrics(stat("requests", "RequestCount"))
            .metrics(
                MetricDataQuery::builder()
                    .id("rate")
                    .expression(FIVE_XX_RATE)
                    .label("5xx percent")
                    .return_data(true)
                    .build(),
            )
    } else {
        request
            .namespace(NAMESPACE)
            .metric_name("TargetResponseTime")
            .statistic(Statistic::Average)
            .set_dimensions(Some(watched.dimensions()))
            .period(want.period)
    };
    request.send().await.context("PutMetricAlarm", &want.name)?;
    tracing::info!(alarm = %want.name, "put rollback alarm");
    Ok(())
}

/// Makes the alarms what the spec says (none without `rollbackAlarms`), sending only what
/// differs. Returns what changed.
pub async fn ensure(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &Names,
    spec: Option<&RollbackAlarmsSpec>,
    watched: &Watched,
) -> Result<Vec<&'static str>, ProvisionError> {
    let found: Vec<Wanted> = find(cloudwatch, names)
        .await?
        .iter()
        .map(as_found)
        .collect();
    let mut changed = Vec::new();
    let Some(spec) = spec else {
        if !found.is_empty() {
            delete(cloudwatch, names, &found).await?;
            changed.push("rollbackAlarms");
        }
        return Ok(changed);
    };
    for want in wanted(names, spec, watched) {
        let current = found.iter().find(|f| f.name == want.name);
        if current == Some(&want) {
            continue;
        }
        let change = match current {
            Some(c) => Change::update("alarm", &want.name)
                .field("threshold", c.threshold, want.threshold)
                .field("period", c.period, want.period)
                .field(
                    "evaluationPeriods",
                    c.evaluation_periods,
                    want.evaluation_periods,
                ),
            None => Change::create("alarm", &want.name).set("threshold", want.threshold),
        };
        if changes::carry_out(change) {
            put(cloudwatch, names, &want, watched).await?;
        }
        changed.push("rollbackAlarms");
    }
    changed.dedup();
    Ok(changed)
}

async fn delete(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &Names,
    found: &[Wanted],
) -> Result<(), ProvisionError> {
    let doomed: Vec<String> = found.iter().map(|f| f.name.clone()).collect();
    let change = Change::delete("alarms", doomed.join(", ")).because("the spec no longer has them");
    if !changes::carry_out(change) {
        return Ok(());
    }
    // A resend after the alarms went finds none.
    cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(doomed))
        .send()
        .await
        .context("DeleteAlarms", names.environment())
        .not_found_as_none()?;
    tracing::info!("deleted rollback alarms");
    Ok(())
}

/// Deletes the environment's rollback alarms, if it has any.
pub async fn delete_all(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &Names,
) -> Result<(), ProvisionError> {
    let found: Vec<Wanted> = find(cloudwatch, names)
        .await?
        .iter()
        .map(as_found)
        .collect();
    if !found.is_empty() {
        delete(cloudwatch, names, &found).await?;
    }
    Ok(())
}
