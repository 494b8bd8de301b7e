"""The simulator itself: control API over HTTP, SQLite persistence, the command line, log masking."""
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from iyslib.client import IysClient, IysConfig
from iyslib.dates import to_iys_date
from iyslib.simulator import IysSimulator, SimulatorServer
from iyslib.simulator.__main__ import build_parser

PHONE = '+905321112233'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_control_api_over_http(server, client, sim, clock):
    base = server.url + '/_sim'
    state = requests.get(base + '/state', timeout=5).json()
    assert state['iysCode'] == 700001 and state['brands'] == {'700001': 'Demo Marka', '700002': 'Demo Marka 2'}
    r = requests.post(base + '/citizen', json={'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY',
                                               'source': 'IYS_WEB_YENI', 'citizenName': 'Ali Veli'}, timeout=5)
    assert r.status_code == 200 and r.json()['source'] == 'IYS_WEB_YENI'
    assert client.get_consent_status(PHONE, 'MESAJ').status == 'ONAY'
    assert requests.post(base + '/clock', json={'advance': 120}, timeout=5).json()['offset'] == 120
    assert sim.now() == pytest.approx(clock() + 120)
    assert requests.post(base + '/batch-delay', json={'seconds': 30}, timeout=5).json() == {'batch_delay': 30.0}
    r = requests.post(base + '/faults', json={'fault': '500', 'count': 2, 'path_prefix': '/info'}, timeout=5)
    assert r.json()['faults'][0]['count'] == 2
    assert requests.post(base + '/faults', json={'fault': 'boom'}, timeout=5).status_code == 400
    assert requests.delete(base + '/faults', timeout=5).json() == {'faults': []}
    r = requests.post(base + '/config', json={'token_limit': 3, 'pull_lag': 0}, timeout=5)
    assert r.json()['token_limit'] == 3 and sim.token_limit == 3
    assert requests.post(base + '/config', json={'bogus': 1}, timeout=5).status_code == 400
    log = requests.get(base + '/requests', timeout=5).json()
    assert any(e['path'] == '/sps/700001/brands/700001/consents/status' for e in log)
    table = requests.get(base + '/state?consents=1', timeout=5).json()['consent_table']
    assert table[0]['recipient'] == PHONE
    assert requests.get(base + '/nope', timeout=5).status_code == 404
    assert requests.post(base + '/reset', timeout=5).json() == {'ok': True}
    assert sim.movements == [] and sim.access_tokens == {}


def test_faults_from_python_are_deterministic(sim, client):
    sim.inject_fault('429_H083', count=1, path_prefix='/info/town', method='GET')
    sim.inject_fault('500', count=1, path_prefix='/info/town')
    assert client.list_towns()
    seq = [(r['status'], r['fault']) for r in sim.requests_log if r['path'] == '/info/town']
    assert seq == [(429, '429_H083'), (500, '500'), (200, None)]
    with pytest.raises(ValueError):
        sim.inject_fault('explode')


def test_sqlite_persistence_survives_restart(tmp_path, clock):
    db = str(tmp_path / 'demo.sqlite')
    sim1 = IysSimulator(db_path=db, clock=clock, pull_lag=0)
    with SimulatorServer(sim1) as srv:
        c = IysClient(IysConfig(srv.url, 'iys-demo', 'iys-demo-secret', 700001), clock=clock, sleep=clock.sleep)
        receipt = c.add_consent({'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
                                 'consentDate': to_iys_date(clock.utcnow())})
        sim1.set_batch_delay(300)
        sub = c.add_consents_batch([{'recipient': 'a@example.com', 'type': 'EPOSTA', 'status': 'ONAY',
                                     'source': 'HS_WEB', 'consentDate': to_iys_date(clock.utcnow())}])
        code = c.create_retailer({'title': 'T', 'name': 'N', 'tckn': '10000000146', 'tin': '1234567890',
                                  'city': {'code': 34, 'name': 'İstanbul'}, 'town': {'code': 429, 'name': 'Kadıköy'}})
        token = c.get_access_token()
    sim1.store.close()
    sim2 = IysSimulator(db_path=db, clock=clock, pull_lag=0)
    assert sim2.consent_state(700001, PHONE, 'MESAJ')['transactionId'] == receipt.transaction_id
    assert sim2.batch_delay == 300 and code in sim2.retailers
    # tokens survive too: the old bearer is still accepted after the restart
    resp = sim2.handle('POST', '/sps/700001/brands/700001/consents/status', '',
                       {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'},
                       json.dumps({'recipient': PHONE, 'recipientType': 'BIREYSEL', 'type': 'MESAJ'}).encode())
    assert resp.status == 200 and resp.json()['transactionId'] == receipt.transaction_id
    with SimulatorServer(sim2) as srv:
        c.config.base_url = srv.url
        assert c.get_consent_status(PHONE, 'MESAJ').transaction_id == receipt.transaction_id
        clock.advance(300)
        assert [r.status for r in c.get_batch_result(sub.request_id)] == ['success']
    sim2.store.close()
    assert len(IysSimulator(db_path=db, clock=clock).movements) == 2


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_command_line_runs_and_serves(tmp_path):
    args = build_parser().parse_args(['--port', '1', '--brand-codes', '700001,700002', '--batch-delay', '0'])
    assert args.iys_code == 700001 and args.username == 'iys-demo' and args.password == 'iys-demo-secret'
    port = _free_port()
    proc = subprocess.Popen([sys.executable, '-m', 'iyslib.simulator', '--port', str(port), '--batch-delay', '0',
                             '--db', str(tmp_path / 'cli.sqlite')], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                state = requests.get(f'http://127.0.0.1:{port}/_sim/state', timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail('simulator did not start: ' + proc.stderr.read())
        assert state['iysCode'] == 700001 and state['batch_delay'] == 0
        c = IysClient(IysConfig(f'http://127.0.0.1:{port}', 'iys-demo', 'iys-demo-secret', 700001))
        assert [b['brandCode'] for b in c.list_brands()] == [700001, 700002]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert 'İYS simulator on' in proc.stdout.read()


def test_client_logs_are_masked(client, clock, caplog):
    with caplog.at_level(logging.DEBUG, logger='iyslib'):
        client.add_consent({'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
                            'consentDate': to_iys_date(clock.utcnow())})
        client.get_consent_status('ali@example.com', 'EPOSTA')
    text = caplog.text
    assert 'İYS add consent' in text
    assert '5321112233' not in text and 'ali@example.com' not in text
    token = client.token_store.get(client.config.token_key)['access_token']
    assert token not in text and 'iys-demo-secret' not in text


def test_response_shapes_are_json_with_charset(server, client):
    token = client.get_access_token()
    r = requests.get(server.url + '/sps/700001/brands', headers={'Authorization': f'Bearer {token}'}, timeout=5)
    assert r.headers['Content-Type'] == 'application/json; charset=utf-8'
    assert json.loads(r.content.decode('utf-8'))[0]['name'] == 'Demo Marka'
    r = requests.post(server.url + '/sps/700001/brands/700001/consents', data=b'{not json',
                      headers={'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}, timeout=5)
    assert r.status_code == 400 and r.json()['errors'][0]['code'] == 'H014'
