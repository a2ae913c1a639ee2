"""ecs-tasks: ECS services that run tasks, as ECS does (the emulator never starts one).

A service's deployment starts tasks. Each task gets a network interface with an address in one of
the service's subnets and goes PROVISIONING -> PENDING -> RUNNING; a running task behind a target
group is registered as an `ip` target, `initial` until the load balancer is active and its health
check has passed healthy-threshold times, then `healthy`. A deployment rolls within the service's
minimum healthy and maximum percent: new tasks start, old ones are deregistered, drain for the
target group's deregistration delay, then stop and release their interface. When the primary
deployment's tasks all run healthy and nothing else is left, its rollout is COMPLETED. Tasks that
fail to start count towards the circuit breaker (0.5 x desired, at least 3, at most 200); when it
trips the rollout FAILS and, with rollback, ECS rolls back to the last completed deployment.
With deployment alarms, a watched alarm in ALARM once a new task runs fails the rollout the same
way (one already in ALARM when the deployment started is not held against it, as
aws/copilot-cli#4512 says), and a rollout that is otherwise done stays IN_PROGRESS for a bake time
("How CloudWatch alarms detect Amazon ECS deployment failures", ECS Developer Guide).
A service with a capacity provider strategy places each new task on the provider whose base is
not yet met, else on the one furthest below its weight's share (the ECS Developer Guide's
"capacity provider strategy": base first, then weights); UpdateService changes the
strategy in place (an empty one returns to the launch type), refuses a provider the cluster does
not have, and starts no deployment for it unless forced. DeleteService leaves the service DRAINING until its tasks have stopped, and a CreateService of the
same name meanwhile is refused. DescribeServices reports the deployment configuration and grace
period the service was given (the emulator drops them).

Whether a task can start (pull its image, reach its log group and secrets) is the image-pulls
behaviour's call (pulls.py)."""

import copy
import hashlib
import math
import uuid

from .. import server, world
from ..hooks import AwsError, wrap
from . import interfaces, load_balancers, pulls, traffic_shifts

ID = "ecs-tasks"

# Every service the world runs: (ecs backend, service).
SERVICES = []
# (target group arn, address) -> world time from which the target is healthy
TARGETS = {}


@server.resetter
def forget():
    SERVICES.clear()
    TARGETS.clear()


def _d(name):
    return world.seconds(ID, name)


def _elb(backend):
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[backend.account_id][backend.region_name]


def _ec2(backend):
    from moto.ec2.models import ec2_backends

    return ec2_backends[backend.account_id][backend.region_name]


def _event(service, message):
    service.events.insert(
        0,
        {
            "id": str(uuid.uuid4()),
            "createdAt": world.CLOCK.utcnow(),
            "message": f"(service {service.name}) {message}",
        },
    )
    del service.events[100:]


def _new_deployment(service, task_definition):
    now = world.CLOCK.utcnow()
    deployment = {
        "id": f"ecs-svc/{uuid.uuid4().int % 10**19:019d}",
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "capacityProviderStrategy": copy.deepcopy(getattr(service, "capacity_provider_strategy", None) or []),
        "platformVersion": service.platform_version or "LATEST",
        "platformFamily": "Linux",
        "networkConfiguration": service.network_configuration,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": "ECS deployment in progress.",
    }
    for other in service.deployments:
        other["status"] = "ACTIVE"
    replacing = any(t.desired_status == "RUNNING" for t in getattr(service, "_world_tasks", []))
    traffic_shifts.start(service, deployment, replacing)
    service.deployments.insert(0, deployment)
    # An alarm already in ALARM when the deployment starts is not held against it (aws/copilot-cli#4512).
    names, _ = _watched_alarms(service)
    backend = next((b for b, s in SERVICES if s is service), None)
    if backend is not None:
        deployment["_world_ignored_alarms"] = [
            a.name for a in _alarms(backend, names) if a.state_value == "ALARM"
        ]
    return deployment


