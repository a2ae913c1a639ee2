"""parameter-tiers: Parameter Store's value limits per tier, and no way back from advanced.

A standard parameter holds at most 4 KB, an advanced one 8 KB; once advanced, a parameter is
never standard again: an overwrite that asks for the standard tier (or names none, which means
the default, standard) is refused (Systems Manager user guide, "Managing parameter tiers";
go-to-k/cdk-real-drift#408, seen live)."""

from .. import world
from ..hooks import AwsError, check

ID = "parameter-tiers"
STANDARD_LIMIT = 4096
ADVANCED_LIMIT = 8192


@world.behaviour(ID)
def install():
    @check(ID, "ssm", "PutParameter")
    def tiers(response):
        name = response._get_param("Name")
        value = response._get_param("Value") or ""
        tier = response._get_param("Tier") or "Standard"
        size = len(value.encode())
        if size > ADVANCED_LIMIT:
            raise AwsError(
                "ValidationException",
                f"1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to {ADVANCED_LIMIT}",
            )
        if tier == "Standard" and size > STANDARD_LIMIT:
            raise AwsError(
                "ValidationException",
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.",
            )
        versions = response.ssm_backend._parameters.get(name) or []
        if tier == "Standard" and versions and versions[-1].tier == "Advanced":
            raise AwsError(
                "ValidationException",
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.",
            )
