"""Smithy RPC v2 CBOR, which current SDKs speak to CloudWatch (AWS accepts it beside the Query
and JSON protocols), turned into the JSON 1.0 protocol the emulator speaks, and its answer back
into CBOR. The emulator has no plan to speak CBOR itself (getmoto/moto#9195).

A request is `POST /service/<service>/operation/<operation>` with the header
`smithy-protocol: rpc-v2-cbor` and a CBOR body. Timestamps travel as CBOR tag 1 (epoch
seconds): the answer's are found through the service's model, as JSON carries them as numbers."""

import datetime
import io
import json
import re

import cbor2

PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")


def is_cbor(environ):
    return environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor" and PATH.match(environ.get("PATH_INFO", ""))


def _plain(value):
    """A decoded CBOR value as JSON carries it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return value


def to_json(environ):
    """The request as the JSON 1.0 protocol sends it, and its operation."""
    match = PATH.match(environ["PATH_INFO"])
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    body = json.dumps(_plain(cbor2.loads(raw)) if raw else {}).encode()
    translated = dict(environ)
    translated["PATH_INFO"] = "/"
    translated["CONTENT_TYPE"] = "application/x-amz-json-1.0"
    translated["HTTP_X_AMZ_TARGET"] = f"{match['service']}.{match['operation']}"
    translated["CONTENT_LENGTH"] = str(len(body))
    translated["wsgi.input"] = io.BytesIO(body)
    translated.pop("HTTP_SMITHY_PROTOCOL", None)
    return translated, match["operation"]


def _model():
    import botocore.session

    return botocore.session.get_session().get_service_model("cloudwatch")


def _timestamps(value, shape):
    """Numbers (or ISO strings) of timestamp members turned into datetimes, for CBOR tag 1."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _timestamps(v, shape.members.get(k)) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_timestamps(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _timestamps(v, shape.value) for k, v in value.items()}
    if shape.type_name == "timestamp":
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, datetime.UTC)
        if isinstance(value, str):
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def to_cbor(operation, status, body):
    """The JSON protocol's answer as CBOR: an error keeps its code (`__type`) and message."""
    value = json.loads(body) if body else {}
    if int(status.split()[0]) < 300:
        output = _model().operation_model(operation).output_shape
        value = _timestamps(value, output)
    else:
        code = str(value.get("__type", "InternalFailure")).split("#")[-1]
        value = {"__type": code, "message": value.get("message") or value.get("Message", "")}
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=datetime.UTC)


def headers(length):
    return [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(length)),
    ]
