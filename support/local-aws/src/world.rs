//! The realistic local AWS: the table of behaviours in which it differs from the plain emulator,
//! each with the AWS documentation or report it follows, and the configuration that switches them
//! on and sets their durations.
//!
//! Most behaviours run inside the emulator (`python/localaws/behaviours/`); the router behaviours
//! (IAM, faults) run in support/local-lambda. Durations are AWS seconds; the world's clock is
//! compressed by `scale` (world time stands still while the emulator handles a request, and each
//! API call costs `latency_seconds`), so the modelled AWS time of a run does not depend on this
//! machine's speed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Where a behaviour is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Inside the emulator (a module of `python/localaws/behaviours`).
    Emulator,
    /// In the router in front of the emulator (support/local-lambda).
    Router,
}

/// One way the local world behaves like AWS.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub id: &'static str,
    pub side: Side,
    pub what: &'static str,
    /// The AWS documentation or public report it follows.
    pub source: &'static str,
    /// Its durations, in AWS seconds, with their defaults.
    pub seconds: &'static [(&'static str, f64)],
    /// Its other settings (JSON), with their defaults.
    pub values: &'static [(&'static str, &'static str)],
    /// On in the local run and the whole-system tests unless switched off.
    pub on_by_default: bool,
}

pub const BEHAVIOURS: &[Behaviour] = &[
    Behaviour {
        id: "time",
        side: Side::Emulator,
        what: "Step Functions runs on the world's clock: a Wait lasts its AWS seconds, and execution and history dates are world time (so they give the modelled AWS time)",
        source: "Step Functions Wait state; the world's compressed clock",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "api-latency",
        side: Side::Emulator,
        what: "every API call costs time after its answer is ready (world time stands still while the emulator works)",
        source: "a typical AWS control-plane call; the figure is the model's, configurable",
        seconds: &[("perCall", 0.1)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "alb-lifecycle",
        side: Side::Emulator,
        what: "a new load balancer is `provisioning`, then `active`",
        source: "ELB User Guide (load balancer state); terraform-provider-aws#8054",
        seconds: &[("provisioning", 150.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "alb-answers",
        side: Side::Emulator,
        what: "an HTTP request to a load balancer's DNS name is answered as the load balancer answers: 503 while it provisions, when nothing listens on the port or no target is healthy; the listener's redirect; else the app's 200",
        source: "ELB User Guide (listeners and default actions; HTTP 503: no registered or healthy targets)",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "endpoint-lifecycle",
        side: Side::Emulator,
        what: "a new interface endpoint is `pending`, a gateway briefly; a deleted one is `deleting`, then `deleted` (still listed a while, as AWS lists it)",
        source: "AWS PrivateLink guide (endpoint states)",
        seconds: &[("interface", 90.0), ("gateway", 5.0), ("deleting", 30.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "ecs-tasks",
        side: Side::Emulator,
        what: "services run tasks PROVISIONING -> PENDING -> RUNNING with an interface in a private subnet, register them as ip targets (initial until healthy threshold x interval after the load balancer is active), roll deployments within the service's percentages (a new task definition, network configuration, load balancers or platform version starts new tasks), drain old tasks for the deregistration delay, trip the circuit breaker (0.5 x desired, 3..200, or the service's threshold configuration: a count, or a percentage of desired bounded to 3..200 or not) and roll back; with deployment alarms, a rollout fails (and rolls back) when a watched alarm goes into ALARM once a new task runs, an alarm already in ALARM when the deployment starts is not held against it, and the rollout stays IN_PROGRESS for a bake time after it is otherwise done (the longest alarm window: ECS does not publish its formula); a deleted service is DRAINING until its tasks stop and a same-name CreateService meanwhile is refused; DescribeServices reports the deployment configuration and grace period; ListTasks filters by service; a running task's container reports the image digest it runs; a service on a capacity provider strategy places each task on a provider by base, then weight, and UpdateService changes the strategy in place (an empty one returns to the launch type, a provider the cluster lacks is refused, new tasks only with a forced deployment)",
        source: "ECS Developer Guide (task lifecycle, rolling update, deployment circuit breaker, how CloudWatch alarms detect deployment failures, DeleteService, container image resolution, capacity provider strategies); ECS API Reference (Container.imageDigest, UpdateService capacityProviderStrategy, CapacityProviderStrategyItem, ThresholdConfiguration); ELB User Guide (target health, deregistration delay); aws/copilot-cli#4512 (alarms already in ALARM are ignored)",
        seconds: &[("provisioning", 15.0), ("pending", 30.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "traffic-shifts",
        side: Side::Emulator,
        what: "a service with a BLUE_GREEN, CANARY or LINEAR strategy needs the load balancer's alternate target group, a production listener rule forwarding to both groups and a role ECS may assume; a deployment that replaces running tasks starts all new tasks in the group without production traffic, then shifts the rule's weights (all at once; the canary's share, then the rest after its bake; one step per step bake, none after 100%), keeps both versions for the bake time, then stops the old tasks and completes; the next deployment uses the other group; a watched alarm in ALARM or the circuit breaker before then puts the traffic back, stops the new tasks and makes the old deployment PRIMARY again; a first deployment has nothing to shift from and starts in the service's target group",
        source: "ECS Developer Guide (blue/green, canary and linear deployments; Application Load Balancer resources for them; the infrastructure IAM role for load balancers); ECS API Reference (DeploymentConfiguration, CanaryConfiguration, LinearConfiguration, AdvancedConfiguration); terraform-provider-aws#43905 and terraform-aws-modules/terraform-aws-alb#409 (ECS changes the rule's weights); go-to-k/cdk-real-drift#1730 (a weighted forward over both groups after a deployment)",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "service-autoscaling",
        side: Side::Emulator,
        what: "RegisterScalableTarget on an active ECS service moves its desired count into the new limits at once and needs both limits for a new target; PutScalingPolicy needs a registered target; DeregisterScalableTarget deletes the target's policies and their alarms; deregistering or deleting what does not exist answers ObjectNotFoundException",
        source: "Application Auto Scaling API Reference (RegisterScalableTarget, DeregisterScalableTarget, PutScalingPolicy, DeleteScalingPolicy)",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "certificate-validation",
        side: Side::Emulator,
        what: "a certificate requested with DNS validation lists its validation record only after a few seconds, and that record is the same for every certificate of the name in the account; ACM issues it a while after the record exists in a public hosted zone, never without it; a listener refuses a certificate that is not issued (UnsupportedCertificate); a certificate a listener serves cannot be deleted (ResourceInUseException)",
        source: "ACM User Guide (DNS validation); ACM API reference (DeleteCertificate); aws/aws-sdk-js#2133 and terraform-provider-aws#9596 (no ResourceRecord at first); DataBiosphere/azul#8321 (UnsupportedCertificate for a certificate not yet issued)",
        seconds: &[("publish", 5.0), ("validation", 30.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "nat-gateways",
        side: Side::Emulator,
        what: "a new NAT gateway is pending before it is available, and a route to it is refused until then; a deleted one is deleting before it is deleted, and only then are its interface and its Elastic IP's association gone; its interface maps a public address; CreateNatGateway honours its client token",
        source: "Amazon VPC User Guide (NAT gateways); kubernetes/kops#944 (InvalidNatGatewayID.NotFound for a route to a gateway not yet available)",
        seconds: &[("pending", 90.0), ("deleting", 60.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "network-interfaces",
        side: Side::Emulator,
        what: "interface endpoints, load balancers and tasks own network interfaces in their subnets, released some time after their owner is deleted",
        source: "cloud-nuke#285, #293; hashicorp/terraform#3758",
        seconds: &[("endpoint", 60.0), ("alb", 90.0), ("task", 30.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "dependency-violations",
        side: Side::Emulator,
        what: "DeleteSubnet, DeleteSecurityGroup and DeleteVpc fail with DependencyViolation while an interface (or another group's rule) uses them; DetachInternetGateway while public addresses are mapped",
        source: "EC2 API reference (DeleteSubnet, DeleteSecurityGroup, DeleteVpc, DetachInternetGateway), with AWS's wording",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "eventual-consistency",
        side: Side::Emulator,
        what: "for a few seconds after an EC2 create, a request naming the new id answers Invalid<Kind>ID.NotFound; after ModifyVpcAttribute, DescribeVpcAttribute still reads the old value",
        source: "EC2 API reference, \"Eventual consistency in the Amazon EC2 API\"; terraform-provider-aws#18391",
        seconds: &[("window", 2.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "availability-zones",
        side: Side::Emulator,
        what: "each region has the zones a new account can use (us-west-1: b and c; ap-northeast-1: no b; ca-central-1: no c); CreateSubnet elsewhere fails with InvalidParameterValue",
        source: "EC2 DescribeAvailabilityZones; aws-samples/saas-reference-architecture-ecs#12 (AWS's message)",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "endpoint-service-zones",
        side: Side::Emulator,
        what: "each endpoint service is offered in the zones of a table; CreateVpcEndpoint in another zone fails with InvalidParameter",
        source: "terraform-aws-vpc#462, #785 (email-smtp in us-east-1 lacks a, e, f); DescribeVpcEndpointServices",
        seconds: &[],
        values: &[("gaps", "{}")],
        on_by_default: true,
    },
    Behaviour {
        id: "service-linked-roles",
        side: Side::Emulator,
        what: "a new account's first ECS cluster with capacity providers fails with \"Unable to assume the service linked role\" until the role has propagated",
        source: "cloudformation-coverage-roadmap#818; baseline-environment-on-aws#238",
        seconds: &[("propagation", 15.0)],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "quotas",
        side: Side::Emulator,
        what: "default quotas per region: 5 VPCs (VpcLimitExceeded), 5 internet gateways (InternetGatewayLimitExceeded)",
        source: "Amazon VPC quotas",
        seconds: &[],
        values: &[("vpcsPerRegion", "5"), ("internetGatewaysPerRegion", "5")],
        on_by_default: true,
    },
    Behaviour {
        id: "parameter-tiers",
        side: Side::Emulator,
        what: "Parameter Store holds at most 4 KB in a standard parameter and 8 KB in an advanced one (ValidationException); an advanced parameter is never overwritten as standard",
        source: "Systems Manager user guide, \"Managing parameter tiers\"; go-to-k/cdk-real-drift#408",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "image-pulls",
        side: Side::Emulator,
        what: "a task starts only if it can reach, in this order, ECR's API, its secrets, the registry, S3 and CloudWatch Logs (through endpoints, or an internet path); otherwise it stops with ResourceInitializationError or CannotPullContainerError, worded as AWS words it",
        source: "ECS troubleshooting guide; aws-samples/keycloak-on-aws#222",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-vpc-attributes",
        side: Side::Emulator,
        what: "ModifyVpcAttribute takes one attribute per call (InvalidParameterCombination)",
        source: "EC2 API reference, ModifyVpcAttribute",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-private-dns",
        side: Side::Emulator,
        what: "private DNS on an interface endpoint needs both VPC DNS attributes (InvalidParameter)",
        source: "AWS PrivateLink guide, private DNS",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-alb-subnets",
        side: Side::Emulator,
        what: "an application load balancer needs subnets in two zones (ValidationError) with 8 free addresses each (InvalidSubnet)",
        source: "ELB User Guide, \"Subnets for your load balancer\"",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-fargate-sizes",
        side: Side::Emulator,
        what: "a Fargate task definition needs a CPU and memory pair Fargate offers (ClientException)",
        source: "ECS Developer Guide, \"Task CPU and memory\"",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-target-group-attached",
        side: Side::Emulator,
        what: "a service's target group must be one a load balancer forwards to (InvalidParameterException)",
        source: "ECS CreateService",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-duplicate-names",
        side: Side::Emulator,
        what: "creating a load balancer or target group under an existing name, or a listener on a port that has one, returns it when the settings are the same and fails (Duplicate...) when they differ",
        source: "ELB API reference, CreateLoadBalancer, CreateTargetGroup and CreateListener (\"idempotent\")",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "iam",
        side: Side::Router,
        what: "every call of a function is authorized against its role's policies as the stack created them, with the dependent actions AWS documents (tagging on create, iam:PassRole, ELB's EC2 describes, a first service-linked role, private DNS's hosted zone), by an IAM simulator this project did not write; what is not allowed is answered AccessDenied / UnauthorizedOperation",
        source: "IAM policy evaluation logic; ELB \"API permissions\"; Service Authorization Reference; @cloud-copilot/iam-simulate",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "lambda-timeouts",
        side: Side::Router,
        what: "an invocation still running after its function's Timeout (AWS seconds on the world's clock) ends with Sandbox.Timedout; the state machine sees that error",
        source: "Lambda Developer Guide, function timeout; Step Functions error names for Lambda tasks",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "cloudformation-resources",
        side: Side::Emulator,
        what: "CloudFormation attaches a role's ManagedPolicyArns and fills a state machine's DefinitionSubstitutions (the emulator drops both): the deploy rehearsal's stack is the template's",
        source: "CloudFormation AWS::IAM::Role and AWS::StepFunctions::StateMachine",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "eventbridge-targets",
        side: Side::Emulator,
        what: "a rule whose target is a state machine starts an execution with the event as input (the emulator delivers only to logs, archives, queues and buses)",
        source: "EventBridge User Guide, Step Functions state machine as a target",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
    Behaviour {
        id: "strict-client-token",
        side: Side::Emulator,
        what: "a create repeated with a client token (CreateVpcEndpoint, CreateRouteTable, CreateNatGateway, ECS CreateService) returns what the first call made; other parameters, or a token whose resource is deleted, answer IdempotentParameterMismatch",
        source: "EC2 user guide, \"Ensuring idempotency in Amazon EC2 API requests\"; ECS API reference, \"Ensuring idempotency\"",
        seconds: &[],
        values: &[],
        on_by_default: true,
    },
];

/// The behaviour of that id.
pub fn behaviour(id: &str) -> Option<&'static Behaviour> {
    BEHAVIOURS.iter().find(|b| b.id == id)
}

/// How the local world runs: which behaviours are on, their durations, and the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// World seconds per wall second while the emulator is idle.
    pub scale: f64,
    on: BTreeMap<&'static str, bool>,
    seconds: BTreeMap<(&'static str, &'static str), f64>,
    values: BTreeMap<(&'static str, &'static str), Value>,
}

/// The default compression: the reference create (about 300 AWS seconds) in about 20 s.
pub const DEFAULT_SCALE: f64 = 15.0;

/// Behaviours that fill gaps of the emulator the deployment itself needs: on even in the instant
/// world.
pub const FIDELITY: [&str; 2] = ["cloudformation-resources", "eventbridge-targets"];

impl World {
    /// The plain emulator's behaviour (instant, lenient, consistent) with only the gaps the
    /// deployment needs filled.
    pub fn instant() -> Self {
        let mut world = Self::realistic().with_scale(1.0);
        for behaviour in BEHAVIOURS {
            world = world.with(behaviour.id, FIDELITY.contains(&behaviour.id));
        }
        world
    }

    /// Every behaviour on by default on, with its default durations.
    pub fn realistic() -> Self {
        Self {
            scale: DEFAULT_SCALE,
            on: BEHAVIOURS.iter().map(|b| (b.id, b.on_by_default)).collect(),
            seconds: BTreeMap::new(),
            values: BTreeMap::new(),
        }
    }

    fn known(id: &str) -> &'static Behaviour {
        behaviour(id).unwrap_or_else(|| panic!("no behaviour {id} in the table"))
    }

    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    /// Switches one behaviour on or off.
    pub fn with(mut self, id: &str, on: bool) -> Self {
        self.on.insert(Self::known(id).id, on);
        self
    }

    /// Sets one duration of a behaviour, in AWS seconds.
    pub fn with_seconds(mut self, id: &str, name: &str, seconds: f64) -> Self {
        let behaviour = Self::known(id);
        let name = behaviour
            .seconds
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{id} has no duration {name}"))
            .0;
        self.seconds.insert((behaviour.id, name), seconds);
        self
    }

    /// Sets one value of a behaviour.
    pub fn with_value(mut self, id: &str, name: &str, value: Value) -> Self {
        let behaviour = Self::known(id);
        let name = behaviour
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{id} has no value {name}"))
            .0;
        self.values.insert((behaviour.id, name), value);
        self
    }

    pub fn is_on(&self, id: &str) -> bool {
        self.on.get(id).copied().unwrap_or(false)
    }

    pub fn seconds(&self, id: &str, name: &str) -> f64 {
        let behaviour = Self::known(id);
        self.seconds
            .get(&(behaviour.id, name))
            .copied()
            .unwrap_or_else(|| {
                behaviour
                    .seconds
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, d)| *d)
                    .unwrap_or_else(|| panic!("{id} has no duration {name}"))
            })
    }

    /// The configuration the emulator reads (`LOCALAWS_CONFIG`).
    pub fn to_json(&self) -> Value {
        let behaviours: serde_json::Map<String, Value> = BEHAVIOURS
            .iter()
            .map(|b| {
                let seconds: serde_json::Map<String, Value> = b
                    .seconds
                    .iter()
                    .map(|(name, _)| (name.to_string(), json!(self.seconds(b.id, name))))
                    .collect();
                let values: serde_json::Map<String, Value> = b
                    .values
                    .iter()
                    .map(|(name, default)| {
                        let value = self.values.get(&(b.id, *name)).cloned().unwrap_or_else(|| {
                            serde_json::from_str(default).expect("defaults are JSON")
                        });
                        (name.to_string(), value)
                    })
                    .collect();
                (
                    b.id.to_string(),
                    json!({"on": self.is_on(b.id), "seconds": seconds, "values": values}),
                )
            })
            .collect();
        let latency = if self.is_on("api-latency") {
            self.seconds("api-latency", "perCall")
        } else {
            0.0
        };
        json!({"scale": self.scale, "latencySeconds": latency, "behaviours": behaviours})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_behaviour_once_with_a_source() {
        let mut ids: Vec<&str> = BEHAVIOURS.iter().map(|b| b.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), BEHAVIOURS.len());
        for b in BEHAVIOURS {
            assert!(!b.source.is_empty() && !b.what.is_empty(), "{}", b.id);
        }
    }

    #[test]
    fn overrides_reach_the_emulator_configuration() {
        let world = World::realistic()
            .with("quotas", false)
            .with_seconds("alb-lifecycle", "provisioning", 10.0)
            .with_value("quotas", "vpcsPerRegion", json!(50));
        let config = world.to_json();
        assert_eq!(config["behaviours"]["quotas"]["on"], false);
        assert_eq!(
            config["behaviours"]["quotas"]["values"]["vpcsPerRegion"],
            50
        );
        assert_eq!(
            config["behaviours"]["alb-lifecycle"]["seconds"]["provisioning"],
            10.0
        );
        assert_eq!(
            config["behaviours"]["endpoint-lifecycle"]["seconds"]["interface"],
            90.0
        );
        assert_eq!(config["latencySeconds"], 0.1);
    }
}
