"""certificate-validation: ACM certificates validated through DNS, as ACM validates them.

A certificate requested with DNS validation is PENDING_VALIDATION. Its validation record is not in
DescribeCertificate's DomainValidationOptions for the first seconds (aws/aws-sdk-js#2133,
hashicorp/terraform-provider-aws#9596), and is the same CNAME for every certificate of the name
in the account (ACM User Guide, "DNS validation"). ACM issues the certificate some seconds after
that record exists in a public hosted zone of the name, and never without it. A listener refuses
a certificate that is not ISSUED with UnsupportedCertificate (DataBiosphere/azul#8321, with
ELB's wording). A certificate is in use while a load balancer's listener serves it, and
DeleteCertificate then answers ResourceInUseException (ACM API reference, DeleteCertificate).
The emulator issues every certificate after 60 s whether or not its record exists, gives every
name the same record, and lets a certificate in use be deleted."""

import hashlib

from .. import server, world
from ..hooks import AwsError, wrap

ID = "certificate-validation"

# (account, normalised record name, normalised value) -> world time the record was written.
RECORDS = {}


@server.resetter
def forget():
    RECORDS.clear()


def _normal(name):
    return name.rstrip(".").lower()


def _record(account, domain):
    """The validation CNAME of `domain` in `account`: the same for every certificate of it."""
    digest = hashlib.sha256(f"{account}/{_normal(domain)}".encode()).hexdigest()
    return (f"_{digest[:32]}.{_normal(domain)}.", f"_{digest[32:64]}.mhbtsbpdnt.acm-validations.aws.")


def _written_at(account, domain):
    name, value = _record(account, domain)
    return RECORDS.get((account, _normal(name), _normal(value)))


def _in_use_by(account, region, arn):
    """The load balancers whose listeners serve the certificate."""
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[account][region]
    return sorted(
        lb.arn
        for lb in backend.load_balancers.values()
        for listener in lb.listeners.values()
        if arn in (listener.certificates or []) or listener.certificate == arn
    )


def _where(bundle):
    """The account and region of a certificate, from its ARN (arn:aws:acm:REGION:ACCOUNT:...)."""
    _, _, _, region, account, _ = bundle.arn.split(":", 5)
    return account, region


def _certificate(account, region, arn):
    from moto.acm.models import acm_backends

    return acm_backends[account][region]._certificates.get(arn)


@world.behaviour(ID)
def install():
    from moto.acm.models import AWSCertificateManagerBackend, CertBundle
    from moto.elbv2.models import ELBv2Backend
    from moto.route53.models import Route53Backend

    @wrap(CertBundle, "check")
    def check(original, self):
        if not world.on(ID) or self.type != "AMAZON_ISSUED" or self.status != "PENDING_VALIDATION":
            return original(self)
        account, _ = _where(self)
        written = _written_at(account, self.common_name)
        if written is not None and world.CLOCK.now() >= written + world.seconds(ID, "validation"):
            self.status = "ISSUED"

    @wrap(CertBundle, "describe")
    def describe(original, self):
        result = original(self)
        if not world.on(ID):
            return result
        certificate = result["Certificate"]
        account, region = _where(self)
        certificate["InUseBy"] = _in_use_by(account, region, self.arn)
        published = (world.CLOCK.utcnow() - self.created_at).total_seconds() >= world.seconds(ID, "publish")
        for option in certificate.get("DomainValidationOptions", []):
            if published:
                name, value = _record(account, option["DomainName"])
                option["ResourceRecord"] = {"Name": name, "Type": "CNAME", "Value": value}
            else:
                option.pop("ResourceRecord", None)
        return result

    @wrap(AWSCertificateManagerBackend, "request_certificate")
    def request_certificate(original, self, domain_name, idempotency_token, *args, **kwargs):
        # The emulator fails (KeyError) on a token whose certificate was deleted; ACM makes a
        # new one.
        if world.on(ID) and idempotency_token is not None:
            arn = self._get_arn_from_idempotency_token(idempotency_token)
            if arn is not None and arn not in self._certificates:
                self._idempotency_tokens.pop(idempotency_token, None)
        return original(self, domain_name, idempotency_token, *args, **kwargs)

    @wrap(AWSCertificateManagerBackend, "delete_certificate")
    def delete_certificate(original, self, arn):
        if world.on(ID) and arn in self._certificates and _in_use_by(self.account_id, self.region_name, arn):
            raise AwsError(
                "ResourceInUseException", f"Certificate {arn} in account {self.account_id} is in use."
            )
        return original(self, arn)

    @wrap(Route53Backend, "change_resource_record_sets")
    def change(original, self, zoneid, change_list):
        original(self, zoneid, change_list)
        zone = self.get_hosted_zone(zoneid)
        if zone.private_zone:
            return
        for item in change_list:
            record = item["ResourceRecordSet"]
            if record.get("Type") != "CNAME":
                continue
            for value in record.get("ResourceRecords") or []:
                value = value["Value"] if isinstance(value, dict) else value
                key = (self.account_id, _normal(record["Name"]), _normal(value))
                if item["Action"] == "DELETE":
                    RECORDS.pop(key, None)
                else:
                    RECORDS.setdefault(key, world.CLOCK.now())

    def _refuse_unissued(backend, certificates):
        for arn in certificates:
            certificate = _certificate(backend.account_id, backend.region_name, arn)
            if certificate is None:
                continue
            certificate.check()
            if certificate.status != "ISSUED":
                raise AwsError(
                    "UnsupportedCertificate",
                    f"The certificate '{arn}' must have a fully-qualified domain name, a supported signature, and a supported key size.",
                )

    @wrap(ELBv2Backend, "create_listener")
    def create_listener(
        original, self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs
    ):
        if world.on(ID) and certificate:
            _refuse_unissued(self, [certificate])
        return original(self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs)

    @wrap(ELBv2Backend, "modify_listener")
    def modify_listener(original, self, arn, *args, **kwargs):
        certificates = kwargs.get("certificates")
        if certificates is None and len(args) > 3:
            certificates = args[3]
        if world.on(ID) and certificates:
            _refuse_unissued(self, [c["CertificateArn"] for c in certificates])
        return original(self, arn, *args, **kwargs)
