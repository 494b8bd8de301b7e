"""Retailers, retailer access, reconciliation file and agreements, subscription and info services."""
import datetime as dt
import hashlib

import pytest

from iyslib.dates import to_iys_date
from iyslib.errors import IysApiError, IysValidationError

PHONE = '+905321112233'
RETAILER = {'title': 'XYZ Ticaret', 'name': 'Ali Veli', 'tckn': '10000000146', 'tin': '1234567890',
            'city': {'code': 34, 'name': 'İstanbul'}, 'town': {'code': 429, 'name': 'Kadıköy'},
            'mobile': '0532 500 11 11', 'alias': 'Kadikoy Magazasi', 'status': 'active', 'mersis': None}


def add(client, clock, recipient=PHONE, **kw):
    body = {'recipient': recipient, 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_FIZIKSEL_ORTAM',
            'consentDate': to_iys_date(clock.utcnow()), 'recipientType': 'BIREYSEL'}
    body.update(kw)
    return client.add_consent(body)


def test_retailer_lifecycle_and_access(client, sim, clock):
    code = client.create_retailer(RETAILER)
    assert 10000000 <= code <= 99999999
    code2 = client.create_retailer({**RETAILER, 'tckn': '11111111110', 'title': 'ABC Bayi'})
    got = client.get_retailer(code)
    assert got['title'] == 'XYZ Ticaret' and got['mobile'] == '+905325001111' and got['city']['code'] == 34
    assert 'mersis' not in got                                    # empty optional field was left out
    page = client.list_retailers(limit=1)
    assert page['pagination']['totalCount'] == 2 and len(page['list']) == 1
    short = client.list_retailers(short=True)
    assert set(short['list'][0]) == {'title', 'city', 'retailerAccessCount', 'retailerCode', 'status'}
    # consent collected by a retailer, with access for another
    add(client, clock, retailerCode=code, retailerAccess=[code2])
    st = client.get_consent_status(PHONE, 'MESAJ')
    assert st.retailer_code == code and st.retailer_title == 'XYZ Ticaret' and st.retailer_access_count == 1
    receipt = client.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', [code])
    assert receipt['transactionId']
    listed = client.list_retailer_access(PHONE, 'MESAJ')
    assert sorted(r['retailerCode'] for r in listed['list']) == sorted([code, code2])
    client.replace_retailer_access([PHONE], 'MESAJ', 'BIREYSEL', [code2])
    assert [r['retailerCode'] for r in client.list_retailer_access(PHONE, 'MESAJ')['list']] == [code2]
    client.remove_retailer_access([PHONE], 'MESAJ', 'BIREYSEL', [code2])
    assert client.list_retailer_access(PHONE, 'MESAJ')['list'] == []
    client.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', [code, code2])
    client.remove_all_retailer_access([PHONE], 'MESAJ', 'BIREYSEL')
    assert client.list_retailer_access(PHONE, 'MESAJ')['pagination']['totalCount'] == 0
    # code2 has no linked consent any more: deletable; code still collected the consent: not deletable
    assert client.delete_retailer(code2) == 'Başarılı'
    with pytest.raises(IysApiError) as ei:
        client.get_retailer(code2)
    assert ei.value.code == 'H180' and ei.value.http_status == 403
    with pytest.raises(IysApiError) as ei:
        client.delete_retailer(code2)
    assert ei.value.code == 'H058' and ei.value.http_status == 404
    with pytest.raises(IysApiError) as ei:
        client.delete_retailer(code)
    assert ei.value.http_status == 400


