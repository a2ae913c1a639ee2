//! Which VPC endpoints the tasks of an environment need, from one table: launch type x platform
//! version x task features. Tasks in private subnets have no internet route, so every AWS API the
//! container runtime calls must be reachable through an endpoint. The endpoints stage creates them;
//! Prepare checks first that each interface endpoint service is offered in the tasks' zones.

use crate::spec::{LaunchType, SecretSource, ServiceSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// An ENI in each private subnet, reached through private DNS.
    Interface,
    /// Routes on the private route tables (S3 only).
    Gateway,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Interface => "Interface",
            EndpointKind::Gateway => "Gateway",
        }
    }
}

/// The runtime that pulls images and starts containers, which decides the base endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Fargate platform 1.3.0 or older: the image is pulled with `ecr.dkr` and S3 only.
    FargateBefore14,
    /// Fargate platform LATEST or 1.4.0 and newer: the task ENI also calls `ecr.api`.
    Fargate14,
    /// EC2 launch type: the container agent on the instance talks to ECS as well.
    Ec2,
}

impl Runtime {
    pub fn of(service: &ServiceSpec) -> Self {
        match service.launch_type {
            LaunchType::Ec2 => Runtime::Ec2,
            LaunchType::Fargate if is_before_1_4(&service.platform_version) => {
                Runtime::FargateBefore14
            }
            LaunchType::Fargate => Runtime::Fargate14,
        }
    }
}

/// `LATEST` is at least 1.4.0; anything that is not a dotted number is treated as new.
/// Whether a numeric platform version is older than 1.4.0 (LATEST is not).
pub(crate) fn is_before_1_4(version: &str) -> bool {
    is_before(version, [1, 4, 0])
}

/// Whether a Fargate platform version is a number below `minimum` (LATEST never is).
pub(crate) fn is_before(version: &str, minimum: [u64; 3]) -> bool {
    let parts: Option<Vec<u64>> = version.split('.').map(|p| p.parse().ok()).collect();
    parts.is_some_and(|p| p.as_slice() < minimum.as_slice())
}

/// What the task does that needs an AWS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    pub awslogs: bool,
    pub secrets_manager: bool,
    pub parameter_store: bool,
    pub customer_kms_key: bool,
    pub execute_command: bool,
}

impl Features {
    pub fn of(service: &ServiceSpec) -> Self {
        let uses = |source| service.secrets.iter().any(|s| s.source() == Some(source));
        Features {
            // The service stage always configures the awslogs driver with its own log group.
            awslogs: true,
            secrets_manager: uses(SecretSource::SecretsManager),
            parameter_store: uses(SecretSource::ParameterStore),
            customer_kms_key: service.kms_key_arn.is_some(),
            execute_command: service.enable_execute_command,
        }
    }
}

/// When a row of the matrix applies.
#[derive(Debug, Clone, Copy)]
enum When {
    Always,
    Runtimes(&'static [Runtime]),
    Feature(fn(&Features) -> bool),
}

struct Row {
    service: &'static str,
    kind: EndpointKind,
    when: When,
    why: &'static str,
}

const MATRIX: &[Row] = &[
    Row {
        service: "ecr.dkr",
        kind: EndpointKind::Interface,
        when: When::Always,
        why: "the image is pulled from the ECR registry (docker API)",
    },
    Row {
        service: "ecr.api",
        kind: EndpointKind::Interface,
        when: When::Runtimes(&[Runtime::Fargate14, Runtime::Ec2]),
        why: "ECR authorization and manifests (required from Fargate platform 1.4.0 on)",
    },
    Row {
        service: "s3",
        kind: EndpointKind::Gateway,
        when: When::Always,
        why: "ECR serves image layers from S3",
    },
    Row {
        service: "logs",
        kind: EndpointKind::Interface,
        when: When::Feature(|f| f.awslogs),
        why: "the awslogs driver sends container logs to CloudWatch Logs",
    },
    Row {
        service: "secretsmanager",
        kind: EndpointKind::Interface,
        when: When::Feature(|f| f.secrets_manager),
        why: "secrets are read from Secrets Manager when the task starts",
    },
    Row {
        service: "ssm",
        kind: EndpointKind::Interface,
        when: When::Feature(|f| f.parameter_store),
        why: "secrets are read from SSM Parameter Store when the task starts",
    },
    Row {
        service: "kms",
        kind: EndpointKind::Interface,
        when: When::Feature(|f| f.customer_kms_key),
        why: "the secrets are encrypted with a customer managed KMS key",
    },
    Row {
        service: "ssmmessages",
        kind: EndpointKind::Interface,
        when: When::Feature(|f| f.execute_command),
        why: "ECS Exec opens its session channel through SSM messages",
    },
    Row {
        service: "ecs",
        kind: EndpointKind::Interface,
        when: When::Runtimes(&[Runtime::Ec2]),
        why: "the container agent on EC2 instances calls the ECS API",
    },
    Row {
        service: "ecs-agent",
        kind: EndpointKind::Interface,
        when: When::Runtimes(&[Runtime::Ec2]),
        why: "the container agent on EC2 instances receives its work",
    },
    Row {
        service: "ecs-telemetry",
        kind: EndpointKind::Interface,
        when: When::Runtimes(&[Runtime::Ec2]),
        why: "the container agent on EC2 instances sends metrics",
    },
];

/// One endpoint the environment needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEndpoint {
    /// Short name, e.g. `ecr.dkr`.
    pub service: &'static str,
    /// Full name, e.g. `com.amazonaws.us-east-1.ecr.dkr`.
    pub service_name: String,
    pub kind: EndpointKind,
    pub why: &'static str,
}

