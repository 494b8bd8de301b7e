"""Tests of iyslib.rules: every İYS consent rule, with the H-code İYS would answer."""
import datetime as dt

import pytest

from iyslib.dates import from_local
from iyslib.errors import IysValidationError
from iyslib.rules import (
    CurrentState,
    validate_batch,
    validate_body,
    validate_consent,
    validate_fields,
    validate_transition,
)

NOW = dt.datetime(2026, 11, 23, 9, 0, 0)       # Monday 12:00 Turkish time
RECENT = dt.datetime(2026, 11, 23, 7, 0, 0)    # Monday 10:00 Turkish time
PHONE = '+905321112233'


def code_of(fn, *a, **kw):
    with pytest.raises(IysValidationError) as ei:
        fn(*a, **kw)
    return ei.value


def vc(**kw):
    args = {'recipient': '0532 111 22 33', 'type_': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
            'consent_date': RECENT, 'recipient_type': 'BIREYSEL', 'now': NOW}
    args.update(kw)
    return validate_consent(**args)


def test_valid_body_is_exact_and_omits_optionals():
    body = vc()
    assert body == {'recipient': PHONE, 'type': 'MESAJ', 'source': 'HS_WEB', 'status': 'ONAY',
                    'consentDate': '2026-11-23 10:00:00', 'recipientType': 'BIREYSEL'}
    assert '' not in body.values() and None not in body.values()
    body = vc(retailer_code=12345678, retailer_access=[11111111, 22222222])
    assert body['retailerCode'] == 12345678 and body['retailerAccess'] == [11111111, 22222222]


def test_accepts_iys_string_and_aware_dates():
    assert vc(consent_date='2026-11-23 10:00:00')['consentDate'] == '2026-11-23 10:00:00'
    aware = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert vc(consent_date=aware)['consentDate'] == '2026-11-23 10:00:00'


@pytest.mark.parametrize('kw,code,needle', [
    ({'status': None}, 'H110', 'status'),
    ({'type_': None}, 'H111', 'type'),
    ({'consent_date': None}, 'H112', 'consentDate'),
    ({'source': None}, 'H113', 'source'),
    ({'recipient': None}, 'H114', 'recipient'),
    ({'status': 'BEKLIYOR'}, 'H115', "'BEKLIYOR'"),
    ({'recipient_type': 'KURUMSAL'}, 'H116', "'KURUMSAL'"),
    ({'type_': 'FAX'}, 'H117', "'FAX'"),
    ({'source': 'HS_MAGAZA'}, 'H119', "'HS_MAGAZA'"),
    ({'source': 'IYS_MOBIL'}, 'H119', 'yalnızca İYS'),
    ({'type_': 'EPOSTA', 'recipient': 'ali@örnek.com'}, 'H120', 'ASCII'),
    ({'recipient': '+9005321112233'}, 'H121', '+90 0'),
    ({'recipient': '+0554321323223333333333'}, 'H160', '15'),
    ({'recipient': 'ali@example.com'}, 'H464', 'MESAJ'),
    ({'type_': 'EPOSTA', 'recipient': '05321112233'}, 'H464', 'EPOSTA'),
    ({'source': 'HS_KARAR', 'status': 'ONAY'}, 'H408', 'HS_KARAR'),
    ({'source': 'HS_2015', 'consent_date': '2015-05-01 00:00:01'}, 'H155', '2015-05-01 00:00:01'),
    ({'source': 'HS_2015', 'consent_date': '2014-01-01 00:00:00'}, 'H155', '2014-01-01'),
    ({'consent_date': '2015-04-30 23:59:59'}, 'H156', '2015-04-30 23:59:59'),
    ({'consent_date': '2026-11-23 12:00:01'}, 'H162', '2026-11-23 12:00:01'),
    ({'consent_date': '2026-11-17 23:59:59'}, 'H467', '2026-11-17 23:59:59'),
    ({'consent_date': '2026-11-23T10:00:00'}, 'H158', '2026-11-23T10:00:00'),
    ({'consent_date': '2026-02-30 10:00:00'}, 'H157', '2026-02-30'),
    ({'retailer_code': ''}, 'H267', 'retailerCode'),
    ({'retailer_code': 'abc'}, 'H085', "'abc'"),
    ({'retailer_access': []}, 'H163', 'retailerAccess'),
    ({'retailer_access': list(range(1, 102))}, 'H126', '101'),
    ({'retailer_access': [11111111, 11111111]}, 'H193', '11111111'),
])
def test_field_rules(kw, code, needle):
    err = code_of(vc, **kw)
    assert err.code == code, (err.code, err.message)
    assert needle in err.message
    assert err.retryable is (code == 'H162') and err.http_status is None     # 1 s ahead: clock drift


