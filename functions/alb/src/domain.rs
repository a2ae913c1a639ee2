//! The environment's own name (`alb.domain`): its alias record to the load balancer and, when
//! the spec gives no certificate, the certificate the stage requests for it. What the stage's
//! outputs remember of them is what a later apply retires when the spec changes, and what
//! destroy deletes.

use aws_sdk_elasticloadbalancingv2::types::LoadBalancer;
use provisioner_core::outputs::alb as outputs;
use provisioner_core::spec::AlbSpec;
use provisioner_core::{Names, Outputs, ProvisionError};

use crate::certificate;
use crate::dns::{self, Alias, Cname};

/// The wait between passes while ACM validates: it looks for the record within a minute or so.
pub const VALIDATION_POLL_SECONDS: u32 = 15;

#[derive(Clone, Copy)]
pub struct Clients<'a> {
    pub acm: &'a aws_sdk_acm::Client,
    pub route53: &'a aws_sdk_route53::Client,
}

/// The name and what the stage made for it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: Option<String>,
    pub zone: Option<String>,
    /// The certificate the stage requested (none when the spec gives one).
    pub certificate: Option<String>,
    pub issued: bool,
    /// The validation record the stage wrote, which it deletes with the name.
    pub record: Option<Cname>,
    /// Certificates of an earlier spec that a load balancer still held when they were retired.
    pub retired_certificates: Vec<String>,
    waiting_for: Option<String>,
    /// The validation record the zone lacks: remembered in the outputs, then written.
    record_to_write: Option<Cname>,
}

impl Domain {
    pub fn from_outputs(out: &Outputs) -> Self {
        let one = |key: &str| out.get(key).and_then(|v| v.values().first().cloned());
        Self {
            name: one(outputs::DOMAIN_NAME),
            zone: one(outputs::DOMAIN_HOSTED_ZONE_ID),
            certificate: one(outputs::CERTIFICATE_ARN),
            issued: one(outputs::CERTIFICATE_STATUS).as_deref() == Some(ISSUED),
            record: one(outputs::VALIDATION_RECORD).and_then(|r| Cname::from_output(&r)),
            retired_certificates: out
                .get(outputs::RETIRED_CERTIFICATE_ARNS)
                .map(|v| v.values())
                .unwrap_or_default(),
            waiting_for: None,
            record_to_write: None,
        }
    }

    pub fn write_outputs(&self, out: &mut Outputs) {
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                out.insert(key.into(), value.into());
            }
        };
        put(outputs::DOMAIN_NAME, self.name.clone());
        put(outputs::DOMAIN_HOSTED_ZONE_ID, self.zone.clone());
        put(outputs::CERTIFICATE_ARN, self.certificate.clone());
        put(
            outputs::CERTIFICATE_STATUS,
            self.certificate
                .as_ref()
                .map(|_| if self.issued { ISSUED } else { PENDING }.to_string()),
        );
        put(
            outputs::VALIDATION_RECORD,
            self.record.as_ref().map(Cname::to_output),
        );
        if !self.retired_certificates.is_empty() {
            out.insert(
                outputs::RETIRED_CERTIFICATE_ARNS.into(),
                self.retired_certificates.clone().into(),
            );
        }
    }

    /// The requested certificate, once ACM has issued it.
    pub fn issued_certificate(&self) -> Option<String> {
        self.certificate.clone().filter(|_| self.issued)
    }

    /// The validation record to write, once the outputs name it.
    pub fn record_to_write(&self) -> Option<&Cname> {
        self.record_to_write.as_ref()
    }

    /// What the stage still awaits for the name, if anything.
    pub fn waiting_for(&self) -> Option<&str> {
        self.waiting_for.as_deref()
    }

    fn same_name(&self, other: &Domain) -> bool {
        self.name == other.name && self.zone == other.zone
    }
}

const ISSUED: &str = "ISSUED";
const PENDING: &str = "PENDING_VALIDATION";