def test_retailer_validation_local_and_remote(client, sim, clock):
    with pytest.raises(IysValidationError) as ei:
        client.create_retailer({**RETAILER, 'title': ''})
    assert ei.value.code == 'H214'
    # The client refuses locally what İYS (and the simulator, with the same checks) would refuse.
    for bad, code in (({'tckn': '123'}, 'H226'), ({'tckn': '12345678901'}, 'H225'), ({'tin': '12'}, 'H244'),
                      ({'tin': '1234567891'}, 'H243'), ({'status': 'closed'}, 'H201'),
                      ({'mersis': '123'}, 'H228'), ({'mobile': '12'}, 'H224')):
        with pytest.raises(IysValidationError) as ei:
            client.create_retailer({**RETAILER, **bad})
        assert ei.value.code == code, bad
        wire = {k: v for k, v in {**RETAILER, **bad, 'mobile': bad.get('mobile', '+905325001111')}.items() if v}
        with pytest.raises(ValueError) as vi:
            sim.add_retailer(700001, wire)
        assert vi.value.args[0]['errors'][0]['code'] == code, bad
    assert not client.list_retailers()['list']
    client.create_retailer(RETAILER)
    with pytest.raises(IysApiError) as ei:
        client.create_retailer(RETAILER)
    assert ei.value.code == 'H231'
    # access to a consent that does not exist / with an unknown retailer
    code = client.list_retailers()['list'][0]['retailerCode']
    with pytest.raises(IysApiError) as ei:
        client.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', [code])
    assert ei.value.code == 'H401'
    add(client, clock)
    with pytest.raises(IysApiError) as ei:
        client.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', [99999998])
    assert ei.value.code == 'H180' and ei.value.http_status == 403
    with pytest.raises(IysValidationError) as ei:
        client.add_retailer_access(PHONE, 'MESAJ', 'BIREYSEL', list(range(10000000, 10000101)))
    assert ei.value.code == 'H126'
    with pytest.raises(IysValidationError) as ei:
        client.replace_retailer_access([f'+9053211{i:05d}' for i in range(101)], 'MESAJ', 'BIREYSEL', [code])
    assert ei.value.code == 'H127'
    with pytest.raises(IysValidationError) as ei:
        client.list_retailers(limit=101)
    assert ei.value.code == 'H186'
    with pytest.raises(IysApiError) as ei:
        client.add_consent({'recipient': '+905321110000', 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
                            'consentDate': to_iys_date(clock.utcnow()), 'retailerCode': 99999998})
    assert ei.value.code == 'H180' and ei.value.http_status == 403


def test_reconciliation_file_hash_and_agreement(client, sim, clock):
    yesterday = (dt.datetime.fromtimestamp(clock(), dt.timezone.utc) + dt.timedelta(hours=3)).date()
    add(client, clock)
    clock.advance(60)
    add(client, clock, status='RET', source='HS_CAGRI_MERKEZI')
    sim.inject_citizen_change(700001, 'ayse@example.com', 'EPOSTA', 'RET', source='IYS_WEB')
    add(client, clock, recipient='+905321110000', recipientType='TACIR')
    clock.advance(86400)                                   # the next day
    content, rows = client.get_change_file(yesterday)
    assert content.endswith(b'\n') and content.startswith(b'creationDate,transactionId,recipient')
    assert sorted((r['recipient'], r['status'], r['source']) for r in rows) == sorted([
        (PHONE, 'ONAY', 'HS_FIZIKSEL_ORTAM'), (PHONE, 'RET', 'HS_CAGRI_MERKEZI'),
        ('ayse@example.com', 'RET', 'IYS_WEB'), ('+905321110000', 'ONAY', 'HS_FIZIKSEL_ORTAM')])
    keys = [(r['creationDate'], r['transactionId']) for r in rows]
    assert keys == sorted(keys)                       # İYS's order: creationDate, then transactionId
    agreement = client.get_agreement(yesterday)
    assert agreement['processStatus'] == 'completed' and agreement['hashMethod'] == 'SHA-384'
    assert agreement['hashValue'] == hashlib.sha384(content).hexdigest() and agreement['agreementStatus'] is False
    check = client.verify_change_file(yesterday)
    assert check and check.ok and check.computed_hash == agreement['hashValue'] and len(check.rows) == 4
    assert client.confirm_agreement(yesterday) is True
    assert client.get_agreement(yesterday)['agreementStatus'] is True
    tsr = client.get_agreement_timestamp(yesterday)
    assert agreement['hashValue'].encode() in tsr
    summary = client.get_change_summary(yesterday, 'BIREYSEL')
    mesaj = next(s for s in summary['changeStats'] if s['type'] == 'MESAJ')['consents']
    assert mesaj[0] == {'source': 'HS', 'approval': 1, 'rejection': 1, 'pending': 0, 'total': 2}
    eposta = next(s for s in summary['changeStats'] if s['type'] == 'EPOSTA')['consents']
    assert eposta[1]['source'] == 'IYS' and eposta[1]['rejection'] == 1
    tacir = client.get_change_summary(yesterday, 'TACIR')
    assert next(s for s in tacir['changeStats'] if s['type'] == 'MESAJ')['consents'][0]['approval'] == 1
    # a tampered file does not verify
    sim.movements[0]['status'] = 'RET'
    tampered = client.get_change_file(yesterday)[0]
    assert hashlib.sha384(tampered).hexdigest() != agreement['hashValue']


