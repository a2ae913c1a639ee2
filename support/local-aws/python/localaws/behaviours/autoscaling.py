"""service-autoscaling: Application Auto Scaling of ECS services as AWS runs it.

RegisterScalableTarget on an active ECS service moves its desired count into the new limits at
once, as a scaling activity does (UpdateService on the caller's behalf); a new target needs both
limits. PutScalingPolicy needs a registered target. DeregisterScalableTarget deletes the target's
policies and their alarms. Deregistering or deleting what does not exist answers
ObjectNotFoundException (Application Auto Scaling API reference: RegisterScalableTarget,
DeregisterScalableTarget, PutScalingPolicy, DeleteScalingPolicy). The emulator keeps policies of
deregistered targets, clamps nothing and answers ValidationException for a missing target."""

from .. import world
from ..hooks import AwsError, check, wrap

ID = "service-autoscaling"
ECS_COUNT = "ecs:service:DesiredCount"


def _backend(response):
    return response.applicationautoscaling_backend


def _key(response):
    return (
        response._get_param("ServiceNamespace"),
        response._get_param("ResourceId"),
        response._get_param("ScalableDimension"),
    )


def _target(backend, namespace, resource_id, dimension):
    target = backend.targets.get(dimension, {}).get(resource_id)
    return target if target is not None and target.service_namespace == namespace else None


def _missing_target(namespace, resource_id, dimension):
    return AwsError(
        "ObjectNotFoundException",
        f"No scalable target registered for service namespace: {namespace}, resource ID: {resource_id}, scalable dimension: {dimension}",
    )


def _clamp_service(backend, target):
    """Moves the service's desired count into the target's limits."""
    if target.service_namespace != "ecs" or target.scalable_dimension != ECS_COUNT:
        return
    _, cluster, name = target.resource_id.split("/")
    ecs = backend.ecs_backend
    service = ecs.services.get(f"{cluster}:{name}")
    if service is None or service.status != "ACTIVE":
        return
    low, high = target.min_capacity, target.max_capacity
    count = min(max(service.desired_count, low), high)
    if count != service.desired_count:
        ecs.update_service({"cluster": cluster, "service": name, "desired_count": count})


@world.behaviour(ID)
def install():
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

    @check(ID, "application-autoscaling", "RegisterScalableTarget")
    def new_target_needs_limits(response):
        namespace, resource_id, dimension = _key(response)
        known = _target(_backend(response), namespace, resource_id, dimension)
        given = (response._get_param("MinCapacity"), response._get_param("MaxCapacity"))
        if known is None and None in given:
            raise AwsError(
                "ValidationException",
                "MinCapacity and MaxCapacity are required for registering a new scalable target.",
            )
        low = given[0] if given[0] is not None else known.min_capacity
        high = given[1] if given[1] is not None else known.max_capacity
        if int(low) > int(high):
            raise AwsError(
                "ValidationException",
                f"Minimum capacity {low} cannot be greater than maximum capacity {high}.",
            )

    @wrap(ApplicationAutoscalingBackend, "register_scalable_target")
    def register(original, self, namespace, r_id, dimension, *args, **kwargs):
        target = original(self, namespace, r_id, dimension, *args, **kwargs)
        if world.on(ID):
            _clamp_service(self, target)
        return target

    @check(ID, "application-autoscaling", "PutScalingPolicy")
    def policy_needs_target(response):
        namespace, resource_id, dimension = _key(response)
        if _target(_backend(response), namespace, resource_id, dimension) is None:
            raise _missing_target(namespace, resource_id, dimension)

    @check(ID, "application-autoscaling", "DeregisterScalableTarget")
    def deregister_known(response):
        namespace, resource_id, dimension = _key(response)
        backend = _backend(response)
        if _target(backend, namespace, resource_id, dimension) is None:
            raise _missing_target(namespace, resource_id, dimension)
        for key, policy in list(backend.policies.items()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                namespace,
                resource_id,
                dimension,
            ):
                policy.delete_alarms(backend.account_id, backend.region_name)
                del backend.policies[key]

    @check(ID, "application-autoscaling", "DeleteScalingPolicy")
    def delete_known(response):
        namespace, resource_id, dimension = _key(response)
        name = response._get_param("PolicyName")
        known = any(
            (p.service_namespace, p.resource_id, p.scalable_dimension, p.policy_name)
            == (namespace, resource_id, dimension, name)
            for p in _backend(response).policies.values()
        )
        if not known:
            raise AwsError(
                "ObjectNotFoundException",
                f"No scaling policy found for service namespace: {namespace}, resource ID: {resource_id}, scalable dimension: {dimension}, policy name: {name}",
            )
