"""time: Step Functions runs on the world's clock. A Wait state lasts its seconds of world time
(so a 15 s poll is 15 AWS seconds however compressed the clock), and execution and history
timestamps are world time, so an execution's dates give its modelled AWS duration."""

import datetime
import time as time_module

from .. import world
from ..hooks import wrap

ID = "time"


def _world_now():
    return datetime.datetime.fromtimestamp(world.CLOCK.now(), datetime.UTC)


@world.behaviour(ID)
def install():
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend import execution as execution_module

    @wrap(WaitFunction, "_wait_interval")
    def wait(original, self, env, wait_seconds):
        if not world.on(ID):
            return original(self, env, wait_seconds)
        deadline = world.CLOCK.now() + wait_seconds
        world.CLOCK.wait_until(deadline, interrupted=lambda: not env.is_running())

    original_timestamp = EventManager._get_current_timestamp

    def timestamp():
        return _world_now() if world.on(ID) else original_timestamp()

    EventManager._get_current_timestamp = staticmethod(timestamp)

    # The interpreter builds a new boto3 client (about 50 ms) for every Lambda call; that work
    # would count as world time passing. One client per region and service serves them all.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original_client = lambda_eval_utils.boto_client_for
    clients = {}

    def client_for(region, service, state_credentials=None):
        key = (region, service)
        if key not in clients:
            clients[key] = original_client(
                region=region, service=service, state_credentials=state_credentials
            )
        return clients[key]

    lambda_eval_utils.boto_client_for = client_for

    # Dates and sleeps of the interpreter: execution start and stop dates, and Retry intervals,
    # are taken with datetime.datetime.now and time.sleep in these modules.
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    for module in (execution_module, parser_models, retrier_decl):
        if hasattr(module, "datetime"):
            module.datetime = WORLD_DATETIME_MODULE
        if hasattr(module, "time"):
            module.time = WORLD_TIME_MODULE


class _WorldDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        if not world.on(ID):
            return datetime.datetime.now(tz)
        now = _world_now()
        return now.astimezone(tz) if tz else now.replace(tzinfo=None)


def _world_sleep(seconds):
    if world.on(ID):
        world.CLOCK.sleep(seconds)
    else:
        time_module.sleep(seconds)


# Stand-ins for the `datetime` and `time` modules, as the interpreter's modules use them.
WORLD_DATETIME_MODULE = type(
    "world_datetime",
    (),
    {"datetime": _WorldDatetime, "timezone": datetime.timezone, "timedelta": datetime.timedelta},
)
WORLD_TIME_MODULE = type(
    "world_time", (), {"sleep": staticmethod(_world_sleep), "time": staticmethod(lambda: world.CLOCK.now())}
)
