"""Faster ways to the same answers where moto's own grow with the square of what it holds.

moto finds a resource's tags by scanning every tag of the region with a regular expression,
once per resource a filtered Describe looks at: with 40 environments (about 1,500 tagged EC2
resources) one `DescribeVpcEndpoints` took about a second, and polls of many environments at once
queued behind each other. Here a resource's tags are read from the dictionary moto keeps them in.
The answers do not change."""

from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def _tags_of(resource):
    resource_id = getattr(resource, "id", None)
    if not resource_id:
        return []
    # `.get`: moto keeps them in a defaultdict, which a read must not grow.
    tags = resource.ec2_backend.tags.get(resource_id, {})
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind}
        for key, value in tags.items()
    ]


def install():
    TaggedEC2Resource.get_tags = _tags_of