def _settings(service):
    config = getattr(service, "deployment_configuration", None) or {}
    breaker = config.get("deploymentCircuitBreaker") or {}
    return (
        int(config.get("minimumHealthyPercent", 100)),
        int(config.get("maximumPercent", 200)),
        bool(breaker.get("enable")),
        bool(breaker.get("rollback")),
    )


def _watched_alarms(service):
    """The CloudWatch alarms the service's deployments watch, and whether they roll back."""
    config = getattr(service, "deployment_configuration", None) or {}
    alarms = config.get("alarms") or {}
    if not alarms.get("enable"):
        return [], False
    return list(alarms.get("alarmNames") or []), bool(alarms.get("rollback"))


def _alarms(backend, names):
    from moto.cloudwatch.models import cloudwatch_backends

    found = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    return [found[name] for name in names if name in found]


def _bake_seconds(backend, names):
    """How long ECS watches the alarms after the rollout is otherwise done. ECS computes it from
    the alarms' configuration and does not publish how; here, the longest alarm window (period
    times evaluation periods)."""
    longest = 0
    for alarm in _alarms(backend, names):
        period = alarm.period or max(
            (int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat), default=60
        )
        longest = max(longest, int(period) * int(alarm.evaluation_periods or 1))
    return longest


class WorldTask:
    """A moto Task whose status the world sets (moto's state manager would stop it on read)."""

    @property
    def last_status(self):
        return self._world_status

    @last_status.setter
    def last_status(self, value):
        self._world_status = value

    def advance(self):
        pass


def _provider_for(service, deployment):
    """The capacity provider the deployment's next task is placed on (None: the launch type)."""
    strategy = deployment.get("capacityProviderStrategy") or []
    if not strategy:
        return None
    placed = {}
    for task in service._world_tasks:
        if task._world_deployment == deployment["id"] and task._world_status != "STOPPED":
            placed[task.capacity_provider_name] = placed.get(task.capacity_provider_name, 0) + 1
    for item in strategy:
        if placed.get(item["capacityProvider"], 0) < int(item.get("base", 0)):
            return item["capacityProvider"]
    # Beyond the bases, the provider whose share stays furthest below its weight's; a tie goes
    # to the larger weight.
    weighted = [item for item in strategy if int(item.get("weight", 0)) > 0] or strategy

    def after_one_more(item):
        weight = max(int(item.get("weight", 0)), 1)
        beyond = max(placed.get(item["capacityProvider"], 0) - int(item.get("base", 0)), 0)
        return ((beyond + 1) / weight, -weight)

    chosen = min(weighted, key=after_one_more)
    return chosen["capacityProvider"]


def _check_providers(cluster, strategy):
    for item in strategy or []:
        if item["capacityProvider"] not in (cluster.capacity_providers or []):
            raise AwsError(
                "InvalidParameterException",
                "The specified capacity provider strategy cannot contain a capacity provider that is not "
                "associated with the cluster. Associate the capacity provider with the cluster or specify "
                "a valid capacity provider and try again.",
            )


