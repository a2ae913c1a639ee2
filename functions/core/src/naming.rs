//! Names and tags of everything the provisioner creates. Every resource carries the environment tag;
//! the stage and role tags say which stage owns it and which part it plays, so a re-run finds it
//! again instead of creating a second one.

/// Tag on every resource: the environment it belongs to.
pub const ENVIRONMENT_TAG: &str = "fargate-provisioner:environment";
/// Tag naming the stage that created the resource.
pub const STAGE_TAG: &str = "fargate-provisioner:stage";
/// Tag naming the resource's part in the stage, e.g. `vpc`, `public-subnet-2`.
pub const ROLE_TAG: &str = "fargate-provisioner:role";

/// Longest environment name: `<name>-alb` and `<name>-tg` must fit AWS's 32-character limit.
pub const MAX_ENVIRONMENT_NAME_LEN: usize = 28;

/// Root of every SSM parameter the provisioner writes.
pub const SSM_ROOT: &str = "/fargate-provisioner";

/// Names derived from an environment name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    environment: String,
}

impl Names {
    pub fn new(environment: impl Into<String>) -> Self {
        Self {
            environment: environment.into(),
        }
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The `Name` tag shown in the console, e.g. `demo-public-subnet-1`.
    pub fn display_name(&self, role: &str) -> String {
        format!("{}-{role}", self.environment)
    }

    pub fn load_balancer(&self) -> String {
        format!("{}-alb", self.environment)
    }

    pub fn target_group(&self) -> String {
        format!("{}-tg", self.environment)
    }

    /// The second target group of blue/green, canary and linear rollouts.
    pub fn alternate_target_group(&self) -> String {
        format!("{}-tg2", self.environment)
    }

    /// A security group's name: `<environment>-<role>`, e.g. `demo-sec-alb`.
    pub fn security_group(&self, role: &str) -> String {
        self.display_name(role)
    }

    /// The ECS cluster: one per environment, named after it.
    pub fn cluster(&self) -> String {
        self.environment.clone()
    }

    /// The ECS service, named after the environment.
    pub fn service(&self) -> String {
        self.environment.clone()
    }

    /// The service as Application Auto Scaling names it: `service/<cluster>/<service>`.
    pub fn scalable_service(&self) -> String {
        format!("service/{}/{}", self.cluster(), self.service())
    }

    /// A CloudWatch alarm a deployment watches, e.g. `<environment>-rollback-5xx`.
    pub fn rollback_alarm(&self, what: &str) -> String {
        format!("{}-rollback-{what}", self.environment())
    }

    /// The task definition family, named after the environment.
    pub fn family(&self) -> String {
        self.environment.clone()
    }

    /// The container logs' group.
    pub fn log_group(&self) -> String {
        format!("/ecs/fargate-provisioner/{}", self.environment)
    }

    /// `/fargate-provisioner/<environment>`
    pub fn ssm_prefix(&self) -> String {
        format!("{SSM_ROOT}/{}", self.environment)
    }

    /// `/fargate-provisioner/<environment>/spec`
    pub fn spec_parameter(&self) -> String {
        format!("{}/spec", self.ssm_prefix())
    }

    /// `/fargate-provisioner/<environment>/<stage>/`: everything a stage stores.
    pub fn stage_prefix(&self, stage: &str) -> String {
        format!("{}/{stage}/", self.ssm_prefix())
    }

    /// `/fargate-provisioner/<environment>/<stage>/outputs`: a stage's outputs, one JSON object,
    /// so a stage writes them in one call and another reads them in one.
    pub fn stage_outputs_parameter(&self, stage: &str) -> String {
        format!("{}outputs", self.stage_prefix(stage))
    }

    /// The tags of a resource: environment, stage, role and `Name`.
    pub fn tags(&self, stage: &str, role: &str) -> Vec<(String, String)> {
        vec![
            (ENVIRONMENT_TAG.to_string(), self.environment.clone()),
            (STAGE_TAG.to_string(), stage.to_string()),
            (ROLE_TAG.to_string(), role.to_string()),
            ("Name".to_string(), self.display_name(role)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_name_fits_load_balancer_limits() {
        let names = Names::new("a".repeat(MAX_ENVIRONMENT_NAME_LEN));
        assert_eq!(names.load_balancer().len(), 32);
        assert!(names.target_group().len() <= 32);
    }

    #[test]
    fn ssm_layout() {
        let names = Names::new("demo");
        assert_eq!(names.spec_parameter(), "/fargate-provisioner/demo/spec");
        assert_eq!(
            names.stage_prefix("network"),
            "/fargate-provisioner/demo/network/"
        );
        assert_eq!(
            names.stage_outputs_parameter("network"),
            "/fargate-provisioner/demo/network/outputs"
        );
    }
}