def test_reconciliation_empty_day_and_date_rules(client, clock):
    day = dt.date(2026, 11, 22)
    assert client.get_change_file(day) == (b'', [])
    assert client.get_agreement(day) is None
    assert not client.verify_change_file(day)
    with pytest.raises(IysApiError) as ei:
        client.get_change_file(dt.date(2026, 11, 10))
    assert ei.value.code == 'H502'
    with pytest.raises(IysValidationError) as ei:
        client.get_change_file('06.07.2020')
    assert ei.value.code == 'H501'
    with pytest.raises(IysValidationError) as ei:
        client.get_agreement('2026-13-01')
    assert ei.value.code == 'H501'
    with pytest.raises(IysValidationError) as ei:
        client.get_change_summary('2026-11-22', 'TACIRR')
    assert ei.value.code == 'H116'


def test_subscription_and_info(client):
    sub = client.get_subscription()
    assert sub['status'] == 'ACTIVE' and sub['subscriptionId'] and sub['consentLimitExceed'] is False
    cities = client.list_cities()
    assert len(cities) == 81 and {'code': 34, 'name': 'İstanbul'} in cities
    assert client.get_city(6) == {'code': 6, 'name': 'Ankara'}
    assert client.get_city(99) is None
    towns = client.list_towns()
    assert {'name': 'Kadıköy', 'code': 429, 'city_code': 34} in towns
    assert client.get_town(63)['name'] == 'Çankaya'
    assert client.get_town(99999) is None


def test_confirm_agreement_is_false_when_nothing_was_captured(client, sim):
    day = dt.date(2026, 11, 22)                      # no movement that day: İYS answers 204
    assert client.confirm_agreement(day) is False
    assert [r['status'] for r in sim.requests_log if '/agreements/' in r['path']] == [204]
    assert sim.agreements == {}


def test_confirm_agreement_requires_agreement_captured_true(client, sim, clock, monkeypatch):
    from iyslib.simulator.core import Response
    add(client, clock)
    clock.advance(86400)
    day = (dt.datetime.fromtimestamp(clock(), dt.timezone.utc) + dt.timedelta(hours=3) - dt.timedelta(days=1)).date()
    for body in ({'agreementCaptured': False}, {}, {'aggrementCaptured': 'true'}):
        monkeypatch.setattr(sim, '_agreement_put', lambda req, iys, brand, date, body=body: Response(200, body))
        assert client.confirm_agreement(day) is False, body
    monkeypatch.setattr(sim, '_agreement_put', lambda req, iys, brand, date: Response(200, {'aggrementCaptured': True}))
    assert client.confirm_agreement(day) is True                # İYS's misspelt key is understood


