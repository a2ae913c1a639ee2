"""traffic-shifts: ECS's blue/green, canary and linear deployments behind an Application Load
Balancer, which the emulator does not run (ECS Developer Guide: "Amazon ECS blue/green
deployments", "canary deployments", "linear deployments", "Application Load Balancer resources
for blue/green, linear, and canary deployments").

CreateService and UpdateService with such a strategy need the load balancer's
advancedConfiguration: an alternate target group, a production listener rule that forwards to
both groups, and a role ECS can assume. A deployment that replaces running tasks starts all of
the new ones in the group that takes no production traffic, and once they are healthy shifts the
rule's weights: all at once (BLUE_GREEN), the canary's share then the rest after its bake
(CANARY), or one step more after each step's bake (LINEAR, no bake after the step that reaches
100%). Both versions then run for the bake time before the old tasks stop and the rollout is
COMPLETED; the next deployment starts in the other group (ECS alternates them; the rule's weights
change under whoever manages it: terraform-provider-aws#43905). A watched alarm in ALARM or the
circuit breaker before then puts all traffic back on the old tasks, stops the new ones and fails
the rollout; the old deployment is PRIMARY again. The first deployment of a service has nothing
to shift from: its tasks start in the service's target group, which gets all the traffic.

ECS does not document its weights' granularity, its events' wording or whether it bakes a first
deployment; here weights are whole percents, events are the world's own and a first deployment
completes once its tasks are healthy."""

from .. import world
from ..hooks import AwsError

ID = "traffic-shifts"

SHIFTING = ("BLUE_GREEN", "CANARY", "LINEAR")


def strategy(service):
    config = getattr(service, "deployment_configuration", None) or {}
    return config.get("strategy") or "ROLLING"


def shifts(service):
    return world.on(ID) and strategy(service) in SHIFTING


def _advanced(service):
    lbs = service.load_balancers or []
    return (lbs[0].get("advancedConfiguration") or {}) if lbs else {}


def _elb(service):
    from moto.elbv2.models import elbv2_backends

    arn = service.arn
    _, _, _, region, account, _ = arn.split(":", 5)
    return elbv2_backends[account][region]


def _rule(service):
    arn = _advanced(service).get("productionListenerRule")
    if not arn:
        return None
    for lb in _elb(service).load_balancers.values():
        for listener in lb.listeners.values():
            if arn in listener.rules:
                return listener.rules[arn]
    return None


def _forward_groups(rule):
    for action in rule.actions:
        config = action.data.get("ForwardConfig") if action.type == "forward" else None
        if config:
            return config.get("TargetGroups") or []
    return []


def check(ecs_backend, config, lbs):
    """Refuses a shifting strategy without what ECS needs to shift traffic (CreateService and
    UpdateService API reference: advancedConfiguration; the infrastructure role's trust)."""
    config = config or {}
    if not world.on(ID) or (config.get("strategy") or "ROLLING") not in SHIFTING:
        return
    for lb in lbs or []:
        advanced = lb.get("advancedConfiguration") or {}
        missing = [
            k for k in ("alternateTargetGroupArn", "productionListenerRule", "roleArn") if not advanced.get(k)
        ]
        if missing:
            raise AwsError(
                "InvalidParameterException",
                f"{config['strategy']} deployments with Elastic Load Balancing need "
                f"loadBalancers[].advancedConfiguration.{missing[0]}.",
            )
        _check_role(ecs_backend, advanced["roleArn"])
        _check_rule(
            advanced["productionListenerRule"], lb.get("targetGroupArn"), advanced["alternateTargetGroupArn"]
        )


def _check_role(ecs_backend, role_arn):
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    iam = iam_backends[ecs_backend.account_id][get_partition(ecs_backend.region_name)]
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
    trusted = role is not None and "ecs.amazonaws.com" in str(role.assume_role_policy_document)
    if not trusted:
        raise AwsError(
            "InvalidParameterException",
            f"Unable to assume role {role_arn}: ECS needs a role whose trust policy allows ecs.amazonaws.com.",
        )


