"""eventbridge-targets: a rule whose target is a state machine starts an execution with the event
as input, as EventBridge does (EventBridge User Guide, "Step Functions state machine as a
target"); the emulator delivers only to logs, archives, queues and buses."""

import json
import uuid

from .. import world
from ..hooks import wrap

ID = "eventbridge-targets"


@world.behaviour(ID)
def install():
    from moto.events.models import Rule
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.arns import parse_arn

    @wrap(Rule, "send_to_targets")
    def send(original, self, original_event, transform_input=True):
        if not world.on(ID):
            return original(self, original_event, transform_input)
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        self.targets = [t for t in self.targets if t not in states]
        try:
            original(self, original_event, transform_input)
        finally:
            self.targets.extend(states)
        if not states or not self.event_pattern.matches_event(original_event):
            return
        for target in states:
            arn = parse_arn(target["Arn"])
            event = target.get("Input") or json.dumps(original_event, default=str)
            get_backend(arn.account, arn.region).start_execution(target["Arn"], str(uuid.uuid4()), event)