def test_tampered_change_file_fails_verification(client, sim, clock, server):
    import json
    import urllib.request
    day = (dt.datetime.fromtimestamp(clock(), dt.timezone.utc) + dt.timedelta(hours=3)).date()
    add(client, clock)
    clock.advance(86400)
    good = client.verify_change_file(day)
    assert good.ok
    forged = good.content.replace(b'ONAY', b'RET')
    sim.tamper_change_file(700001, day.isoformat(), forged)
    bad = client.verify_change_file(day)
    assert not bad and bad.content == forged and bad.expected_hash == good.expected_hash
    assert bad.computed_hash == hashlib.sha384(forged).hexdigest() != bad.expected_hash
    # the same through the control API, and back to the true file
    req = urllib.request.Request(server.url + '/_sim/change-file', method='POST', data=json.dumps(
        {'brandCode': 700001, 'reportDate': day.isoformat(), 'content': None}).encode())
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
    assert client.verify_change_file(day).ok


def test_unreadable_change_file_is_an_iys_error(client, sim, clock):
    day = (dt.datetime.fromtimestamp(clock(), dt.timezone.utc) + dt.timedelta(hours=3)).date()
    add(client, clock)
    clock.advance(86400)
    sim.tamper_change_file(700001, day.isoformat(), 'creationDate,recipient\n2026,çöü\n'.encode('latin-1'))
    with pytest.raises(IysApiError) as ei:
        client.get_change_file(day)
    assert 'UnicodeDecodeError' in ei.value.message
    sim.tamper_change_file(700001, day.isoformat(), '\ufeffcreationDate,recipient\n2026,x\n'.encode())
    assert client.get_change_file(day)[1] == [{'creationDate': '2026', 'recipient': 'x'}]   # BOM tolerated


def test_success_answers_without_their_id_are_errors(client, sim, clock, monkeypatch):
    from iyslib.errors import IysApiError as ApiError
    from iyslib.simulator.core import Response
    monkeypatch.setattr(sim, '_retailer_create', lambda req, iys, brand: Response(201, {}))
    with pytest.raises(ApiError) as ei:
        client.create_retailer(RETAILER)
    assert 'retailerCode' in ei.value.message and ei.value.outcome_unknown
    monkeypatch.setattr(sim, '_add_consent', lambda req, iys, brand, v2=None: Response(200, {'creationDate': 'x'}))
    body = {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
            'consentDate': to_iys_date(clock.utcnow())}
    with pytest.raises(ApiError) as ei:
        client.add_consent(body, idempotent=False)
    assert 'transactionId' in ei.value.message and ei.value.outcome_unknown and not ei.value.retryable
    with pytest.raises(ApiError) as ei:
        client.add_consent(body)
    assert ei.value.retryable and not ei.value.outcome_unknown       # V2: sending again is safe
    monkeypatch.setattr(sim, '_add_batch', lambda req, iys, brand, v2=None: Response(202, {'subRequests': []}))
    with pytest.raises(ApiError) as ei:
        client.add_consents_batch([body])
    assert 'requestId' in ei.value.message


@pytest.mark.parametrize('call', [
    lambda c: c.get_retailer('x'), lambda c: c.delete_retailer(None), lambda c: c.get_city('İstanbul'),
    lambda c: c.get_town(True), lambda c: c.remove_all_retailer_access(None, 'MESAJ', 'BIREYSEL'),
    lambda c: c.remove_retailer_access(12, 'MESAJ', 'BIREYSEL', [12345678]),
])
def test_bad_arguments_are_validation_errors(client, call):
    sent = client.request_count
    with pytest.raises(IysValidationError):
        call(client)
    assert client.request_count == sent


@pytest.mark.parametrize('field,value', [('mersis', ''), ('mersis', None), ('mobile', ''), ('alias', None),
                                         ('status', '')])
