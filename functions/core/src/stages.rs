//! The stage table: the one place that says which stages exist, which Lambda runs each, what each
//! waits for, in which order they apply and are destroyed, and what each contributes to the
//! environment's attributes. The state machine (generated from this table), the control
//! function's CloudFormation attributes, the CLI's progress and environment view and the local
//! router's function map all read it.

use crate::outputs;

/// A Lambda function of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Logical id in template.yaml, e.g. `NetworkFunction`.
    pub logical_id: &'static str,
    /// The cargo binary SAM builds for it (`Metadata.BuildProperties.Binary`).
    pub binary: &'static str,
}

impl Function {
    /// The `DefinitionSubstitutions` name of its ARN in the state machine, e.g.
    /// `NetworkFunctionArn`.
    pub fn substitution(&self) -> String {
        format!("{}Arn", self.logical_id)
    }
}

/// The state machine's own steps: prepare, report, forget.
pub const CONTROL: Function = Function {
    logical_id: "ControlFunction",
    binary: "control-function",
};

/// The `Custom::FargateEnvironment` entry: it starts executions, it is not one of their states.
pub const CUSTOM_RESOURCE: Function = Function {
    logical_id: "CustomResourceFunction",
    binary: "custom-resource",
};

/// The state machine's own states around the stages' steps.
pub mod states {
    pub const PREPARE: &str = "Prepare";
    pub const HAS_ENVIRONMENT: &str = "HasEnvironment";
    pub const LEASE_POLLS: &str = "LeasePolls";
    pub const LEASE: &str = "Lease";
    pub const LEASE_HELD: &str = "LeaseHeld";
    pub const LEASE_WAIT: &str = "LeaseWait";
    pub const LEASE_COUNT: &str = "LeaseCount";
    pub const LEASE_TIMED_OUT: &str = "LeaseTimedOut";
    pub const ROUTE: &str = "Route";
    /// The start of the plan path: what the earlier stages planned is kept under `$.planned`.
    pub const PLAN: &str = "Plan";
    pub const FORGET: &str = "Forget";
    pub const FIND_REDEPLOY_TARGETS: &str = "FindRedeployTargets";
    pub const REDEPLOY_EACH: &str = "RedeployEach";
    pub const REPORT_SUCCESS: &str = "ReportSuccess";
    pub const REPORT_FAILURE: &str = "ReportFailure";
}

/// How the state machine waits for what an action started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The action answers at once; nothing to wait for.
    None,
    /// While the action answers `pending`, ask `status` every poll.
    Status {
        /// The longest wait, in AWS seconds, before the action fails with `Timeout`.
        budget_seconds: u32,
    },
    /// While the action answers `pending`, run the action again every poll (for work that comes
    /// in passes, such as a teardown that can finish only after what it started has stopped).
    Repeat { budget_seconds: u32 },
}

impl Poll {
    pub fn budget_seconds(self) -> Option<u32> {
        match self {
            Poll::None => None,
            Poll::Status { budget_seconds } | Poll::Repeat { budget_seconds } => {
                Some(budget_seconds)
            }
        }
    }
}

/// An attribute of the environment: a CloudFormation attribute (`!GetAtt Env.AlbDnsName`), a
/// field of the execution's result and a line of the printed environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    /// The stage output it comes from.
    pub output: &'static str,
}

/// One stage of the provisioner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageDef {
    /// Its name in the stage protocol, SSM paths and tags.
    pub name: &'static str,
    /// Its name in state names, e.g. `Network` in `NetworkApply`.
    pub title: &'static str,
    pub function: Function,
    /// Stages whose `apply` must be ready before this one's starts (and whose `destroy` waits
    /// for this one's).
    pub after: &'static [&'static str],
    pub apply: Poll,
    pub destroy: Poll,
    /// `Some` for the stage that rolls the service onto a new image on ECR pushes.
    pub redeploy: Option<Poll>,
    /// `Some` for a stage that removes, after the whole apply, what the spec no longer has.
    pub cleanup: Option<Poll>,
    /// True for a stage whose apply starts with work that needs no earlier stage: its
    /// `groundwork` runs at the start of an apply, beside the first group, so the apply finds it
    /// done (the service's cluster, whose first create in an account waits for ECS's
    /// service-linked role, its log group and task definition).
    pub groundwork: bool,
    pub attributes: &'static [Attribute],
    /// What it creates, in words, for the diagrams and the docs.
    pub makes: &'static [&'static str],
}

