//! The contract between the stages: each stage's name and the outputs it writes under
//! `/fargate-provisioner/<environment>/<stage>/`. Stages read upstream outputs by these names, and
//! the custom resource turns them into CloudFormation attributes. Kept here, so that no stage
//! crate depends on another just for names.

pub mod network {
    pub const STAGE: &str = "network";
    pub const VPC_ID: &str = "vpc-id";
    pub const VPC_CIDR: &str = "vpc-cidr";
    pub const PUBLIC_SUBNET_IDS: &str = "public-subnet-ids";
    pub const PRIVATE_SUBNET_IDS: &str = "private-subnet-ids";
    pub const PUBLIC_ROUTE_TABLE_ID: &str = "public-route-table-id";
    pub const PRIVATE_ROUTE_TABLE_IDS: &str = "private-route-table-ids";
    /// Private route tables of another `natGateways` setting, which the cleanup deletes.
    pub const RETIRED_ROUTE_TABLE_IDS: &str = "retired-route-table-ids";
    /// With `natGateways`: the NAT gateways, one per zone that has one.
    pub const NAT_GATEWAY_IDS: &str = "nat-gateway-ids";
    pub const INTERNET_GATEWAY_ID: &str = "internet-gateway-id";
    pub const ALB_SECURITY_GROUP_ID: &str = "alb-security-group-id";
    pub const WEB_SECURITY_GROUP_ID: &str = "web-security-group-id";
    pub const PRIVATELINK_SECURITY_GROUP_ID: &str = "privatelink-security-group-id";
    /// The subnets the spec no longer has, as the apply found them: the cleanup after the apply
    /// deletes them, and has nothing to look for when there are none.
    pub const RETIRED_SUBNET_IDS: &str = "retired-subnet-ids";
    /// The Step Functions execution that created the VPC. A later stage of the same execution
    /// knows that nothing of its own can be in the VPC but what this execution made with client
    /// tokens, which a resend answers with the same resource: it need not look first.
    pub const VPC_MADE_IN: &str = "vpc-made-in";
}

pub mod endpoints {
    pub const STAGE: &str = "endpoints";
    /// Every endpoint id, in plan order.
    pub const ENDPOINT_IDS: &str = "endpoint-ids";
    /// `<service> (<type>): <why>` of every endpoint, in plan order.
    pub const PLAN: &str = "plan";

    /// The id of one service's endpoint, e.g. `endpoint-ecr.dkr`.
    pub fn endpoint_id(service: &str) -> String {
        format!("endpoint-{service}")
    }
}

pub mod alb {
    pub const STAGE: &str = "alb";
    pub const LOAD_BALANCER_ARN: &str = "load-balancer-arn";
    pub const DNS_NAME: &str = "dns-name";
    pub const HOSTED_ZONE_ID: &str = "hosted-zone-id";
    pub const TARGET_GROUP_ARN: &str = "target-group-arn";
    pub const LISTENER_ARNS: &str = "listener-arns";
    /// Where the service answers: `http(s)://<dns-name>`, or with a domain `https://<domain>`.
    pub const URL: &str = "url";
    /// With `alb.domain`: the name, and the hosted zone its alias record is in.
    pub const DOMAIN_NAME: &str = "domain-name";
    pub const DOMAIN_HOSTED_ZONE_ID: &str = "domain-hosted-zone-id";
    /// The certificate the stage requested for the domain, and whether ACM has issued it.
    pub const CERTIFICATE_ARN: &str = "certificate-arn";
    pub const CERTIFICATE_STATUS: &str = "certificate-status";
    /// `<name> <value>` of the validation CNAME the stage wrote (not one that was there before).
    pub const VALIDATION_RECORD: &str = "validation-record";
    /// Certificates of an earlier spec still held by the load balancer when retired.
    pub const RETIRED_CERTIFICATE_ARNS: &str = "retired-certificate-arns";
    /// With a blue/green, canary or linear rollout: the second target group, and the listener
    /// rule whose weights ECS shifts between the two.
    pub const ALTERNATE_TARGET_GROUP_ARN: &str = "alternate-target-group-arn";
    pub const PRODUCTION_LISTENER_RULE_ARN: &str = "production-listener-rule-arn";
}

pub mod service {
    pub const STAGE: &str = "service";
    pub const CLUSTER_ARN: &str = "cluster-arn";
    pub const SERVICE_ARN: &str = "service-arn";
    pub const TASK_DEFINITION_ARN: &str = "task-definition-arn";
    pub const LOG_GROUP: &str = "log-group";
    pub const CONTAINER_NAME: &str = "container-name";
    /// The target group the service registers its tasks in: its readiness reads their health.
    pub const TARGET_GROUP_ARN: &str = "target-group-arn";
    /// The URL whose answer is the last sign of readiness: the HTTP listener and the
    /// health-check path.
    pub const CHECK_URL: &str = "check-url";
    /// The autoscaling limits and targets: `1-10 tasks, cpu 70%`.
    pub const AUTO_SCALING: &str = "auto-scaling";
    /// The rollback alarms' thresholds: `5xx > 5%, response time > 2 s, 3 x 60 s`.
    pub const ROLLBACK_ALARMS: &str = "rollback-alarms";
    /// The deployment strategy and its timing: `canary 5% for 10 min, then all; bake 5 min`.
    pub const ROLLOUT: &str = "rollout";
    /// The circuit breaker's threshold when the spec sets it: `2 failed tasks`.
    pub const CIRCUIT_BREAKER: &str = "circuit-breaker";
    /// The deployment settings last applied.
    pub const SETTINGS: &str = "service-settings";
    /// After a redeploy: the image pinned by digest, and the spec image it stands for.
    pub const PINNED_IMAGE: &str = "pinned-image";
    pub const PINNED_FROM: &str = "pinned-from";
    /// When the pinned image was pushed (the ECR event's time): an older push is skipped.
    pub const PINNED_AT: &str = "pinned-at";
    /// In the groundwork's answer only, never stored: "true" when it created the cluster, so
    /// the apply after it knows no service can be in it yet.
    pub const NEW_CLUSTER: &str = "new-cluster";
}

/// EventBridge's detail-type of ECR pushes and deletes.
pub const ECR_IMAGE_ACTION: &str = "ECR Image Action";

/// True for an event EventBridge delivers from ECR (as opposed to a request).
pub fn is_ecr_image_event(event: &serde_json::Value) -> bool {
    event.get("detail-type").and_then(|d| d.as_str()) == Some(ECR_IMAGE_ACTION)
}
