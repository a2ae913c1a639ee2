"""Starts moto's server (same arguments as `moto_server`) with this project's additions: the
process ends when the process that started it ends, so a test binary that shares one emulator
across its tests never leaves it behind."""

import os
import sys
import threading
import time

from moto.server import main as moto_main


def exit_with_parent(interval=0.5):
    """Ends this process once its parent is gone (it is then re-parented)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    exit_with_parent()
    sys.exit(moto_main(sys.argv[1:]))