const MINUTE: u32 = 60;

pub const NETWORK: StageDef = StageDef {
    name: outputs::network::STAGE,
    title: "Network",
    function: Function {
        logical_id: "NetworkFunction",
        binary: "network-stage",
    },
    after: &[],
    // Applied again while its NAT gateways are pending (a route to one waits until it is
    // available); without NAT gateways it is ready at once.
    apply: Poll::Repeat {
        budget_seconds: 15 * MINUTE,
    },
    // The other stages' network interfaces linger for minutes after them.
    destroy: Poll::Repeat {
        budget_seconds: 20 * MINUTE,
    },
    redeploy: None,
    // Subnets dropped from the spec go once the ALB, the endpoints and the tasks have left them.
    cleanup: Some(Poll::Repeat {
        budget_seconds: 20 * MINUTE,
    }),
    groundwork: false,
    attributes: &[
        Attribute {
            name: "VpcId",
            output: outputs::network::VPC_ID,
        },
        Attribute {
            name: "PublicSubnetIds",
            output: outputs::network::PUBLIC_SUBNET_IDS,
        },
        Attribute {
            name: "PrivateSubnetIds",
            output: outputs::network::PRIVATE_SUBNET_IDS,
        },
        Attribute {
            name: "NatGatewayIds",
            output: outputs::network::NAT_GATEWAY_IDS,
        },
    ],
    makes: &[
        "VPC with DNS support and hostnames",
        "public and private subnets",
        "internet gateway and route tables",
        "NAT gateways and their Elastic IPs, when the spec asks",
        "security groups sec-alb, sec-web-via-alb, sec-privatelink",
    ],
};

pub const ENDPOINTS: StageDef = StageDef {
    name: outputs::endpoints::STAGE,
    title: "Endpoints",
    function: Function {
        logical_id: "EndpointsFunction",
        binary: "endpoints-stage",
    },
    after: &[outputs::network::STAGE],
    apply: Poll::Status {
        budget_seconds: 15 * MINUTE,
    },
    destroy: Poll::Status {
        budget_seconds: 15 * MINUTE,
    },
    redeploy: None,
    cleanup: None,
    groundwork: false,
    attributes: &[Attribute {
        name: "EndpointIds",
        output: outputs::endpoints::ENDPOINT_IDS,
    }],
    makes: &[
        "interface endpoints ecr.dkr, ecr.api, logs (+ per task features)",
        "s3 gateway endpoint",
    ],
};

pub const ALB: StageDef = StageDef {
    name: outputs::alb::STAGE,
    title: "Alb",
    function: Function {
        logical_id: "AlbFunction",
        binary: "alb-stage",
    },
    after: &[outputs::network::STAGE],
    // Ready once the target group and listeners exist: the service can be created while the
    // load balancer is still provisioning, and its readiness waits for the targets' health.
    // With a domain whose certificate it requests, applied again until ACM has issued it (ACM
    // validation can take many minutes).
    apply: Poll::Repeat {
        budget_seconds: 45 * MINUTE,
    },
    // Destroyed again while the deleted load balancer still holds the certificate.
    destroy: Poll::Repeat {
        budget_seconds: 10 * MINUTE,
    },
    redeploy: None,
    cleanup: None,
    groundwork: false,
    attributes: &[
        Attribute {
            name: "AlbArn",
            output: outputs::alb::LOAD_BALANCER_ARN,
        },
        Attribute {
            name: "AlbDnsName",
            output: outputs::alb::DNS_NAME,
        },
        Attribute {
            name: "AlbHostedZoneId",
            output: outputs::alb::HOSTED_ZONE_ID,
        },
        Attribute {
            name: "Url",
            output: outputs::alb::URL,
        },
        Attribute {
            name: "TargetGroupArn",
            output: outputs::alb::TARGET_GROUP_ARN,
        },
        Attribute {
            name: "CertificateArn",
            output: outputs::alb::CERTIFICATE_ARN,
        },
    ],
    makes: &[
        "internet-facing application load balancer",
        "ip target group",
        "listeners",
        "ACM certificate and Route 53 alias, for a domain",
        "alternate target group and production listener rule, for blue/green, canary and linear rollouts",
    ],
};

