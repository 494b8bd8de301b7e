"""Client-side rate limiting for İYS.

İYS allows 10 requests per second per IP on every endpoint, 10 token requests per hour (the spec
also says 100; design for 10), 1000 single-status queries per hour and 100 history queries per
hour.  :class:`Throttle` keeps a client below all of them:

* a sliding one-second window shared by every endpoint: :meth:`Throttle.acquire` waits (with the
  injected ``sleep``) until a slot is free, so no one-second window ever holds more than
  ``per_second`` requests;
* sliding one-hour windows for the endpoints that have an hourly quota: when the quota is used
  up :meth:`Throttle.acquire` does **not** wait an hour; it raises
  :class:`~iyslib.errors.IysRateLimitError` (or :class:`~iyslib.errors.IysTokenLockError` for the
  token endpoint) carrying ``retry_after``, so the caller can reschedule.

The clock and sleep functions are injectable so tests can assert rates without waiting.  One
Throttle may be shared by several clients of the same process (it is thread-safe); processes on
the same IP should use a shared implementation with the same interface.
"""
from __future__ import annotations

import collections
import threading
import time

from .const import HISTORY_PER_HOUR, RATE_PER_SECOND, STATUS_PER_HOUR, TOKEN_PER_HOUR
from .errors import IysRateLimitError, IysTokenLockError

__all__ = ['Throttle', 'HOURLY_LIMITS']

#: endpoint key -> (max calls per hour, H-code İYS answers when exceeded)
HOURLY_LIMITS = {
    'token': (TOKEN_PER_HOUR, 'H084'),
    'status': (STATUS_PER_HOUR, 'H086'),
    'history': (HISTORY_PER_HOUR, 'H089'),
}


class Throttle:
    """Sliding-window rate limiter: ``per_second`` for all calls plus hourly quotas per endpoint.

    Args:
        per_second: maximum requests in any one-second window (default 10).
        hourly: ``{endpoint: (limit, code)}``; defaults to :data:`HOURLY_LIMITS`.
        clock: returns the current time in seconds (default :func:`time.time`).
        sleep: waits the given seconds (default :func:`time.sleep`).
    """

    def __init__(self, per_second: int = RATE_PER_SECOND, hourly: dict | None = None, clock=time.time,
                 sleep=time.sleep):
        self.per_second = per_second
        self.hourly = dict(HOURLY_LIMITS if hourly is None else hourly)
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._recent = collections.deque()
        self._hour = {key: collections.deque() for key in self.hourly}
        self.waited = 0.0     # total seconds spent waiting (for diagnostics and tests)
        self.calls = 0

    def _prune(self, now: float):
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        for q in self._hour.values():
            while q and q[0] <= now - 3600.0:
                q.popleft()

    def _hourly_error(self, endpoint: str, now: float):
        """The error to raise when *endpoint*'s hourly quota is used up, else None (lock held)."""
        if endpoint not in self.hourly:
            return None
        limit, code = self.hourly[endpoint]
        q = self._hour[endpoint]
        if len(q) < limit:
            return None
        retry_after = max(0.0, q[0] + 3600.0 - now)
        msg = (f'Yerel sınır: {endpoint} için saatte {limit} istek hakkı doldu; {int(retry_after)} saniye '
               'sonra yeniden deneyin.')
        if code == 'H084':
            return IysTokenLockError(msg, code=code, http_status=None, retry_after=retry_after,
                                     lock_until=now + retry_after)
        return IysRateLimitError(msg, code=code, http_status=None, retry_after=retry_after)

    def check_hourly(self, endpoint: str):
        """Raise when the hourly quota of *endpoint* is used up; otherwise do nothing."""
        if endpoint not in self.hourly:
            return
        with self._lock:
            now = self.clock()
            self._prune(now)
            err = self._hourly_error(endpoint, now)
        if err is not None:
            raise err

    def acquire(self, endpoint: str = 'default'):
        """Wait for a free per-second slot and book one call on *endpoint*.

        Raises IysRateLimitError / IysTokenLockError when the endpoint's hourly quota is used up.
        The hourly check and the booking happen under one lock, after every wait: concurrent
        callers can never book more than the quota.
        """
        while True:
            with self._lock:
                now = self.clock()
                self._prune(now)
                err = self._hourly_error(endpoint, now)
                if err is None and len(self._recent) < self.per_second:
                    self._recent.append(now)
                    if endpoint in self._hour:
                        self._hour[endpoint].append(now)
                    self.calls += 1
                    return
                if err is None:
                    wait = self._recent[0] + 1.0 - now
            if err is not None:
                raise err
            wait = max(wait, 0.001)
            self.waited += wait
            self.sleep(wait)

    def remaining(self, endpoint: str) -> int | None:
        """Calls left this hour for *endpoint* (``None`` when it has no hourly quota)."""
        if endpoint not in self.hourly:
            return None
        with self._lock:
            self._prune(self.clock())
            return self.hourly[endpoint][0] - len(self._hour[endpoint])
