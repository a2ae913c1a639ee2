"""availability-zones: each region has the zones a new account can use there (zone letters are
mapped to zone ids per account; these are one account's), and CreateSubnet in a zone the region
lacks fails with AWS's message (the emulator takes any zone of any region)."""

from .. import world
from ..hooks import AwsError, check

ID = "availability-zones"

# region -> [(zone name, zone id)]
TABLE = {
    "us-east-1": [
        ("us-east-1a", "use1-az6"),
        ("us-east-1b", "use1-az1"),
        ("us-east-1c", "use1-az2"),
        ("us-east-1d", "use1-az4"),
        ("us-east-1e", "use1-az3"),
        ("us-east-1f", "use1-az5"),
    ],
    "us-west-1": [("us-west-1b", "usw1-az1"), ("us-west-1c", "usw1-az3")],
    "us-west-2": [
        ("us-west-2a", "usw2-az2"),
        ("us-west-2b", "usw2-az1"),
        ("us-west-2c", "usw2-az3"),
        ("us-west-2d", "usw2-az4"),
    ],
    "eu-west-1": [("eu-west-1a", "euw1-az3"), ("eu-west-1b", "euw1-az1"), ("eu-west-1c", "euw1-az2")],
    "ap-northeast-1": [
        ("ap-northeast-1a", "apne1-az4"),
        ("ap-northeast-1c", "apne1-az1"),
        ("ap-northeast-1d", "apne1-az2"),
    ],
    "ca-central-1": [
        ("ca-central-1a", "cac1-az1"),
        ("ca-central-1b", "cac1-az2"),
        ("ca-central-1d", "cac1-az4"),
    ],
}


def names(region):
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    return [z.name for z in RegionsAndZonesBackend.zones.get(region, [])]


@world.behaviour(ID)
def install():
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend, Zone

    emulator = {region: RegionsAndZonesBackend.zones.get(region) for region in TABLE}

    def apply():
        for region, zones in TABLE.items():
            if world.on(ID):
                RegionsAndZonesBackend.zones[region] = [
                    Zone(region_name=region, name=name, zone_id=zone_id) for name, zone_id in zones
                ]
            elif emulator[region] is not None:
                RegionsAndZonesBackend.zones[region] = emulator[region]

    apply()
    world.CONFIG_LISTENERS.append(apply)

    @check(ID, "ec2", "CreateSubnet")
    def zone_of_this_region(response):
        zone = response._get_param("AvailabilityZone")
        region = response.region
        offered = names(region)
        if zone is not None and zone not in offered:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {', '.join(offered)}.",
            )