def _start_task(backend, service, deployment):
    from moto.ecs.models import Task

    ec2 = _ec2(backend)
    vpc = (service.network_configuration or {}).get("awsvpcConfiguration", {})
    subnets = vpc.get("subnets") or []
    subnet = ec2.get_subnet(subnets[len(service._world_tasks) % len(subnets)])
    task_definition = backend.describe_task_definition(deployment["taskDefinition"])
    cluster = backend._get_cluster(service.cluster_name)
    task = Task(
        cluster,
        task_definition,
        None,
        None,
        backend,
        group=f"service:{service.name}",
        launch_type=service.launch_type or "FARGATE",
        started_by=deployment["id"],
        networking_configuration={
            "awsvpcConfiguration": {"subnets": [subnet.id], "securityGroups": vpc.get("securityGroups", [])}
        },
        platform_version=service.platform_version or "LATEST",
    )
    task.__class__ = type("WorldEcsTask", (WorldTask, Task), {})
    task.capacity_provider_name = _provider_for(service, deployment)
    # Replace the emulator's interface (an address outside the subnet) with one of the subnet.
    for detail in task.attachments[0]["details"]:
        if detail["name"] == "networkInterfaceId":
            ec2.enis.pop(detail["value"], None)
    public = vpc.get("assignPublicIp") == "ENABLED"
    # As Fargate describes a task's interface: the task's ENI attachment.
    attachment = f"arn:aws:ecs:{ec2.region_name}:{ec2.account_id}:attachment/{uuid.uuid4()}"
    eni = interfaces.create(ec2, subnet, vpc.get("securityGroups", []), attachment, public=public)
    task.attachments[0]["details"] = [
        {"name": "subnetId", "value": subnet.id},
        {"name": "networkInterfaceId", "value": eni.id},
        {"name": "macAddress", "value": eni.mac_address},
        {"name": "privateIPv4Address", "value": eni.private_ip_address},
    ]
    now = world.CLOCK.now()
    task._world_status = "PROVISIONING"
    task._world_deployment = deployment["id"]
    task._world_eni = eni.id
    task._world_address = eni.private_ip_address
    task._world_since = now
    task._world_failure = None
    task._world_subnet = subnet
    task._world_public = public
    task._world_registered = []
    task._world_tg = deployment.get("_world_tg")
    task.availability_zone = subnet.availability_zone
    task.created_at = world.CLOCK.utcnow()
    task.desired_status = "RUNNING"
    task.cpu = task_definition.cpu
    task.memory = task_definition.memory
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    service._world_tasks.append(task)
    return task


def _stop_task(backend, service, task, reason, failed=False):
    """Stops a task: deregistered and drained first when it serves targets."""
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stopping_at = world.CLOCK.utcnow()
    now = world.CLOCK.now()
    drain = 0.0
    elb = _elb(backend)
    for tg_arn, _port in task._world_registered:
        tg = elb.target_groups.get(tg_arn)
        if tg is not None:
            drain = max(drain, float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)))
            TARGETS[(tg_arn, task._world_address)] = ("draining", now + drain)
    task._world_stop_at = now + drain if task._world_status == "RUNNING" else now
    if failed:
        task._world_failed = True


def _finish_stop(backend, service, task, now):
    elb = _elb(backend)
    for tg_arn, _port in task._world_registered:
        tg = elb.target_groups.get(tg_arn)
        if tg is not None:
            tg.targets.pop(task._world_address, None)
        TARGETS.pop((tg_arn, task._world_address), None)
    task._world_registered = []
    task._world_status = "STOPPED"
    task.stopped_at = world.CLOCK.utcnow()
    for container in task.containers:
        container.last_status = "STOPPED"
    interfaces.release(_ec2(backend), task._world_eni, "task")


def _register(backend, service, task, now):
    elb = _elb(backend)
    for lb in service.load_balancers or []:
        # A blue/green, canary or linear deployment's tasks go to its own group.
        tg_arn = getattr(task, "_world_tg", None) or lb.get("targetGroupArn")
        tg = elb.target_groups.get(tg_arn)
        if tg is None:
            continue
        port = int(lb.get("containerPort") or tg.port)
        tg.register([{"Id": task._world_address, "Port": port}])
        task._world_registered.append((tg_arn, port))
        TARGETS[(tg_arn, task._world_address)] = ("registered", now)


def _elb_of(arn):
    from moto.elbv2.models import elbv2_backends

    _, _, _, region, account, _ = arn.split(":", 5)
    return elbv2_backends[account][region]


def _healthy_since(tg_arn, registered_at):
    """When a target registered at `registered_at` turns healthy: its health checks start once a
    load balancer in front of the group is active, and pass healthy-threshold times."""
    elb = _elb_of(tg_arn)
    tg = elb.target_groups.get(tg_arn)
    active = [
        load_balancers.provisioned_at(elb.load_balancers[arn])
        for arn in tg.load_balancer_arns
        if arn in elb.load_balancers
    ]
    if not active:
        return None
    start = max(registered_at, min(active))
    return start + int(tg.healthy_threshold_count) * int(tg.health_check_interval_seconds)


