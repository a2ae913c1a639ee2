"""Every behaviour of the world. Importing a module registers its installers; `install` puts
their patches into moto. Patches check at run time whether their behaviour is on."""

from .. import hooks, world
from . import (  # noqa: F401 (imported for their registrations)
    account,
    autoscaling,
    certificates,
    cloudformation,
    consistency,
    ecs,
    endpoints,
    eventbridge,
    idempotency,
    interfaces,
    load_balancer_answers,
    load_balancers,
    nat_gateways,
    parameters,
    pulls,
    step_functions,
    strict_requests,
    traffic_shifts,
    zones,
)


@world.behaviour(pulls.ID)
def _install_pulls():
    """Asked by the ecs-tasks behaviour when a task starts."""


@world.behaviour("api-latency")
def _install_latency():
    """Applied by the server after each request (world.CONFIG.latency)."""


def install():
    hooks.install_checks()
    for install_one in world.INSTALLERS.values():
        install_one()
