//! What an environment consists of, read back from AWS: the answer to "what did it make?".

use std::fmt;

use provisioner_core::{outputs, AwsContext};
use provisioner_core::{Names, NotFoundAsNone, OutputValue, Outputs, ProvisionError, SsmStore};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub vpc: Option<(String, String)>,
    /// (role, id, cidr, zone)
    pub subnets: Vec<(String, String, String, String)>,
    /// (name, id, inbound rules)
    pub security_groups: Vec<(String, String, Vec<String>)>,
    /// (service, type, state)
    pub endpoints: Vec<(String, String, String)>,
    pub alb_dns_name: Option<String>,
    pub url: Option<String>,
    /// (service ARN, status, running, desired)
    pub service: Option<(String, String, i32, i32)>,
}

pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ecs: aws_sdk_ecs::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
        }
    }
}

fn one(outputs: &Outputs, key: &str) -> Option<String> {
    outputs.get(key).map(OutputValue::to_parameter_value)
}

fn tag(tags: &[aws_sdk_ec2::types::Tag], key: &str) -> String {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .unwrap_or("")
        .to_string()
}

pub async fn describe(clients: &Clients, name: &str) -> Result<Environment, ProvisionError> {
    let names = Names::new(name);
    let store = SsmStore::new(clients.ssm.clone());
    let (network, alb, service) = (
        outputs::network::STAGE,
        outputs::alb::STAGE,
        outputs::service::STAGE,
    );
    let stored = store.load(&names, &[network, alb, service]).await?;
    let (network, alb, service) = (
        stored.outputs(network),
        stored.outputs(alb),
        stored.outputs(service),
    );
    let mut env = Environment {
        name: name.to_string(),
        alb_dns_name: one(&alb, outputs::alb::DNS_NAME),
        url: one(&alb, outputs::alb::URL),
        ..Default::default()
    };
    let Some(vpc_id) = one(&network, outputs::network::VPC_ID) else {
        return Ok(env);
    };
    let ec2 = &clients.ec2;
    let vpc_filter = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(&vpc_id)
        .build();
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .context("DescribeVpcs", &vpc_id)?;
    env.vpc = vpcs.vpcs().first().map(|v| {
        (
            vpc_id.clone(),
            v.cidr_block().unwrap_or_default().to_string(),
        )
    });
    let subnets = ec2
        .describe_subnets()
        .filters(vpc_filter.clone())
        .send()
        .await
        .context("DescribeSubnets", &vpc_id)?;
    env.subnets = subnets
        .subnets()
        .iter()
        .map(|s| {
            (
                tag(s.tags(), provisioner_core::naming::ROLE_TAG),
                s.subnet_id().unwrap_or_default().to_string(),
                s.cidr_block().unwrap_or_default().to_string(),
                s.availability_zone().unwrap_or_default().to_string(),
            )
        })
        .collect();
    env.subnets.sort();
    let groups = ec2
        .describe_security_groups()
        .filters(vpc_filter.clone())
        .send()
        .await
        .context("DescribeSecurityGroups", &vpc_id)?;
    env.security_groups = groups
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .map(|g| {
            let rules = g
                .ip_permissions()
                .iter()
                .map(|p| {
                    let from: Vec<String> = p
                        .ip_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ip().map(str::to_string))
                        .chain(
                            p.user_id_group_pairs()
                                .iter()
                                .filter_map(|u| u.group_id().map(str::to_string)),
                        )
                        .collect();
                    format!(
                        "{} {} from {}",
                        p.ip_protocol().unwrap_or_default(),
                        p.from_port().unwrap_or_default(),
                        from.join(",")
                    )
                })
                .collect();
            (
                g.group_name().unwrap_or_default().to_string(),
                g.group_id().unwrap_or_default().to_string(),
                rules,
            )
        })
        .collect();
    env.security_groups.sort();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(vpc_filter)
        .send()
        .await
        .context("DescribeVpcEndpoints", &vpc_id)?;
    env.endpoints = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            !e.state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
        })
        .map(|e| {
            (
                e.service_name().unwrap_or_default().to_string(),
                e.vpc_endpoint_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                e.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    env.endpoints.sort();
    if let Some(arn) = one(&service, outputs::service::SERVICE_ARN) {
        let cluster = one(&service, outputs::service::CLUSTER_ARN).unwrap_or_default();
        let described = clients
            .ecs
            .describe_services()
            .cluster(&cluster)
            .services(&arn)
            .send()
            .await
            .context("DescribeServices", &arn)
            .not_found_as_none()?;
        env.service = described.and_then(|d| {
            d.services().first().map(|s| {
                (
                    arn.clone(),
                    s.status().unwrap_or_default().to_string(),
                    s.running_count(),
                    s.desired_count(),
                )
            })
        });
    }
    Ok(env)
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "environment {}", self.name)?;
        match &self.vpc {
            Some((id, cidr)) => writeln!(f, "  VPC              {id} {cidr}")?,
            None => return writeln!(f, "  (no network)"),
        }
        for (role, id, cidr, zone) in &self.subnets {
            writeln!(f, "  subnet           {role:<18} {id} {cidr} {zone}")?;
        }
        for (name, id, rules) in &self.security_groups {
            writeln!(
                f,
                "  security group   {name:<18} {id} inbound: {}",
                rules.join("; ")
            )?;
        }
        for (service, kind, state) in &self.endpoints {
            writeln!(f, "  VPC endpoint     {service:<40} {kind:<9} {state}")?;
        }
        if let Some(dns) = &self.alb_dns_name {
            writeln!(f, "  ALB              {dns}")?;
        }
        if let Some(url) = &self.url {
            writeln!(f, "  URL              {url}")?;
        }
        if let Some((arn, status, running, desired)) = &self.service {
            writeln!(
                f,
                "  ECS service      {arn} {status}: {running} of {desired} tasks running"
            )?;
        }
        Ok(())
    }
}