def _healthy(backend, task, now):
    if task._world_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    for tg_arn, _ in task._world_registered:
        state, since = TARGETS.get((tg_arn, task._world_address), ("registered", now))
        at = _healthy_since(tg_arn, since)
        if at is None or now < at:
            return False
    return True


def _advance_task(backend, service, task, now):
    age = now - task._world_since
    if task.desired_status == "STOPPED":
        if task._world_status != "STOPPED" and now >= task._world_stop_at:
            _finish_stop(backend, service, task, now)
        return
    if task._world_status == "PROVISIONING" and age >= _d("provisioning"):
        task._world_status = "PENDING"
        task.pull_started_at = world.CLOCK.utcnow()
        # What the task can reach is decided when it pulls, not when it was placed.
        if world.on(pulls.ID):
            vpc = (service.network_configuration or {}).get("awsvpcConfiguration", {})
            task._world_failure = pulls.failure(
                _ec2(backend),
                backend.describe_task_definition(task.task_definition_arn),
                task._world_subnet,
                vpc.get("securityGroups", []),
                task._world_public,
                task._world_address,
                service.platform_version,
            )
    if task._world_status == "PENDING" and age >= _d("provisioning") + _d("pending"):
        if task._world_failure:
            stopped, container_reason = task._world_failure
            for container in task.containers:
                container.reason = container_reason
                container.exit_code = None
            task.stop_code = "TaskFailedToStart"
            task._world_stop_at = now
            _stop_task(backend, service, task, stopped, failed=True)
            _finish_stop(backend, service, task, now)
            return
        task._world_status = "RUNNING"
        task.pull_stopped_at = world.CLOCK.utcnow()
        task.started_at = world.CLOCK.utcnow()
        for container in task.containers:
            container.last_status = "RUNNING"
            container.image_digest = _digest(container.image or "")
        _register(backend, service, task, now)


def _digest(image):
    """The manifest digest a task runs: the pinned one, else one that stands for the tag's image
    (ECS resolves a tag to a digest when the deployment starts)."""
    _, at, digest = image.partition("@")
    if at:
        return digest
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _fail(service, primary, reason, why, rollback):
    """Fails the primary deployment's rollout; with rollback, starts a deployment of the last
    completed one (one that shifts traffic puts it back on the old tasks). True when it rolled
    back."""
    shifting = traffic_shifts.is_shifting(primary)
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = reason
    _event(service, f"deployment {primary['id']} deployment failed: {why}.")
    if shifting:
        return rollback and traffic_shifts.roll_back(service, primary, lambda m: _event(service, m))
    previous = next((d for d in service.deployments[1:] if d.get("_world_completed")), None)
    if not rollback or previous is None:
        return False
    _event(service, f"rolling back to deployment {previous['id']}.")
    service.task_definition = previous["taskDefinition"]
    _new_deployment(service, previous["taskDefinition"])
    return True


def _breaker_threshold(service, desired):
    """Failed tasks that trip the breaker: the service's threshold configuration, by default
    half the desired count kept within 3..200 (ECS API Reference: ThresholdConfiguration)."""
    config = getattr(service, "deployment_configuration", None) or {}
    threshold = (config.get("deploymentCircuitBreaker") or {}).get("thresholdConfiguration") or {}
    kind = threshold.get("type", "BOUNDED_PERCENT")
    value = int(threshold.get("value", 50))
    if kind == "COUNT":
        return value
    failed = math.ceil(value * desired / 100)
    return failed if kind == "UNBOUNDED_PERCENT" else min(max(failed, 3), 200)


