"""The account's own state.

quotas: default per-region quotas (5 VPCs, 5 internet gateways); the default VPC counts.

service-linked-roles: a new account has no ECS service-linked role. The first CreateCluster
creates it, and until it has propagated, creating a cluster with capacity providers (or putting
capacity providers on one) fails the way AWS fails it (cloudformation-coverage-roadmap#818)."""

from .. import server, world
from ..hooks import AwsError, check

QUOTAS = "quotas"
ROLES = "service-linked-roles"

# (account, region) -> world time at which the ECS service-linked role was created
ECS_ROLE_CREATED = {}


@server.resetter
def forget():
    ECS_ROLE_CREATED.clear()


@world.behaviour(QUOTAS)
def install_quotas():
    @check(QUOTAS, "ec2", "CreateVpc")
    def vpcs(response):
        limit = int(world.CONFIG.value(QUOTAS, "vpcsPerRegion", 5))
        if len(response.ec2_backend.vpcs) >= limit:
            raise AwsError("VpcLimitExceeded", "The maximum number of VPCs has been reached.")

    @check(QUOTAS, "ec2", "CreateInternetGateway")
    def gateways(response):
        limit = int(world.CONFIG.value(QUOTAS, "internetGatewaysPerRegion", 5))
        if len(response.ec2_backend.internet_gateways) >= limit:
            raise AwsError(
                "InternetGatewayLimitExceeded",
                "The maximum number of internet gateways has been reached.",
            )


@world.behaviour(ROLES)
def install_roles():
    @check(ROLES, "ecs", "CreateCluster", "PutClusterCapacityProviders")
    def role_propagated(response):
        key = (response.current_account, response.region)
        now = world.CLOCK.now()
        created = ECS_ROLE_CREATED.setdefault(key, now)
        if not response._get_param("capacityProviders"):
            return
        if now < created + world.seconds(ROLES, "propagation"):
            raise AwsError(
                "InvalidParameterException",
                "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
            )
