"""Network interfaces and the dependencies they make.

network-interfaces: interface endpoints, the load balancer and every task own network interfaces
in their subnets (with an address of the subnet and their security groups). When the owner is
deleted, AWS releases them only some time later: they linger.

dependency-violations: while an interface is in a subnet, or uses a security group, or another
group's rule points at a group, AWS refuses to delete the subnet, the group or the VPC, and an
internet gateway cannot be detached while public addresses are mapped in the VPC. Each refusal is
worded as AWS words it."""

import random

from .. import server, world
from ..hooks import AwsError, check, free_address

NETWORK = "network-interfaces"
DEPENDENCIES = "dependency-violations"

# interface id -> (backend, world time at which AWS releases it)
LINGERING = {}
# interfaces with a public address mapped (internet-facing load balancers, public tasks)
PUBLIC = set()


@server.resetter
def forget():
    LINGERING.clear()
    PUBLIC.clear()


def create(backend, subnet, group_ids, description, public=False):
    """An interface AWS manages for a resource, with an address of `subnet`."""
    taken = {e.private_ip_address for e in backend.enis.values()}
    eni = backend.create_network_interface(
        subnet,
        free_address(subnet, taken),
        group_ids=list(group_ids or []),
        description=description,
    )
    eni.status = "in-use"
    eni.requester_managed = True
    if public:
        eni.public_ip = f"3.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        PUBLIC.add(eni.id)
    return eni


def release(backend, eni_id, linger):
    """The interface's owner is gone: AWS releases it `linger` (a duration of the
    network-interfaces behaviour) later, or at once when the behaviour is off."""
    if world.on(NETWORK):
        LINGERING[eni_id] = (backend, world.CLOCK.now() + world.seconds(NETWORK, linger))
    else:
        _delete(backend, eni_id)


def delete_now(backend, eni_id):
    """The interface is gone with its owner (a deleted NAT gateway's)."""
    _delete(backend, eni_id)


def _delete(backend, eni_id):
    backend.enis.pop(eni_id, None)
    PUBLIC.discard(eni_id)
    LINGERING.pop(eni_id, None)


@world.ticker
def release_due(now):
    for eni_id, (backend, due) in list(LINGERING.items()):
        if now >= due:
            _delete(backend, eni_id)


def in_subnet(backend, subnet_id):
    return [e for e in backend.enis.values() if e.subnet.id == subnet_id]


def in_vpc(backend, vpc_id):
    return [e for e in backend.enis.values() if e.subnet.vpc_id == vpc_id]


def groups_of(eni):
    return [g.id for g in eni._group_set]


@world.behaviour(NETWORK)
def install_interfaces():
    """The owners create and release their interfaces (see load_balancers, endpoints, ecs)."""


@world.behaviour(DEPENDENCIES)
def install_dependencies():
    @check(DEPENDENCIES, "ec2", "DeleteSubnet")
    def subnet(response):
        subnet_id = response._get_param("SubnetId")
        if in_subnet(response.ec2_backend, subnet_id):
            raise AwsError(
                "DependencyViolation",
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted.",
            )

    @check(DEPENDENCIES, "ec2", "DeleteSecurityGroup")
    def security_group(response):
        group_id = response._get_param("GroupId")
        backend = response.ec2_backend
        used = any(group_id in groups_of(e) for e in backend.enis.values())
        referenced = any(
            group_id in _referenced_groups(group)
            for groups in backend.groups.values()
            for group in groups.values()
            if group.id != group_id
        )
        if used or referenced:
            raise AwsError("DependencyViolation", f"resource {group_id} has a dependent object")

    @check(DEPENDENCIES, "ec2", "DeleteVpc")
    def vpc(response):
        vpc_id = response._get_param("VpcId")
        if in_vpc(response.ec2_backend, vpc_id):
            raise AwsError(
                "DependencyViolation",
                f"The vpc '{vpc_id}' has dependencies and cannot be deleted.",
            )

    @check(DEPENDENCIES, "ec2", "DetachInternetGateway")
    def gateway(response):
        vpc_id = response._get_param("VpcId")
        if any(e.id in PUBLIC for e in in_vpc(response.ec2_backend, vpc_id)):
            raise AwsError(
                "DependencyViolation",
                f"Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
            )


def _referenced_groups(group):
    """Groups that `group`'s rules let traffic come from."""
    return {
        rule.source_group.get("GroupId")
        for rule in list(group.ingress_rules) + list(group.egress_rules)
        if rule.source_group
    }
