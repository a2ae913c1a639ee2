//! The certificate of `alb.domain` when the spec gives none: requested from ACM with DNS
//! validation, validated by a CNAME record in the domain's hosted zone, and served by the HTTPS
//! listener once ACM has issued it. ACM publishes the record a few seconds after the request,
//! and issues the certificate once it finds the record; until then the stage answers pending.

use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, ValidationMethod};
use provisioner_core::exactly_once::client_token;
use provisioner_core::spec::DomainSpec;
use provisioner_core::tags::acm as acm_tags;
use provisioner_core::{
    changes, exactly_once, no_blind_resend, AwsContext, Change, Names, NotFoundAsNone,
    ProvisionError,
};

use crate::dns::{self, Cname};
use crate::owner;

/// Where the managed certificate stands after an apply's pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    pub arn: String,
    /// True once ACM has issued it: the HTTPS listener can serve it.
    pub issued: bool,
    /// The validation record, once this or an earlier pass wrote it (and so may delete it).
    pub written_record: Option<Cname>,
    /// The validation record when the zone lacks it: the caller remembers it, then writes it.
    pub missing_record: Option<Cname>,
    /// What is awaited, in words, while not issued.
    pub waiting_for: String,
}

async fn describe(
    acm: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<CertificateDetail>, ProvisionError> {
    Ok(acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .context("DescribeCertificate", arn)
        .not_found_as_none()?
        .and_then(|d| d.certificate().cloned()))
}

/// The ARNs of the certificates this environment requested, for `domain` or (None) any name.
pub async fn find(
    acm: &aws_sdk_acm::Client,
    names: &Names,
    domain: Option<&str>,
) -> Result<Vec<String>, ProvisionError> {
    provisioner_core::tags::acm::owned(acm, owner(names), domain).await
}

/// Requests the certificate. The idempotency token makes a resend of the same run answer with
/// the first request's certificate (ACM keeps a token for an hour); one that replaces a spent
/// certificate gets a token of its own.
async fn request(
    acm: &aws_sdk_acm::Client,
    names: &Names,
    domain: &DomainSpec,
    replacing: Option<&str>,
) -> Result<String, ProvisionError> {
    let requested = acm
        .request_certificate()
        .domain_name(&domain.name)
        .validation_method(ValidationMethod::Dns)
        .idempotency_token(client_token(&[
            "certificate",
            &domain.name,
            replacing.unwrap_or_default(),
        ]))
        .set_tags(Some(acm_tags::on_create(owner(names), "certificate")))
        .send()
        .await
        .context("RequestCertificate", &domain.name)?;
    let arn = requested.certificate_arn().unwrap_or_default().to_string();
    tracing::info!(certificate = %arn, domain = %domain.name, "requested a certificate");
    Ok(arn)
}

/// The validation record ACM asks for, once it has published it.
fn validation_record(detail: &CertificateDetail, domain: &str) -> Option<Cname> {
    detail
        .domain_validation_options()
        .iter()
        .find(|v| v.domain_name() == domain)
        .and_then(|v| v.resource_record())
        .map(|r| Cname {
            name: r.name().to_string(),
            value: r.value().to_string(),
        })
}

/// Makes sure an issued certificate for the domain exists or is on its way. `known` is the
/// certificate an earlier pass requested, and `written` the validation record it wrote.
pub async fn ensure(
    acm: &aws_sdk_acm::Client,
    route53: &aws_sdk_route53::Client,
    names: &Names,
    domain: &DomainSpec,
    known: Option<&str>,
    written: Option<Cname>,
) -> Result<Managed, ProvisionError> {
    let mut detail = match known {
        Some(arn) => describe(acm, arn)
            .await?
            .filter(|d| d.domain_name() == Some(domain.name.as_str())),
        None => None,
    };
    if detail.is_none() {
        if let Some(arn) = find(acm, names, Some(&domain.name)).await?.first() {
            detail = describe(acm, arn).await?;
        }
    }
    // A certificate whose validation ran out, or that expired or was revoked, is replaced.
    let mut replacing = None;
    if let Some(d) = &detail {
        let status = d.status();
        let spent = matches!(
            status,
            Some(
                CertificateStatus::ValidationTimedOut
                    | CertificateStatus::Expired
                    | CertificateStatus::Revoked
                    | CertificateStatus::Inactive
            )
        );
        if spent {
            let arn = d.certificate_arn().unwrap_or_default().to_string();
            let why = status.map(|s| s.as_str()).unwrap_or_default().to_string();
            if delete(acm, &arn, &why).await? {
                detail = None;
                replacing = Some(arn);
            }
        }
    }
    let detail = match detail {
        Some(d) => d,
        None => {
            dns::check_zone(route53, domain).await?;
            dns::check_name_free(route53, domain, &names.load_balancer()).await?;
            let create = Change::create("certificate", &domain.name).set("validation", "DNS");
            if !changes::carry_out(create) {
                return Ok(Managed {
                    arn: changes::new_id("certificate"),
                    issued: false,
                    written_record: None,
                    missing_record: None,
                    waiting_for: format!("a new certificate for {}", domain.name),
                });
            }
            let arn = request(acm, names, domain, replacing.as_deref()).await?;
            match describe(acm, &arn).await? {
                Some(d) => d,
                None => {
                    return Ok(Managed {
                        arn,
                        issued: false,
                        written_record: written,
                        missing_record: None,
                        waiting_for: "ACM to list the certificate it just made".into(),
                    })
                }
            }
        }
    };
    let arn = detail.certificate_arn().unwrap_or_default().to_string();
    match detail.status() {
        Some(CertificateStatus::Issued) => Ok(Managed {
            arn,
            issued: true,
            written_record: written,
            missing_record: None,
            waiting_for: String::new(),
        }),
        Some(CertificateStatus::Failed) => Err(ProvisionError::Conflict(format!(
            "ACM could not issue the certificate {arn} for {}: {}; see the ACM User Guide's \"Troubleshoot certificate problems\", fix the cause, delete the certificate and apply again",
            domain.name,
            detail
                .failure_reason()
                .map(|r| r.as_str())
                .unwrap_or("no reason given")
        ))),
        _ => {
            let Some(record) = validation_record(&detail, &domain.name) else {
                return Ok(Managed {
                    arn,
                    issued: false,
                    written_record: written,
                    missing_record: None,
                    waiting_for: "ACM to publish the certificate's validation record".into(),
                });
            };
            let missing = !dns::has_cname(route53, &domain.hosted_zone_id, &record).await?;
            Ok(Managed {
                arn,
                issued: false,
                written_record: if missing { Some(record.clone()) } else { written },
                missing_record: missing.then(|| record.clone()),
                waiting_for: format!(
                    "ACM to find the validation record {} and issue the certificate for {}",
                    record.name, domain.name
                ),
            })
        }
    }
}

/// Deletes a certificate. False when a load balancer still uses it: ELB lets go of a
/// certificate a little after its listener goes, and ACM refuses to delete it until then.
/// It is looked up first, and after an ambiguous failure, rather than deleted blindly: the
/// policy lets the stage delete only certificates tagged as its own, and a deleted one (by an
/// earlier attempt that crashed before its outputs were written) has no tags to match.
pub async fn delete(
    acm: &aws_sdk_acm::Client,
    arn: &str,
    why: &str,
) -> Result<bool, ProvisionError> {
    if describe(acm, arn).await?.is_none() {
        return Ok(true);
    }
    if !changes::carry_out(Change::delete("certificate", arn).because(why)) {
        return Ok(true);
    }
    let deleted = exactly_once::create_or_find(
        "certificate deletion",
        acm.config().sleep_impl(),
        || async {
            acm.delete_certificate()
                .certificate_arn(arn)
                .customize()
                .config_override(no_blind_resend!(aws_sdk_acm))
                .send()
                .await
                .context("DeleteCertificate", arn)
                .not_found_as_none()
                .map(|_| ())
        },
        || async { Ok(describe(acm, arn).await?.is_none().then_some(())) },
    )
    .await;
    match deleted {
        Ok(()) => {
            tracing::info!(certificate = %arn, "deleted certificate");
            Ok(true)
        }
        Err(e) if e.aws_code() == Some("ResourceInUseException") => Ok(false),
        Err(e) => Err(e),
    }
}
