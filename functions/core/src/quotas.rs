//! The account quotas an environment can run into, by the error code AWS answers with: which
//! quota it is and how to raise it (Service Quotas codes from the VPC and ELB quota pages).

/// A Service Quotas entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub name: &'static str,
    pub service_code: &'static str,
    pub quota_code: &'static str,
    pub default: u32,
}

/// AWS error codes that mean a quota is reached, with the quota.
const QUOTAS: &[(&str, Quota)] = &[
    (
        "VpcLimitExceeded",
        Quota {
            name: "VPCs per Region",
            service_code: "vpc",
            quota_code: "L-F678F1CE",
            default: 5,
        },
    ),
    (
        "InternetGatewayLimitExceeded",
        Quota {
            name: "Internet gateways per Region",
            service_code: "vpc",
            quota_code: "L-A4707A72",
            default: 5,
        },
    ),
    (
        "TooManyLoadBalancers",
        Quota {
            name: "Application Load Balancers per Region",
            service_code: "elasticloadbalancing",
            quota_code: "L-53DA6B97",
            default: 50,
        },
    ),
];

/// The quota behind an AWS error code, if it is one.
pub fn of_code(code: &str) -> Option<&'static Quota> {
    QUOTAS.iter().find(|(c, _)| *c == code).map(|(_, q)| q)
}

/// What to add to an AWS error that means a quota is reached: the quota and how to raise it.
pub fn hint(code: &str) -> String {
    let Some(q) = of_code(code) else {
        return String::new();
    };
    format!(
        ". This is the account quota \"{}\" (default {}): delete environments or VPCs you no longer need, or raise it in the Service Quotas console or with `aws service-quotas request-service-quota-increase --service-code {} --quota-code {} --desired-value N --region REGION`",
        q.name, q.default, q.service_code, q.quota_code
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_errors_name_the_quota_and_the_command_that_raises_it() {
        let h = hint("VpcLimitExceeded");
        assert!(h.contains("\"VPCs per Region\" (default 5)"), "{h}");
        assert!(
            h.contains("--service-code vpc --quota-code L-F678F1CE --desired-value N"),
            "{h}"
        );
        assert!(hint("InternetGatewayLimitExceeded").contains("L-A4707A72"));
        assert_eq!(hint("InvalidParameterValue"), "");
    }
}