pub const SERVICE: StageDef = StageDef {
    name: outputs::service::STAGE,
    title: "Service",
    function: Function {
        logical_id: "ServiceFunction",
        binary: "service-stage",
    },
    after: &[outputs::endpoints::STAGE, outputs::alb::STAGE],
    // A blue/green, canary or linear rollout shifts traffic and bakes for up to 90 minutes
    // (spec validation) before it completes.
    apply: Poll::Status {
        budget_seconds: 2 * 60 * MINUTE,
    },
    destroy: Poll::Repeat {
        budget_seconds: 20 * MINUTE,
    },
    redeploy: Some(Poll::Status {
        budget_seconds: 2 * 60 * MINUTE,
    }),
    cleanup: None,
    groundwork: true,
    attributes: &[
        Attribute {
            name: "ClusterArn",
            output: outputs::service::CLUSTER_ARN,
        },
        Attribute {
            name: "ServiceArn",
            output: outputs::service::SERVICE_ARN,
        },
        Attribute {
            name: "TaskDefinitionArn",
            output: outputs::service::TASK_DEFINITION_ARN,
        },
        Attribute {
            name: "LogGroup",
            output: outputs::service::LOG_GROUP,
        },
        Attribute {
            name: "AutoScaling",
            output: outputs::service::AUTO_SCALING,
        },
        Attribute {
            name: "RollbackAlarms",
            output: outputs::service::ROLLBACK_ALARMS,
        },
        Attribute {
            name: "Rollout",
            output: outputs::service::ROLLOUT,
        },
    ],
    makes: &[
        "ECS cluster",
        "log group",
        "task definition",
        "Fargate service",
        "autoscaling target and policies",
        "rollback alarms, when the spec asks",
    ],
};

/// Every stage, in the order they are listed in the template and shown to the user.
pub const STAGES: &[StageDef] = &[NETWORK, ENDPOINTS, ALB, SERVICE];

/// The stage of that name.
pub fn stage(name: &str) -> Option<&'static StageDef> {
    STAGES.iter().find(|s| s.name == name)
}

/// Every Lambda function of the template: the stages', the control function and the custom
/// resource.
pub fn functions() -> impl Iterator<Item = Function> {
    STAGES
        .iter()
        .map(|s| s.function)
        .chain([CONTROL, CUSTOM_RESOURCE])
}

/// The stages grouped in the order `apply` runs them: each group depends only on earlier
/// groups, and the stages of one group run side by side.
pub fn apply_order() -> Vec<Vec<&'static StageDef>> {
    let mut placed: Vec<&str> = Vec::new();
    let mut groups = Vec::new();
    while placed.len() < STAGES.len() {
        let group: Vec<&'static StageDef> = STAGES
            .iter()
            .filter(|s| !placed.contains(&s.name) && s.after.iter().all(|a| placed.contains(a)))
            .collect();
        assert!(
            !group.is_empty(),
            "the stage table has a dependency cycle or names an unknown stage"
        );
        placed.extend(group.iter().map(|s| s.name));
        groups.push(group);
    }
    groups
}

