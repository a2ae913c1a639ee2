//! Availability zones. A spec names a subnet's zone by letter ("a"), by full name, or not at all
//! (chosen). Zone letters map to different zones in every account and some regions lack some
//! letters (ca-central-1 has no `c`, ap-northeast-1 no `b` for new accounts), so zones are resolved
//! against the zones the region offers this account (DescribeAvailabilityZones) before anything is
//! created, and the stored spec names every zone in full.
//!
//! Chosen zones: the private subnets go to the first zones where Fargate runs, the public ones to
//! those same zones first (an ALB only sends traffic to targets in its own zones), then the next.

use crate::spec::{EnvironmentSpec, FieldError, SpecError};

/// A zone the region offers this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// `us-east-1a`: its letter differs between accounts.
    pub name: String,
    /// `use1-az6`: the same zone in every account.
    pub id: String,
}

/// Zone ids where Fargate runs Linux tasks, for the regions where it does not run in every zone
/// (ECS Developer Guide, "Supported Regions for Amazon ECS on AWS Fargate").
const FARGATE_ZONE_IDS: &[(&str, &[&str])] = &[
    ("us-west-1", &["usw1-az1", "usw1-az3"]),
    ("ap-northeast-1", &["apne1-az1", "apne1-az2", "apne1-az4"]),
];

/// An interface endpoint service the tasks need, and the zones it is offered in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedService {
    /// `com.amazonaws.us-east-1.logs`
    pub name: String,
    pub zones: Vec<String>,
}

/// The zones of a region available to this account, in name order, and the endpoint services
/// the tasks need there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionZones {
    pub region: String,
    pub zones: Vec<Zone>,
    pub services: Vec<OfferedService>,
}

