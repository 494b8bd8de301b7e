"""Scenario tests: the client against the simulator on 127.0.0.1 (lifecycle, batches, every rule)."""
import datetime as dt

import pytest

from iyslib.dates import add_business_days, to_iys_date
from iyslib.errors import H_CODES, IysApiError, IysError, IysValidationError
from iyslib.rules import CurrentState

PHONE = '+905321112233'
EMAIL = 'ali@example.com'


def consent(clock, recipient=PHONE, type_='MESAJ', status='ONAY', source='HS_WEB', **kw):
    body = {'recipient': recipient, 'type': type_, 'status': status, 'source': source,
            'consentDate': to_iys_date(clock.utcnow()), 'recipientType': 'BIREYSEL'}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


def test_full_lifecycle(client, sim, clock):
    r1 = client.add_consent(consent(clock, recipient='0532 111 22 33'))
    assert len(r1.transaction_id) == 64 and r1['transactionId'] == r1.transaction_id
    assert r1.request['recipient'] == PHONE
    st = client.get_consent_status(PHONE, 'MESAJ')
    assert st.status == 'ONAY' and st.source == 'HS_WEB' and st.transaction_id == r1.transaction_id
    assert client.get_multiple_status('BIREYSEL', 'MESAJ', ['0532 111 22 33', '+905329998877']) == {PHONE}

    clock.advance(60)
    r2 = client.add_consent(consent(clock, status='RET'), previous=st.as_state())
    assert r2.transaction_id != r1.transaction_id
    assert client.get_consent_status(PHONE, 'MESAJ').status == 'RET'
    assert client.get_multiple_status('BIREYSEL', 'MESAJ', [PHONE]) == set()

    clock.advance(60)
    sim.inject_citizen_change(700001, PHONE, 'MESAJ', 'ONAY', source='IYS_MOBIL')
    clock.advance(1)                      # the pull serves a second once it is over
    page = client.pull_changes()
    assert [(i.recipient, i.status, i.source) for i in page.items] == [(PHONE, 'ONAY', 'IYS_MOBIL')]
    assert page.exhausted and page.after.endswith(page.items[0].transaction_id)
    # the HS's own movements come with source=HS
    hs = client.pull_changes(source='HS')
    assert [i.transaction_id for i in hs.items] == [r1.transaction_id, r2.transaction_id]
    # history: newest first, all three movements
    hist = client.get_history(PHONE, 'MESAJ')
    assert [(h.status, h.source) for h in hist] == [('ONAY', 'IYS_MOBIL'), ('RET', 'HS_WEB'), ('ONAY', 'HS_WEB')]
    assert client.get_consent_status(PHONE, 'MESAJ').status == 'ONAY'
    # another brand knows nothing of it
    assert client.get_consent_status(PHONE, 'MESAJ', brand_code=700002) is None
    brands = client.list_brands()
    assert brands[0]['stats']['consents']['approval'] == 1 and brands[0]['master'] is True


def test_history_paging(client, clock):
    client.add_consent(consent(clock))
    for i in range(4):
        clock.advance(10)
        client.add_consent(consent(clock, status='RET' if i % 2 == 0 else 'ONAY'))
    hist = client.get_history(PHONE, 'MESAJ', page_size=2)
    assert len(hist) == 5
    assert [h.consent_date for h in hist] == sorted([h.consent_date for h in hist], reverse=True)
    assert len({h.transaction_id for h in hist}) == 5


def test_multiple_status_chunks_above_1000(client, sim, clock):
    client.add_consent(consent(clock, recipient=EMAIL, type_='EPOSTA'))
    addrs = [f'user{i}@example.com' for i in range(1500)] + [EMAIL.upper(), 'not-an-email']
    before = len(sim.requests_log)
    assert client.get_multiple_status('BIREYSEL', 'EPOSTA', addrs) == {EMAIL}
    calls = [r for r in sim.requests_log[before:] if '/status/' in r['path']]
    assert len(calls) == 2
    with pytest.raises(IysValidationError) as ei:
        client.get_multiple_status('BIREYSEL', 'EPOSTA', addrs, strict=True)
    assert ei.value.code == 'H120' and ei.value.index == 1501