def test_simulator_refuses_empty_optional_retailer_fields(client, sim, field, value):
    import json
    token = client.get_access_token()
    body = {k: v for k, v in RETAILER.items() if v is not None and k != 'mobile'}
    body[field] = value
    resp = sim.handle('POST', '/sps/700001/brands/700001/retailers', '',
                      {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'},
                      json.dumps(body).encode())
    assert resp.status == 400 and resp.json()['errors'][0]['code'] == 'H016'
    assert not sim.retailers


def test_reconciliation_disagreement_helpers(client, sim, clock):
    """The simulator can be made to disagree with an HS's ledger: a movement only İYS knows, a
    movement İYS lost, a day still being prepared."""
    day = dt.date(2026, 11, 22)                        # yesterday (Turkish time) for the fake clock
    only_iys = sim.inject_movement(700001, '+905321119999', 'MESAJ', 'ONAY', source='HS_WEB',
                                   creation_date='2026-11-22 23:59:59', consent_date='2026-11-22 23:00:00')
    assert only_iys['creationDate'] == '2026-11-22 23:59:59' and only_iys['source'] == 'HS_WEB'
    early = sim.inject_movement(700001, 'a@example.com', 'EPOSTA', 'RET', source='IYS_WEB',
                                creation_date=dt.datetime(2026, 11, 21, 21, 0, 0))   # 00:00 Turkish time
    assert early['creationDate'] == '2026-11-22 00:00:00'
    sim.inject_movement(700001, 'b@example.com', 'EPOSTA', 'ONAY', creation_date='2026-11-21 23:59:59')
    content, rows = client.get_change_file(day)
    assert [r['transactionId'] for r in rows] == [early['transactionId'], only_iys['transactionId']]
    assert content.endswith(b'\n')
    assert client.get_change_file(day, parse=False) == (content, None)
    assert client.get_agreement(day)['hashValue'] == hashlib.sha384(content).hexdigest()
    # a movement İYS lost: gone from the file, its hash and the summary
    assert sim.drop_movement(early['transactionId']) == 1
    content2, rows2 = client.get_change_file(day)
    assert [r['transactionId'] for r in rows2] == [only_iys['transactionId']]
    assert client.get_agreement(day)['hashValue'] == hashlib.sha384(content2).hexdigest()
    eposta = next(s for s in client.get_change_summary(day)['changeStats'] if s['type'] == 'EPOSTA')
    assert all(c['total'] == 0 for c in eposta['consents'])
    # a day İYS is still preparing: no hash yet
    sim.set_process_status(700001, '2026-11-22', 'inprogress')
    info = client.get_agreement(day)
    assert info['processStatus'] == 'inprogress' and 'hashValue' not in info
    sim.set_process_status(700001, '2026-11-22', None)
    assert client.get_agreement(day)['processStatus'] == 'completed'
    # the future and a false agreement are refused
    with pytest.raises(IysApiError) as ei:
        client.get_change_file(dt.date(2026, 11, 24))
    assert ei.value.code == 'H501'
    assert sim.handle('PUT', '/sps/700001/brands/700001/agreements/2026-11-22', '',
                      {'Authorization': f'Bearer {client.get_access_token()}', 'Content-Type': 'application/json'},
                      b'{"agreementStatus": false}').status == 422


def test_reconciliation_control_routes(sim):
    import io
    import json

    from iyslib.simulator.app import make_wsgi_app

    app = make_wsgi_app(sim)

    def call(path, body):
        raw = json.dumps(body).encode()
        out = {}
        env = {'REQUEST_METHOD': 'POST', 'PATH_INFO': path, 'QUERY_STRING': '', 'CONTENT_LENGTH': str(len(raw)),
               'wsgi.input': io.BytesIO(raw)}
        data = b''.join(app(env, lambda status, headers: out.update(status=status)))
        return out['status'], json.loads(data)

    status, mv = call('/_sim/movement', {'brandCode': 700001, 'recipient': '+905321119998', 'type': 'MESAJ',
                                         'status': 'ONAY', 'creationDate': '2026-11-22 10:00:00'})
    assert status.startswith('200') and mv['creationDate'] == '2026-11-22 10:00:00'
    assert call('/_sim/drop-movement', {'transactionId': mv['transactionId']})[1] == {'dropped': 1}
    assert call('/_sim/process-status', {'brandCode': 700001, 'reportDate': '2026-11-22', 'status': 'queued'})[1]
    assert sim._process_status == {'700001|2026-11-22': 'queued'}
