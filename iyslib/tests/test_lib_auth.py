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


# ------------------------------------------------------------------------------------------------
# one refresh per cycle for all the workers sharing a store (no stampede)

def _slow_token(app, delay=0.15):
    """WSGI middleware: the token call takes *delay* seconds, as over a real network."""
    import time

    def wrapped(environ, start_response):
        if environ['PATH_INFO'] == '/oauth2/token':
            time.sleep(delay)
        return app(environ, start_response)
    return wrapped


class DictStore:
    """A store with only get/set (like a database-backed store without locked())."""

    def __init__(self):
        self.data = {}

    def get(self, key):
        value = self.data.get(key)
        return dict(value) if value else None

    def set(self, key, value):
        self.data[key] = dict(value)


def _stampede(sim, clock, make_store, workers=6):
    """*workers* clients (own IysClient each, as separate workers) refresh at the same instant."""
    import threading

    from iyslib.client import IysClient
    from iyslib.simulator import SimulatorServer
    with SimulatorServer(sim, middleware=_slow_token) as srv:
        def mk():
            return IysClient(IysConfig(srv.url, 'iys-demo', 'iys-demo-secret', 700001), token_store=make_store(),
                             clock=clock, sleep=clock.sleep)
        clients = [mk() for _ in range(workers)]
        clients[0].get_access_token()
        clock.advance(7200 - 200)              # inside the 5-minute refresh margin: everybody refreshes
        before = len(token_calls(sim))
        barrier = threading.Barrier(workers)
        got, errors = [], []

        def run(c):
            barrier.wait()
            try:
                got.append(c.get_access_token())
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        rec = clients[0].token_store.get(clients[0].config.token_key)
        return token_calls(sim)[before:], got, errors, rec


def _assert_one_refresh(sim, clock, calls, got, errors, rec):
    assert errors == []
    assert len(calls) == 1 and calls[0]['status'] == 200          # ONE token call for the whole cycle
    assert len(set(got)) == 1 and got[0] == rec['access_token']    # everybody uses the stored token
    assert rec['access_token'] in sim.access_tokens                # … which İYS knows and is fresh
    assert rec['access_expires_at'] == pytest.approx(clock() + 7200, abs=2)
    assert not rec.get('lock_until') and sim.token_lock_until == 0


def test_refresh_stampede_file_store_one_token_call(sim, clock, tmp_path):
    path = tmp_path / 'tokens.json'
    _assert_one_refresh(sim, clock, *_stampede(sim, clock, lambda: FileTokenStore(path)))


def test_refresh_stampede_memory_store_one_token_call(sim, clock):
    store = MemoryTokenStore()
    _assert_one_refresh(sim, clock, *_stampede(sim, clock, lambda: store))


def test_refresh_stampede_store_without_locked_one_token_call(sim, clock):
    """A store lacking locked() still gets one refresh per cycle inside one process."""
    store = DictStore()
    assert not hasattr(store, 'locked')
    _assert_one_refresh(sim, clock, *_stampede(sim, clock, lambda: store, workers=4))