impl RegionZones {
    pub fn new(region: impl Into<String>, mut zones: Vec<Zone>) -> Self {
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            region: region.into(),
            zones,
            services: Vec::new(),
        }
    }

    /// Private subnets must also be in zones where each of `services` is offered: the tasks
    /// reach AWS through those endpoints.
    pub fn with_endpoint_services(mut self, services: Vec<OfferedService>) -> Self {
        self.services = services;
        self
    }

    /// Why the tasks cannot run in `zone`, if they cannot.
    fn unfit_for_tasks(&self, zone: &Zone) -> Option<String> {
        if !self.fargate_runs_in(zone) {
            return Some(format!(
                "{} ({}) is a zone where Fargate does not run",
                zone.name, zone.id
            ));
        }
        let missing = self
            .services
            .iter()
            .find(|s| !s.zones.contains(&zone.name))?;
        Some(format!(
            "the VPC endpoint service {} is not offered in {} (it is in {}), and the tasks reach it only through its endpoint",
            missing.name,
            zone.name,
            missing.zones.join(", ")
        ))
    }

    pub fn fargate_runs_in(&self, zone: &Zone) -> bool {
        FARGATE_ZONE_IDS
            .iter()
            .find(|(region, _)| *region == self.region)
            .is_none_or(|(_, ids)| ids.contains(&zone.id.as_str()))
    }

    /// The zone a spec names: a letter of this region or a full name.
    fn named(&self, given: &str) -> Option<&Zone> {
        let name = if given.len() == 1 {
            format!("{}{given}", self.region)
        } else {
            given.to_string()
        };
        self.zones.iter().find(|z| z.name == name)
    }

    fn listing(&self, zones: &[&Zone]) -> String {
        zones
            .iter()
            .map(|z| z.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `spec` with every subnet's zone named in full, or every problem with a zone, naming the
    /// field and the zones allowed.
    /// Validates a spec given as JSON for this region and names its zones in full.
    pub fn accept(&self, json: &serde_json::Value) -> Result<EnvironmentSpec, SpecError> {
        self.resolve(&EnvironmentSpec::from_json(json, &self.region)?)
    }

    pub fn resolve(&self, spec: &EnvironmentSpec) -> Result<EnvironmentSpec, SpecError> {
        let mut errors = Vec::new();
        let mut resolved = spec.clone();
        let all: Vec<&Zone> = self.zones.iter().collect();
        let fargate: Vec<&Zone> = all
            .iter()
            .copied()
            .filter(|z| self.unfit_for_tasks(z).is_none())
            .collect();
        let mut given = |list: &str, i: usize, zone: &Option<String>| -> Option<Zone> {
            let zone = zone.as_deref()?;
            let found = self.named(zone).cloned();
            if found.is_none() {
                errors.push(FieldError {
                    field: format!("network.{list}[{i}].availabilityZone"),
                    problem: format!(
                        "`{zone}` is not an availability zone of {} available to this account; allowed: {}",
                        self.region,
                        self.listing(&all)
                    ),
                });
            }
            found
        };
        let public: Vec<Option<Zone>> = spec
            .network
            .public_subnets
            .iter()
            .enumerate()
            .map(|(i, s)| given("publicSubnets", i, &s.availability_zone))
            .collect();
        let private: Vec<Option<Zone>> = spec
            .network
            .private_subnets
            .iter()
            .enumerate()
            .map(|(i, s)| given("privateSubnets", i, &s.availability_zone))
            .collect();
        let explicit =
            |list: &[Option<Zone>]| -> Vec<Zone> { list.iter().flatten().cloned().collect() };

        // Private subnets left to choose: Fargate zones, those of the given public subnets first.
        let given_public = explicit(&public);
        let mut preferred: Vec<&Zone> = fargate
            .iter()
            .copied()
            .filter(|z| given_public.contains(z))
            .collect();
        preferred.extend(
            fargate
                .iter()
                .copied()
                .filter(|z| !given_public.contains(z)),
        );
        let mut next_private = preferred.iter().cycle();
        let private: Vec<Zone> = private
            .into_iter()
            .map(|z| z.or_else(|| next_private.next().map(|z| (*z).clone())))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();

        // Public subnets left to choose: the private subnets' zones first, then the rest, each
        // zone once while zones remain.
        let mut order: Vec<&Zone> = Vec::new();
        for z in private.iter().chain(all.iter().copied()) {
            if !order.contains(&z) {
                order.push(z);
            }
        }
        let mut unused: Vec<&Zone> = order
            .iter()
            .copied()
            .filter(|z| !given_public.contains(z))
            .collect();
        let public: Vec<Zone> = public
            .into_iter()
            .map(|z| {
                z.or_else(|| {
                    if unused.is_empty() {
                        unused = order.clone();
                    }
                    Some(unused.remove(0).clone())
                })
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();

        if errors.is_empty() {
            let public_names: Vec<&Zone> = public.iter().collect();
            for (i, zone) in private.iter().enumerate() {
                let field = format!("network.privateSubnets[{i}].availabilityZone");
                if let Some(why) = self.unfit_for_tasks(zone) {
                    errors.push(FieldError {
                        field: field.clone(),
                        problem: format!("{why}; allowed: {}", self.listing(&fargate)),
                    });
                } else if !public.contains(zone) {
                    errors.push(FieldError {
                        field,
                        problem: format!(
                            "{} has no public subnet, and the load balancer only sends traffic to targets in its own zones: add a public subnet in {} or use one of {}",
                            zone.name,
                            zone.name,
                            self.listing(&public_names)
                        ),
                    });
                }
            }
            let mut distinct: Vec<&str> = public.iter().map(|z| z.name.as_str()).collect();
            distinct.sort();
            distinct.dedup();
            if public.len() >= 2 && distinct.len() < 2 {
                errors.push(FieldError {
                    field: "network.publicSubnets".into(),
                    problem: format!(
                        "all in {}; an application load balancer needs subnets in at least 2 different availability zones; allowed: {}",
                        distinct.join(", "),
                        self.listing(&all)
                    ),
                });
            }
        }
        if !errors.is_empty() {
            return Err(SpecError { errors });
        }
        for (subnet, zone) in resolved.network.public_subnets.iter_mut().zip(&public) {
            subnet.availability_zone = Some(zone.name.clone());
        }
        for (subnet, zone) in resolved.network.private_subnets.iter_mut().zip(&private) {
            subnet.availability_zone = Some(zone.name.clone());
        }
        Ok(resolved)
    }
}

/// Whether every subnet of `spec` names its zone in full (as a resolved spec does).
/// The spec with its zones named in full: as it is when Prepare stored it, or resolved against
/// the region's zones when it was stored another way.
#[cfg(feature = "ec2")]
pub async fn named(
    ec2: &aws_sdk_ec2::Client,
    spec: EnvironmentSpec,
    region: &str,
) -> Result<EnvironmentSpec, crate::ProvisionError> {
    if is_resolved(&spec, region) {
        return Ok(spec);
    }
    Ok(describe(ec2, region).await?.resolve(&spec)?)
}

pub fn is_resolved(spec: &EnvironmentSpec, region: &str) -> bool {
    let net = &spec.network;
    net.public_subnets
        .iter()
        .chain(&net.private_subnets)
        .all(|s| {
            s.availability_zone
                .as_deref()
                .is_some_and(|z| z.len() > 1 && z.starts_with(region))
        })
}

/// The zones of `ec2`'s region available to this account.
#[cfg(feature = "ec2")]
pub async fn describe(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<RegionZones, crate::ProvisionError> {
    use crate::AwsContext;
    use aws_sdk_ec2::types::{AvailabilityZoneState, Filter};
    let found = ec2
        .describe_availability_zones()
        .filters(
            Filter::builder()
                .name("zone-type")
                .values("availability-zone")
                .build(),
        )
        .send()
        .await
        .context("DescribeAvailabilityZones", region)?;
    let zones = found
        .availability_zones()
        .iter()
        .filter(|z| z.state() == Some(&AvailabilityZoneState::Available))
        .filter_map(|z| {
            Some(Zone {
                name: z.zone_name()?.to_string(),
                id: z.zone_id()?.to_string(),
            })
        })
        .collect();
    Ok(RegionZones::new(region, zones))
}

/// The zones each of the interface endpoint services `names` is offered in.
#[cfg(feature = "ec2")]
pub async fn describe_endpoint_services(
    ec2: &aws_sdk_ec2::Client,
    names: Vec<String>,
) -> Result<Vec<OfferedService>, crate::ProvisionError> {
    use crate::AwsContext;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let found = ec2
        .describe_vpc_endpoint_services()
        .set_service_names(Some(names.clone()))
        .send()
        .await
        .context("DescribeVpcEndpointServices", names.join(", "))?;
    Ok(found
        .service_details()
        .iter()
        .filter_map(|d| {
            Some(OfferedService {
                name: d.service_name()?.to_string(),
                zones: d.availability_zones().to_vec(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SubnetSpec;

    fn region(name: &str, zones: &[(&str, &str)]) -> RegionZones {
        let zones = zones
            .iter()
            .map(|(name, id)| Zone {
                name: name.to_string(),
                id: id.to_string(),
            })
            .collect();
        RegionZones::new(name, zones)
    }

    fn canada() -> RegionZones {
        region(
            "ca-central-1",
            &[
                ("ca-central-1a", "cac1-az1"),
                ("ca-central-1b", "cac1-az2"),
                ("ca-central-1d", "cac1-az4"),
            ],
        )
    }

    fn spec(public: &[Option<&str>], private: &[Option<&str>]) -> EnvironmentSpec {
        let subnets = |zones: &[Option<&str>], third: u8| {
            zones
                .iter()
                .enumerate()
                .map(|(i, z)| SubnetSpec {
                    cidr: format!("10.0.{}.0/24", third + i as u8),
                    availability_zone: z.map(String::from),
                })
                .collect()
        };
        let mut spec: EnvironmentSpec = serde_json::from_value(
            serde_json::json!({"name": "web", "service": {"image": "nginx"}}),
        )
        .unwrap();
        spec.network.public_subnets = subnets(public, 0);
        spec.network.private_subnets = subnets(private, 10);
        spec
    }

    fn zones_of(spec: &EnvironmentSpec) -> (Vec<String>, Vec<String>) {
        let names = |list: &[SubnetSpec]| {
            list.iter()
                .map(|s| s.availability_zone.clone().unwrap())
                .collect()
        };
        (
            names(&spec.network.public_subnets),
            names(&spec.network.private_subnets),
        )
    }

    #[test]
    fn chosen_zones_are_the_first_available_ones_in_every_region() {
        let resolved = canada().resolve(&spec(&[None, None], &[None])).unwrap();
        assert_eq!(
            zones_of(&resolved),
            (
                vec!["ca-central-1a".into(), "ca-central-1b".into()],
                vec!["ca-central-1a".into()]
            )
        );
        // us-west-1 offers two zones, both with Fargate.
        let west = region(
            "us-west-1",
            &[("us-west-1b", "usw1-az1"), ("us-west-1c", "usw1-az3")],
        );
        let resolved = west.resolve(&spec(&[None, None], &[None])).unwrap();
        assert_eq!(zones_of(&resolved).1, vec!["us-west-1b".to_string()]);
    }

    #[test]
    fn private_subnets_are_chosen_where_fargate_runs_and_the_alb_follows() {
        let tokyo = region(
            "ap-northeast-1",
            &[
                ("ap-northeast-1a", "apne1-az3"),
                ("ap-northeast-1c", "apne1-az1"),
                ("ap-northeast-1d", "apne1-az2"),
            ],
        );
        let resolved = tokyo.resolve(&spec(&[None, None], &[None])).unwrap();
        assert_eq!(
            zones_of(&resolved),
            (
                vec!["ap-northeast-1c".into(), "ap-northeast-1a".into()],
                vec!["ap-northeast-1c".into()]
            )
        );
        let err = tokyo
            .resolve(&spec(&[Some("a"), Some("c")], &[Some("a")]))
            .unwrap_err();
        assert_eq!(
            err.errors[0].field,
            "network.privateSubnets[0].availabilityZone"
        );
        assert!(
            err.errors[0].problem.contains("Fargate does not run")
                && err.errors[0]
                    .problem
                    .contains("ap-northeast-1c, ap-northeast-1d"),
            "{err}"
        );
    }

    #[test]
    fn given_zones_are_letters_or_names_of_zones_the_region_offers() {
        let resolved = canada()
            .resolve(&spec(&[Some("d"), Some("ca-central-1b")], &[Some("d")]))
            .unwrap();
        assert_eq!(
            zones_of(&resolved).0,
            vec!["ca-central-1d".to_string(), "ca-central-1b".to_string()]
        );
        let err = canada()
            .resolve(&spec(&[Some("a"), Some("c")], &[Some("a")]))
            .unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err}");
        assert_eq!(
            err.errors[0].field,
            "network.publicSubnets[1].availabilityZone"
        );
        assert_eq!(
            err.errors[0].problem,
            "`c` is not an availability zone of ca-central-1 available to this account; allowed: ca-central-1a, ca-central-1b, ca-central-1d"
        );
    }

    #[test]
    fn a_private_zone_without_a_public_subnet_is_refused_with_the_fix() {
        let err = canada()
            .resolve(&spec(&[Some("a"), Some("b")], &[Some("d")]))
            .unwrap_err();
        assert_eq!(
            err.errors[0].field,
            "network.privateSubnets[0].availabilityZone"
        );
        assert!(
            err.errors[0].problem.contains(
                "add a public subnet in ca-central-1d or use one of ca-central-1a, ca-central-1b"
            ),
            "{err}"
        );
        // Left to choose, it goes where the load balancer is.
        let resolved = canada()
            .resolve(&spec(&[Some("b"), Some("d")], &[None]))
            .unwrap();
        assert_eq!(zones_of(&resolved).1, vec!["ca-central-1b".to_string()]);
    }

    #[test]
    fn private_subnets_go_where_the_endpoint_services_are_offered() {
        let smtp = OfferedService {
            name: "com.amazonaws.ca-central-1.email-smtp".into(),
            zones: vec!["ca-central-1b".into(), "ca-central-1d".into()],
        };
        let zones = canada().with_endpoint_services(vec![smtp]);
        let resolved = zones.resolve(&spec(&[None, None], &[None])).unwrap();
        assert_eq!(
            zones_of(&resolved),
            (
                vec!["ca-central-1b".into(), "ca-central-1a".into()],
                vec!["ca-central-1b".into()]
            )
        );
        let err = zones
            .resolve(&spec(&[Some("a"), Some("b")], &[Some("a")]))
            .unwrap_err();
        assert_eq!(
            err.errors[0].field,
            "network.privateSubnets[0].availabilityZone"
        );
        assert_eq!(
            err.errors[0].problem,
            "the VPC endpoint service com.amazonaws.ca-central-1.email-smtp is not offered in ca-central-1a (it is in ca-central-1b, ca-central-1d), and the tasks reach it only through its endpoint; allowed: ca-central-1b, ca-central-1d"
        );
    }

    #[test]
    fn resolving_twice_changes_nothing() {
        let once = canada()
            .resolve(&spec(&[None, None], &[None, None]))
            .unwrap();
        assert!(is_resolved(&once, "ca-central-1"));
        assert_eq!(canada().resolve(&once).unwrap(), once);
        assert!(!is_resolved(
            &spec(&[Some("a"), None], &[None]),
            "ca-central-1"
        ));
    }
}
