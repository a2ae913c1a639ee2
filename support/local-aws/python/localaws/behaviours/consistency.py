"""eventual-consistency: for a few seconds after an EC2 create, a request that names the new id
may answer that it does not exist (EC2 API reference, "Eventual consistency in the Amazon EC2
API"; terraform-provider-aws#18391). Here every such request does, for `window` seconds, so code
that does not wait it out fails every time rather than now and then. Values of filters are not
checked: a describe by filter answers with what it finds. Likewise a DescribeVpcAttribute within
`window` seconds of a ModifyVpcAttribute still reads the value from before the change."""

from .. import server, world
from ..hooks import AwsError, check, wrap

ID = "eventual-consistency"

# id -> world time of its creation
CREATED = {}
# (vpc id, attribute) -> (value before the last change, world time of the change)
CHANGED = {}

NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "igw-": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "vpce-": ("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '{}' does not exist"),
}

CREATES = [
    "create_vpc",
    "create_subnet",
    "create_security_group",
    "create_internet_gateway",
    "create_route_table",
    "create_vpc_endpoint",
]


@server.resetter
def forget():
    CREATED.clear()
    CHANGED.clear()


def _young(value, now):
    created = CREATED.get(value)
    return created is not None and now < created + world.seconds(ID, "window")


@world.behaviour(ID)
def install():
    from moto.ec2.models import EC2Backend

    for name in CREATES:

        @wrap(EC2Backend, name)
        def record(original, self, *args, **kwargs):
            made = original(self, *args, **kwargs)
            if getattr(made, "id", None) and made.id not in CREATED:
                CREATED[made.id] = world.CLOCK.now()
            return made

    @wrap(EC2Backend, "modify_vpc_attribute")
    def remember(original, self, vpc_id, attr_name, attr_value):
        before = getattr(self.get_vpc(vpc_id), attr_name, None)
        original(self, vpc_id, attr_name, attr_value)
        CHANGED[(vpc_id, attr_name)] = (before, world.CLOCK.now())

    @wrap(EC2Backend, "describe_vpc_attribute")
    def stale(original, self, vpc_id, attr_name):
        value = original(self, vpc_id, attr_name)
        before, at = CHANGED.get((vpc_id, attr_name), (None, None))
        if world.on(ID) and at is not None and world.CLOCK.now() < at + world.seconds(ID, "window"):
            return before
        return value

    @check(ID, "ec2", "*")
    def named_too_soon(response):
        now = world.CLOCK.now()
        for key, values in response.querystring.items():
            if key.startswith(("Filter", "TagSpecification", "Action", "Version")):
                continue
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and _young(value, now):
                    prefix = next(p for p in NOT_FOUND if value.startswith(p))
                    code, message = NOT_FOUND[prefix]
                    raise AwsError(code, message.format(value))
