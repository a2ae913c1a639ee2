"""alb-answers: an HTTP request sent to a load balancer's DNS name is answered as the load
balancer answers it (ELB User Guide: listeners and their default actions; "HTTP 503: Service
unavailable" when a target group has no registered or no healthy target):

- 503 while the load balancer is still provisioning (on AWS its name does not resolve yet);
- 503 when nothing listens on the port;
- the listener's redirect (301 and its Location);
- for a forward, the app's answer (200) once a target of the group is healthy, else 503;
- a listener rule for every path (`/*`) comes before the default action; a forward to weighted
  groups answers 200 only when every group with a weight has a healthy target (ELB spreads the
  requests by weight, so otherwise some fail).

The emulator serves no traffic at all. The local system points the service function's URL check
(run from outside the VPC, as on AWS) at this server; the Host header names the load balancer."""

from .. import world
from . import load_balancers

ID = "alb-answers"
SUFFIX = ".elb.amazonaws.com"


@world.behaviour(ID)
def install():
    """Nothing to patch: the server asks `answer` for requests to a load balancer's name."""


def is_for_a_load_balancer(host):
    return host.split(":", 1)[0].lower().endswith(SUFFIX)


def _find(dns_name):
    from moto.elbv2.models import elbv2_backends

    # <name>-<id>.<region>.elb.amazonaws.com
    region = dns_name[: -len(SUFFIX)].rsplit(".", 1)[-1]
    for account in list(elbv2_backends.keys()):
        backend = elbv2_backends[account][region]
        for lb in backend.load_balancers.values():
            if lb.dns_name.lower() == dns_name:
                return backend, lb
    return None, None


def _unavailable(why):
    return "503 Service Unavailable", [], why


def answer(host, path):
    """(status, headers, body) of a GET of `path` at `host` (`name[:port]`)."""
    if not world.on(ID):
        return "200 OK", [], "the plain emulator answers for every load balancer"
    name, _, port = host.partition(":")
    port = int(port or 80)
    backend, lb = _find(name.lower())
    if lb is None or world.CLOCK.now() < load_balancers.provisioned_at(lb):
        return _unavailable(f"{name} does not answer yet")
    listener = next((li for li in lb.listeners.values() if int(li.port) == port), None)
    if listener is None or not listener.default_actions:
        return _unavailable(f"nothing listens on port {port} of {name}")
    action = listener.default_actions[0]
    for rule in sorted(
        (r for r in listener.rules.values() if not r.is_default), key=lambda r: int(r.priority)
    ):
        if _every_path(rule) and rule.actions:
            action = rule.actions[0]
            break
    if action.type == "redirect":
        config = action.data.get("RedirectConfig", {})
        scheme = config.get("Protocol", "HTTPS").lower()
        location = f"{scheme}://{name}:{config.get('Port', '443')}{path}"
        return "301 Moved Permanently", [("Location", location)], ""
    weighted = (action.data.get("ForwardConfig") or {}).get("TargetGroups")
    if weighted:
        arns = [g["TargetGroupArn"] for g in weighted if int(g.get("Weight", 1)) > 0]
    else:
        arns = [action.data.get("TargetGroupArn")]
    answered = None
    for tg_arn in arns:
        group = backend.target_groups.get(tg_arn)
        if group is None:
            return _unavailable(f"the target group of port {port} of {name} is gone")
        healthy = [
            target_id
            for target_id in group.targets
            if group.health_for({"Id": target_id}, backend.ec2_backend).status == "healthy"
        ]
        if not healthy:
            return _unavailable(f"no healthy target behind port {port} of {name}")
        answered = answered or healthy[0]
    return "200 OK", [], f"answered by {answered}"


def _every_path(rule):
    return any(
        c.get("Field") == "path-pattern"
        and "/*" in (c.get("PathPatternConfig", {}).get("Values") or c.get("Values") or [])
        for c in rule.conditions
    )
