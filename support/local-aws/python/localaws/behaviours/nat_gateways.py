"""nat-gateways: NAT gateways as AWS runs them.

A new NAT gateway is `pending` for a while before it is `available`, and a route to it is refused
until then (InvalidNatGatewayID.NotFound, as kubernetes/kops#944 saw it). A deleted one is
`deleting`, then `deleted`: only then are its network interface and its Elastic IP's association
gone. Its interface is requester-managed and maps a public address, so the public subnet and the
internet gateway stay held while it lives. DescribeNatGateways honours tag filters (Amazon VPC
User Guide, "NAT gateways"; EC2 API reference, DescribeNatGateways. The emulator makes them
`available` and `deleted` at once, keeps the interface for ever and ignores tag filters)."""

from .. import server, world
from ..hooks import AwsError, check, wrap
from . import interfaces

ID = "nat-gateways"

# Every gateway the world follows: (backend, gateway).
GATEWAYS = []


@server.resetter
def forget():
    GATEWAYS.clear()


@world.ticker
def advance(now):
    if not world.on(ID):
        return
    for backend, gateway in list(GATEWAYS):
        if gateway.state == "pending" and now >= gateway._world_created + world.seconds(ID, "pending"):
            gateway.state = "available"
        elif gateway.state == "deleting" and now >= gateway._world_deleting + world.seconds(ID, "deleting"):
            gateway.state = "deleted"
            _let_go(backend, gateway)
            GATEWAYS.remove((backend, gateway))


def _let_go(backend, gateway):
    """A deleted gateway's address is free and its interface gone."""
    for address in backend.addresses:
        if address.eni is not None and address.eni.id == gateway._eni.id:
            backend.disassociate_address(address=address.public_ip)
    interfaces.delete_now(backend, gateway._eni.id)


@world.behaviour(ID)
def install():
    from moto.ec2.models import EC2Backend

    @wrap(EC2Backend, "create_nat_gateway")
    def create(original, self, *args, **kwargs):
        gateway = original(self, *args, **kwargs)
        if world.on(ID):
            gateway.state = "pending"
            gateway._world_created = world.CLOCK.now()
            gateway._eni.description = f"Interface for NAT Gateway {gateway.id}"
            gateway._eni.requester_managed = True
            gateway._eni.status = "in-use"
            interfaces.PUBLIC.add(gateway._eni.id)
            GATEWAYS.append((self, gateway))
        return gateway

    @wrap(EC2Backend, "describe_nat_gateways")
    def describe(original, self, filters, nat_gateway_ids):
        from moto.ec2.utils import tag_filter_matches

        found = original(self, filters, nat_gateway_ids)
        tagged = {k: v for k, v in (filters or {}).items() if k.startswith("tag")}
        return [g for g in found if all(tag_filter_matches(g, k, v) for k, v in tagged.items())]

    @wrap(EC2Backend, "delete_nat_gateway")
    def delete(original, self, nat_gateway_id):
        gateway = self.nat_gateways.get(nat_gateway_id)
        if gateway is None:
            raise AwsError("NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found")
        if not world.on(ID) or not any(g is gateway for _, g in GATEWAYS):
            return original(self, nat_gateway_id)
        if gateway.state in ("pending", "available"):
            gateway.state = "deleting"
            gateway._world_deleting = world.CLOCK.now()
        return gateway

    @check(ID, "ec2", "CreateRoute", "ReplaceRoute")
    def route_to_available(response):
        nat_id = response._get_param("NatGatewayId")
        if not nat_id:
            return
        gateway = response.ec2_backend.nat_gateways.get(nat_id)
        if gateway is None or gateway.state != "available":
            raise AwsError("InvalidNatGatewayID.NotFound", f"The natGateway ID '{nat_id}' does not exist")
