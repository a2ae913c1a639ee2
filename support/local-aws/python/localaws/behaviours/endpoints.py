"""VPC endpoints as AWS runs them.

endpoint-lifecycle: a new interface endpoint is `pending` for a while, a gateway endpoint briefly;
a deleted one is `deleting` before it is gone (the emulator makes them `available` and `deleted`
at once).

endpoint-service-zones: each endpoint service is offered in the zones of a table, not in every
zone; DescribeVpcEndpointServices lists them and CreateVpcEndpoint refuses a subnet in another
zone, with AWS's message.

strict-private-dns: private DNS needs both DNS attributes of the VPC (the emulator does not check).

Interface endpoints own a network interface per subnet (network-interfaces): created with the
endpoint's groups, moved by ModifyVpcEndpoint, lingering after the delete."""

import hashlib

from .. import server, world
from ..hooks import AwsError, check, multi, wrap
from . import interfaces, zones

LIFECYCLE = "endpoint-lifecycle"
SERVICE_ZONES = "endpoint-service-zones"
PRIVATE_DNS = "strict-private-dns"

# Every endpoint the world follows: (backend, endpoint).
ENDPOINTS = []

# Services a region offers, and the zones each lacks (terraform-aws-vpc#462: SES SMTP in
# us-east-1 is not offered in us-east-1a, e or f). Tests add gaps through the behaviour's values.
SERVICES = [
    "ecr.api",
    "ecr.dkr",
    "logs",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "kms",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "sts",
    "email-smtp",
    "lambda",
    "monitoring",
    "elasticloadbalancing",
]
GATEWAY_SERVICES = ["s3", "dynamodb"]
GAPS = {"us-east-1": {"email-smtp": ["us-east-1a", "us-east-1e", "us-east-1f"]}}


@server.resetter
def forget():
    ENDPOINTS.clear()


def _is_interface(endpoint):
    return (endpoint.vpc_endpoint_type or "").lower() == "interface"


def _service_zones(region, service_name):
    """The zones where `service_name` (com.amazonaws.<region>.<svc>) is offered."""
    short = service_name.removeprefix(f"com.amazonaws.{region}.")
    gaps = dict(GAPS.get(region, {}))
    for svc, missing in (world.CONFIG.value(SERVICE_ZONES, "gaps", {}) or {}).get(region, {}).items():
        gaps[svc] = missing
    return [z for z in zones.names(region) if z not in gaps.get(short, [])]


def _add_interface(backend, endpoint, subnet_id):
    eni = interfaces.create(
        backend,
        backend.get_subnet(subnet_id),
        endpoint.security_group_ids,
        f"VPC Endpoint Interface {endpoint.id}",
    )
    endpoint.network_interface_ids.append(eni.id)
    endpoint._world_enis[subnet_id] = eni.id


@world.ticker
def advance(now):
    for backend, endpoint in list(ENDPOINTS):
        if endpoint.state == "pending":
            wait = "interface" if _is_interface(endpoint) else "gateway"
            if now >= endpoint._world_created + world.seconds(LIFECYCLE, wait):
                endpoint.state = "available"
        elif endpoint.state == "deleting":
            if now >= endpoint._world_deleting + world.seconds(LIFECYCLE, "deleting"):
                endpoint.state = "deleted"
                ENDPOINTS.remove((backend, endpoint))