def test_hs_2015_exact_date_is_accepted_without_deadline():
    body = vc(source='HS_2015', consent_date='2015-05-01 00:00:00')
    assert body['consentDate'] == '2015-05-01 00:00:00'


def test_deadline_boundary_and_switch():
    # NOW is Monday 23 Nov noon.  A consent of Wed 18 Nov counts Thu, Fri, Mon: still fine today.
    # One of Tue 17 Nov counts Wed, Thu, Fri: it lapsed on Saturday 00:00.
    assert vc(consent_date='2026-11-18 00:00:00')['status'] == 'ONAY'
    assert code_of(vc, consent_date='2026-11-17 23:59:59').code == 'H467'
    assert vc(consent_date='2026-11-17 10:00:00', check_deadline=False)['consentDate'] == '2026-11-17 10:00:00'
    # at exactly the lapse instant (Tue 24 Nov 00:00 local for the Wednesday consent) it is refused
    late_now = from_local(dt.datetime(2026, 11, 24, 0, 0, 0))
    assert code_of(vc, consent_date='2026-11-18 00:00:00', now=late_now).code == 'H467'
    assert vc(consent_date='2026-11-18 00:00:00', now=late_now - dt.timedelta(seconds=1))


def test_future_tolerance():
    future = NOW + dt.timedelta(seconds=20)
    assert code_of(vc, consent_date=future).code == 'H162'
    assert vc(consent_date=future, clock_skew=30)['consentDate'] == '2026-11-23 12:00:20'


def test_transitions():
    onay = CurrentState('ONAY', dt.datetime(2026, 11, 23, 6, 0), 'HS_WEB')
    ret = CurrentState('RET', dt.datetime(2026, 11, 23, 6, 0), 'IYS_MOBIL')
    # H175: first record RET; HS_KARAR on a first record
    e = code_of(vc, status='RET')
    assert e.code == 'H175'
    e = code_of(vc, status='RET', source='HS_KARAR')
    assert e.code == 'H175' and 'HS_KARAR' in e.message
    # ONAY -> RET newer: fine; HS_KARAR RET over ONAY fine
    assert vc(status='RET', previous=onay)['status'] == 'RET'
    assert vc(status='RET', source='HS_KARAR', previous=onay)['source'] == 'HS_KARAR'
    # H174: RET over RET
    assert code_of(vc, status='RET', previous=ret).code == 'H174'
    # ONAY over ONAY with a newer date: accepted since 1.1.0
    assert vc(previous=onay)['status'] == 'ONAY'
    # RET -> ONAY newer: accepted
    assert vc(previous=ret)['status'] == 'ONAY'
    # H178: equal or older date
    e = code_of(vc, previous=onay, consent_date=dt.datetime(2026, 11, 23, 6, 0))
    assert e.code == 'H178' and '2026-11-23 09:00:00' in e.message
    assert code_of(vc, previous=onay, consent_date=dt.datetime(2026, 11, 23, 5, 59)).code == 'H178'
    # previous given with an İYS string date
    st = CurrentState('ONAY', '2026-11-23 09:00:00', 'HS_WEB')
    assert st.consent_date == dt.datetime(2026, 11, 23, 6, 0)


def test_tacir_first_record_optional_fields_and_update_requirements():
    body = vc(recipient_type='TACIR', source=None, consent_date=None)
    assert body == {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'recipientType': 'TACIR'}
    prev = CurrentState('ONAY', None, None)
    assert code_of(vc, recipient_type='TACIR', consent_date=None, previous=prev).code == 'H462'
    assert code_of(vc, recipient_type='TACIR', source=None, previous=prev).code == 'H463'
    assert vc(recipient_type='TACIR', previous=prev, status='RET')['status'] == 'RET'
    # BIREYSEL still needs both on the first record
    assert code_of(vc, source=None).code == 'H113'


def test_validate_transition_alone():
    assert validate_transition(None, 'ONAY', RECENT, 'HS_WEB') is None
    assert code_of(validate_transition, None, 'RET', RECENT, 'HS_WEB').code == 'H175'
    prev = CurrentState('RET', RECENT, 'HS_WEB')
    assert code_of(validate_transition, prev, 'RET', RECENT + dt.timedelta(hours=1), 'HS_WEB').code == 'H174'
    assert code_of(validate_transition, prev, 'ONAY', '2026-11-23 10:00:00', 'HS_WEB').code == 'H178'


