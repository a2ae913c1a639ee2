"""strict-client-token: a create sent again with a client token it has seen (EC2 CreateRouteTable,
CreateVpcEndpoint and CreateNatGateway, ECS CreateService) answers with the resource the first call made, as AWS
does; the emulator makes a second one. Other parameters under the same token, or a token whose
resource is deleted since, answer IdempotentParameterMismatch (EC2 user guide, "Ensuring
idempotency in Amazon EC2 API requests"; ECS API reference, "Ensuring idempotency")."""

import json
import threading

from .. import server, world
from ..hooks import AwsError, wrap

ID = "strict-client-token"

# (account, region, action, token) -> (parameters, resource)
TOKENS = {}
# What the backend answers instead of making something, for the request this thread handles.
_REPLAY = threading.local()


@server.resetter
def forget():
    TOKENS.clear()


def _parameters(response, token_name):
    """The request's parameters without the token: what must match for a replay."""
    body = response.body.decode() if isinstance(response.body, bytes) else response.body or ""
    if body.lstrip().startswith("{"):
        params = json.loads(body)
    else:
        params = {k: v for k, v in response.querystring.items() if k not in ("Action", "Version")}
    params.pop(token_name, None)
    return json.dumps(params, sort_keys=True, default=str)


def _replaying(backend_cls, method):
    """The backend method answers with the replayed resource while a replay is on."""

    @wrap(backend_cls, method)
    def answer(original, self, *args, **kwargs):
        replay = getattr(_REPLAY, "resource", None)
        if replay is not None:
            return replay
        made = original(self, *args, **kwargs)
        _REPLAY.made = made
        return made


def _tokened(response_cls, action, token_name, mismatch, gone):
    @wrap(response_cls, action)
    def with_token(original, self):
        token = self._get_param(token_name)
        if not world.on(ID) or not token:
            return original(self)
        key = (self.current_account, self.region, action, token)
        params = _parameters(self, token_name)
        seen = TOKENS.get(key)
        if seen is not None:
            if seen[0] != params:
                raise AwsError(mismatch[0], mismatch[1])
            if gone(self, seen[1]):
                raise AwsError(mismatch[0], mismatch[2])
            _REPLAY.resource = seen[1]
            try:
                return original(self)
            finally:
                _REPLAY.resource = None
        _REPLAY.made = None
        answer = original(self)
        if _REPLAY.made is not None:
            TOKENS[key] = (params, _REPLAY.made)
        return answer


def _route_table_gone(response, table):
    return table.id not in response.ec2_backend.route_tables


def _endpoint_gone(response, endpoint):
    return endpoint.state == "deleted" or endpoint.id not in response.ec2_backend.vpc_end_points


def _nat_gateway_gone(response, gateway):
    return gateway.state in ("deleting", "deleted")


def _service_gone(response, service):
    return service.status == "INACTIVE"


@world.behaviour(ID)
def install():
    from moto.ec2.models import EC2Backend
    from moto.ec2.responses import EC2Response
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    ec2_mismatch = (
        "IdempotentParameterMismatch",
        "The client token you have provided is associated with a resource with different parameters. Please use a different client token.",
        "The client token you have provided is associated with a resource that is already deleted. Please use a different client token.",
    )
    ecs_mismatch = (
        "InvalidParameterException",
        "Creation of service was not idempotent.",
        "Creation of service was not idempotent.",
    )
    for backend_cls, method in (
        (EC2Backend, "create_route_table"),
        (EC2Backend, "create_vpc_endpoint"),
        (EC2Backend, "create_nat_gateway"),
        (EC2ContainerServiceBackend, "create_service"),
    ):
        _replaying(backend_cls, method)
    _tokened(EC2Response, "create_route_table", "ClientToken", ec2_mismatch, _route_table_gone)
    _tokened(EC2Response, "create_vpc_endpoint", "ClientToken", ec2_mismatch, _endpoint_gone)
    _tokened(EC2Response, "create_nat_gateway", "ClientToken", ec2_mismatch, _nat_gateway_gone)
    _tokened(EC2ContainerServiceResponse, "create_service", "clientToken", ecs_mismatch, _service_gone)
