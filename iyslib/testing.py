"""Helpers for tests and demos of code that uses iyslib (no pytest dependency).

:class:`FakeClock` is a thread-safe clock whose ``sleep`` advances time instantly; pass the same
instance to :class:`~iyslib.client.IysClient`, :class:`~iyslib.throttle.Throttle` and
:class:`~iyslib.simulator.IysSimulator` to move time (token expiry, the H084 hour, batch delays,
the 3-business-day deadline) without waiting.
"""
from __future__ import annotations

import datetime as dt
import threading

from .dates import from_local

__all__ = ['FakeClock', 'epoch_of_local']


def epoch_of_local(*args) -> float:
    """Epoch seconds of a Turkish local wall time, e.g. ``epoch_of_local(2026, 11, 23, 12, 0)``."""
    utc = from_local(dt.datetime(*args))
    return utc.replace(tzinfo=dt.timezone.utc).timestamp()


class FakeClock:
    """Callable clock returning epoch seconds; ``sleep(s)`` and ``advance(s)`` move it forward."""

    def __init__(self, start: float | None = None):
        self._now = float(start if start is not None else epoch_of_local(2026, 11, 23, 12, 0, 0))
        self._lock = threading.Lock()
        self.sleeps = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    time = __call__

    def sleep(self, seconds: float):
        """Record the sleep and advance the clock by *seconds* without waiting."""
        with self._lock:
            self.sleeps.append(float(seconds))
            self._now += max(0.0, float(seconds))

    def advance(self, seconds: float):
        """Move the clock forward (or backward with a negative value)."""
        with self._lock:
            self._now += float(seconds)

    def set(self, epoch: float):
        """Jump to *epoch* seconds."""
        with self._lock:
            self._now = float(epoch)

    def utcnow(self) -> dt.datetime:
        """The fake time as naive UTC."""
        return dt.datetime.fromtimestamp(self(), dt.timezone.utc).replace(tzinfo=None)
