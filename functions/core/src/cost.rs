//! `cost`: what an environment of a spec costs a month at list prices, from the dated price table
//! in `pricing/prices.json`, with the alternative of one NAT gateway instead of the interface
//! endpoints beside it. Hourly charges only: data through the endpoints, the NAT gateway and
//! the load balancer is priced per GB and listed separately.

use std::collections::BTreeMap;
use std::fmt;

use crate::endpoint_plan::{self, EndpointKind};
use crate::EnvironmentSpec;
use serde::{Deserialize, Serialize};

const TABLE: &str = include_str!("../../../pricing/prices.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceTable {
    date: String,
    hours_per_month: f64,
    regions: BTreeMap<String, Prices>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Prices {
    fargate_vcpu_hour: BTreeMap<String, f64>,
    fargate_gb_hour: BTreeMap<String, f64>,
    load_balancer_hour: f64,
    lcu_hour: f64,
    interface_endpoint_zone_hour: f64,
    interface_endpoint_gb: f64,
    nat_gateway_hour: f64,
    nat_gateway_gb: f64,
    public_ipv4_hour: f64,
    /// A standard-resolution alarm, per metric it reads (a metric math alarm pays for each).
    alarm_metric_month: f64,
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub item: String,
    pub detail: String,
    pub monthly: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub environment: String,
    pub region: String,
    /// The region whose prices were used (us-east-1's when the table lacks the region).
    pub priced_as: String,
    pub prices_of: String,
    pub lines: Vec<Line>,
    pub monthly: f64,
    /// One NAT gateway and its address instead of the interface endpoints.
    pub with_nat_instead: f64,
    pub endpoint_gb: f64,
    pub nat_gb: f64,
}

/// The estimate for `spec` (already validated for `region`).
pub fn estimate(spec: &EnvironmentSpec, region: &str) -> Estimate {
    let table: PriceTable = serde_json::from_str(TABLE).expect("pricing/prices.json is valid");
    let fallback = "us-east-1";
    let priced_as = if table.regions.contains_key(region) {
        region
    } else {
        fallback
    };
    let p = &table.regions[priced_as];
    let month = table.hours_per_month;
    let service = &spec.service;
    let architecture = service.cpu_architecture.as_str();
    // Spot has no list price (it follows spare capacity, up to 70% below on-demand): its tasks
    // are priced as on-demand, an upper bound.
    let spot = service
        .capacity_provider_strategy
        .iter()
        .any(|item| item.capacity_provider == crate::spec::CapacityProvider::FargateSpot);
    let (vcpu, gb) = (service.cpu as f64 / 1024.0, service.memory as f64 / 1024.0);
    let tasks = service.desired_count as f64;
    let fargate = tasks
        * (vcpu * p.fargate_vcpu_hour[architecture] + gb * p.fargate_gb_hour[architecture])
        * month;
    let zones = spec.network.private_subnets.len() as f64;
    let interface: Vec<String> = endpoint_plan::for_service(service, region)
        .into_iter()
        .filter(|e| e.kind == EndpointKind::Interface)
        .map(|e| e.service.to_string())
        .collect();
    let endpoints = interface.len() as f64 * zones * p.interface_endpoint_zone_hour * month;
    let alb_zones = spec.network.public_subnets.len() as f64;
    let mut lines = vec![
        Line {
            item: "Fargate".into(),
            detail: format!(
                "{} tasks x {vcpu} vCPU, {gb} GB ({architecture}){}",
                service.desired_count,
                if spot {
                    "; Spot tasks priced as on-demand, an upper bound"
                } else {
                    ""
                }
            ),
            monthly: fargate,
        },
        Line {
            item: "load balancer".into(),
            detail: "hourly, and 1 LCU (light traffic)".into(),
            monthly: (p.load_balancer_hour + p.lcu_hour) * month,
        },
        Line {
            item: "public IPv4".into(),
            detail: format!("{alb_zones} addresses: the load balancer's, one per zone"),
            monthly: alb_zones * p.public_ipv4_hour * month,
        },
        Line {
            item: "VPC endpoints".into(),
            detail: format!(
                "{} interface ({}) x {zones} zone(s); the S3 gateway endpoint is free",
                interface.len(),
                interface.join(", ")
            ),
            monthly: endpoints,
        },
    ];
    let nat_gateways = nat_gateway_count(spec, region);
    if nat_gateways > 0 {
        lines.push(Line {
            item: "NAT gateways".into(),
            detail: format!(
                "{nat_gateways} x (gateway and its public IPv4), for the tasks' outbound internet"
            ),
            monthly: nat_gateways as f64 * (p.nat_gateway_hour + p.public_ipv4_hour) * month,
        });
    }
    if spec.service.rollback_alarms.is_some() {
        // The 5xx rate reads two metrics, the response time one.
        lines.push(Line {
            item: "rollback alarms".into(),
            detail: "2 alarms on 3 metrics".into(),
            monthly: 3.0 * p.alarm_metric_month,
        });
    }
    for line in &mut lines {
        line.monthly = cents(line.monthly);
    }
    let monthly = cents(lines.iter().map(|l| l.monthly).sum());
    // A spec with NAT gateways already pays for them; without, one would be added.
    let nat = if nat_gateways > 0 {
        0.0
    } else {
        (p.nat_gateway_hour + p.public_ipv4_hour) * month
    };
    Estimate {
        environment: spec.name.clone(),
        region: region.to_string(),
        priced_as: priced_as.to_string(),
        prices_of: table.date,
        with_nat_instead: cents(monthly - cents(endpoints) + nat),
        monthly,
        lines,
        endpoint_gb: p.interface_endpoint_gb,
        nat_gb: p.nat_gateway_gb,
    }
}

/// How many NAT gateways the spec makes: none, one, or one per zone of its private subnets (a
/// subnet whose zone is still to be chosen counts as a zone of its own).
fn nat_gateway_count(spec: &EnvironmentSpec, region: &str) -> usize {
    let private = &spec.network.private_subnets;
    match spec.network.nat_gateways {
        crate::spec::NatGateways::None => 0,
        crate::spec::NatGateways::One => 1,
        crate::spec::NatGateways::PerZone => {
            let mut zones: Vec<String> = private
                .iter()
                .enumerate()
                .map(|(i, s)| s.zone_in(region).unwrap_or_else(|| format!("#{i}")))
                .collect();
            zones.sort();
            zones.dedup();
            zones.len()
        }
    }
}

fn cents(dollars: f64) -> f64 {
    (dollars * 100.0).round() / 100.0
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "monthly cost of {} in {}: list prices of {}{}, 730 hours, before data",
            self.environment,
            self.region,
            self.prices_of,
            if self.priced_as == self.region {
                String::new()
            } else {
                format!(
                    " (the table has no {}: {}'s prices)",
                    self.region, self.priced_as
                )
            }
        )?;
        for line in &self.lines {
            writeln!(
                f,
                "  {:<14} {:>9.2} USD  {}",
                line.item, line.monthly, line.detail
            )?;
        }
        writeln!(f, "  {:<14} {:>9.2} USD", "total", self.monthly)?;
        writeln!(
            f,
            "  with one NAT gateway instead of the interface endpoints: {:.2} USD (the tasks then reach the internet too)",
            self.with_nat_instead
        )?;
        writeln!(
            f,
            "  per GB of data: {:.3} USD through the endpoints, {:.3} USD through a NAT gateway",
            self.endpoint_gb, self.nat_gb
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> EnvironmentSpec {
        EnvironmentSpec::from_json(&json, "us-east-1").unwrap()
    }

    #[test]
    fn the_reference_environment_costs_its_tasks_load_balancer_addresses_and_endpoints() {
        let e = estimate(
            &spec(
                serde_json::json!({"name": "demo", "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1"}}),
            ),
            "us-east-1",
        );
        let monthly: BTreeMap<&str, f64> = e
            .lines
            .iter()
            .map(|l| (l.item.as_str(), l.monthly))
            .collect();
        // 2 x (0.25 x 0.04048 + 0.5 x 0.004445) x 730
        assert_eq!(monthly["Fargate"], 18.02);
        // (0.0225 + 0.008) x 730
        assert_eq!(monthly["load balancer"], 22.27);
        // 2 x 0.005 x 730
        assert_eq!(monthly["public IPv4"], 7.3);
        // ecr.dkr, ecr.api, logs in one zone: 3 x 0.01 x 730
        assert_eq!(monthly["VPC endpoints"], 21.9);
        assert_eq!(e.monthly, 69.49);
        // The endpoints' 21.90 give way to a NAT gateway and its address: 0.05 x 730.
        assert_eq!(e.with_nat_instead, 84.09);
        assert!(e.to_string().contains("list prices of 2026-11-28"), "{e}");
    }

    #[test]
    fn more_zones_tasks_and_a_region_without_prices_are_said() {
        let e = estimate(
            &spec(
                serde_json::json!({"name": "big", "network": {"privateSubnets": [{"cidr": "10.0.1.0/24"}, {"cidr": "10.0.2.0/24"}]}, "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1", "desiredCount": 4, "cpu": 1024, "memory": 2048}}),
            ),
            "eu-west-3",
        );
        assert_eq!(e.priced_as, "us-east-1");
        assert!(e.to_string().contains("the table has no eu-west-3"), "{e}");
        let endpoints = e.lines.iter().find(|l| l.item == "VPC endpoints").unwrap();
        assert_eq!(endpoints.monthly, 43.8, "3 endpoints x 2 zones");
        let fargate = e.lines.iter().find(|l| l.item == "Fargate").unwrap();
        assert_eq!(
            fargate.monthly, 144.16,
            "4 x (1 x 0.04048 + 2 x 0.004445) x 730"
        );
    }

    #[test]
    fn graviton_tasks_cost_the_arm_price_and_spot_is_an_upper_bound() {
        let e = estimate(
            &spec(
                serde_json::json!({"name": "arm", "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1",
                    "cpuArchitecture": "ARM64",
                    "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}}),
            ),
            "us-east-1",
        );
        let fargate = e.lines.iter().find(|l| l.item == "Fargate").unwrap();
        assert_eq!(
            fargate.monthly, 14.42,
            "2 x (0.25 x 0.03238 + 0.5 x 0.00356) x 730"
        );
        assert!(fargate.detail.contains("(ARM64)"), "{}", fargate.detail);
        assert!(fargate.detail.contains("Spot tasks priced as on-demand"));
    }

    #[test]
    fn nat_gateways_cost_one_per_zone_with_their_addresses() {
        let spec_of = |nat: &str| {
            spec(
                serde_json::json!({"name": "out", "network": {"natGateways": nat,
                "publicSubnets": [{"cidr": "10.0.0.0/24", "availabilityZone": "a"},
                                  {"cidr": "10.0.3.0/24", "availabilityZone": "b"}],
                "privateSubnets": [{"cidr": "10.0.1.0/24", "availabilityZone": "a"},
                                   {"cidr": "10.0.2.0/24", "availabilityZone": "b"}]},
                "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1"}}),
            )
        };
        let nat_line = |nat: &str| {
            estimate(&spec_of(nat), "us-east-1")
                .lines
                .into_iter()
                .find(|l| l.item == "NAT gateways")
                .map(|l| l.monthly)
        };
        // (0.045 + 0.005) x 730 a gateway
        assert_eq!(nat_line("ONE"), Some(36.5));
        assert_eq!(nat_line("PER_ZONE"), Some(73.0));
        assert_eq!(nat_line("NONE"), None);
        let e = estimate(&spec_of("PER_ZONE"), "us-east-1");
        // Already paying for gateways: without the endpoints it costs less, not one NAT more.
        let endpoints = e.lines.iter().find(|l| l.item == "VPC endpoints").unwrap();
        assert_eq!(
            e.with_nat_instead,
            ((e.monthly - endpoints.monthly) * 100.0).round() / 100.0
        );
    }

    #[test]
    fn rollback_alarms_cost_each_metric_they_read() {
        let e = estimate(
            &spec(
                serde_json::json!({"name": "safe", "service": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1",
                    "rollbackAlarms": {}}}),
            ),
            "us-east-1",
        );
        let alarms = e
            .lines
            .iter()
            .find(|l| l.item == "rollback alarms")
            .unwrap();
        // 5xx rate: 2 metrics; response time: 1; 0.10 each.
        assert_eq!(alarms.monthly, 0.3);
        assert_eq!(e.monthly, 69.79, "the reference's 69.49 and the alarms");
    }
}
