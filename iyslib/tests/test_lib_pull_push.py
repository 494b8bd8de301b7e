"""Change feed (pull) with persisted cursors, the pull window, and push delivery."""
import base64
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from iyslib.client import ConsentRecord
from iyslib.errors import IysApiError, IysValidationError

PHONES = [f'+90532111000{i}' for i in range(5)]


def test_pull_pages_with_cursor_persisted_across_clients(make_client, sim, clock, tmp_path):
    for i, phone in enumerate(PHONES):
        sim.inject_citizen_change(700001, phone, 'MESAJ', 'RET' if i % 2 else 'ONAY', source='IYS_KISAMESAJ')
        clock.advance(7)
    sim.inject_citizen_change(700002, PHONES[0], 'MESAJ', 'ONAY')     # other brand: never in our feed
    cursor_file = tmp_path / 'cursor.json'
    seen = []
    c1 = make_client()
    page = c1.pull_changes(limit=2)
    seen += [i.recipient for i in page.items]
    cursor_file.write_text(json.dumps({'after': page.after}))        # persisted after processing
    assert not page.exhausted and len(page.items) == 2
    # a new process continues from the stored cursor: no gap, no repeat
    c2 = make_client()
    after = json.loads(cursor_file.read_text())['after']
    for p in c2.iter_changes(after=after, limit=2):
        seen += [i.recipient for i in p.items]
        if p.after:
            cursor_file.write_text(json.dumps({'after': p.after}))
    assert seen == PHONES
    # nothing new: 204, cursor unchanged
    last = json.loads(cursor_file.read_text())['after']
    empty = c2.pull_changes(after=last)
    assert empty.items == [] and empty.exhausted and empty.after == last and not empty.cursor_stale


def test_pull_window_lag_and_stale_cursor(client, sim, clock):
    sim.pull_lag = 3600
    sim.inject_citizen_change(700001, PHONES[0], 'MESAJ', 'RET')
    assert client.pull_changes().items == []                  # younger than 60 minutes
    clock.advance(3600)
    page = client.pull_changes()
    assert [i.recipient for i in page.items] == [PHONES[0]]
    assert page.polled_at == clock()
    old_cursor, last_poll = page.after, page.polled_at
    # the integration is down for 8 days; in the meantime one more change happens
    clock.advance(8 * 86400)
    sim.inject_citizen_change(700001, PHONES[1], 'MESAJ', 'RET')
    clock.advance(3601)
    stale = client.pull_changes(after=old_cursor, last_polled_at=last_poll)
    assert stale.cursor_stale is True                           # the caller must reconcile
    assert [i.recipient for i in stale.items] == [PHONES[1]]    # the first change left the window
    # the same poll with a naive-UTC datetime, and without the information (cannot tell: not stale)
    as_dt = dt.datetime.fromtimestamp(last_poll, dt.timezone.utc).replace(tzinfo=None)
    assert client.pull_changes(after=old_cursor, last_polled_at=as_dt).cursor_stale is True
    assert client.pull_changes(after=old_cursor).cursor_stale is False


def test_quiet_brand_polled_hourly_is_never_stale(client, sim, clock):
    """No movement for 8 days: every poll succeeds (204), so nothing can have been missed."""
    sim.inject_citizen_change(700001, PHONES[0], 'MESAJ', 'RET', deliver_push=False)
    clock.advance(1)
    page = client.pull_changes()
    after, last = page.after, page.polled_at
    flagged = 0
    for _hour in range(8 * 24):
        clock.advance(3600)
        page = client.pull_changes(after=after, last_polled_at=last)
        assert page.items == [] and page.after == after
        after, last = page.after, page.polled_at
        flagged += page.cursor_stale
    assert flagged == 0
    # a poll missed for longer than the window (7 days minus the 60-minute lag) is flagged
    clock.advance(7 * 86400 - 3600 + 1)
    assert client.pull_changes(after=after, last_polled_at=last).cursor_stale is True