/// What is left of an environment after a delete: tagged EC2 resources, its load balancer, an
/// active cluster, SSM parameters. Empty when the delete was clean.
pub async fn leftovers(
    clients: &Clients,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    name: &str,
) -> Result<Vec<String>, ProvisionError> {
    use aws_sdk_ec2::types::Filter;
    let tagged = || {
        Filter::builder()
            .name(format!("tag:{}", provisioner_core::naming::ENVIRONMENT_TAG))
            .values(name)
            .build()
    };
    let ec2 = &clients.ec2;
    let mut left = Vec::new();
    let vpcs = ec2
        .describe_vpcs()
        .filters(tagged())
        .send()
        .await
        .context("DescribeVpcs", name)?;
    left.extend(
        vpcs.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id())
            .map(|id| format!("VPC {id}")),
    );
    let subnets = ec2
        .describe_subnets()
        .filters(tagged())
        .send()
        .await
        .context("DescribeSubnets", name)?;
    left.extend(
        subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id())
            .map(|id| format!("subnet {id}")),
    );
    let groups = ec2
        .describe_security_groups()
        .filters(tagged())
        .send()
        .await
        .context("DescribeSecurityGroups", name)?;
    left.extend(
        groups
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(|id| format!("security group {id}")),
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tagged())
        .send()
        .await
        .context("DescribeInternetGateways", name)?;
    left.extend(
        gateways
            .internet_gateways()
            .iter()
            .filter_map(|g| g.internet_gateway_id())
            .map(|id| format!("internet gateway {id}")),
    );
    let tables = ec2
        .describe_route_tables()
        .filters(tagged())
        .send()
        .await
        .context("DescribeRouteTables", name)?;
    left.extend(
        tables
            .route_tables()
            .iter()
            .filter_map(|t| t.route_table_id())
            .map(|id| format!("route table {id}")),
    );
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(tagged())
        .send()
        .await
        .context("DescribeVpcEndpoints", name)?;
    left.extend(
        endpoints
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !e.state()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .filter_map(|e| e.vpc_endpoint_id())
            .map(|id| format!("VPC endpoint {id}")),
    );
    let names = Names::new(name);
    let lbs = elb
        .describe_load_balancers()
        .names(names.load_balancer())
        .send()
        .await
        .context("DescribeLoadBalancers", name)
        .not_found_as_none()?;
    left.extend(
        lbs.iter()
            .flat_map(|o| o.load_balancers())
            .filter_map(|l| l.load_balancer_arn())
            .map(|a| format!("load balancer {a}")),
    );
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .context("DescribeClusters", name)?;
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .filter_map(|c| c.cluster_arn())
            .map(|a| format!("cluster {a}")),
    );
    let parameters = clients
        .ssm
        .get_parameters_by_path()
        .path(names.ssm_prefix())
        .recursive(true)
        .send()
        .await
        .context("GetParametersByPath", names.ssm_prefix())?;
    left.extend(
        parameters
            .parameters()
            .iter()
            .filter_map(|p| p.name())
            .map(|n| format!("SSM parameter {n}")),
    );
    Ok(left)
}