def _check_rule(rule_arn, primary, alternate):
    from moto.elbv2.models import elbv2_backends

    _, _, _, region, account, _ = rule_arn.split(":", 5)
    for lb in elbv2_backends[account][region].load_balancers.values():
        for listener in lb.listeners.values():
            rule = listener.rules.get(rule_arn)
            if rule is None:
                continue
            groups = {g.get("TargetGroupArn") for g in _forward_groups(rule)}
            if groups != {primary, alternate}:
                raise AwsError(
                    "InvalidParameterException",
                    f"The production listener rule {rule_arn} must forward to the target groups "
                    f"{primary} and {alternate}.",
                )
            return
    raise AwsError("InvalidParameterException", f"The listener rule {rule_arn} does not exist.")


def live_group(service):
    """The target group that takes production traffic now: the one the last completed shift
    moved it to, while it is still one of the service's two; else the one the service names."""
    lbs = service.load_balancers or []
    named = lbs[0].get("targetGroupArn") if lbs else None
    live = getattr(service, "_world_live_tg", None)
    if live not in (named, _advanced(service).get("alternateTargetGroupArn")):
        live = named
    return live


def _other(service, tg):
    lbs = service.load_balancers or []
    if not lbs:
        return tg
    pair = [lbs[0].get("targetGroupArn"), _advanced(service).get("alternateTargetGroupArn")]
    return next((g for g in pair if g and g != tg), tg)


def start(service, deployment, replacing):
    """Where a shifting deployment's tasks register: the idle group when it replaces running
    tasks, else the live one. A rolling deployment's register in the group the service names."""
    if not shifts(service):
        return
    live = live_group(service)
    if replacing:
        deployment["_world_tg"] = _other(service, live)
        deployment["_world_blue_tg"] = live
    else:
        deployment["_world_tg"] = live


def _set_weights(service, green_tg, percent, event):
    rule = _rule(service)
    if rule is None:
        return
    percent = max(0, min(100, round(percent)))
    changed = False
    for group in _forward_groups(rule):
        weight = percent if group.get("TargetGroupArn") == green_tg else 100 - percent
        if group.get("Weight") != weight:
            group["Weight"] = weight
            changed = True
    if changed:
        event(f"shifted {percent}% of production traffic to target group {green_tg.split('/')[-2]}.")


def _shifted_percent(config, elapsed):
    kind = config.get("strategy")
    if kind == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        bake = 60 * int(canary.get("canaryBakeTimeInMinutes", 10))
        return 100.0 if elapsed >= bake else float(canary.get("canaryPercent", 5.0))
    if kind == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step = float(linear.get("stepPercent", 10.0))
        bake = 60 * int(linear.get("stepBakeTimeInMinutes", 6))
        steps = 1 + (int(elapsed // bake) if bake else 100)
        return min(100.0, step * steps)
    return 100.0


def is_shifting(deployment):
    return deployment.get("_world_blue_tg") is not None and deployment["rolloutState"] == "IN_PROGRESS"


def advance(service, primary, green_ready, now, event):
    """Moves a shifting deployment on; True once its bake is over and the old tasks may stop."""
    config = getattr(service, "deployment_configuration", None) or {}
    green = primary["_world_tg"]
    phase = primary.setdefault("_world_phase", "scale-up")
    if phase == "scale-up":
        if not green_ready:
            return False
        primary["_world_shift_at"] = now
        primary["_world_phase"] = phase = "shifting"
    if phase == "shifting":
        percent = _shifted_percent(config, now - primary["_world_shift_at"])
        _set_weights(service, green, percent, event)
        if percent < 100:
            return False
        primary["_world_full_at"] = now
        primary["_world_phase"] = phase = "bake"
    bake = 60 * int(config.get("bakeTimeInMinutes", 0) or 0)
    if now < primary["_world_full_at"] + bake:
        return False
    service._world_live_tg = green
    return True


def roll_back(service, failed, event):
    """Puts all traffic back on the old tasks and makes their deployment PRIMARY again."""
    _set_weights(service, failed["_world_tg"], 0, event)
    previous = next((d for d in service.deployments[1:] if d.get("_world_completed")), None)
    if previous is None:
        return False
    failed["status"] = "ACTIVE"
    previous["status"] = "PRIMARY"
    service.deployments.remove(previous)
    service.deployments.insert(0, previous)
    service.task_definition = previous["taskDefinition"]
    event(
        f"rolled back to deployment {previous['id']}: production traffic is on target group "
        f"{failed['_world_blue_tg'].split('/')[-2]}."
    )
    return True


@world.behaviour(ID)
def install():
    """Nothing to patch here: ecs-tasks asks this module about shifting services."""