def test_movements_of_one_second_are_delivered_exactly_once(make_client, sim, clock):
    """40 movements recorded in the same second while the HS pulls pages in between (pull_lag=0).

    transactionIds are hashes, so within one second their order is random: serving a second that is
    still running would put later movements before the cursor, never to be delivered.
    """
    from iyslib.throttle import Throttle
    client = make_client(throttle=Throttle(per_second=10_000, clock=clock, sleep=clock.sleep))
    start = clock()
    expected, seen, after = set(), [], None

    def pull():
        nonlocal after
        for page in client.iter_changes(after=after, limit=3):
            seen.extend(i.transaction_id for i in page.items)
            after = page.after
    for i in range(40):
        mv = sim.inject_citizen_change(700001, f'+90532100{i:04d}', 'MESAJ', 'RET', deliver_push=False)
        expected.add(mv['transactionId'])
        pull()                                   # pages cross the second while it is still being written
    assert int(clock()) == int(start)            # really all in one second
    clock.advance(1)
    pull()
    assert len(seen) == len(set(seen)) == 40     # nothing twice …
    assert set(seen) == expected                 # … and nothing lost


def test_iter_changes_stops_when_a_full_page_has_no_cursor(client, sim, clock, monkeypatch):
    for i in range(3):
        sim.inject_citizen_change(700001, PHONES[i], 'MESAJ', 'RET', deliver_push=False)
    clock.advance(1)
    original = sim._changes

    def without_after(req, iys, brand):
        resp = original(req, iys, brand)
        if resp.status == 200:
            data = resp.json()
            data.pop('after')
            resp.body = json.dumps(data).encode()
        return resp
    monkeypatch.setattr(sim, '_changes', without_after)
    pages = client.iter_changes(limit=2)
    with pytest.raises(IysApiError) as ei:
        next(pages)
    assert 'after' in ei.value.message
    assert len([r for r in sim.requests_log if r['path'].endswith('/consents/changes')]) == 1
    short = client.pull_changes(limit=5)          # a short page without a cursor: the old one is kept
    assert len(short.items) == 3 and short.exhausted and short.after is None


def test_pull_validation_local_and_remote(client, sim):
    with pytest.raises(IysValidationError) as ei:
        client.pull_changes(limit=1001)
    assert ei.value.code == 'H507'
    with pytest.raises(IysValidationError) as ei:
        client.pull_changes(source='SH')
    assert ei.value.code == 'H506'
    with pytest.raises(IysApiError) as ei:
        client.pull_changes(after='not-a-cursor')
    assert ei.value.code == 'H098' and ei.value.location == ['after']
    token = client.get_access_token()
    resp = sim.handle('GET', '/sps/700001/brands/700001/consents/changes', 'source=SH',
                      {'Authorization': f'Bearer {token}'})
    assert resp.status == 422 and resp.json()['errors'][0]['code'] == 'H506'
    resp = sim.handle('GET', '/sps/700001/brands/700001/consents/changes', 'limit=1500',
                      {'Authorization': f'Bearer {token}'})
    assert resp.json()['errors'][0]['code'] == 'H507'


def test_citizen_name_only_for_first_brand_add(client, sim, clock):
    sim.inject_citizen_change(700001, 'ayse@example.com', 'EPOSTA', 'ONAY', source='IYS_WEB_YENI',
                              citizen_name='Ayşe Yılmaz')
    clock.advance(5)
    sim.inject_citizen_change(700001, 'ayse@example.com', 'EPOSTA', 'RET', source='IYS_WEB',
                              citizen_name='Ayşe Yılmaz')
    clock.advance(1)                      # a second is served once it is over
    items = client.pull_changes().items
    assert [i.citizen_name for i in items] == ['Ayşe Yılmaz', None]


