"""Tests of iyslib.errors: the H-code table, explanations, parsing and retry semantics."""
import json
import logging
import re

import pytest

from iyslib import errors as E

DOC_CODES = (
    'H001 H014 H015 H016 H017 H018 H031 H058 H060 H061 H062 H067 H082 H083 H084 H085 H086 H089 H090 H091 H092 '
    'H093 H095 H097 H098 H100 H101 H102 H103 H105 H106 H107 H110 H111 H112 H113 H114 H115 H116 H117 H118 H119 '
    'H120 H121 H122 H123 H124 H125 H126 H127 H129 H155 H156 H157 H158 H160 H166 H162 H163 H164 H168 H169 H170 '
    'H171 H172 H173 H174 H175 H176 H178 H179 H180 H181 H182 H183 H184 H185 H186 H187 H190 H191 H192 H193 H194 '
    'H195 H196 H197 H404 H198 H199 H400 H201 H214 H215 H216 H217 H218 H219 H220 H221 H222 H223 H224 H225 H226 '
    'H227 H228 H229 H230 H231 H243 H244 H253 H288 H241 H245 H250 H252 H251 H266 H267 H268 H351 H353 H355 H363 '
    'H401 H402 H403 H405 H408 H412 H437 H450 H451 H452 H453 H454 H455 H456 H457 H458 H459 H460 H462 H463 H464 '
    'H465 H467 H470 H476 H478 H486 H501 H502 H506 H507 H512 H520 H521 H522 H524 H525 H530 H531 H568 H586'
).split()


def test_table_covers_every_documented_code_with_real_texts():
    missing = [c for c in DOC_CODES if c not in E.H_CODES]
    assert not missing
    for code, (status, en, tr, rc) in E.H_CODES.items():
        assert re.fullmatch(r'H\d{3}', code)
        assert status is None or 200 <= status < 600
        assert rc in ('Y', 'W', 'N'), code
        assert len(en) > 15 and len(tr) > 15, code
        assert en != tr, code


@pytest.mark.parametrize('code,rc', [
    ('H015', 'Y'), ('H101', 'Y'), ('H102', 'Y'), ('H103', 'Y'), ('H123', 'Y'), ('H179', 'Y'), ('H192', 'Y'),
    ('H412', 'Y'), ('H470', 'Y'), ('H083', 'W'), ('H084', 'W'), ('H086', 'W'), ('H089', 'W'), ('H124', 'W'),
    ('H174', 'N'), ('H175', 'N'), ('H178', 'N'), ('H467', 'N'), ('H353', 'N'), ('H351', 'Y'),
])
def test_retry_classes_follow_the_reference(code, rc):
    assert E.retry_class(code) == rc


def test_explain_languages():
    assert 'RET' in E.explain('H174', 'en') and 'RET' in E.explain('H174', 'tr')
    assert 'iş günü' in E.explain('H467', 'tr') and 'business days' in E.explain('H467')
    assert 'H999' in E.explain('H999') and 'H999' in E.explain('H999', 'tr')


def test_error_explain_includes_detail_index_and_wait():
    err = E.IysValidationError('H178', 'İzin tarihi X kayıttakinden sonra olmalı', detail_en='date X must be later',
                               index=3)
    assert err.explain('en').startswith('Item 3: ') and 'date X must be later' in err.explain('en')
    assert err.explain('tr').startswith('Satır 3: ') and 'İzin tarihi X' in err.explain('tr')
    assert err.expected_http_status == 400 and not err.retryable and err.retry_after is None
    rl = E.IysRateLimitError('limit', code='H124', http_status=429)
    assert rl.retryable and rl.retry_after == 1.0 and '1 seconds' in rl.explain()


def _resp(status, body, headers=None):
    return E.error_from_response(status, json.dumps(body).encode(), headers or {}, now=1000.0)


def test_parse_errors_array_with_misspelled_code_key():
    err = _resp(403, {'errors': [{'code:': 'H353', 'message': 'iysCode, kullanıcı izinleriyle eşleştiriliemiyor'}]})
    assert isinstance(err, E.IysApiError) and err.code == 'H353' and err.http_status == 403
    assert not err.retryable


def test_parse_422_with_location_value_index_and_multiple_items():
    body = {'errors': [{'code': 'H121', 'message': 'telefon', 'location': ['recipient'], 'value': '+0553', 'index': 2},
                       {'code': 'H115', 'message': 'status', 'location': ['status'], 'value': 'X', 'index': 4}]}
    err = _resp(422, body)
    assert (err.code, err.index, err.location, err.value) == ('H121', 2, ['recipient'], '+0553')
    assert [e.code for e in err.errors] == ['H121', 'H115'] and err.errors[1].index == 4


def test_parse_invalid_error_for_422_object_shape():
    err = _resp(422, {'errors': {'code': 'H198', 'message': 'uzun', 'location': ['requestId'], 'value': 'x'}})
    assert err.code == 'H198' and err.location == ['requestId']


def test_parse_oauth_shapes():
    err = _resp(400, {'error': 'invalid_grant', 'error_description': 'Invalid user credentials'})
    assert isinstance(err, E.IysAuthError) and err.oauth_error == 'invalid_grant' and err.code is None
    assert 'Invalid user credentials' in err.message and not err.retryable
    err = _resp(401, {'errors': [{'code': 'H251', 'message': 'Kullanıcı kimlik bilgileri geçersiz!'}]})
    assert isinstance(err, E.IysAuthError) and err.code == 'H251'