@world.behaviour(LIFECYCLE)
def install_lifecycle():
    from moto.ec2.models import EC2Backend

    @wrap(EC2Backend, "create_vpc_endpoint")
    def create(original, self, *args, **kwargs):
        endpoint = original(self, *args, **kwargs)
        if getattr(endpoint, "_world_created", None) is not None:
            return endpoint  # the same client token: the endpoint made before
        endpoint._world_created = world.CLOCK.now()
        endpoint._world_enis = {}
        if world.on(LIFECYCLE):
            endpoint.state = "pending"
        ENDPOINTS.append((self, endpoint))
        if world.on(interfaces.NETWORK) and _is_interface(endpoint):
            # Replace the emulator's interfaces (addresses outside the subnet, no groups).
            for eni_id in endpoint.network_interface_ids:
                self.enis.pop(eni_id, None)
            endpoint.network_interface_ids = []
            for subnet_id in endpoint.subnet_ids or []:
                _add_interface(self, endpoint, subnet_id)
        return endpoint

    @wrap(EC2Backend, "modify_vpc_endpoint")
    def modify(original, self, vpc_id, *args, **kwargs):
        endpoint = self.vpc_end_points.get(vpc_id)
        before = set(endpoint.subnet_ids or []) if endpoint else set()
        original(self, vpc_id, *args, **kwargs)
        if endpoint is None or not getattr(endpoint, "_world_enis", None) or not _is_interface(endpoint):
            return
        after = set(endpoint.subnet_ids or [])
        for subnet_id in before - after:
            eni_id = endpoint._world_enis.pop(subnet_id, None)
            if eni_id:
                endpoint.network_interface_ids.remove(eni_id)
                interfaces.release(self, eni_id, "endpoint")
        for subnet_id in after - before:
            _add_interface(self, endpoint, subnet_id)
        for eni_id in endpoint._world_enis.values():
            eni = self.enis.get(eni_id)
            if eni is not None:
                eni._group_set = [self.get_security_group_from_id(g) for g in endpoint.security_group_ids]

    @wrap(EC2Backend, "delete_vpc_endpoints")
    def delete(original, self, vpce_ids=None):
        # An endpoint already on its way out is left alone, as AWS leaves it (a resend of an
        # applied delete lists it as unsuccessful); the emulator would remove its routes again
        # and fail with InvalidRoute.NotFound.
        vpce_ids = [
            vpce_id
            for vpce_id in vpce_ids or []
            if getattr(self.vpc_end_points.get(vpce_id), "state", None) not in ("deleting", "deleted")
        ]
        owned = {}
        for vpce_id in vpce_ids or []:
            endpoint = self.vpc_end_points.get(vpce_id)
            if endpoint is not None and getattr(endpoint, "_world_enis", None):
                owned[vpce_id] = list(endpoint._world_enis.values())
                endpoint._world_enis = {}
                endpoint.network_interface_ids = []
        original(self, vpce_ids)
        for vpce_id in vpce_ids or []:
            endpoint = self.vpc_end_points.get(vpce_id)
            if endpoint is None:
                continue
            if world.on(LIFECYCLE) and any(e is endpoint for _, e in ENDPOINTS):
                endpoint.state = "deleting"
                endpoint._world_deleting = world.CLOCK.now()
            for eni_id in owned.get(vpce_id, []):
                interfaces.release(self, eni_id, "endpoint")


@world.behaviour(SERVICE_ZONES)
def install_service_zones():
    from moto.ec2.models import EC2Backend

    @wrap(EC2Backend, "describe_vpc_endpoint_services")
    def describe(original, self, service_names, filters, max_results, next_token, region):
        if not world.on(SERVICE_ZONES):
            return original(self, service_names, filters, max_results, next_token, region)
        details = []
        for short in SERVICES + GATEWAY_SERVICES:
            name = f"com.amazonaws.{region}.{short}"
            if service_names and name not in service_names:
                continue
            gateway = short in GATEWAY_SERVICES
            details.append(
                {
                    "ServiceName": name,
                    "ServiceId": "vpce-svc-" + hashlib.sha256(name.encode()).hexdigest()[:17],
                    "ServiceType": [{"ServiceType": "Gateway" if gateway else "Interface"}],
                    "AvailabilityZones": _service_zones(region, name),
                    "Owner": "amazon",
                    "BaseEndpointDnsNames": [f"{short}.{region}.vpce.amazonaws.com"],
                    "PrivateDnsName": None if gateway else f"{short}.{region}.amazonaws.com",
                    "VpcEndpointPolicySupported": True,
                    "AcceptanceRequired": False,
                    "ManagesVpcEndpoints": False,
                    "Tags": [],
                }
            )
        unknown = [n for n in service_names or [] if n not in [d["ServiceName"] for d in details]]
        if unknown:
            raise AwsError("InvalidServiceName", f"The Vpc Endpoint Service '{unknown[0]}' does not exist")
        return {
            "servicesDetails": details,
            "serviceNames": [d["ServiceName"] for d in details],
            "nextToken": None,
        }

    @check(SERVICE_ZONES, "ec2", "CreateVpcEndpoint")
    def offered_in_every_subnet_zone(response):
        name = response._get_param("ServiceName")
        region = response.region
        known = [f"com.amazonaws.{region}.{s}" for s in SERVICES + GATEWAY_SERVICES]
        if name not in known:
            raise AwsError("InvalidServiceName", f"The Vpc Endpoint Service '{name}' does not exist")
        offered = _service_zones(region, name)
        backend = response.ec2_backend
        for subnet_id in multi(response, "SubnetIds"):
            subnet = backend.get_subnet(subnet_id)
            if subnet.availability_zone not in offered:
                raise AwsError(
                    "InvalidParameter",
                    f"The VPC endpoint service {name} does not support the availability zone of the subnet: {subnet_id}.",
                )


@world.behaviour(PRIVATE_DNS)
def install_private_dns():
    @check(PRIVATE_DNS, "ec2", "CreateVpcEndpoint", "ModifyVpcEndpoint")
    def needs_both_dns_attributes(response):
        wanted = response._get_param("PrivateDnsEnabled")
        if str(wanted).lower() != "true":
            return
        backend = response.ec2_backend
        vpc_id = response._get_param("VpcId")
        if vpc_id is None:
            vpc_id = backend.vpc_end_points[response._get_param("VpcEndpointId")].vpc_id
        vpc = backend.get_vpc(vpc_id)
        if not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
            raise AwsError(
                "InvalidParameter",
                f"Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {vpc_id}",
            )
