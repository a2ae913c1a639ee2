"""How behaviours hook into moto: checks that run before moto handles an action (and answer with
AWS's error instead), and wrappers around moto's model and backend methods."""

import functools
import ipaddress

from moto.core.exceptions import ServiceException
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores

from . import world

# (service, action) -> [(behaviour id, check)]
CHECKS = {}


class AwsError(ServiceException):
    """An error answered the way the service answers it: its code and its message."""

    def __init__(self, code, message):
        super().__init__(code, message)


def check(behaviour_id, service, *actions):
    """Registers `function(response)` to run before `service`'s `actions` (`*`: every action)
    while the behaviour is on; it raises AwsError to refuse the request."""

    def register(function):
        for action in actions:
            CHECKS.setdefault((service, action), []).append((behaviour_id, function))
        return function

    return register


def install_checks():
    original = BaseResponse.call_action

    def call_action(self):
        action = self._get_action()
        service = getattr(self, "service_name", None)
        registered = CHECKS.get((service, action), []) + CHECKS.get((service, "*"), [])
        checks = [c for b, c in registered if world.on(b)]
        name = camelcase_to_underscores(action)
        method = getattr(self, name, None)
        if checks and method is not None:

            def checked():
                for c in checks:
                    c(self)
                return method()

            setattr(self, name, checked)
        return original(self)

    BaseResponse.call_action = call_action


def wrap(cls, name):
    """Replaces `cls.name` by `function(original, *args, **kwargs)`."""

    def decorator(function):
        original = getattr(cls, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            return function(original, *args, **kwargs)

        setattr(cls, name, wrapper)
        return function

    return decorator


def multi(response, name):
    """Every value of a list parameter (moto parses `SubnetId.1`, `Subnets.member.1` as lists)."""
    value = response._get_param(name)
    if isinstance(value, list):
        return value
    return [value] if value else []


def free_address(subnet, taken):
    """The next address of `subnet` that no interface holds (AWS keeps the first four)."""
    network = ipaddress.ip_network(subnet.cidr_block)
    for n, host in enumerate(network.hosts()):
        if n >= 4 and str(host) not in taken:
            return str(host)
    raise AwsError(
        "InsufficientFreeAddressesInSubnet",
        f"There are not enough free addresses in subnet '{subnet.id}' to satisfy the requested number of instances.",
    )
