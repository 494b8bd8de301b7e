"""Change feed (pull) with persisted cursors, the pull window, and push delivery."""
import base64
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
    old_cursor = page.after
    # the integration is down for 8 days; in the meantime one more change happens
    clock.advance(8 * 86400)
    sim.inject_citizen_change(700001, PHONES[1], 'MESAJ', 'RET')
    clock.advance(3601)
    stale = client.pull_changes(after=old_cursor)
    assert stale.cursor_stale is True                           # the caller must reconcile
    assert [i.recipient for i in stale.items] == [PHONES[1]]    # the first change left the window


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
