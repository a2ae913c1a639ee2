"""Requests AWS refuses and the emulator accepts.

strict-vpc-attributes: ModifyVpcAttribute takes one attribute per call.
strict-fargate-sizes: a Fargate task definition needs a CPU and memory pair Fargate offers (ECS
developer guide, "Task CPU and memory").
strict-target-group-attached: a service can only use a target group that a load balancer
forwards to."""

from .. import world
from ..hooks import AwsError, check

VPC_ATTRIBUTES = "strict-vpc-attributes"
FARGATE_SIZES = "strict-fargate-sizes"
TARGET_GROUP_ATTACHED = "strict-target-group-attached"


def _gib(n):
    return n * 1024


FARGATE_MEMORY = {
    256: [512, _gib(1), _gib(2)],
    512: [_gib(n) for n in range(1, 5)],
    1024: [_gib(n) for n in range(2, 9)],
    2048: [_gib(n) for n in range(4, 17)],
    4096: [_gib(n) for n in range(8, 31)],
    8192: [_gib(n) for n in range(16, 61, 4)],
    16384: [_gib(n) for n in range(32, 121, 8)],
}


@world.behaviour(VPC_ATTRIBUTES)
def install_vpc_attributes():
    @check(VPC_ATTRIBUTES, "ec2", "ModifyVpcAttribute")
    def one_attribute(response):
        given = [
            name
            for name in ("enableDnsHostnames", "enableDnsSupport", "enableNetworkAddressUsageMetrics")
            if response._get_param(f"{name[0].upper()}{name[1:]}.Value") is not None
        ]
        if len(given) > 1:
            raise AwsError(
                "InvalidParameterCombination",
                f"Fields for multiple attribute types specified: {', '.join(sorted(given))}",
            )


@world.behaviour(FARGATE_SIZES)
def install_fargate_sizes():
    @check(FARGATE_SIZES, "ecs", "RegisterTaskDefinition")
    def offered_pair(response):
        if "FARGATE" not in (response._get_param("requiresCompatibilities") or []):
            return
        cpu, memory = response._get_param("cpu"), response._get_param("memory")
        try:
            valid = int(memory) in FARGATE_MEMORY.get(int(cpu), [])
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise AwsError(
                "ClientException",
                f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory.",
            )


@world.behaviour(TARGET_GROUP_ATTACHED)
def install_target_group_attached():
    @check(TARGET_GROUP_ATTACHED, "ecs", "CreateService", "UpdateService")
    def forwarded_to(response):
        from moto.elbv2.models import elbv2_backends

        elb = elbv2_backends[response.current_account][response.region]
        for lb in response._get_param("loadBalancers") or []:
            arn = lb.get("targetGroupArn")
            tg = elb.target_groups.get(arn)
            if tg is not None and not tg.load_balancer_arns:
                raise AwsError(
                    "InvalidParameterException",
                    f"The target group with targetGroupArn {arn} does not have an associated load balancer.",
                )
