//! The IAM behaviour: every AWS call a hosted function makes is authorized against the policies of
//! its role, as the stack created them, by an IAM simulator this project did not write
//! (`iam/check.mjs`, around @cloud-copilot/iam-simulate). A call is checked for every IAM action
//! AWS authorizes it with: its own and the dependent ones AWS documents (tagging on create,
//! iam:PassRole, ELB's EC2 describes, the first use of a service-linked role, the hosted zone of
//! private DNS). What the policies do not allow is answered as AWS answers it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex as SyncMutex;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use crate::router::Caller;
use crate::system::ACCOUNT;

/// One IAM action a call needs, on one resource, with the request's condition keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Value>,
}

impl Authorization {
    fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.context.insert(key.to_string(), value.into());
        self
    }
}

/// A request's parameters: a query form (EC2, ELB) or a JSON body (the rest).
#[derive(Debug, Clone)]
pub enum Params {
    Query(HashMap<String, String>),
    Json(Value),
}

impl Params {
    /// A Smithy RPC v2 CBOR body (CloudWatch), read as the JSON it stands for.
    pub fn parse_cbor(body: &[u8]) -> Self {
        Params::Json(ciborium::from_reader(body).unwrap_or(Value::Null))
    }

    pub fn parse(body: &[u8], json: bool) -> Self {
        if json {
            return Params::Json(serde_json::from_slice(body).unwrap_or(Value::Null));
        }
        let text = String::from_utf8_lossy(body);
        Params::Query(
            text.split('&')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((decode(k), decode(v)))
                })
                .collect(),
        )
    }

    /// A single value: `Name` of a query, a top-level string of a JSON body.
    pub fn one(&self, name: &str) -> Option<String> {
        match self {
            Params::Query(q) => q.get(name).cloned(),
            Params::Json(j) => j.get(name).and_then(Value::as_str).map(str::to_string),
        }
    }

    /// Every value of a list: `Name.1`, `Name.member.1`, ... of a query; an array of a body.
    pub fn many(&self, name: &str) -> Vec<String> {
        match self {
            Params::Query(q) => {
                let mut found: Vec<(usize, String)> = q
                    .iter()
                    .filter_map(|(k, v)| {
                        let rest = k.strip_prefix(name)?.strip_prefix('.')?;
                        let index = rest.strip_prefix("member.").unwrap_or(rest);
                        Some((index.parse().ok()?, v.clone()))
                    })
                    .collect();
                found.sort();
                found.into_iter().map(|(_, v)| v).collect()
            }
            Params::Json(j) => j
                .get(name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        }
    }

    /// True when any parameter name starts with `prefix` (`TagSpecification`, `Tags.member`).
    pub fn has(&self, prefix: &str) -> bool {
        match self {
            Params::Query(q) => q.keys().any(|k| k.starts_with(prefix)),
            Params::Json(j) => j
                .get(prefix)
                .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())),
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a call names, for its resource ARN and the tags a condition may test.
pub struct Target<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub params: &'a Params,
    pub region: &'a str,
    /// The request's path: a REST API (Route 53) names its resource there.
    pub path: &'a str,
}

/// The operation of a request that names it in its path: Smithy RPC v2 CBOR
/// (`/service/<service>/operation/<operation>`), or Route 53's REST API (no action parameter,
/// no target header).
pub fn rest_operation(method: &str, path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("/service/") {
        return rest
            .split_once("/operation/")
            .map(|(_, operation)| operation.to_string());
    }
    let rest = path.strip_prefix("/2013-04-01/")?.trim_end_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    let operation = match (method, parts.as_slice()) {
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        _ => return None,
    };
    Some(operation.to_string())
}

/// The hosted zone a Route 53 request names in its path.
fn hosted_zone_arn(path: &str) -> Option<String> {
    let id = path
        .strip_prefix("/2013-04-01/hostedzone/")?
        .split('/')
        .next()
        .filter(|id| !id.is_empty())?;
    Some(format!("arn:aws:route53:::hostedzone/{id}"))
}

fn ec2_arn(region: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{region}:{ACCOUNT}:{kind}/{id}")
}

fn parameter_arn(region: &str, name: &str) -> String {
    let name = name.strip_prefix('/').unwrap_or(name);
    format!("arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name}")
}