def _schedule(backend, service, now):
    if not service.deployments:
        return
    primary = service.deployments[0]
    desired = 0 if service.status == "DRAINING" else service.desired_count
    primary["desiredCount"] = desired
    minimum, maximum, breaker, rollback = _settings(service)
    live = [t for t in service._world_tasks if t.desired_status == "RUNNING"]
    of_primary = [t for t in live if t._world_deployment == primary["id"]]
    older = [t for t in live if t._world_deployment != primary["id"]]

    failed = sum(
        1
        for t in service._world_tasks
        if getattr(t, "_world_failed", False) and t._world_deployment == primary["id"]
    )
    primary["failedTasks"] = failed
    if (
        breaker
        and primary["rolloutState"] == "IN_PROGRESS"
        and failed >= _breaker_threshold(service, desired or 1)
    ):
        if _fail(
            service,
            primary,
            "ECS deployment circuit breaker: tasks failed to start.",
            "tasks failed to start",
            rollback,
        ):
            return
    watched, alarm_rollback = _watched_alarms(service)
    running_new = any(t._world_status == "RUNNING" for t in of_primary)
    if watched and primary["rolloutState"] == "IN_PROGRESS" and running_new:
        ignored = primary.get("_world_ignored_alarms", [])
        raised = [
            a.name for a in _alarms(backend, watched) if a.state_value == "ALARM" and a.name not in ignored
        ]
        reason = f"ECS deployment {primary['id']} failed: alarm(s) {', '.join(raised)} in ALARM state."
        if raised and _fail(service, primary, reason, "alarm detected", alarm_rollback):
            return
    if primary["rolloutState"] == "FAILED":
        for task in of_primary:
            _stop_task(backend, service, task, "Scaling activity initiated by deployment " + primary["id"])
        return
    if traffic_shifts.is_shifting(primary):
        _schedule_shift(backend, service, primary, desired, of_primary, older, now)
        return

    healthy = [t for t in live if _healthy(backend, t, now)]
    # Scale in the primary beyond its desired count, newest first.
    for task in sorted(of_primary, key=lambda t: t._world_since, reverse=True)[
        : max(len(of_primary) - desired, 0)
    ]:
        _stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary['id']})")
        live.remove(task)
    of_primary = [t for t in of_primary if t.desired_status == "RUNNING"]
    # Start the primary's tasks, up to maximumPercent of desired across all deployments.
    ceiling = math.floor(maximum * desired / 100) if desired else 0
    started = []
    while len(of_primary) < desired and len(live) < max(ceiling, desired if not older else 0):
        task = _start_task(backend, service, primary)
        started.append(task)
        of_primary.append(task)
        live.append(task)
    if started:
        _event(
            service, f"has started {len(started)} tasks: " + " ".join(f"(task {t.id})" for t in started) + "."
        )
    # Stop older deployments' tasks while minimumHealthyPercent of desired stays healthy.
    floor = math.ceil(minimum * desired / 100)
    healthy_count = len(healthy)
    for task in sorted(older, key=lambda t: t._world_since):
        serving = task in healthy
        if not serving or healthy_count - 1 >= floor:
            _stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary['id']})")
            if serving:
                healthy_count -= 1
    # Deployments with nothing left go away; the primary completes when it alone serves.
    remaining = {t._world_deployment for t in service._world_tasks if t._world_status != "STOPPED"}
    service.deployments[1:] = [d for d in service.deployments[1:] if d["id"] in remaining]
    running = [t for t in of_primary if t._world_status == "RUNNING"]
    settled = (
        primary["rolloutState"] == "IN_PROGRESS"
        and len(service.deployments) == 1
        and len(running) == desired
        and all(_healthy(backend, t, now) for t in running)
    )
    if settled and watched:
        # With alarms, the rollout stays IN_PROGRESS for a bake time after it is otherwise done
        # (ECS Developer Guide, "How CloudWatch alarms detect Amazon ECS deployment failures").
        primary.setdefault("_world_settled_at", now)
        settled = now >= primary["_world_settled_at"] + _bake_seconds(backend, watched)
    if settled:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["_world_completed"] = True
        _event(service, "has reached a steady state.")


