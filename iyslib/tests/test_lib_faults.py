"""Retries under injected faults: safe operations are retried, nothing is ever recorded twice."""
import pytest

from iyslib.dates import to_iys_date
from iyslib.errors import (
    IysError,
    IysOutcomeUnknownError,
    IysRateLimitError,
    IysServerError,
    IysTransportError,
)

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


@pytest.mark.parametrize('fault,code,recorded', [
    ('drop', None, 1), ('timeout', None, 1), ('malformed_json', None, 1), ('503', 'H192', 1), ('500', 'H015', 0),
])
def test_v1_add_with_unknown_outcome_is_not_retryable(fault, code, recorded, fast_client, sim, clock):
    """Sent but unanswered: İYS may have recorded it, so "retry me" would be wrong (H178 or a double)."""
    fast_client.get_access_token()
    sim.inject_fault(fault, count=1, path_prefix='/sps/700001/brands/700001/consents')
    with pytest.raises(IysOutcomeUnknownError) as ei:
        fast_client.add_consent(body(clock), idempotent=False)
    err = ei.value
    assert isinstance(err, IysTransportError) and isinstance(err, IysError)
    assert err.outcome_unknown is True and err.retryable is False and err.retry_after is None
    assert err.retry_delay() is None and err.to_dict()['outcome_unknown'] is True
    assert err.code == code and isinstance(err.cause, IysError)
    assert len(attempts(sim, '/sps/700001/brands/700001/consents')) == 1    # no automatic repeat
    assert len(sim.get_movements(recipient=PHONE)) == recorded
    assert not clock.sleeps
    # what the caller is told to do: ask İYS before sending again
    st = fast_client.get_consent_status(PHONE, 'MESAJ')
    assert (st is not None) == bool(recorded)


def test_v1_batch_with_unknown_outcome_is_not_retryable(fast_client, sim, clock):
    fast_client.get_access_token()
    sim.inject_fault('drop', count=1, path_prefix='/sps/700001/brands/700001/consents/request')
    with pytest.raises(IysOutcomeUnknownError) as ei:
        fast_client.add_consents_batch([body(clock)], v2=False)
    assert not ei.value.retryable and len(sim.batches) == 1


def test_outcome_unknown_for_other_non_idempotent_requests(fast_client, sim, clock):
    fast_client.get_access_token()
    retailer = {'title': 'XYZ', 'name': 'Ali Veli', 'tckn': '10000000146', 'tin': '1234567890',
                'city': {'code': '34', 'name': 'İstanbul'}, 'town': {'code': '429', 'name': 'Kadıköy'}}
    sim.inject_fault('timeout', count=1, path_prefix='/sps/700001/brands/700001/retailers')
    with pytest.raises(IysOutcomeUnknownError):
        fast_client.create_retailer(retailer)
    assert len(sim.retailers) == 1                      # it was created: resending would give H231


def test_unsent_v1_add_is_retried(make_client, clock):
    """Connection refused: nothing reached İYS, so even a V1 add is retried, then reported retryable."""
    import socket

    from iyslib.client import IysClient, IysConfig, MemoryTokenStore
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()                                            # nobody listens there now
    cfg = IysConfig(f'http://127.0.0.1:{port}', 'u', 'p', 700001, timeout=(1, 1))
    store = MemoryTokenStore()
    store.set(cfg.token_key, {'access_token': 'cached', 'access_expires_at': clock() + 7200})
    c = IysClient(cfg, token_store=store, clock=clock, sleep=clock.sleep, max_retries=2)
    with pytest.raises(IysTransportError) as ei:
        c.add_consent(body(clock), idempotent=False)
    assert not isinstance(ei.value, IysOutcomeUnknownError)
    assert ei.value.retryable and not ei.value.outcome_unknown
    assert c.request_count == 3 and len(clock.sleeps) == 2


def test_max_retry_sleep_zero_disables_sleeping_retries(make_client, sim, clock):
    from dataclasses import replace
    c = make_client(timeout=(1, 0.3))
    c.config = replace(c.config, max_retry_sleep=0)
    c.get_access_token()
    sim.inject_fault('500', count=1, path_prefix='/info/city')
    with pytest.raises(IysServerError) as ei:
        c.list_cities()
    assert ei.value.retryable and ei.value.retry_after == 30.0      # the caller reschedules
    assert clock.sleeps == [] and len(attempts(sim, '/info/city')) == 1
    sim.inject_fault('429_H124', count=1, path_prefix='/info/city')
    with pytest.raises(IysRateLimitError):
        c.list_cities()
    assert clock.sleeps == []
    c.config = replace(c.config, max_retry_sleep=1.0)                # Retry-After: 1 fits, back-off may not
    sim.inject_fault('429_H124', count=1, path_prefix='/info/city')
    assert c.list_cities() and clock.sleeps == [1.0]


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