class _PushReceiver:
    """A tiny Basic-auth protected endpoint collecting push payloads."""

    def __init__(self, username='hook', password='s3cret', require_auth=True, status=200):
        self.received = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                payload = json.loads(self.rfile.read(length))
                expected = 'Basic ' + base64.b64encode(f'{username}:{password}'.encode()).decode()
                if require_auth and self.headers.get('Authorization') != expected:
                    self.send_response(401)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                outer.received.append(payload)
                self.send_response(status)
                self.send_header('Content-Length', '0')
                self.end_headers()

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/iys/push'
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_push_register_deliver_unregister(client, sim):
    with _PushReceiver() as rx:
        assert client.register_push(rx.url, 'MESAJ', 'hook', 's3cret') == {'message': 'Bağlantı oluşturuldu'}
        assert rx.received[0]['list'][0]['recipient'] == 'pushtest@iys.org.tr'    # İYS's fixed test payload
        listed = client.list_push()
        assert [(p['url'], p['type'], p['status']) for p in listed] == [(rx.url, 'MESAJ', 'Bağlantı Oluşturuldu')]
        sim.inject_citizen_change(700001, PHONES[0], 'MESAJ', 'RET', source='IYS_CM')
        sim.inject_citizen_change(700001, 'x@example.com', 'EPOSTA', 'RET')         # other type: not pushed
        assert len(rx.received) == 2
        item = rx.received[1]['list'][0]
        assert (item['iysCode'], item['brandCode'], item['recipient'], item['source']) == (
            700001, 700001, PHONES[0], 'IYS_CM')
        rec = ConsentRecord.from_iys(item)
        assert rec.status == 'RET' and rec.brand_code == 700001 and len(rec.transaction_id) == 64
        assert client.unregister_push(rx.url, 'MESAJ', 'hook', 's3cret') == {'message': 'Bağlantı Kaldırıldı'}
        assert client.list_push() == []
        with pytest.raises(IysApiError) as ei:
            client.unregister_push(rx.url, 'MESAJ', 'hook', 's3cret')
        assert ei.value.code == 'H530'


def test_push_registration_rules(client, sim):
    with _PushReceiver(require_auth=False) as rx:
        with pytest.raises(IysApiError) as ei:
            client.register_push(rx.url, 'MESAJ', 'hook', 's3cret')
        assert ei.value.code == 'H530' and 'Basic auth' in ei.value.message
    with _PushReceiver(status=500) as rx:
        with pytest.raises(IysApiError) as ei:
            client.register_push(rx.url, 'MESAJ', 'hook', 's3cret')
        assert ei.value.code == 'H530'
    sim.allow_http_push = False
    with pytest.raises(IysApiError) as ei:
        client.register_push('http://127.0.0.1:9/push', 'MESAJ', 'hook', 's3cret')
    assert ei.value.code == 'H531'
    with pytest.raises(IysValidationError) as ei:
        client.register_push('https://hs.example.com/push', 'MESAJ', '', 's3cret')
    assert ei.value.code == 'H093'
    with _PushReceiver() as rx:
        sim.allow_http_push = True
        client.register_push(rx.url, 'ARAMA', 'hook', 's3cret')
        client.register_push(rx.url + '2', 'ARAMA', 'hook', 's3cret')
        with pytest.raises(IysApiError) as ei:
            client.register_push(rx.url + '3', 'ARAMA', 'hook', 's3cret')
        assert ei.value.code == 'H530' and 'en fazla 2' in ei.value.message


def test_push_registrations_never_exceed_two_per_type_when_concurrent(client, sim):
    """Three registrations at once (the test deliveries take time): at most two may become active."""
    import time
    with _PushReceiver() as rx:
        orig = sim._deliver_push

        def slow(conn, payload, with_auth=True):
            time.sleep(0.08)
            return orig(conn, payload, with_auth)
        sim._deliver_push = slow
        results = []

        def reg(i):
            try:
                results.append(client.register_push(f'{rx.url}{i}', 'MESAJ', 'hook', 's3cret'))
            except IysApiError as exc:
                results.append(exc.code)
        client.get_access_token()
        threads = [threading.Thread(target=reg, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    active = [p for p in sim.push if p['type'] == 'MESAJ' and p['active']]
    assert len(active) == 2
    assert sorted(map(str, results)) == sorted(["{'message': 'Bağlantı oluşturuldu'}"] * 2 + ['H530'])


@pytest.mark.parametrize('conn', [
    {'url': 1, 'type': 'EPOSTA', 'username': 'u', 'password': 'p'},
    {'url': ['https://x'], 'type': 'EPOSTA', 'username': 'u', 'password': 'p'},
    {'url': 'https://hs.example.com/p', 'type': ['EPOSTA'], 'username': 'u', 'password': 'p'},
    {'url': 'https://hs.example.com/p', 'type': 'EPOSTA', 'username': 1, 'password': [1]},
])
def test_push_registration_refuses_non_string_fields(client, sim, conn):
    token = client.get_access_token()
    resp = sim.handle('POST', '/sps/700001/brands/700001/push/registration', '',
                      {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'},
                      json.dumps({'connection': [conn]}).encode())
    assert resp.status == 422 and resp.json()['errors'][0]['code'] in ('H531', 'H111', 'H117', 'H093')