/// The resources a destructive call acts on, whose tags a policy condition may test.
pub fn tagged_resources(t: &Target<'_>) -> Vec<String> {
    let p = t.params;
    let ec2 = |kind: &str, param: &str| {
        p.one(param)
            .map(|id| vec![ec2_arn(t.region, kind, &id)])
            .unwrap_or_default()
    };
    match (t.service, t.operation) {
        ("ec2", "DeleteVpc") => ec2("vpc", "VpcId"),
        ("ec2", "DeleteSubnet") => ec2("subnet", "SubnetId"),
        ("ec2", "DeleteSecurityGroup" | "RevokeSecurityGroupIngress") => {
            ec2("security-group", "GroupId")
        }
        ("ec2", "DeleteRouteTable" | "DeleteRoute") => ec2("route-table", "RouteTableId"),
        ("ec2", "DeleteInternetGateway" | "DetachInternetGateway") => {
            ec2("internet-gateway", "InternetGatewayId")
        }
        ("ec2", "DeleteNatGateway") => ec2("natgateway", "NatGatewayId"),
        ("ec2", "ReleaseAddress") => ec2("elastic-ip", "AllocationId"),
        ("ec2", "DeleteVpcEndpoints") => p
            .many("VpcEndpointId")
            .iter()
            .map(|id| ec2_arn(t.region, "vpc-endpoint", id))
            .collect(),
        ("elasticloadbalancing", "DeleteLoadBalancer") => {
            p.one("LoadBalancerArn").into_iter().collect()
        }
        ("elasticloadbalancing", "DeleteTargetGroup") => {
            p.one("TargetGroupArn").into_iter().collect()
        }
        ("elasticloadbalancing", "DeleteListener") => p.one("ListenerArn").into_iter().collect(),
        ("elasticloadbalancing", "DeleteRule") => p.one("RuleArn").into_iter().collect(),
        ("ecs", "DeleteService") => match (p.one("cluster"), p.one("service")) {
            (Some(c), Some(s)) if !s.starts_with("arn:") => {
                vec![format!(
                    "arn:aws:ecs:{}:{ACCOUNT}:service/{c}/{s}",
                    t.region
                )]
            }
            (_, Some(s)) => vec![s],
            _ => vec![],
        },
        ("ecs", "DeleteCluster") => p
            .one("cluster")
            .map(|c| {
                if c.starts_with("arn:") {
                    c
                } else {
                    format!("arn:aws:ecs:{}:{ACCOUNT}:cluster/{c}", t.region)
                }
            })
            .into_iter()
            .collect(),
        ("ecs", "DeregisterTaskDefinition") => p.one("taskDefinition").into_iter().collect(),
        ("acm", "DeleteCertificate") => p.one("CertificateArn").into_iter().collect(),
        ("logs", "DeleteLogGroup") => p
            .one("logGroupName")
            .map(|n| format!("arn:aws:logs:{}:{ACCOUNT}:log-group:{n}", t.region))
            .into_iter()
            .collect(),
        _ => vec![],
    }
}

/// The kind of resource an EC2 create makes (the resource type of its ARN).
fn created_kind(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "CreateVpc" => "vpc",
        "CreateSubnet" => "subnet",
        "CreateInternetGateway" => "internet-gateway",
        "CreateRouteTable" => "route-table",
        "CreateSecurityGroup" => "security-group",
        "CreateVpcEndpoint" => "vpc-endpoint",
        "CreateNatGateway" => "natgateway",
        "AllocateAddress" => "elastic-ip",
        _ => return None,
    })
}