def _schedule_shift(backend, service, primary, desired, of_primary, older, now):
    """A blue/green, canary or linear deployment: all new tasks start beside the old ones, the
    traffic shifts, and the old tasks stop after the bake (traffic_shifts.py)."""
    started = []
    while len(of_primary) < desired:
        task = _start_task(backend, service, primary)
        started.append(task)
        of_primary.append(task)
    if started:
        _event(
            service, f"has started {len(started)} tasks: " + " ".join(f"(task {t.id})" for t in started) + "."
        )
    ready = len(of_primary) == desired and all(_healthy(backend, t, now) for t in of_primary)
    if not traffic_shifts.advance(service, primary, ready, now, lambda m: _event(service, m)):
        return
    for task in older:
        _stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary['id']})")
    remaining = {t._world_deployment for t in service._world_tasks if t._world_status != "STOPPED"}
    service.deployments[1:] = [d for d in service.deployments[1:] if d["id"] in remaining]
    primary["rolloutState"] = "COMPLETED"
    primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
    primary["_world_completed"] = True
    _event(service, "has reached a steady state.")


@world.ticker
def advance(now):
    if not world.on(ID):
        return
    for backend, service in list(SERVICES):
        for task in list(service._world_tasks):
            _advance_task(backend, service, task, now)
        _schedule(backend, service, now)
        live = [t for t in service._world_tasks if t._world_status != "STOPPED"]
        service.running_count = sum(
            1 for t in live if t._world_status == "RUNNING" and t.desired_status == "RUNNING"
        )
        service.pending_count = sum(1 for t in live if t._world_status in ("PROVISIONING", "PENDING"))
        for deployment in service.deployments:
            mine = [t for t in live if t._world_deployment == deployment["id"]]
            deployment["runningCount"] = sum(1 for t in mine if t._world_status == "RUNNING")
            deployment["pendingCount"] = sum(1 for t in mine if t._world_status != "RUNNING")
        if service.status == "DRAINING" and not live:
            service.status = "INACTIVE"
            SERVICES.remove((backend, service))


