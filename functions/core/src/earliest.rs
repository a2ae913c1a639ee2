//! How soon what a stage has just started can be done, at the earliest: the lower ends of the
//! ranges AWS documents and users report. A stage that starts one of these asks the state
//! machine to wait that long before its first poll, then polls briskly; polling sooner only
//! spends calls.

/// An interface VPC endpoint goes from `pending` to `available` in 60-120 s (AWS PrivateLink
/// guide, endpoint states; measured creates).
pub const INTERFACE_ENDPOINT_SECONDS: u32 = 60;

/// A Fargate task goes from PROVISIONING to RUNNING in 30-60 s, image pull included (ECS task
/// lifecycle).
pub const TASK_START_SECONDS: u32 = 30;

/// A new task is in service at the earliest once it runs and has passed the target group's
/// health check `healthy_threshold` times, `interval_seconds` apart (ELB target health).
pub fn task_in_service_seconds(healthy_threshold: i64, interval_seconds: i64) -> u32 {
    let checks = healthy_threshold
        .max(0)
        .saturating_mul(interval_seconds.max(0));
    TASK_START_SECONDS.saturating_add(u32::try_from(checks).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_in_service_after_it_starts_and_passes_its_checks() {
        // The spec's defaults: 2 checks 10 s apart.
        assert_eq!(task_in_service_seconds(2, 10), 50);
        assert_eq!(task_in_service_seconds(10, 300), 3030);
    }
}