def test_parse_rate_limits_and_token_lock():
    err = _resp(429, {'errors': [{'code': 'H124', 'message': 'x'}]}, {'Retry-After': '3'})
    assert isinstance(err, E.IysRateLimitError) and err.retryable and err.retry_after == 3.0
    err = _resp(429, {'errors': [{'code': 'H086', 'message': 'x'}]})
    assert isinstance(err, E.IysRateLimitError) and err.retry_after == 300.0
    err = _resp(429, {'errors': [{'code': 'H084', 'message': 'x'}]})
    assert isinstance(err, E.IysTokenLockError) and err.retry_after == 3600.0 and err.lock_until == 4600.0
    assert err.retry_delay(5) == 3600.0  # never shortened, never multiplied


def test_parse_server_errors_and_garbage():
    err = _resp(500, {'errors': [{'code': 'H101', 'message': 'kaydedilemedi'}]})
    assert isinstance(err, E.IysServerError) and err.retryable and err.retry_after == 30.0
    err = E.error_from_response(502, b'<html>Bad gateway</html>', {})
    assert isinstance(err, E.IysServerError) and err.code is None and 'Bad gateway' in err.message
    err = _resp(503, {'errors': [{'code': 'H192', 'message': 'zaman aşımı'}]})
    assert isinstance(err, E.IysServerError)
    err = _resp(400, {'errors': [{'code': 'H123', 'message': 'meşgul'}]})
    assert isinstance(err, E.IysServerError) and err.retryable
    err = _resp(400, {'errors': [{'code': 'H174', 'message': 'RET'}]})
    assert isinstance(err, E.IysApiError) and not err.retryable
    err = E.error_from_response(404, None)
    assert isinstance(err, E.IysApiError) and err.http_status == 404


def test_batch_item_error_shape():
    items = E.parse_error_items({'index': 0, 'status': 'failure', 'error': {'code': 'H175', 'message': 'ilk RET'}})
    assert items[0]['code'] == 'H175'


def test_retry_delay_backoff_is_capped_and_jittered():
    err = E.IysServerError('x', code='H015', http_status=500)
    d1, d2, d9 = err.retry_delay(1, jitter=False), err.retry_delay(2, jitter=False), err.retry_delay(9, jitter=False)
    assert d1 == 30.0 and d2 == 60.0 and d9 == 3600.0
    vals = {round(err.retry_delay(1), 3) for _ in range(20)}
    assert len(vals) > 1 and all(30.0 <= v <= 37.5 for v in vals)
    assert E.IysApiError('x', code='H174').retry_delay(1) is None


def test_transport_error_defaults():
    err = E.IysTransportError('timeout')
    assert err.retryable and err.retry_after == 15.0 and err.code is None
    assert err.to_dict()['type'] == 'IysTransportError'


def test_error_item_shape_and_logging(caplog):
    err = E.IysValidationError('H121', 'Telefon numarası geçersiz', location='recipient', value='+05')
    assert err.location == ['recipient'] and err.to_iys_item() == {
        'code': 'H121', 'message': 'Telefon numarası geçersiz', 'location': ['recipient'], 'value': '+05'}
    with caplog.at_level(logging.INFO):
        logging.getLogger('t').info('%s', err)
    assert 'H121' in caplog.text


def test_star_import_and_all_names_exist():
    import iyslib
    namespace = {}
    exec('from iyslib import *', namespace)          # the point of the test
    missing = [name for name in iyslib.__all__ if name not in namespace]
    assert not missing
    assert namespace['Throttle'] is __import__('iyslib.throttle', fromlist=['Throttle']).Throttle
    for mod in ('client', 'errors', 'masking', 'normalize', 'rules', 'dates', 'throttle', 'contract', 'testing'):
        m = __import__(f'iyslib.{mod}', fromlist=['__all__'])
        assert all(hasattr(m, name) for name in m.__all__), mod


def test_h162_is_retryable_after_a_minute():
    err = _resp(422, {'errors': [{'code': 'H162', 'message': 'ileri tarih'}]})
    assert isinstance(err, E.IysApiError) and not isinstance(err, E.IysRateLimitError)
    assert err.retryable and err.retry_after == 60.0 and E.retry_class('H162') == 'W'


def test_outcome_unknown_error_shape():
    cause = E.IysServerError('x', code='H192', http_status=503)
    err = E.IysOutcomeUnknownError('sent, no answer', code='H192', http_status=503, cause=cause)
    assert isinstance(err, E.IysTransportError) and err.outcome_unknown and not err.retryable
    assert err.retry_after is None and err.retry_delay() is None and err.cause is cause
    assert E.IysTransportError('t').outcome_unknown is False and err.to_dict()['outcome_unknown'] is True


def test_resend_can_succeed_only_where_the_body_is_not_the_cause():
    from iyslib.errors import BODY_CODES, H_CODES, resend_can_succeed

    assert BODY_CODES <= set(H_CODES)
    for code in ('H121', 'H175', 'H174', 'H178', 'H467', 'H120'):
        assert not resend_can_succeed(code), code
    for code in (None, '', 'H251', 'H353', 'H525', 'H194', 'H015'):
        assert resend_can_succeed(code), code