def test_batch_mixed_results_and_enqueue(client, sim, clock):
    sim.set_batch_delay(300)
    items = [consent(clock, recipient='+905321110001'), consent(clock, recipient='+905321110002', status='RET'),
             consent(clock, recipient='b@example.com', type_='EPOSTA')]
    sub = client.add_consents_batch(items)
    assert sub.request_id and len(sub.sub_requests) == 3
    assert all(s.get('subrequestId') or s.get('subRequestId') for s in sub.sub_requests)
    pending = client.get_batch_result(sub.request_id)
    assert [r.status for r in pending] == ['enqueue'] * 3 and not any(r.done for r in pending)
    assert len(sim.movements) == 0
    clock.advance(300)
    res = client.get_batch_result(sub.request_id)
    assert [r.status for r in res] == ['success', 'failure', 'success']
    assert res[1].error.code == 'H175' and not res[1].error.retryable and res[1].error.index == 1
    assert len(res[0].transaction_id) == 64 and res[0].creation_date is not None
    assert len(sim.movements) == 2
    # V2 resubmission of the same list: new requestId, nothing recorded twice, originals reported
    again = client.add_consents_batch(items[:1] + items[2:])
    assert again.request_id != sub.request_id
    clock.advance(300)
    res2 = client.get_batch_result(again.request_id)
    assert [r.status for r in res2] == ['success', 'success']
    assert res2[0].original_request_id == sub.request_id and res2[0].transaction_id == res[0].transaction_id
    assert res2[1].original_sub_request_id == res[2].sub_request_id
    assert len(sim.movements) == 2
    # unknown / old ids: empty = still processing or expired
    assert client.get_batch_result('0e0e0e0e-1111-2222-3333-444444444444') == []


def test_batch_v1_result_has_no_v2_fields(client, clock):
    sub = client.add_consents_batch([consent(clock)], v2=False)
    res = client.get_batch_result(sub.request_id, v2=False)
    assert res[0].status == 'success' and res[0].original_request_id is None
    assert 'isAddConsentV2Service' not in res[0].raw


@pytest.mark.parametrize('bad,code', [('x' * 37, 'H198'), ('abcdef', 'H199'), ('123456', 'H400')])
def test_batch_result_request_id_checks(client, sim, bad, code):
    with pytest.raises(IysValidationError) as ei:
        client.get_batch_result(bad)
    assert ei.value.code == code
    # and the simulator agrees
    token = client.get_access_token()
    resp = sim.handle('GET', f'/v2/sps/700001/brands/700001/consents/request/{bad}', '',
                      {'Authorization': f'Bearer {token}'})
    assert resp.status == 422 and resp.json()['errors'][0]['code'] == code


# ------------------------------------------------------------------------------------------------
# every rule: refused by the simulator with the expected H-code AND caught locally before sending

def _setup_onay(client, clock, **kw):
    client.add_consent(consent(clock, **kw))
    clock.advance(30)


def _setup_ret(client, clock, **kw):
    client.add_consent(consent(clock, **kw))
    clock.advance(30)
    client.add_consent(consent(clock, status='RET', **kw))
    clock.advance(30)


RULE_CASES = [
    # (id, setup, body factory, previous state for the local check, expected code)
    ('H175', None, lambda c: consent(c, status='RET'), None, 'H175'),
    ('H175_karar_first', None, lambda c: consent(c, status='RET', source='HS_KARAR'), None, 'H175'),
    ('H174', _setup_ret, lambda c: consent(c, status='RET'), CurrentState('RET', None), 'H174'),
    ('H178', _setup_onay, lambda c: consent(c, consentDate=to_iys_date(c.utcnow() - dt.timedelta(minutes=5))),
     'prev', 'H178'),
    ('H408', None, lambda c: consent(c, source='HS_KARAR'), None, 'H408'),
    ('H155', None, lambda c: consent(c, source='HS_2015', consentDate='2015-05-01 00:00:01'), None, 'H155'),
    ('H156', None, lambda c: consent(c, consentDate='2015-04-30 23:59:59'), None, 'H156'),
    ('H162', None, lambda c: consent(c, consentDate=to_iys_date(c.utcnow() + dt.timedelta(hours=1))), None, 'H162'),
    ('H467', None, lambda c: consent(c, consentDate=to_iys_date(add_business_days(c.utcnow(), -4))), None, 'H467'),
    ('H158', None, lambda c: consent(c, consentDate='2026-11-23T12:00:00'), None, 'H158'),
    ('H157', None, lambda c: consent(c, consentDate='2026-02-30 12:00:00'), None, 'H157'),
    ('H462', _setup_onay, lambda c: consent(c, recipientType='TACIR', consentDate=None),
     CurrentState('ONAY', None, 'HS_WEB'), 'H462'),
    ('H463', _setup_onay, lambda c: consent(c, recipientType='TACIR', source=None),
     CurrentState('ONAY', None, 'HS_WEB'), 'H463'),
    ('H118', None, lambda c: {**consent(c), 'channel': 'sms'}, None, 'H118'),
    ('H119', None, lambda c: consent(c, source='IYS_MOBIL'), None, 'H119'),
    ('H115', None, lambda c: consent(c, status='BEKLIYOR'), None, 'H115'),
    ('H116', None, lambda c: consent(c, recipientType='KURUMSAL'), None, 'H116'),
    ('H117', None, lambda c: consent(c, type_='FAX'), None, 'H117'),
    ('H110', None, lambda c: consent(c, status=None), None, 'H110'),
    ('H112', None, lambda c: consent(c, consentDate=None), None, 'H112'),
    ('H113', None, lambda c: consent(c, source=None), None, 'H113'),
    ('H114', None, lambda c: consent(c, recipient=None), None, 'H114'),
    ('H120', None, lambda c: consent(c, recipient='ali@örnek.com', type_='EPOSTA'), None, 'H120'),
    ('H121', None, lambda c: consent(c, recipient='+9005321112233'), None, 'H121'),
    ('H160', None, lambda c: consent(c, recipient='+0554321323223333333333'), None, 'H160'),
    ('H464', None, lambda c: consent(c, recipient=EMAIL), None, 'H464'),
]


