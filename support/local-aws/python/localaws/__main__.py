"""Starts moto's server with this project's additions: the world's clock and behaviours (see
world.py), configured by the LOCALAWS_CONFIG variable; and an end with the parent process, so a
test binary that shares one emulator across its tests never leaves it behind.

Arguments: -H HOST -p PORT, as moto_server takes them."""

import argparse
import os
import threading
import time


def exit_with_parent(interval=0.5):
    """Ends this process once its parent is gone (it is then re-parented)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    exit_with_parent()

    # The world's clock must replace moto's before moto's models are imported: they bind
    # `utcnow` when they are.
    import moto.core.utils

    from . import world

    moto.core.utils.utcnow = world.CLOCK.utcnow

    from . import behaviours, speedups

    speedups.install()
    behaviours.install()

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    from .server import WorldApp

    run_simple(
        args.host,
        args.port,
        WorldApp(),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
