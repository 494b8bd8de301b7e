"""Token handling: caching, refresh before expiry, password fallback, H351 re-login, H084 lock."""
import json

import pytest

from iyslib.client import FileTokenStore, IysConfig, MemoryTokenStore
from iyslib.errors import IysAuthError, IysTokenLockError


def token_calls(sim):
    return [r for r in sim.requests_log if r['path'] == '/oauth2/token']


def test_one_token_for_many_calls_then_refresh_then_password(client, sim, clock):
    for _ in range(20):
        client.list_cities()
    assert len(token_calls(sim)) == 1
    first_refresh = next(iter(sim.refresh_tokens))
    # 5 minutes before the 2 h expiry the client refreshes (refresh grant, rotated refresh token)
    clock.advance(7200 - 299)
    client.list_cities()
    assert len(token_calls(sim)) == 2
    assert first_refresh not in sim.refresh_tokens          # rotation: the old one is gone
    # the old refresh token no longer works
    resp = sim.handle('POST', '/oauth2/token', '', {'Content-Type': 'application/json'},
                      json.dumps({'grant_type': 'refresh_token', 'refresh_token': first_refresh}).encode())
    assert resp.status == 400 and resp.json()['error'] == 'invalid_grant'
    # after both tokens lapse the client logs in again with the password grant
    clock.advance(14400 + 10)
    client.list_cities()
    assert len(token_calls(sim)) == 4       # the refused refresh above + the new password grant
    rec = client.token_store.get(client.config.token_key)
    assert rec['access_expires_at'] == pytest.approx(clock() + 7200, abs=2)


def test_refused_refresh_falls_back_to_password(client, sim, clock):
    client.list_cities()
    sim.refresh_tokens.clear()
    clock.advance(7200 - 100)
    client.list_cities()
    calls = token_calls(sim)
    assert len(calls) == 3 and [c['status'] for c in calls] == [200, 400, 200]


def test_form_encoded_token_request(server, sim, clock):
    from iyslib.client import IysClient
    cfg = IysConfig(server.url, 'iys-demo', 'iys-demo-secret', 700001, token_form=True)
    c = IysClient(cfg, clock=clock, sleep=clock.sleep)
    assert c.list_cities()


def test_wrong_password_is_auth_error(server, clock):
    from iyslib.client import IysClient
    c = IysClient(IysConfig(server.url, 'iys-demo', 'wrong', 700001), clock=clock, sleep=clock.sleep)
    with pytest.raises(IysAuthError) as ei:
        c.list_brands()
    assert ei.value.oauth_error == 'invalid_grant' and not ei.value.retryable
    assert 'wrong' not in repr(c.config) and 'password=***' in repr(c.config)


def test_h351_relogin_once(client, sim):
    client.list_cities()
    sim.access_tokens.clear()       # İYS forgot our token (e.g. revoked)
    assert client.list_cities()
    statuses = [(r['path'], r['status']) for r in sim.requests_log]
    assert ('/info/city', 401) in statuses
    assert len(token_calls(sim)) == 2
    # if even a fresh token is refused, the client gives up with IysAuthError (no loop)
    sim.access_tokens.clear()
    sim.refresh_tokens.clear()
    original = sim._pre_checks

    def always_401(req, params, needs_auth):
        from iyslib.simulator.core import _errors
        return _errors('H351', status=401) if needs_auth else original(req, params, needs_auth)
    sim._pre_checks = always_401
    before = len(sim.requests_log)
    with pytest.raises(IysAuthError) as ei:
        client.list_cities()
    assert ei.value.code == 'H351'
    assert len([r for r in sim.requests_log[before:] if r['path'] == '/info/city']) == 2


def test_h084_lock_shared_through_file_store(make_client, sim, clock, tmp_path):
    sim.token_limit = 2
    store_path = tmp_path / 'tokens.json'
    a = make_client(store=FileTokenStore(store_path))
    b = make_client(store=FileTokenStore(store_path))
    a.list_cities()                        # token call 1
    assert len(token_calls(sim)) == 1
    b.list_cities()                        # shares A's token: no token call
    assert len(token_calls(sim)) == 1
    a.get_access_token(force=True)        # token call 2 (refresh)
    with pytest.raises(IysTokenLockError) as ei:
        a.get_access_token(force=True)     # token call 3 -> 429 H084
    assert ei.value.code == 'H084' and ei.value.retry_after == pytest.approx(3600, abs=2)
    assert len(token_calls(sim)) == 3
    saved = json.loads(store_path.read_text())
    assert list(saved.values())[0]['lock_until'] == pytest.approx(clock() + 3600, abs=2)
    # B (another process in real life) sees the lock and does not call İYS at all
    with pytest.raises(IysTokenLockError) as ei:
        b.get_access_token(force=True)
    assert ei.value.http_status is None and ei.value.retry_after == pytest.approx(3600, abs=2)
    assert len(token_calls(sim)) == 3
    # …but keeps working with the still valid access token
    assert b.list_cities()
    # the access token lapses during the lock: still no token call, a clear error instead
    clock.advance(2000)
    sim.access_tokens.clear()
    with pytest.raises(IysTokenLockError):
        b.list_cities()
    assert len(token_calls(sim)) == 3
    # once the hour is over, login works again
    clock.advance(1700)
    assert b.list_cities()
    assert len(token_calls(sim)) == 4


def test_simulator_h084_lock_restarts_on_retry(sim, clock):
    sim.token_limit = 1

    def call():
        return sim.handle('POST', '/oauth2/token', '', {'Content-Type': 'application/json'},
                          json.dumps({'username': 'iys-demo', 'password': 'iys-demo-secret',
                                      'grant_type': 'password'}).encode())

    assert call().status == 200
    assert call().json()['errors'][0]['code'] == 'H084'
    first_lock = sim.token_lock_until
    clock.advance(1800)
    assert call().status == 429                     # retry during the lock …
    assert sim.token_lock_until == pytest.approx(first_lock + 1800)   # … restarts the hour
    clock.advance(3601)
    assert call().status == 200


def test_local_token_budget_prevents_h084(make_client, sim, clock):
    c = make_client(store=MemoryTokenStore())
    for _ in range(10):
        c.get_access_token(force=True)
    with pytest.raises(IysTokenLockError) as ei:
        c.get_access_token(force=True)
    assert ei.value.http_status is None           # refused locally, İYS never saw it
    assert len(token_calls(sim)) == 10 and sim.token_lock_until == 0