@pytest.mark.parametrize('case', RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule_refused_by_simulator_and_locally(case, client, sim, clock):
    _id, setup, make, previous, code = case
    if setup:
        kw = {'recipientType': 'TACIR'} if code in ('H462', 'H463') else {}
        setup(client, clock, **kw)
    body = make(clock)
    moves = len(sim.movements)
    # 1) the simulator answers with the code (local validation switched off)
    with pytest.raises(IysError) as remote:
        client.add_consent(body, validate=False)
    assert isinstance(remote.value, IysApiError), remote.value
    assert remote.value.code == code, remote.value
    assert remote.value.http_status == H_CODES[code][0]
    if code == 'H162':       # the same body succeeds once İYS's clock has passed the date
        assert remote.value.retryable and remote.value.retry_after == 60
    else:
        assert not remote.value.retryable
    assert len(sim.movements) == moves
    # 2) the client refuses it locally without any HTTP request
    if previous == 'prev':
        previous = client.get_consent_status(PHONE, 'MESAJ').as_state()
    sent = client.request_count
    with pytest.raises(IysValidationError) as local:
        if previous is None and code not in ('H175',):
            client.add_consent(body)
        else:
            client.add_consent(body, previous=previous)
    assert local.value.code == code
    assert client.request_count == sent


def test_sim_rejects_non_e164_but_client_normalises(client, sim, clock):
    with pytest.raises(IysApiError) as ei:
        client.add_consent(consent(clock, recipient='0532 111 22 33'), validate=False)
    assert ei.value.code == 'H121' and ei.value.location == ['recipient']
    assert client.add_consent(consent(clock, recipient='0532 111 22 33')).request['recipient'] == PHONE


def test_tacir_first_record_without_date_and_source(client, sim, clock):
    body = {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'recipientType': 'TACIR'}
    client.add_consent(body)
    st = client.get_consent_status(PHONE, 'MESAJ', 'TACIR')
    assert st.status == 'ONAY' and st.consent_date is None and st.source is None
    # reported empty in the status answer, as in the pull and history items
    assert (st['consentDate'], st['source']) == ('', '')
    clock.advance(1)
    hist = client.get_history(PHONE, 'MESAJ', 'TACIR')[0]
    pulled = client.pull_changes(source='HS').items[0]
    assert (hist['source'], pulled['source'], hist.source, pulled.source) == ('', '', None, None)
    # the BIREYSEL record of the same address is independent
    assert client.get_consent_status(PHONE, 'MESAJ', 'BIREYSEL') is None


def test_batch_rules_h194_h091_and_per_index_errors(client, sim, clock):
    items = [consent(clock), consent(clock, recipient='+905321110009'), consent(clock)]
    with pytest.raises(IysApiError) as remote:
        client.add_consents_batch(items, validate=False)
    assert remote.value.code == 'H194' and remote.value.index == 2
    with pytest.raises(IysValidationError) as local:
        client.add_consents_batch(items)
    assert local.value.code == 'H194' and local.value.index == 2
    # several bad items: all reported with their index, locally and remotely
    bad = [consent(clock, status='X'), consent(clock, recipient='+905321110009'), consent(clock, type_='FAX')]
    with pytest.raises(IysApiError) as remote:
        client.add_consents_batch(bad, validate=False)
    assert [(e.index, e.code) for e in remote.value.errors] == [(0, 'H115'), (2, 'H117')]
    with pytest.raises(IysValidationError) as local:
        client.add_consents_batch(bad)
    assert [(e.index, e.code) for e in local.value.errors] == [(0, 'H115'), (2, 'H117')]
    # more than 1000
    many = [consent(clock, recipient=f'u{i}@example.com', type_='EPOSTA') for i in range(1001)]
    sent = client.request_count
    with pytest.raises(IysValidationError) as local:
        client.add_consents_batch(many)
    assert local.value.code == 'H091' and client.request_count == sent
    token = client.get_access_token()
    import json
    resp = sim.handle('POST', '/v2/sps/700001/brands/700001/consents/request', '',
                      {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'},
                      json.dumps(many).encode())
    assert resp.status == 422 and resp.json()['errors'][0]['code'] == 'H091'
    assert len(sim.movements) == 0


def test_v1_add_repeated_is_h178_v2_is_idempotent(client, sim, clock):
    body = consent(clock)
    r1 = client.add_consent(body, idempotent=False)
    with pytest.raises(IysApiError) as ei:
        client.add_consent(body, idempotent=False)
    assert ei.value.code == 'H178'
    clock.advance(5)
    body2 = consent(clock, status='RET')
    a = client.add_consent(body2)
    b = client.add_consent(body2)
    assert a.transaction_id == b.transaction_id != r1.transaction_id
    assert len(sim.movements) == 2


def test_same_second_movements_share_transaction_id(client, sim, clock):
    body = consent(clock, consentDate=to_iys_date(clock.utcnow() - dt.timedelta(seconds=2)))
    r1 = client.add_consent(body)
    r2 = client.add_consent(consent(clock, status='RET'))
    assert r1.transaction_id == r2.transaction_id      # İYS's documented same-second behaviour
    assert len(sim.movements) == 2


def test_foreign_codes_and_non_integer_codes(client, make_client, sim):
    other = make_client(brand_code=999999)
    with pytest.raises(IysApiError) as ei:
        other.get_consent_status(PHONE, 'MESAJ')
    assert ei.value.code == 'H353' and ei.value.http_status == 403
    token = client.get_access_token()
    hdr = {'Authorization': f'Bearer {token}'}
    assert sim.handle('GET', '/sps/abc/brands', '', hdr).json()['errors'][0]['code'] == 'H190'
    assert sim.handle('GET', '/sps/700001/brands/x1/consents/changes', '', hdr).json()['errors'][0]['code'] == 'H191'
    assert sim.handle('GET', '/sps/700009/brands', '', hdr).status == 403
    assert sim.handle('GET', '/sps/700001/brands', '', {}).json()['errors'][0]['code'] == 'H351'
    with pytest.raises(IysValidationError) as ei:
        make_client(brand_code='abc')
    assert ei.value.code == 'H191' and "'abc'" in ei.value.message


# ------------------------------------------------------------------------------------------------
# wire rule: null / "" fields are refused by the simulator as İYS does, and by the client first

@pytest.mark.parametrize('extra,code', [
    ({'retailerCode': None}, 'H085'), ({'retailerCode': ''}, 'H267'), ({'retailerAccess': None}, 'H085'),
    ({'recipientType': None}, 'H116'), ({'recipientType': 'TACIR', 'source': ''}, 'H113'),
    ({'recipientType': 'TACIR', 'consentDate': ''}, 'H112'), ({'recipientType': 'TACIR', 'source': None}, 'H113'),
])
def test_null_or_empty_fields_refused_by_simulator_and_client(client, sim, clock, extra, code):
    body = dict(consent(clock), **extra)
    with pytest.raises(IysApiError) as remote:
        client.add_consent(body, validate=False)
    assert remote.value.code == code and remote.value.http_status == H_CODES[code][0]
    sent = client.request_count
    with pytest.raises(IysValidationError) as local:
        client.add_consent(body)
    assert local.value.code == code and client.request_count == sent
    with pytest.raises(IysValidationError):
        client.add_consents_batch([body])
    assert client.request_count == sent and not sim.movements


def test_h162_from_clock_drift_is_retryable(make_client, sim, clock):
    """The HS clock is 3 s ahead of İYS: a consent stamped "now" is refused, then accepted a minute later."""
    client = make_client()
    sim.set_clock_offset(-3)
    body = consent(clock)                               # stamped with the HS clock
    with pytest.raises(IysApiError) as ei:
        client.add_consent(body, idempotent=False)
    err = ei.value
    assert err.code == 'H162' and err.retryable and err.retry_after == 60 and not err.outcome_unknown
    assert 'clock' in err.explain('en')
    clock.advance(err.retry_after)
    assert client.add_consent(body, idempotent=False).transaction_id           # the very same body


def test_clock_skew_tolerance_in_local_validation(make_client, sim, clock):
    """A consent stamped by a machine 3 s ahead: refused locally (retryable) unless clock_skew covers it."""
    import datetime as _dt
    from dataclasses import replace
    client = make_client()
    body = consent(clock, consentDate=to_iys_date(clock.utcnow() + _dt.timedelta(seconds=3)))
    with pytest.raises(IysValidationError) as ei:
        client.add_consent(body)
    assert ei.value.code == 'H162' and ei.value.retryable and ei.value.retry_after == 63
    client.config = replace(client.config, clock_skew=5)
    sim.set_clock_offset(10)                            # İYS's clock is ahead: it accepts
    assert client.add_consent(body).transaction_id
    assert client.add_consents_batch([dict(body, recipient='+905321110077')]).request_id     # batches too