/// The stages whose `groundwork` runs beside the first group of an apply.
pub fn groundwork() -> impl Iterator<Item = &'static StageDef> {
    STAGES.iter().filter(|s| s.groundwork)
}

/// The stages with a cleanup, run side by side after the whole apply.
pub fn cleanup_order() -> Vec<Vec<&'static StageDef>> {
    let group: Vec<&'static StageDef> = STAGES.iter().filter(|s| s.cleanup.is_some()).collect();
    if group.is_empty() {
        vec![]
    } else {
        vec![group]
    }
}

/// The wait of `stage`'s `action`, if the action is one of its steps.
pub fn poll_of(stage: &StageDef, action: crate::Action) -> Option<Poll> {
    use crate::Action;
    match action {
        Action::Apply => Some(stage.apply),
        Action::Destroy => Some(stage.destroy),
        Action::Redeploy => stage.redeploy,
        Action::Cleanup => stage.cleanup,
        Action::Plan => Some(Poll::None),
        Action::Groundwork => stage.groundwork.then_some(Poll::None),
        Action::Status => None,
    }
}

/// The groups in the order `destroy` runs them: the reverse of [`apply_order`].
pub fn destroy_order() -> Vec<Vec<&'static StageDef>> {
    let mut groups = apply_order();
    groups.reverse();
    groups
}

/// The state machine's name of a stage's step, e.g. `NetworkApply`, `ServiceDestroy`.
pub fn state_name(stage: &StageDef, action: crate::Action) -> String {
    let action = match action {
        crate::Action::Apply => "Apply",
        crate::Action::Status => "Status",
        crate::Action::Destroy => "Destroy",
        crate::Action::Redeploy => "Redeploy",
        crate::Action::Cleanup => "Cleanup",
        crate::Action::Plan => "Plan",
        crate::Action::Groundwork => "Groundwork",
    };
    format!("{}{action}", stage.title)
}

/// The stage and action a state of the state machine belongs to (its own step or its wait loop).
pub fn stage_of_state(state: &str) -> Option<(&'static StageDef, crate::Action)> {
    use crate::Action;
    STAGES.iter().find_map(|stage| {
        [
            Action::Apply,
            Action::Destroy,
            Action::Redeploy,
            Action::Cleanup,
            Action::Plan,
            Action::Groundwork,
        ]
        .into_iter()
        .find(|action| state.starts_with(&state_name(stage, *action)))
        .map(|action| (stage, action))
    })
}

/// Every attribute of the environment, with the stage it comes from.
pub fn attributes() -> impl Iterator<Item = (&'static StageDef, &'static Attribute)> {
    STAGES
        .iter()
        .flat_map(|s| s.attributes.iter().map(move |a| (s, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_runs_the_network_first_then_endpoints_and_alb_together_then_the_service() {
        let names: Vec<Vec<&str>> = apply_order()
            .iter()
            .map(|g| g.iter().map(|s| s.name).collect())
            .collect();
        assert_eq!(
            names,
            vec![vec!["network"], vec!["endpoints", "alb"], vec!["service"]]
        );
        let reversed: Vec<&str> = destroy_order().iter().map(|g| g[0].name).collect();
        assert_eq!(reversed, vec!["service", "endpoints", "network"]);
    }

    #[test]
    fn names_and_binaries_are_unique_and_states_map_back() {
        let mut binaries: Vec<&str> = functions().map(|f| f.binary).collect();
        binaries.sort();
        binaries.dedup();
        assert_eq!(binaries.len(), STAGES.len() + 2);
        for stage in STAGES {
            let state = state_name(stage, crate::Action::Apply);
            assert_eq!(
                stage_of_state(&format!("{state}Wait")).map(|(s, a)| (s.name, a)),
                Some((stage.name, crate::Action::Apply))
            );
        }
        let attributes: Vec<&str> = attributes().map(|(_, a)| a.name).collect();
        let mut unique = attributes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), attributes.len());
    }
}