/// The certificate the spec asks the stage for, requested or on its way.
pub async fn ensure(
    clients: Clients<'_>,
    names: &Names,
    alb: &AlbSpec,
    before: &Domain,
) -> Result<Domain, ProvisionError> {
    let mut now = Domain {
        name: alb.domain.as_ref().map(|d| d.name.clone()),
        zone: alb.domain.as_ref().map(|d| d.hosted_zone_id.clone()),
        ..Domain::default()
    };
    if now.same_name(before) {
        now.record = before.record.clone();
    }
    if let Some(domain) = alb.managed_certificate_domain() {
        let same = now.same_name(before);
        let known = before.certificate.as_deref().filter(|_| same);
        let managed = certificate::ensure(
            clients.acm,
            clients.route53,
            names,
            domain,
            known,
            now.record.clone(),
        )
        .await?;
        now.issued = managed.issued;
        now.waiting_for = (!managed.issued).then_some(managed.waiting_for);
        now.certificate = Some(managed.arn);
        now.record = managed.written_record;
        now.record_to_write = managed.missing_record;
    }
    Ok(now)
}

/// Writes the validation record the zone lacks. The caller has stored the outputs that name it
/// first: a crash between the two leaves a record the stage still knows to delete.
pub async fn write_record(clients: Clients<'_>, now: &Domain) -> Result<(), ProvisionError> {
    if let (Some(zone), Some(record)) = (&now.zone, &now.record_to_write) {
        dns::write_cname(clients.route53, zone, record).await?;
    }
    Ok(())
}

/// Once the listeners serve what `now` has: points the name at the load balancer, and removes
/// what an earlier spec had (the old name's alias and validation record, its certificate).
pub async fn point_and_retire(
    clients: Clients<'_>,
    names: &Names,
    lb: &LoadBalancer,
    alb: &AlbSpec,
    before: Domain,
    mut now: Domain,
) -> Result<Domain, ProvisionError> {
    let load_balancer = names.load_balancer();
    if let Some(domain) = &alb.domain {
        let alias = Alias {
            name: domain.name.clone(),
            load_balancer_dns: lb.dns_name().unwrap_or_default().to_string(),
            load_balancer_zone: lb
                .canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
        };
        dns::ensure_alias(
            clients.route53,
            &domain.hosted_zone_id,
            &alias,
            &load_balancer,
        )
        .await?;
    }
    if !now.same_name(&before) {
        remove_alias(clients, names, &before).await?;
        if let (Some(zone), Some(record)) = (&before.zone, &before.record) {
            dns::delete_cname(clients.route53, zone, record).await?;
        }
    }
    let mut retiring = before.retired_certificates;
    retiring.extend(
        before
            .certificate
            .filter(|c| Some(c) != now.certificate.as_ref()),
    );
    for arn in retiring {
        if !certificate::delete(clients.acm, &arn, "the spec no longer asks for it").await? {
            now.retired_certificates.push(arn);
        }
    }
    Ok(now)
}

/// Deletes the name's alias record, if it still points at the environment's load balancer.
pub async fn remove_alias(
    clients: Clients<'_>,
    names: &Names,
    before: &Domain,
) -> Result<(), ProvisionError> {
    if let (Some(zone), Some(name)) = (&before.zone, &before.name) {
        dns::delete_alias(clients.route53, zone, name, &names.load_balancer()).await?;
    }
    Ok(())
}

/// Deletes every certificate the stage requested (those its outputs name, and any other for
/// the name, which a crash before the outputs were written would leave), then the validation
/// record it wrote. Returns a certificate a load balancer still holds, if one does: the
/// destroy is tried again.
pub async fn remove_certificates(
    clients: Clients<'_>,
    names: &Names,
    before: &Domain,
) -> Result<Option<String>, ProvisionError> {
    let mut arns: Vec<String> = before.certificate.iter().cloned().collect();
    arns.extend(before.retired_certificates.iter().cloned());
    if let Some(name) = &before.name {
        arns.extend(certificate::find(clients.acm, names, Some(name)).await?);
    }
    arns.sort();
    arns.dedup();
    let mut held = None;
    for arn in arns {
        if !certificate::delete(clients.acm, &arn, "the environment is destroyed").await? {
            held.get_or_insert(arn);
        }
    }
    if held.is_none() {
        if let (Some(zone), Some(record)) = (&before.zone, &before.record) {
            dns::delete_cname(clients.route53, zone, record).await?;
        }
    }
    Ok(held)
}
