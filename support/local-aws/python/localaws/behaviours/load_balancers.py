"""Application load balancers as AWS runs them.

alb-lifecycle: a new load balancer is `provisioning` for a while, then `active` (the emulator
makes it active at the first describe).

strict-alb-subnets: an application load balancer needs subnets in two availability zones and free
addresses in each; the emulator accepts one zone.

strict-duplicate-names: creating a load balancer or target group with a name that exists, or a
listener on a port that has one, returns the existing one when its settings are the same, and
fails when they differ (the emulator creates a second load balancer and a second listener, and
refuses any second target group).

The load balancer's network interfaces (one per subnet, public when internet-facing) come and go
with it under the network-interfaces behaviour."""

from .. import world
from ..hooks import AwsError, check, multi, wrap
from . import interfaces

LIFECYCLE = "alb-lifecycle"
SUBNETS = "strict-alb-subnets"
DUPLICATES = "strict-duplicate-names"


def _lb_id(lb):
    # arn:...:loadbalancer/app/<name>/<id>
    return lb.arn.split(":loadbalancer/", 1)[-1]


def _add_interfaces(backend, lb, subnets):
    for subnet in subnets:
        eni = interfaces.create(
            backend.ec2_backend,
            subnet,
            lb.security_groups,
            f"ELB {_lb_id(lb)}",
            public=lb.scheme == "internet-facing",
        )
        lb._world_enis[subnet.id] = eni.id


def _release_interfaces(backend, lb, subnet_ids):
    for subnet_id in subnet_ids:
        eni_id = lb._world_enis.pop(subnet_id, None)
        if eni_id:
            interfaces.release(backend.ec2_backend, eni_id, "alb")


def provisioned_at(lb):
    """World time at which the load balancer became (or becomes) active."""
    if not world.on(LIFECYCLE):
        return lb._world_created
    return lb._world_created + world.seconds(LIFECYCLE, "provisioning")


@world.behaviour(LIFECYCLE)
def install_lifecycle():
    from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer

    @wrap(FakeLoadBalancer, "__init__")
    def created(original, self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._world_created = world.CLOCK.now()
        self._world_enis = {}

    @wrap(FakeLoadBalancer, "activate")
    def activate(original, self):
        if world.CLOCK.now() >= provisioned_at(self):
            original(self)

    @wrap(ELBv2Backend, "create_load_balancer")
    def create(original, self, name, *args, **kwargs):
        lb = original(self, name, *args, **kwargs)
        # AWS's default scheme; the emulator leaves it unset.
        lb.scheme = lb.scheme or "internet-facing"
        if world.on(interfaces.NETWORK) and not lb._world_enis:
            _add_interfaces(self, lb, lb.subnets)
        return lb

    @wrap(ELBv2Backend, "delete_load_balancer")
    def delete(original, self, arn):
        lb = self.load_balancers.get(arn)
        original(self, arn)
        if lb is not None:
            _release_interfaces(self, lb, list(lb._world_enis))

    @wrap(ELBv2Backend, "set_subnets")
    def set_subnets(original, self, arn, subnets, subnet_mappings):
        lb = self.load_balancers.get(arn)
        before = {s.id for s in lb.subnets} if lb else set()
        zones = original(self, arn, subnets, subnet_mappings)
        if lb is not None and world.on(interfaces.NETWORK):
            after = {s.id for s in lb.subnets}
            _release_interfaces(self, lb, before - after)
            _add_interfaces(self, lb, [s for s in lb.subnets if s.id not in before])
        return zones

    @wrap(ELBv2Backend, "set_security_groups")
    def set_groups(original, self, arn, sec_groups):
        original(self, arn, sec_groups)
        lb = self.load_balancers.get(arn)
        for eni_id in lb._world_enis.values():
            eni = self.ec2_backend.enis.get(eni_id)
            if eni is not None:
                eni._group_set = [self.ec2_backend.get_security_group_from_id(g) for g in sec_groups]


@world.behaviour(SUBNETS)
def install_subnets():
    @check(SUBNETS, "elbv2", "CreateLoadBalancer", "SetSubnets")
    def two_zones_with_room(response):
        if (response._get_param("Type") or "application") != "application":
            return
        backend = response.elbv2_backend.ec2_backend
        subnets = [backend.get_subnet(s) for s in multi(response, "Subnets")]
        if len({s.availability_zone for s in subnets}) < 2:
            raise AwsError(
                "ValidationError",
                "At least two subnets in two different Availability Zones must be specified",
            )
        for subnet in subnets:
            if subnet.available_ip_address_count < 8:
                raise AwsError(
                    "InvalidSubnet",
                    f"Not enough IP space available in {subnet.id}. ELB requires at least 8 free IP addresses in each subnet.",
                )


@world.behaviour(DUPLICATES)
def install_duplicates():
    from moto.elbv2.models import ELBv2Backend

    @wrap(ELBv2Backend, "create_load_balancer")
    def create_load_balancer(original, self, name, security_groups, subnet_ids, *args, **kwargs):
        if world.on(DUPLICATES):
            for lb in self.load_balancers.values():
                if lb.name != name:
                    continue
                same = (
                    sorted(lb.security_groups or []) == sorted(security_groups or [])
                    and sorted(s.id for s in lb.subnets) == sorted(subnet_ids or [])
                    and lb.scheme == (kwargs.get("scheme") or "internet-facing")
                )
                if same:
                    return lb
                raise AwsError(
                    "DuplicateLoadBalancerName",
                    f"A load balancer with the same name '{name}' exists, but with different settings",
                )
        return original(self, name, security_groups, subnet_ids, *args, **kwargs)

    @wrap(ELBv2Backend, "create_target_group")
    def create_target_group(original, self, name, **kwargs):
        if world.on(DUPLICATES):
            for tg in self.target_groups.values():
                if tg.name != name:
                    continue
                same = (
                    tg.protocol == kwargs.get("protocol")
                    and str(tg.port) == str(kwargs.get("port"))
                    and tg.vpc_id == kwargs.get("vpc_id")
                    and tg.target_type == (kwargs.get("target_type") or "instance")
                )
                if same:
                    return tg
                raise AwsError(
                    "DuplicateTargetGroupName",
                    f"A target group with the same name '{name}' exists, but with different settings",
                )
        return original(self, name, **kwargs)

    @wrap(ELBv2Backend, "create_listener")
    def create_listener(original, self, load_balancer_arn, protocol, port, *args, **kwargs):
        balancer = self.load_balancers.get(load_balancer_arn)
        if world.on(DUPLICATES) and balancer is not None:
            for listener in balancer.listeners.values():
                if str(listener.port) != str(port):
                    continue
                if listener.protocol == protocol:
                    return listener
                raise AwsError(
                    "DuplicateListener", "A listener already exists on this port for this load balancer."
                )
        return original(self, load_balancer_arn, protocol, port, *args, **kwargs)