def test_validate_fields_does_not_check_state():
    assert validate_fields('05321112233', 'MESAJ', 'RET', 'HS_WEB', RECENT, now=NOW)['status'] == 'RET'


def test_validate_body_unknown_field_h118():
    body = {'recipient': PHONE, 'type': 'MESAJ', 'source': 'HS_WEB', 'status': 'ONAY',
            'consentDate': '2026-11-23 10:00:00', 'recipientType': 'BIREYSEL', 'channel': 'x'}
    e = code_of(validate_body, body, now=NOW)
    assert e.code == 'H118' and "'channel'" in e.message
    del body['channel']
    assert validate_body(body, now=NOW) == body
    # recipientType defaults to BIREYSEL when left out
    del body['recipientType']
    assert validate_body(body, now=NOW)['recipientType'] == 'BIREYSEL'
    assert code_of(validate_body, ['not', 'a', 'dict'], now=NOW).code == 'H085'


def _item(i, **kw):
    item = {'recipient': f'+90532111{i:04d}', 'type': 'MESAJ', 'source': 'HS_WEB', 'status': 'ONAY',
            'consentDate': '2026-11-23 10:00:00', 'recipientType': 'BIREYSEL'}
    item.update(kw)
    return item


def test_validate_batch_per_index_errors_and_duplicates():
    items = [_item(1), _item(2, status='X'), _item(3), {**_item(1), 'recipient': '0532 111 00 01'},
             _item(1, type='ARAMA'), _item(4, recipientType='TACIR')]
    res = validate_batch(items, now=NOW)
    assert not res.ok
    assert [(e.index, e.code) for e in res.errors] == [(1, 'H115'), (3, 'H194')]
    assert res.bodies[0]['recipient'] == '+905321110001' and res.bodies[1] is None and res.bodies[3] is None
    assert len(res.valid_bodies) == 4
    with pytest.raises(IysValidationError) as ei:
        res.raise_for_errors()
    assert ei.value.index == 1 and len(ei.value.errors) == 2


def test_validate_batch_limits():
    assert code_of(validate_batch, [_item(i) for i in range(1001)], now=NOW).code == 'H091'
    assert validate_batch([_item(i) for i in range(1000)], now=NOW).ok
    assert code_of(validate_batch, [], now=NOW).code == 'H092'


def test_validate_batch_accepts_snake_case_items():
    res = validate_batch([{'recipient': '05321112233', 'type_': 'MESAJ', 'status': 'ONAY', 'source': 'HS_WEB',
                           'consent_date': RECENT}], now=NOW)
    assert res.ok and res.bodies[0]['consentDate'] == '2026-11-23 10:00:00'


# ------------------------------------------------------------------------------------------------
# wire bodies: a key sent as null or "" is refused like İYS does; only a missing key means "absent"

WIRE = {'recipient': PHONE, 'type': 'MESAJ', 'source': 'HS_WEB', 'status': 'ONAY',
        'consentDate': '2026-11-23 10:00:00', 'recipientType': 'BIREYSEL'}


@pytest.mark.parametrize('field,value,code', [
    ('recipient', None, 'H114'), ('recipient', '', 'H114'), ('type', None, 'H111'), ('type', '', 'H111'),
    ('status', None, 'H110'), ('status', '', 'H110'), ('recipientType', None, 'H116'), ('recipientType', '', 'H116'),
    ('retailerCode', None, 'H085'), ('retailerCode', '', 'H267'), ('retailerAccess', None, 'H085'),
    ('retailerAccess', '', 'H085'),
])
@pytest.mark.parametrize('strict', [True, False])
def test_wire_body_null_or_empty_is_refused(field, value, code, strict):
    e = code_of(validate_body, dict(WIRE, **{field: value}), now=NOW, strict=strict)
    assert e.code == code and e.location == [field]
    if field in ('recipientType', 'retailerCode', 'retailerAccess'):        # optional: leave the key out
        assert field not in validate_body(WIRE, now=NOW, strict=strict) or field == 'recipientType'


@pytest.mark.parametrize('field,value,code', [('source', None, 'H113'), ('source', '', 'H113'),
                                              ('consentDate', None, 'H112'), ('consentDate', '', 'H112')])
def test_wire_body_tacir_optional_fields_must_be_left_out(field, value, code):
    tacir = dict(WIRE, recipientType='TACIR')
    assert code_of(validate_body, dict(tacir, **{field: value}), now=NOW).code == code
    left_out = {k: v for k, v in tacir.items() if k != field}
    assert field not in validate_body(left_out, now=NOW)          # a missing key is fine on a first record


