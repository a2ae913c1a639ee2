"""image-pulls: a Fargate task starts only if, from its subnet, it can reach what Fargate calls to
start it, in this order: ECR's API for registry auth (platform 1.4.0 and later), Secrets Manager or
SSM for its secrets, the registry for the image manifest, S3 for ECR's layers, and CloudWatch Logs
for the awslogs driver. A subnet routed to an internet gateway (with a public address) or a NAT gateway
reaches everything; otherwise each call needs its VPC endpoint: available, with private DNS, in a
group that lets the task in on 443, and for S3 a gateway on the subnet's route table. An image
outside this region's ECR needs the internet. A task that cannot reach one stops with the reason
AWS gives (aws-samples/keycloak-on-aws#222 and the ECS troubleshooting guide)."""

import ipaddress

ID = "image-pulls"

# A public address of the service being dialled, as Fargate's timeouts show it.
REMOTE = "52.46.134.12"


def _timeout(url):
    return f'RequestError: send request failed caused by: Post "{url}": dial tcp {REMOTE}:443: i/o timeout'


def _route_table(ec2, subnet):
    tables = [t for t in ec2.route_tables.values() if t.vpc_id == subnet.vpc_id]
    for table in tables:
        if subnet.id in table._associations.values():
            return table
    return next((t for t in tables if t.main_association_id), None)


def _internet(ec2, subnet, public):
    table = _route_table(ec2, subnet)
    if table is None:
        return False
    for route in table._routes.values():
        if route.destination_cidr_block != "0.0.0.0/0":
            continue
        if route.nat_gateway is not None:
            return True
        gateway = getattr(route.gateway, "id", "") or ""
        if gateway.startswith("igw-") and public:
            return True
    return False


def _admits(ec2, group_ids, task_groups, address):
    """True when one of `group_ids` lets `address` (in `task_groups`) in on TCP 443."""
    for group_id in group_ids:
        group = ec2.get_security_group_from_id(group_id)
        for rule in group.ingress_rules if group else []:
            protocol = rule.ip_protocol
            if protocol not in ("-1", "tcp"):
                continue
            if protocol == "tcp" and not (rule.from_port <= 443 <= rule.to_port):
                continue
            if rule.source_group and rule.source_group.get("GroupId") in task_groups:
                return True
            cidr = (rule.ip_range or {}).get("CidrIp")
            if cidr and ipaddress.ip_address(address) in ipaddress.ip_network(cidr):
                return True
    return False


def _reachable(ec2, subnet, task_groups, address, service):
    name = f"com.amazonaws.{ec2.region_name}.{service}"
    for endpoint in ec2.vpc_end_points.values():
        if endpoint.vpc_id != subnet.vpc_id or endpoint.service_name != name:
            continue
        if endpoint.state != "available":
            continue
        if (endpoint.vpc_endpoint_type or "").lower() == "gateway":
            table = _route_table(ec2, subnet)
            if table is not None and table.id in endpoint.route_table_ids:
                return True
            continue
        if endpoint.private_dns_enabled and _admits(ec2, endpoint.security_group_ids, task_groups, address):
            return True
    return False


def _platform_1_4_or_later(version):
    parts = (version or "LATEST").split(".")
    if not all(p.isdigit() for p in parts):
        return True
    return [int(p) for p in parts] >= [1, 4, 0]


def failure(ec2, task_definition, subnet, task_groups, public, address, platform_version="LATEST"):
    """None when the task can start; else (stopped reason, container reason)."""
    if _internet(ec2, subnet, public):
        return None
    region = ec2.region_name
    container = task_definition.container_definitions[0]
    image = container.get("image", "")
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.partition(":")
    reach = lambda service: _reachable(ec2, subnet, task_groups, address, service)  # noqa: E731
    this_ecr = registry.endswith(f".dkr.ecr.{region}.amazonaws.com")
    if this_ecr and _platform_1_4_or_later(platform_version) and not reach("ecr.api"):
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
            f"unable to retrieve ecr registry auth: service call has been retried 3 time(s): {_timeout(f'https://api.ecr.{region}.amazonaws.com/')}. "
            "Please check your task network configuration.",
            None,
        )
    for secret in container.get("secrets") or []:
        source = secret.get("valueFrom", "").split(":")[2:3]
        if source == ["secretsmanager"] and not reach("secretsmanager"):
            what, url = (
                "unable to retrieve secret from asm",
                f"https://secretsmanager.{region}.amazonaws.com/",
            )
        elif source == ["ssm"] and not reach("ssm"):
            what, url = "unable to retrieve secrets from ssm", f"https://ssm.{region}.amazonaws.com/"
        else:
            continue
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
            f"{what}: service call has been retried 5 time(s): {_timeout(url)}. Please check your task network configuration.",
            None,
        )
    # The image is pulled before the container is created, which is when its log driver starts.
    manifest = f'Head "https://{registry}/v2/{repository}/manifests/{tag or "latest"}": dial tcp {REMOTE}:443: i/o timeout'
    if not this_ecr or not reach("ecr.dkr"):
        reason = f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: failed to do request: {manifest}"
        return reason, reason
    if not reach("s3"):
        reason = (
            "CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: failed open: "
            f'failed to do request: Get "https://prod-{region}-starport-layer-bucket.s3.{region}.amazonaws.com/": dial tcp {REMOTE}:443: i/o timeout'
        )
        return reason, reason
    log = container.get("logConfiguration") or {}
    if log.get("logDriver") == "awslogs" and not reach("logs"):
        return (
            "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
            f"failed to create Cloudwatch log stream: {_timeout(f'https://logs.{region}.amazonaws.com/')} : exit status 1",
            None,
        )
    return None
