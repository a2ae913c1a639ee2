"""The world the emulator runs in: its configuration, its clock and the registry of behaviours.

Time is compressed: while the emulator is idle, world time runs `scale` times faster than the
wall clock. While it handles a request, world time stands still; each API call instead costs
`latency` world seconds after its answer is ready. So the modelled AWS time of a run depends on the
calls made and the waits the code chose, not on how fast this machine is.

Behaviours register here with the id they have in the behaviour table of the Rust side
(support/local-aws/src/world.rs), which sends the configuration: which are on, and their
durations in AWS seconds.
"""

import collections
import datetime
import json
import os
import threading
import time

CONFIG_VAR = "LOCALAWS_CONFIG"


class Clock:
    def __init__(self, scale):
        self.scale = float(scale)
        self._lock = threading.Lock()
        # Notified when the clock runs again after standing still.
        self._restarted = threading.Condition(self._lock)
        self._wall = time.monotonic()
        self._world = time.time()
        self._busy = 0
        self._pinned = threading.local()

    def _advance(self):
        now = time.monotonic()
        if self._busy == 0:
            self._world += (now - self._wall) * self.scale
        self._wall = now

    def now(self):
        """World time, in epoch seconds (for this thread, a pinned time while it catches up)."""
        pinned = getattr(self._pinned, "at", None)
        if pinned is not None:
            return pinned
        with self._lock:
            self._advance()
            return self._world

    def utcnow(self):
        """World time as moto keeps it: a naive UTC datetime."""
        return datetime.datetime.fromtimestamp(self.now(), datetime.UTC).replace(tzinfo=None)

    def enter(self):
        with self._lock:
            self._advance()
            self._busy += 1

    def leave(self):
        with self._lock:
            self._advance()
            self._busy -= 1
            if self._busy == 0:
                self._restarted.notify_all()

    def held(self):
        """How many requests and holds stop the clock now."""
        with self._lock:
            return self._busy

    def pin(self, at):
        """For this thread, world time is `at` until `unpin`."""
        self._pinned.at = at

    def unpin(self):
        self._pinned.at = None

    def wait_until(self, deadline, interrupted=None):
        """Sleeps (in wall time) until world time reaches `deadline`. While the clock stands
        still the sleeper waits for it to run again: hundreds of sleepers (each request's latency
        and each execution's Wait) that looked every millisecond would keep the interpreter from
        the requests that hold the clock."""
        while True:
            left = deadline - self.now()
            if left <= 0 or (interrupted is not None and interrupted()):
                return
            with self._lock:
                if self._busy:
                    self._restarted.wait(0.05)
                    continue
            time.sleep(min(max(left / self.scale, 0.001), 0.05))

    def sleep(self, seconds):
        self.wait_until(self.now() + seconds)


class Config:
    def __init__(self, raw):
        self.raw = raw
        self.scale = float(raw.get("scale", 1.0))
        self.latency = float(raw.get("latencySeconds", 0.0))
        self.behaviours = raw.get("behaviours", {})

    def on(self, behaviour):
        return bool(self.behaviours.get(behaviour, {}).get("on", False))

    def seconds(self, behaviour, name):
        return float(self.behaviours[behaviour]["seconds"][name])

    def value(self, behaviour, name, default=None):
        return self.behaviours.get(behaviour, {}).get("values", {}).get(name, default)


def _load():
    text = os.environ.get(CONFIG_VAR)
    return Config(json.loads(text) if text else {})


CONFIG = _load()
CLOCK = Clock(CONFIG.scale if CONFIG.behaviours else 1.0)

# Every behaviour's id, with the function that installs its patches into moto.
INSTALLERS = {}
# Functions run at the start of every request, with the world time: lifecycles advance lazily.
TICKERS = []
# Functions run after the configuration changes (behaviours that rewrite moto's tables).
CONFIG_LISTENERS = []


class FairLock:
    """A reentrant lock handed to waiting threads in the order they asked for it. A plain lock
    lets any later thread take it first: with many executions at once, one request could wait
    behind hundreds of later ones, past its caller's timeout."""

    def __init__(self):
        self._guard = threading.Lock()
        self._owner = None
        self._depth = 0
        self._queue = collections.deque()

    def acquire(self):
        me = threading.get_ident()
        with self._guard:
            if self._owner == me or (self._owner is None and not self._queue):
                self._owner = me
                self._depth += 1
                return True
            turn = threading.Event()
            self._queue.append((me, turn))
        # `release` makes this thread the owner before it sets the event.
        turn.wait()
        return True

    def release(self):
        with self._guard:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._queue:
                self._owner, turn = self._queue.popleft()
                self._depth = 1
                turn.set()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# One request at a time, in the order they came: the world advances and is read consistently.
REQUEST_LOCK = FairLock()


def behaviour(behaviour_id):
    """Registers the installer of a behaviour."""

    def register(install):
        INSTALLERS[behaviour_id] = install
        return install

    return register


def ticker(function):
    TICKERS.append(function)
    return function


def on(behaviour_id):
    return CONFIG.on(behaviour_id)


def seconds(behaviour_id, name):
    return CONFIG.seconds(behaviour_id, name)


def set_config(raw):
    """Replaces the configuration (the Rust side sends the whole table)."""
    global CONFIG
    CONFIG = Config(raw)
    CLOCK.scale = CONFIG.scale if CONFIG.behaviours else 1.0
    for listener in CONFIG_LISTENERS:
        listener()


# Lifecycles advance in steps of this many world seconds, so what happened while nobody asked
# happened when it would have (a task that turned healthy 80 s ago did, not at this request).
TICK_STEP = 1.0
# Beyond this gap, earlier steps are skipped: nothing the behaviours model takes that long.
CATCH_UP = 3 * 3600.0
_last_tick = None


def tick():
    global _last_tick
    now = CLOCK.now()
    at = now if _last_tick is None else max(_last_tick, now - CATCH_UP)
    try:
        while True:
            at = min(at + TICK_STEP, now)
            CLOCK.pin(at)
            for function in TICKERS:
                function(at)
            if at >= now:
                break
    finally:
        CLOCK.unpin()
        _last_tick = now
