"""Tests of iyslib.throttle: 10 requests per second and hourly quotas, on a fake clock."""
import threading

import pytest

from iyslib.errors import IysRateLimitError, IysTokenLockError
from iyslib.testing import FakeClock
from iyslib.throttle import Throttle


def _max_in_window(stamps, width=1.0):
    stamps = sorted(stamps)
    best = 0
    j = 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_burst_is_spread_to_ten_per_second():
    clock = FakeClock(1000.0)
    th = Throttle(clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(100):
        th.acquire()
        stamps.append(clock())
    assert _max_in_window(stamps) == 10
    assert clock() - 1000.0 >= 9.0          # 100 calls need at least 9 seconds
    assert clock() - 1000.0 < 10.5          # …and not much more
    assert th.calls == 100 and th.waited >= 9.0


def test_quiet_calls_do_not_wait():
    clock = FakeClock(0.0)
    th = Throttle(clock=clock, sleep=clock.sleep)
    for _ in range(5):
        th.acquire()
        clock.advance(0.5)
    assert clock.sleeps == []


def test_hourly_quota_raises_with_retry_after():
    clock = FakeClock(0.0)
    th = Throttle(per_second=1000, hourly={'history': (100, 'H089')}, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        th.acquire('history')
        clock.advance(1.0)
    assert th.remaining('history') == 0
    with pytest.raises(IysRateLimitError) as ei:
        th.acquire('history')
    assert ei.value.code == 'H089' and ei.value.http_status is None
    assert ei.value.retry_after == pytest.approx(3600 - 100, abs=1)
    th.acquire('default')  # other endpoints are unaffected
    clock.advance(3600)
    th.acquire('history')
    assert th.remaining('history') == 99


def test_token_quota_is_a_lock_error():
    clock = FakeClock(0.0)
    th = Throttle(clock=clock, sleep=clock.sleep)
    for _ in range(10):
        th.acquire('token')
    with pytest.raises(IysTokenLockError) as ei:
        th.acquire('token')
    assert ei.value.code == 'H084' and ei.value.lock_until == pytest.approx(3600, abs=1)
    assert th.remaining('status') == 1000


def test_thread_safety_under_concurrency():
    clock = FakeClock(0.0)
    th = Throttle(clock=clock, sleep=clock.sleep)
    stamps = []
    lock = threading.Lock()

    def worker():
        for _ in range(20):
            th.acquire()
            with lock:
                stamps.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 80 and th.calls == 80
    assert _max_in_window(stamps) <= 10


def test_hourly_check_and_booking_are_one_step():
    """A caller that had to wait for a per-second slot re-checks the hourly quota before booking."""
    clock = FakeClock(1000.0)
    nested = []

    def sleep(seconds):
        clock.sleep(seconds)
        if not nested:                       # meanwhile another thread takes the last hourly slot
            nested.append(True)
            th.acquire('status')
    th = Throttle(per_second=1, hourly={'status': (1, 'H086')}, clock=clock, sleep=sleep)
    th.acquire('default')                    # the per-second window is full now
    with pytest.raises(IysRateLimitError) as ei:
        th.acquire('status')                 # checked OK, waited, then the quota was gone
    assert ei.value.code == 'H086'
    assert th.remaining('status') == 0 and len(th._hour['status']) == 1