def test_keyword_style_dicts_and_validate_consent_keep_none_as_absent():
    # validate_consent(...) kwargs: None means "not given" (the Odoo layer relies on it)
    assert vc(recipient_type='TACIR', source=None, consent_date=None, retailer_code=None,
              retailer_access=None) == {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY', 'recipientType': 'TACIR'}
    # a dict spelled with the keyword names is keyword arguments, not a wire body
    kw = {'recipient': PHONE, 'type_': 'MESAJ', 'status': 'ONAY', 'source': None, 'consent_date': None,
          'recipient_type': 'TACIR', 'retailer_code': None}
    assert validate_body(kw, now=NOW, strict=False) == {'recipient': PHONE, 'type': 'MESAJ', 'status': 'ONAY',
                                                        'recipientType': 'TACIR'}
    assert code_of(validate_body, kw, now=NOW).code == 'H118'     # strict (simulator): wire names only


def test_current_state_needs_a_datetime():
    from iyslib.rules import CurrentState as CS
    e = code_of(CS, 'ONAY', dt.date(2026, 11, 23))
    assert e.code == 'H158' and 'date' in e.detail_en
    assert code_of(CS, 'ONAY', 1700000000).code == 'H158'
    assert CS('ONAY', dt.datetime(2026, 11, 23, 6, 0)).consent_date == dt.datetime(2026, 11, 23, 6, 0)


def test_future_date_from_clock_drift_is_retryable_locally():
    e = code_of(vc, consent_date=NOW + dt.timedelta(seconds=20))
    assert e.code == 'H162' and e.retryable and e.retry_after == 80.0          # the drift + 60 s
    e = code_of(vc, consent_date=NOW + dt.timedelta(seconds=20), clock_skew=5)
    assert e.retryable and e.retry_after == 75.0
    e = code_of(vc, consent_date=NOW + dt.timedelta(hours=1))                  # a data error, not drift
    assert e.code == 'H162' and not e.retryable and e.retry_after is None


# --- recipient_normalized: an importer that normalised the address when reading the file ---------
def test_recipient_normalized_skips_a_second_normalisation(monkeypatch):
    import iyslib.rules as rules

    calls = []
    real = rules.normalize_recipient
    monkeypatch.setattr(rules, 'normalize_recipient', lambda *a, **kw: calls.append(a) or real(*a, **kw))
    body = vc(recipient=PHONE, recipient_normalized=True)
    assert body['recipient'] == PHONE and calls == []
    body = vc(recipient='ayse@example.com', type_='EPOSTA', recipient_normalized=True)
    assert body['recipient'] == 'ayse@example.com' and calls == []
    # without the flag the library normalises, as before
    assert vc(recipient=PHONE)['recipient'] == PHONE and len(calls) == 1


@pytest.mark.parametrize('type_, recipient, expected', [
    ('MESAJ', '0532 111 22 33', PHONE),               # not the normalised shape: normalised anyway
    ('ARAMA', '905321112233', PHONE),
    ('EPOSTA', ' Ayse@Example.com ', 'ayse@example.com'),
])
def test_recipient_normalized_still_normalises_another_shape(type_, recipient, expected):
    assert vc(recipient=recipient, type_=type_, recipient_normalized=True)['recipient'] == expected


@pytest.mark.parametrize('type_, recipient, code', [
    ('MESAJ', '0532 12', 'H121'),                     # a wrong shape is checked in full
    ('EPOSTA', 'çiğdem@örnek.com', 'H120'),
    ('EPOSTA', PHONE, 'H464'),                          # a phone number given for EPOSTA
    ('MESAJ', 'ayse@example.com', 'H464'),
])
def test_recipient_normalized_does_not_let_a_wrong_address_through(type_, recipient, code):
    assert code_of(vc, recipient=recipient, type_=type_, recipient_normalized=True).code == code


def test_recipient_normalized_gives_the_same_answers():
    previous = CurrentState('ONAY', RECENT - dt.timedelta(hours=1), 'HS_WEB')
    for kw in ({}, {'status': 'RET'}, {'previous': previous}, {'previous': previous, 'consent_date': RECENT
               - dt.timedelta(hours=2)}, {'consent_date': NOW + dt.timedelta(days=1)},
               {'consent_date': RECENT - dt.timedelta(days=10)}, {'source': 'HS_KARAR'}):
        outcomes = []
        for flag in (False, True):
            try:
                outcomes.append(vc(recipient=PHONE, recipient_normalized=flag, **kw))
            except IysValidationError as exc:
                outcomes.append((exc.code, str(exc)))
        assert outcomes[0] == outcomes[1], kw