@world.behaviour(ID)
def install():
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    @wrap(EC2ContainerServiceBackend, "create_service")
    def create_service(original, self, cluster_str, service_name, *args, **kwargs):
        if world.on(ID):
            cluster = self._get_cluster(cluster_str)
            existing = self.services.get(f"{cluster.name}:{service_name}")
            if existing is not None and existing.status == "DRAINING":
                raise AwsError(
                    "InvalidParameterException", "Unable to Start a service that is still Draining."
                )
        service = original(self, cluster_str, service_name, *args, **kwargs)
        if world.on(ID):
            service._world_tasks = []
            service.running_count = 0
            service.pending_count = 0
            service.deployments = []
            service.events = []
            service.created_at = world.CLOCK.utcnow()
            _new_deployment(service, service.task_definition)
            SERVICES.append((self, service))
        return service

    @wrap(EC2ContainerServiceResponse, "create_service")
    def create_service_settings(original, self):
        strategy = self._get_param("capacityProviderStrategy")
        if world.on(ID):
            traffic_shifts.check(
                self.ecs_backend, self._get_param("deploymentConfiguration"), self._get_param("loadBalancers")
            )
        if world.on(ID) and strategy:
            _check_providers(self.ecs_backend._get_cluster(self._get_param("cluster", "default")), strategy)
        result = original(self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("serviceName")
        )
        if world.on(ID) and strategy:
            # The emulator drops the strategy and takes a missing launch type for EC2.
            service.capacity_provider_strategy = strategy
            service.launch_type = None
            for deployment in service.deployments:
                deployment["capacityProviderStrategy"] = copy.deepcopy(strategy)
                deployment["launchType"] = None
        if world.on(ID):
            service.deployment_configuration = self._get_param("deploymentConfiguration")
            service.health_check_grace_period_seconds = self._get_param("healthCheckGracePeriodSeconds")
            service.enable_execute_command = bool(self._get_param("enableExecuteCommand"))
        return result

    @wrap(EC2ContainerServiceBackend, "update_service")
    def update_service(original, self, props):
        if not world.on(ID):
            return original(self, props)
        service = self._get_service(props.get("cluster", "default"), props["service"].split("/")[-1])
        strategy = props.get("capacity_provider_strategy")
        if strategy is not None:
            _check_providers(self._get_cluster(props.get("cluster", "default")), strategy)
        # AWS starts new tasks when any of these changes (UpdateService API reference).
        rolled = ("task_definition", "network_configuration", "load_balancers", "platform_version")
        before = {name: copy.deepcopy(getattr(service, name, None)) for name in rolled}
        force = props.get("force_new_deployment", False)
        if service.status != "ACTIVE":
            raise AwsError("ServiceNotActiveException", "Service was not ACTIVE.")
        traffic_shifts.check(
            self,
            props.get("deployment_configuration") or getattr(service, "deployment_configuration", None),
            props.get("load_balancers") or service.load_balancers,
        )
        running, pending = service.running_count, service.pending_count
        updated = original(self, dict(props))
        updated.running_count, updated.pending_count = running, pending
        if props.get("deployment_configuration") is not None:
            updated.deployment_configuration = props["deployment_configuration"]
        if strategy is not None:
            # A service on capacity providers reports no launch type; back on none, it runs on
            # its launch type again.
            updated.launch_type = None if strategy else "FARGATE"
        changed = any(getattr(updated, name, None) != before[name] for name in rolled)
        if changed or force:
            _new_deployment(updated, updated.task_definition)
        elif updated.deployments:
            updated.deployments[0]["updatedAt"] = world.CLOCK.utcnow()
            if (
                updated.deployments[0]["rolloutState"] == "COMPLETED"
                and props.get("desired_count") is not None
            ):
                updated.deployments[0]["rolloutState"] = "IN_PROGRESS"
                updated.deployments[0]["rolloutStateReason"] = "ECS deployment in progress."
        return updated

    @wrap(EC2ContainerServiceBackend, "delete_service")
    def delete_service(original, self, cluster_name, service_name, force):
        service = original(self, cluster_name, service_name, force)
        if world.on(ID) and any(s is service for _, s in SERVICES):
            service.status = "DRAINING"
            service.desired_count = 0
            for task in service._world_tasks:
                _stop_task(self, service, task, "Service deleted")
        return service

    @wrap(EC2ContainerServiceBackend, "list_tasks")
    def list_tasks(original, self, *args, **kwargs):
        tasks = original(self, *args, **kwargs)
        # The emulator ignores serviceName (its responses pass it fifth, positionally).
        service_name = kwargs.get("service_name", args[4] if len(args) > 4 else None)
        if service_name and world.on(ID):
            tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{service_name}"]
        return tasks

    @wrap(FakeTargetGroup, "health_for")
    def health_for(original, self, target, ec2_backend):
        entry = TARGETS.get((self.arn, target["Id"]))
        if not world.on(ID) or entry is None or target["Id"] not in self.targets:
            return original(self, target, ec2_backend)
        port = self.targets[target["Id"]]["Port"]
        state, since = entry
        if state == "draining":
            return FakeHealthStatus(
                target["Id"],
                port,
                self.health_check_port,
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        at = _healthy_since(self.arn, since)
        if at is None:
            return FakeHealthStatus(
                target["Id"],
                port,
                self.health_check_port,
                "unused",
                "Target.NotInUse",
                "Target group is not configured to receive traffic from the load balancer",
            )
        if world.CLOCK.now() < at:
            return FakeHealthStatus(
                target["Id"],
                port,
                self.health_check_port,
                "initial",
                "Elb.RegistrationInProgress",
                "Target registration is in progress",
            )
        return FakeHealthStatus(target["Id"], port, self.health_check_port, "healthy")