pub fn plan(runtime: Runtime, features: Features, region: &str) -> Vec<PlannedEndpoint> {
    MATRIX
        .iter()
        .filter(|row| match row.when {
            When::Always => true,
            When::Runtimes(runtimes) => runtimes.contains(&runtime),
            When::Feature(needs) => needs(&features),
        })
        .map(|row| PlannedEndpoint {
            service: row.service,
            service_name: service_name(region, row.service),
            kind: row.kind,
            why: row.why,
        })
        .collect()
}

pub fn for_service(service: &ServiceSpec, region: &str) -> Vec<PlannedEndpoint> {
    plan(Runtime::of(service), Features::of(service), region)
}

pub fn service_name(region: &str, service: &str) -> String {
    format!("com.amazonaws.{region}.{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(runtime: Runtime, features: Features) -> Vec<&'static str> {
        plan(runtime, features, "eu-west-1")
            .iter()
            .map(|p| p.service)
            .collect()
    }

    const LOGS: Features = Features {
        awslogs: true,
        secrets_manager: false,
        parameter_store: false,
        customer_kms_key: false,
        execute_command: false,
    };

    #[test]
    fn fargate_latest_with_awslogs_is_the_reference_set() {
        assert_eq!(
            services(Runtime::Fargate14, LOGS),
            ["ecr.dkr", "ecr.api", "s3", "logs"]
        );
    }

    #[test]
    fn fargate_before_1_4_does_not_need_ecr_api() {
        assert_eq!(
            services(Runtime::FargateBefore14, LOGS),
            ["ecr.dkr", "s3", "logs"]
        );
    }

    #[test]
    fn ec2_launch_type_adds_the_agent_endpoints() {
        assert_eq!(
            services(Runtime::Ec2, LOGS),
            [
                "ecr.dkr",
                "ecr.api",
                "s3",
                "logs",
                "ecs",
                "ecs-agent",
                "ecs-telemetry"
            ]
        );
    }

    #[test]
    fn without_awslogs_there_is_no_logs_endpoint() {
        assert_eq!(
            services(Runtime::Fargate14, Features::default()),
            ["ecr.dkr", "ecr.api", "s3"]
        );
    }

    #[test]
    fn each_task_feature_adds_its_endpoint() {
        let cases: [(Features, &str); 4] = [
            (
                Features {
                    secrets_manager: true,
                    ..LOGS
                },
                "secretsmanager",
            ),
            (
                Features {
                    parameter_store: true,
                    ..LOGS
                },
                "ssm",
            ),
            (
                Features {
                    customer_kms_key: true,
                    ..LOGS
                },
                "kms",
            ),
            (
                Features {
                    execute_command: true,
                    ..LOGS
                },
                "ssmmessages",
            ),
        ];
        for runtime in [Runtime::FargateBefore14, Runtime::Fargate14, Runtime::Ec2] {
            let base = services(runtime, LOGS);
            for (features, added) in cases {
                let got = services(runtime, features);
                assert_eq!(got.len(), base.len() + 1, "{runtime:?} {added}");
                assert!(got.contains(&added), "{runtime:?} {added}: {got:?}");
            }
        }
    }

    #[test]
    fn only_s3_is_a_gateway_and_names_carry_the_region() {
        let all = Features {
            awslogs: true,
            secrets_manager: true,
            parameter_store: true,
            customer_kms_key: true,
            execute_command: true,
        };
        let planned = plan(Runtime::Ec2, all, "eu-west-1");
        assert_eq!(planned.len(), MATRIX.len());
        for p in planned {
            let gateway = p.kind == EndpointKind::Gateway;
            assert_eq!(gateway, p.service == "s3", "{}", p.service);
            assert_eq!(
                p.service_name,
                format!("com.amazonaws.eu-west-1.{}", p.service)
            );
        }
    }

    #[test]
    fn platform_versions() {
        for (version, before) in [
            ("LATEST", false),
            ("1.4.0", false),
            ("1.10.0", false),
            ("1.3.0", true),
            ("1.0.0", true),
        ] {
            assert_eq!(is_before_1_4(version), before, "{version}");
        }
    }

    #[test]
    fn features_follow_the_spec() {
        let spec = crate::EnvironmentSpec::from_json(
            &serde_json::json!({"name": "x", "service": {
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1",
                "executionRoleArn": "arn:aws:iam::123456789012:role/web-execution",
                "secrets": [{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/a"}],
                "enableExecuteCommand": "true"
            }}),
            "us-east-1",
        )
        .unwrap();
        let f = Features::of(&spec.service);
        assert!(f.awslogs && f.parameter_store && f.execute_command);
        assert!(!f.secrets_manager && !f.customer_kms_key);
    }
}
