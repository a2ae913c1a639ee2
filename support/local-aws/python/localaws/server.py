"""moto's WSGI application wrapped by the world: requests are handled one at a time, the world's
lifecycles advance before each, world time stands still while it is handled and moves on by the
modelled latency after it; `/moto-api/localaws/` reads and sets the world."""

import json
import sys
import traceback

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import cbor, world

API = "/moto-api/localaws/"
RESETTERS = []


def resetter(function):
    """Registers a function that forgets a behaviour's state when moto resets."""
    RESETTERS.append(function)
    return function


def _json(start_response, status, value):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class WorldApp:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        # As moto_server does: errors inside a handler are logged with their traceback.
        self.moto.debug = True

    def api(self, environ, start_response):
        path = environ["PATH_INFO"][len(API) :]
        method = environ["REQUEST_METHOD"]
        if path == "clock":
            return _json(
                start_response,
                "200 OK",
                {"now": world.CLOCK.now(), "scale": world.CLOCK.scale, "held": world.CLOCK.held()},
            )
        if path in ("hold", "release") and method == "POST":
            # Work in front of the emulator that stands for AWS's own (IAM evaluation) costs no
            # world time: the clock stands still as it does while a request is handled.
            (world.CLOCK.enter if path == "hold" else world.CLOCK.leave)()
            return _json(start_response, "200 OK", {"ok": True})
        if path == "behaviours":
            return _json(
                start_response,
                "200 OK",
                {"implemented": sorted(world.INSTALLERS), "config": world.CONFIG.raw},
            )
        if path == "config" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with world.REQUEST_LOCK:
                world.set_config(raw)
            return _json(start_response, "200 OK", {"ok": True})
        return _json(start_response, "404 Not Found", {"error": f"no such world API: {path}"})

    def load_balancer(self, host, path, start_response):
        """A request to a load balancer's name: answered as it would answer, at world time."""
        from .behaviours import load_balancer_answers

        with world.REQUEST_LOCK:
            world.CLOCK.enter()
            try:
                world.tick()
                status, headers, body = load_balancer_answers.answer(host, path)
            finally:
                world.CLOCK.leave()
        data = body.encode()
        start_response(status, [*headers, ("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        return [data]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(API):
            return self.api(environ, start_response)
        # Imported here: the behaviours import this module for its resetters.
        from .behaviours import load_balancer_answers

        host = environ.get("HTTP_HOST", "")
        if load_balancer_answers.is_for_a_load_balancer(host):
            return self.load_balancer(host, path, start_response)
        is_aws_call = not path.startswith("/moto-api")
        cbor_operation = None
        answered = start_response
        if cbor.is_cbor(environ):
            environ, cbor_operation = cbor.to_json(environ)
            caught = {}

            def answered(status, headers, exc_info=None):
                caught["status"] = status
                return lambda data: None

        with world.REQUEST_LOCK:
            world.CLOCK.enter()
            try:
                try:
                    world.tick()
                except Exception:
                    # A bug of the world: say where, and still answer the request.
                    traceback.print_exc(file=sys.stderr)
                body = b"".join(self.moto(environ, answered))
                if path == "/moto-api/reset":
                    for reset in RESETTERS:
                        reset()
            finally:
                world.CLOCK.leave()
        if cbor_operation is not None:
            body = cbor.to_cbor(cbor_operation, caught["status"], body)
            start_response(caught["status"], cbor.headers(len(body)))
        if is_aws_call and world.CONFIG.latency > 0:
            world.CLOCK.sleep(world.CONFIG.latency)
        return [body]