def test_file_store_locked_excludes_other_processes(tmp_path):
    import subprocess
    import sys
    import threading
    path = tmp_path / 'tokens.json'
    root = __import__('os').path.dirname(__import__('os').path.dirname(__import__('os').path.dirname(
        __import__('os').path.abspath(__file__))))
    code = ('import sys; sys.path.insert(0, sys.argv[1]); from iyslib.client import FileTokenStore\n'
            'with FileTokenStore(sys.argv[2]).locked("k"):\n'
            '    print("locked", flush=True); sys.stdin.readline()\n')
    child = subprocess.Popen([sys.executable, '-c', code, root, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'locked'
        acquired = threading.Event()

        def take():
            with FileTokenStore(path).locked('k'):
                acquired.set()
        t = threading.Thread(target=take)
        t.start()
        assert not acquired.wait(0.3)               # the other process holds it
        with FileTokenStore(path).locked('other-key'):
            pass                                    # other keys are not blocked
        FileTokenStore(path).set('k', {'access_token': 'x'})     # nor are reads and writes
        assert FileTokenStore(path).get('k') == {'access_token': 'x'}
        child.stdin.write('\n')
        child.stdin.flush()
        assert acquired.wait(5)
        t.join(5)
    finally:
        child.kill()
        child.wait()


class _Resp:
    def __init__(self, status, body, headers=None):
        self.status_code, self.content, self.headers = status, json.dumps(body).encode(), headers or {}

    def json(self):
        return json.loads(self.content)


def test_h084_retry_after_never_shortens_the_hour(clock):
    """A Retry-After of 60 s (from a proxy) on H084 must not let the client call again after 61 s."""
    from iyslib.client import IysClient
    from iyslib.errors import error_from_response

    class Session:
        calls = 0

        def post(self, url, **kw):
            Session.calls += 1
            return _Resp(429, {'errors': [{'code': 'H084', 'message': 'limit'}]}, {'Retry-After': '60'})

    c = IysClient(IysConfig('https://iys.invalid', 'u', 'p', 700001), token_store=MemoryTokenStore(),
                  session=Session(), clock=clock, sleep=clock.sleep)
    with pytest.raises(IysTokenLockError) as ei:
        c.get_access_token()
    assert ei.value.retry_after == 3600 and ei.value.lock_until == pytest.approx(clock() + 3600)
    clock.advance(61)
    with pytest.raises(IysTokenLockError):
        c.get_access_token()
    assert Session.calls == 1
    err = error_from_response(429, b'{"errors": [{"code": "H084", "message": "x"}]}', {'Retry-After': '60'}, now=0)
    assert err.retry_after == 3600 and err.lock_until == 3600
    err = error_from_response(429, b'{"errors": [{"code": "H084", "message": "x"}]}', {'Retry-After': '5400'}, now=0)
    assert err.retry_after == 5400                  # a longer one is obeyed


def test_h084_lock_is_merged_into_a_fresh_record(clock):
    """Another worker stores a new token while our token call is in flight: H084 must not erase it."""
    from iyslib.client import IysClient
    store = DictStore()
    cfg = IysConfig('https://iys.invalid', 'u', 'p', 700001)

    class Session:
        def post(self, url, **kw):
            store.set(cfg.token_key, {'access_token': 'theirs', 'access_expires_at': clock() + 7200,
                                      'refresh_token': 'r2', 'refresh_expires_at': clock() + 14400})
            return _Resp(429, {'errors': [{'code': 'H084', 'message': 'limit'}]})

    c = IysClient(cfg, token_store=store, session=Session(), clock=clock, sleep=clock.sleep)
    with pytest.raises(IysTokenLockError):
        c.get_access_token()
    rec = store.get(cfg.token_key)
    assert rec['access_token'] == 'theirs' and rec['refresh_token'] == 'r2'
    assert rec['lock_until'] == pytest.approx(clock() + 3600)
    assert c.get_access_token() == 'theirs'          # still usable during the lock


def test_invalidate_token_only_clears_the_refused_token(client, sim):
    first = client.get_access_token()
    rec = client.token_store.get(client.config.token_key)
    client.token_store.set(client.config.token_key, dict(rec, access_token='newer'))   # another worker refreshed
    client.invalidate_token(first)                   # the old token was refused: keep the newer one
    assert client.token_store.get(client.config.token_key)['access_token'] == 'newer'
    client.invalidate_token('newer')
    assert client.token_store.get(client.config.token_key)['access_token'] is None
    assert client.list_cities() and len(token_calls(sim)) == 2


def test_refresh_runs_under_the_store_lock_and_rereads(client, sim, clock):
    """The client takes the store's locked(key), re-reads, and uses what another process stored meanwhile."""
    import contextlib

    class CrossProcessStore(MemoryTokenStore):
        held = False
        events = []
        other_process_token = None

        @contextlib.contextmanager
        def locked(self, key):
            self.events.append(('lock', key))
            if self.other_process_token:        # another process refreshed while we waited for the lock
                self.set(key, {'access_token': self.other_process_token, 'access_expires_at': clock() + 7200})
            self.held = True
            try:
                yield
            finally:
                self.held = False

        def set(self, key, value):
            self.events.append(('set', self.held))
            super().set(key, value)

    store = CrossProcessStore()
    c = type(client)(client.config, token_store=store, clock=clock, sleep=clock.sleep)
    c.get_access_token()
    assert store.events[0] == ('lock', c.config.token_key) and ('set', True) in store.events
    assert ('set', False) not in store.events          # nothing written outside the lock
    calls = len(token_calls(sim))
    clock.advance(7200 - 100)
    store.other_process_token = 'from-another-process'
    assert c.get_access_token() == 'from-another-process'
    assert len(token_calls(sim)) == calls              # no token call of our own