/// Every authorization a call needs. `tags` holds the tags of the call's tagged resources;
/// `first_use` tells whether the call creates a service-linked role (the first ECS cluster or
/// load balancer of the account).
pub fn authorizations(
    t: &Target<'_>,
    tags: &HashMap<String, Vec<(String, String)>>,
    first_use: bool,
) -> Vec<Authorization> {
    let p = t.params;
    let region = t.region;
    // The IAM prefix of a service whose signing name differs (CloudWatch signs as `monitoring`).
    let prefix = match t.service {
        "monitoring" => "cloudwatch",
        other => other,
    };
    let action = format!("{prefix}:{}", t.operation);
    let mut needed = Vec::new();

    // The call's own action, on its resources.
    let resources: Vec<String> = match (t.service, t.operation) {
        ("ssm", "GetParameter" | "PutParameter" | "DeleteParameter") => p
            .one("Name")
            .map(|n| vec![parameter_arn(region, &n)])
            .unwrap_or_default(),
        ("ssm", "DeleteParameters" | "GetParameters") => p
            .many("Names")
            .iter()
            .map(|n| parameter_arn(region, n))
            .collect(),
        ("ssm", "GetParametersByPath") => p
            .one("Path")
            .map(|n| vec![parameter_arn(region, &n)])
            .unwrap_or_default(),
        ("ssm", "AddTagsToResource") => p
            .one("ResourceId")
            .map(|n| vec![parameter_arn(region, &n)])
            .unwrap_or_default(),
        ("states", "StartExecution") => p.one("stateMachineArn").into_iter().collect(),
        ("states", "DescribeExecution") => p.one("executionArn").into_iter().collect(),
        ("route53", _) => hosted_zone_arn(t.path).into_iter().collect(),
        ("acm", "DescribeCertificate" | "ListTagsForCertificate") => {
            p.one("CertificateArn").into_iter().collect()
        }
        ("dynamodb", _) => p
            .one("TableName")
            .map(|t| vec![format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{t}")])
            .unwrap_or_default(),
        // An EC2 create is authorized on the resource it makes, as `<kind>/*`.
        ("ec2", operation) => match created_kind(operation) {
            Some(kind) => vec![ec2_arn(region, kind, "*")],
            None => tagged_resources(t),
        },
        _ => tagged_resources(t),
    };
    if resources.is_empty() {
        needed.push(Authorization::new(&action, "*"));
    }
    for resource in resources {
        let mut authorization = Authorization::new(&action, &resource);
        for (key, value) in tags.get(&resource).into_iter().flatten() {
            authorization = authorization.with(&format!("aws:ResourceTag/{key}"), value.clone());
        }
        needed.push(authorization);
    }

    // Tags set by the create call need the tagging action too.
    let tagged_on_create = match t.service {
        "ec2" => p.has("TagSpecification"),
        "elasticloadbalancing" => p.has("Tags."),
        "ecs" | "logs" => p.has("tags"),
        "application-autoscaling" | "acm" | "monitoring" => p.has("Tags"),
        _ => false,
    };
    if tagged_on_create {
        let tagging = match t.service {
            "ec2" => "ec2:CreateTags",
            "elasticloadbalancing" => "elasticloadbalancing:AddTags",
            "ecs" => "ecs:TagResource",
            "application-autoscaling" => "application-autoscaling:TagResource",
            "acm" => "acm:AddTagsToCertificate",
            "monitoring" => "cloudwatch:TagResource",
            _ => "logs:TagResource",
        };
        let mut authorization = Authorization::new(tagging, "*");
        if t.service == "ec2" {
            authorization = authorization.with("ec2:CreateAction", t.operation);
        }
        needed.push(authorization);
    }

    // Tags given to a new parameter.
    if (t.service, t.operation) == ("ssm", "PutParameter") && p.has("Tags") {
        if let Some(name) = p.one("Name") {
            needed.push(Authorization::new(
                "ssm:AddTagsToResource",
                parameter_arn(region, &name),
            ));
        }
    }

    // Roles handed to a task definition.
    if (t.service, t.operation) == ("ecs", "RegisterTaskDefinition") {
        for role in ["executionRoleArn", "taskRoleArn"]
            .iter()
            .filter_map(|k| p.one(k))
        {
            needed.push(
                Authorization::new("iam:PassRole", role)
                    .with("iam:PassedToService", "ecs-tasks.amazonaws.com"),
            );
        }
    }

    // EC2 describes ELB makes on the caller's behalf ("Elastic Load Balancing API permissions").
    let describes: &[&str] = match (t.service, t.operation) {
        ("elasticloadbalancing", "CreateLoadBalancer") => &[
            "DescribeAccountAttributes",
            "DescribeAddresses",
            "DescribeInternetGateways",
            "DescribeSecurityGroups",
            "DescribeSubnets",
            "DescribeVpcs",
        ],
        ("elasticloadbalancing", "CreateTargetGroup") => {
            &["DescribeInternetGateways", "DescribeVpcs"]
        }
        ("elasticloadbalancing", "SetSubnets") => &["DescribeSubnets"],
        _ => &[],
    };
    needed.extend(
        describes
            .iter()
            .map(|d| Authorization::new(format!("ec2:{d}"), "*")),
    );

    // Application Auto Scaling checks the caller's own permissions on the scaled service and on
    // the CloudWatch alarms of target tracking ("IAM permissions required for Amazon ECS service
    // auto scaling", ECS Developer Guide; "Permissions validation", Application Auto Scaling
    // User Guide).
    let on_behalf: &[&str] = match (t.service, t.operation) {
        ("application-autoscaling", "RegisterScalableTarget") => {
            &["ecs:DescribeServices", "ecs:UpdateService"]
        }
        ("application-autoscaling", "PutScalingPolicy") => {
            &["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
        }
        ("application-autoscaling", "DeleteScalingPolicy" | "DeregisterScalableTarget") => {
            &["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"]
        }
        _ => &[],
    };
    needed.extend(on_behalf.iter().map(|a| Authorization::new(*a, "*")));

    // The first cluster, load balancer or scalable service of the account creates the
    // service's linked role.
    let linked = match (t.service, t.operation) {
        ("ecs", "CreateCluster") => Some(("ecs.amazonaws.com", "AWSServiceRoleForECS")),
        ("elasticloadbalancing", "CreateLoadBalancer") => Some((
            "elasticloadbalancing.amazonaws.com",
            "AWSServiceRoleForElasticLoadBalancing",
        )),
        ("application-autoscaling", "RegisterScalableTarget") => Some((
            "ecs.application-autoscaling.amazonaws.com",
            "AWSServiceRoleForApplicationAutoScaling_ECSService",
        )),
        _ => None,
    };
    if let (Some((service, name)), true) = (linked, first_use) {
        needed.push(
            Authorization::new(
                "iam:CreateServiceLinkedRole",
                format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/{name}"),
            )
            .with("iam:AWSServiceName", service),
        );
    }

    // Private DNS of an interface endpoint associates the VPC with the service's hosted zone.
    if (t.service, t.operation) == ("ec2", "CreateVpcEndpoint")
        && p.one("PrivateDnsEnabled").as_deref() == Some("true")
    {
        needed.push(Authorization::new(
            "route53:AssociateVPCWithHostedZone",
            "*",
        ));
    }
    needed
}

/// Reads the tags of the resources a call acts on, from the emulator directly (not through the
/// router: these reads are the IAM check's, not the caller's).
pub struct TagReader {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub acm: aws_sdk_acm::Client,
}

impl TagReader {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
        }
    }

    /// The tags of each resource; a resource that cannot be read has none.
    pub async fn of(
        &self,
        service: &str,
        arns: &[String],
    ) -> HashMap<String, Vec<(String, String)>> {
        let mut found = HashMap::new();
        for arn in arns {
            let tags = match service {
                "ec2" => {
                    let id = arn.rsplit('/').next().unwrap_or_default();
                    let filter = aws_sdk_ec2::types::Filter::builder()
                        .name("resource-id")
                        .values(id)
                        .build();
                    self.ec2
                        .describe_tags()
                        .filters(filter)
                        .send()
                        .await
                        .map(|o| {
                            o.tags()
                                .iter()
                                .filter_map(|t| {
                                    Some((t.key()?.to_string(), t.value()?.to_string()))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                }
                "elasticloadbalancing" => self
                    .elb
                    .describe_tags()
                    .resource_arns(arn)
                    .send()
                    .await
                    .map(|o| {
                        o.tag_descriptions()
                            .iter()
                            .flat_map(|d| d.tags())
                            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default(),
                "ecs" => self
                    .ecs
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map(|o| {
                        o.tags()
                            .iter()
                            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default(),
                "logs" => self
                    .logs
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map(|o| {
                        o.tags()
                            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                "acm" => self
                    .acm
                    .list_tags_for_certificate()
                    .certificate_arn(arn)
                    .send()
                    .await
                    .map(|o| {
                        o.tags()
                            .iter()
                            .map(|t| {
                                (
                                    t.key().to_string(),
                                    t.value().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            found.insert(arn.clone(), tags);
        }
        found
    }
}

/// The IAM simulator, one process for the router.
pub struct IamCheck {
    io: Mutex<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
    _child: Child,
    /// Services whose linked role the account has (after their first use).
    linked_roles: SyncMutex<Vec<String>>,
    /// Decisions made, by function and authorization: policies do not change while the system
    /// runs, and the simulator is the slowest part of a call.
    decided: SyncMutex<HashMap<(String, String), Value>>,
}

/// Where the simulator's script and its node_modules live (installed by scripts/setup-tools).
pub fn script_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iam")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allowed,
    Denied {
        authorization: Authorization,
        explicit: bool,
    },
}

impl IamCheck {
    pub fn start() -> std::io::Result<Self> {
        let dir = script_dir();
        if !dir.join("node_modules").exists() {
            return Err(std::io::Error::other(format!(
                "{} has no node_modules: run scripts/setup-tools",
                dir.display()
            )));
        }
        let mut child = Command::new("node")
            .arg(dir.join("check.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        Ok(Self {
            io: Mutex::new((stdin, stdout)),
            _child: child,
            linked_roles: SyncMutex::new(Vec::new()),
            decided: SyncMutex::new(HashMap::new()),
        })
    }

    /// Whether the call would create the service's linked role: the account has none yet.
    pub fn first_use(&self, service: &str, operation: &str) -> bool {
        let creates = matches!(
            (service, operation),
            ("ecs", "CreateCluster")
                | ("elasticloadbalancing", "CreateLoadBalancer")
                | ("application-autoscaling", "RegisterScalableTarget")
        );
        let known = self.linked_roles.lock().unwrap_or_else(|e| e.into_inner());
        creates && !known.iter().any(|s| s == service)
    }

    /// The call succeeded: the service's linked role exists from now on.
    pub fn note_success(&self, service: &str, operation: &str) {
        if self.first_use(service, operation) {
            let mut known = self.linked_roles.lock().unwrap_or_else(|e| e.into_inner());
            known.push(service.to_string());
        }
    }

    async fn decide(&self, caller: &Caller, a: &Authorization) -> std::io::Result<Value> {
        let key = (
            caller.function.clone(),
            json!([a.action, a.resource, a.context]).to_string(),
        );
        if let Some(known) = self
            .decided
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(known.clone());
        }
        let answer = self.simulate(caller, a).await?;
        self.decided
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, answer.clone());
        Ok(answer)
    }

    async fn simulate(&self, caller: &Caller, a: &Authorization) -> std::io::Result<Value> {
        let role = caller.role_arn.rsplit('/').next().unwrap_or_default();
        let request = json!({
            "policies": caller.policies,
            "principal": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{}", caller.function),
            "account": ACCOUNT,
            "action": a.action,
            "resource": a.resource,
            "context": a.context,
        });
        let mut io = self.io.lock().await;
        io.0.write_all(format!("{request}\n").as_bytes()).await?;
        io.0.flush().await?;
        let line =
            io.1.next_line()
                .await?
                .ok_or_else(|| std::io::Error::other("the IAM simulator stopped"))?;
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }

    /// Allowed when every authorization is; otherwise the first one denied.
    pub async fn check(
        &self,
        caller: &Caller,
        needed: &[Authorization],
    ) -> std::io::Result<Decision> {
        for authorization in needed {
            let answer = self.decide(caller, authorization).await?;
            match answer["decision"].as_str() {
                Some("Allowed") => continue,
                Some("Error") => {
                    return Err(std::io::Error::other(format!(
                        "the IAM simulator refused {authorization:?}: {}",
                        answer["detail"]
                    )))
                }
                other => {
                    return Ok(Decision::Denied {
                        authorization: authorization.clone(),
                        explicit: other == Some("ExplicitlyDenied"),
                    })
                }
            }
        }
        Ok(Decision::Allowed)
    }
}

/// AWS's answer to a call the caller's policies do not allow, in the service's error format.
pub fn access_denied(
    service: &str,
    caller: &Caller,
    denied: &Authorization,
    explicit: bool,
) -> (u16, &'static str, String) {
    let role = caller.role_arn.rsplit('/').next().unwrap_or_default();
    let why = if explicit {
        "with an explicit deny in an identity-based policy".to_string()
    } else {
        format!(
            "because no identity-based policy allows the {} action",
            denied.action
        )
    };
    let message = format!(
        "User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{} is not authorized to perform: {} on resource: {} {why}",
        caller.function, denied.action, denied.resource
    );
    match service {
        "ec2" => (
            403,
            "text/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. {message}</Message></Error></Errors><RequestID>local-iam</RequestID></Response>"),
        ),
        "elasticloadbalancing" => (
            403,
            "text/xml",
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>local-iam</RequestId></ErrorResponse>"),
        ),
        _ => (
            400,
            "application/x-amz-json-1.1",
            json!({"__type": "AccessDeniedException", "message": message}).to_string(),
        ),
    }
}
