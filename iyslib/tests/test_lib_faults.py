"""Retries under injected faults: safe operations are retried, nothing is ever recorded twice."""
import pytest

from iyslib.dates import to_iys_date
from iyslib.errors import IysRateLimitError, IysServerError, IysTransportError

PHONE = '+905321112233'


def body(clock, recipient=PHONE, status='ONAY'):
    return {'recipient': recipient, 'type': 'MESAJ', 'status': status, 'source': 'HS_WEB',
            'consentDate': to_iys_date(clock.utcnow()), 'recipientType': 'BIREYSEL'}


def attempts(sim, prefix):
    return [r for r in sim.requests_log if r['path'].startswith(prefix)]


@pytest.fixture
def fast_client(make_client):
    """Short read timeout so the ``timeout`` fault (0.6 s) trips it."""
    return make_client(timeout=(1, 0.3))


@pytest.mark.parametrize('fault', ['500', '503', 'timeout', 'drop', 'malformed_json', '429_H083', '429_H124'])
def test_v2_add_is_retried_without_duplicate(fault, fast_client, sim, clock):
    fast_client.get_access_token()
    sim.inject_fault(fault, count=1, path_prefix='/v2/sps')
    receipt = fast_client.add_consent(body(clock))
    moves = sim.get_movements(recipient=PHONE)
    assert len(moves) == 1                                   # recorded exactly once
    assert receipt.transaction_id == moves[0]['transactionId']
    tries = attempts(sim, '/v2/sps')
    assert [t['fault'] for t in tries] == [fault, None]       # one failure, one retry
    assert clock.sleeps, 'the retry must wait (back-off or Retry-After)'


@pytest.mark.parametrize('fault,exc,recorded', [
    ('drop', IysTransportError, 1), ('timeout', IysTransportError, 1), ('malformed_json', IysTransportError, 1),
    ('503', IysServerError, 1), ('500', IysServerError, 0),
])
def test_v1_add_is_not_retried(fault, exc, recorded, fast_client, sim, clock):
    fast_client.get_access_token()
    sim.inject_fault(fault, count=1, path_prefix='/sps/700001/brands/700001/consents')
    with pytest.raises(exc) as ei:
        fast_client.add_consent(body(clock), idempotent=False)
    assert ei.value.retryable and ei.value.retry_after > 0
    assert len(attempts(sim, '/sps/700001/brands/700001/consents')) == 1    # no automatic repeat
    assert len(sim.get_movements(recipient=PHONE)) == recorded


def test_v1_add_is_retried_after_429(fast_client, sim, clock):
    fast_client.get_access_token()
    sim.inject_fault('429_H124', count=2, path_prefix='/sps/700001/brands/700001/consents')
    fast_client.add_consent(body(clock), idempotent=False)
    assert len(sim.get_movements(recipient=PHONE)) == 1
    assert [t['status'] for t in attempts(sim, '/sps/700001/brands/700001/consents')] == [429, 429, 200]
    assert clock.sleeps.count(1.0) >= 2                       # Retry-After: 1 honoured


def test_v2_batch_retried_after_drop_records_once(fast_client, sim, clock):
    fast_client.get_access_token()
    sim.set_batch_delay(300)
    items = [body(clock, recipient=f'+90532111000{i}') for i in range(3)]
    sim.inject_fault('drop', count=1, path_prefix='/v2/sps/700001/brands/700001/consents/request')
    sub = fast_client.add_consents_batch(items)
    assert len(sim.batches) == 2                                # the dropped one was accepted too
    clock.advance(300)
    res = fast_client.get_batch_result(sub.request_id)
    assert [r.status for r in res] == ['success'] * 3
    assert len(sim.movements) == 3                              # nothing recorded twice
    first = next(rid for rid in sim.batches if rid != sub.request_id)
    assert all(r.original_request_id == first for r in res)


def test_get_retried_until_max_then_raises(fast_client, sim, clock):
    fast_client.get_access_token()
    sim.inject_fault('500', count=3, path_prefix='/info/city')
    assert fast_client.list_cities()
    assert [t['status'] for t in attempts(sim, '/info/city')] == [500, 500, 500, 200]
    sim.inject_fault('503', count=4, path_prefix='/info/city')
    with pytest.raises(IysServerError) as ei:
        fast_client.list_cities()
    assert ei.value.code == 'H192' and ei.value.retryable
    # back-off grows: each wait is within its jittered exponential bound
    waits = clock.sleeps[-3:]
    assert all(0.0 < w <= 8.0 for w in waits) and waits[2] > waits[0]


def test_status_query_retried_on_timeout(fast_client, sim, clock):
    fast_client.add_consent(body(clock))
    sim.inject_fault('timeout', count=1, path_prefix='/sps/700001/brands/700001/consents/status')
    assert fast_client.get_consent_status(PHONE, 'MESAJ').status == 'ONAY'


def test_hourly_limit_is_not_slept_through(fast_client, sim, clock):
    fast_client.add_consent(body(clock))
    sim.status_limit = 1
    fast_client.get_consent_status(PHONE, 'MESAJ')
    with pytest.raises(IysRateLimitError) as ei:
        fast_client.get_consent_status(PHONE, 'MESAJ')
    assert ei.value.code == 'H086' and ei.value.http_status == 429 and ei.value.retry_after == 300
    assert 300 not in clock.sleeps


def test_token_endpoint_fault_is_transient(fast_client, sim):
    sim.inject_fault('500', count=1, path_prefix='/oauth2/token')
    with pytest.raises(IysServerError):
        fast_client.list_cities()
    assert fast_client.list_cities()


def test_client_burst_is_throttled_to_ten_per_second(client, sim, clock):
    """A burst of 35 calls: İYS (with its per-second limit on) never sees more than 10 in a second."""
    sim.rate_limit_per_second = 10
    client.get_access_token()
    start = clock()
    for _ in range(35):
        client.list_cities()
    stamps = sorted(r['at'] for r in sim.requests_log if r['path'] == '/info/city')
    assert len(stamps) == 35
    assert all(s['status'] == 200 for s in sim.requests_log)            # no 429 at all
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert worst <= 10
    assert clock() - start >= 2.9                                         # 35 calls need about 3 s
