"""Identity numbers and retailer fields (iyslib.identity), and the simulator's retailer services."""
import random

import pytest

from iyslib.errors import IysApiError, IysValidationError
from iyslib.identity import (
    check_mersis,
    check_mobile,
    check_tckn,
    check_tin,
    example_tckn,
    example_vkn,
    is_valid_tckn,
    is_valid_tin,
    is_valid_vkn,
    retailer_errors,
    tckn_check_digits,
    validate_retailer,
    vkn_check_digit,
)


def _tckn_by_definition(first9):
    """The TCKN check digits written out from the rule, independently of the library's code."""
    d = [int(c) for c in first9]
    odd, even = d[0] + d[2] + d[4] + d[6] + d[8], d[1] + d[3] + d[5] + d[7]
    d10 = ((odd * 7) - even) % 10
    d11 = (sum(d) + d10) % 10
    return first9 + str(d10) + str(d11)


def _vkn_by_definition(first9):
    """GİB's VKN check digit written out step by step."""
    total = 0
    for i in range(9):
        tmp = (int(first9[i]) + (9 - i)) % 10
        value = (tmp * (2 ** (9 - i))) % 9
        if tmp != 0 and value == 0:
            value = 9
        total += value
    return first9 + str((10 - (total % 10)) % 10)


#: Numbers that circulate as valid examples (test data, not people).
PUBLISHED_TCKN = ['10000000146', '11111111110']
PUBLISHED_VKN = ['1234567890']

WELL_FORMED = {
    'title': 'Kadıköy Beyaz Eşya Ltd. Şti.', 'name': 'Ayşe Yılmaz', 'tckn': '10000000146', 'tin': '1234567890',
    'city': {'code': 34, 'name': 'İstanbul'}, 'town': {'code': 429, 'name': 'Kadıköy'},
}


@pytest.mark.parametrize('number', PUBLISHED_TCKN)
def test_published_tckn_are_valid(number):
    assert is_valid_tckn(number) and check_tckn(number) == number and is_valid_tin(number)


@pytest.mark.parametrize('number', PUBLISHED_VKN)
def test_published_vkn_are_valid(number):
    assert is_valid_vkn(number) and check_tin(number) == number


def test_computed_numbers_agree_with_the_definition():
    rng = random.Random(13)
    for _ in range(500):
        first9 = str(rng.randint(100000000, 999999999))
        tckn = _tckn_by_definition(first9)
        assert tckn_check_digits(first9) == tckn[9:]
        assert is_valid_tckn(tckn)
        vkn = _vkn_by_definition(f'{rng.randint(0, 999999999):09d}')
        assert vkn_check_digit(vkn[:9]) == vkn[9]
        assert is_valid_vkn(vkn)
        # any other last digit is refused
        for wrong in {str((int(tckn[10]) + k) % 10) for k in range(1, 10)}:
            assert not is_valid_tckn(tckn[:10] + wrong)
        for wrong in {str((int(vkn[9]) + k) % 10) for k in range(1, 10)}:
            assert not is_valid_vkn(vkn[:9] + wrong)
    assert is_valid_tckn(example_tckn(7)) and is_valid_vkn(example_vkn(7))


@pytest.mark.parametrize('value,code', [
    ('', 'H216'), (None, 'H216'), ('1000000014', 'H226'), ('100000001466', 'H226'), ('1000000014a', 'H226'),
    ('١٠٠٠٠٠٠٠١٤٦', 'H226'),       # Arabic-Indic digits are not ASCII digits
    ('01000000146', 'H225'),       # first digit 0
    ('10000000147', 'H225'),       # 11th check digit wrong
    ('10000000156', 'H225'),       # 10th check digit wrong
    ('12345678901', 'H225'),
])
def test_invalid_tckn(value, code):
    with pytest.raises(IysValidationError) as ei:
        check_tckn(value)
    assert ei.value.code == code
    assert ei.value.detail_en and ei.value.message


@pytest.mark.parametrize('value,code', [
    ('', 'H288'), ('12345 6789', 'H243'), ('123456789', 'H244'), ('123456789012', 'H244'),
    ('1234567891', 'H243'),        # VKN check digit wrong
    ('10000000147', 'H243'),       # 11 digits but not a TCKN
])
def test_invalid_tin(value, code):
    with pytest.raises(IysValidationError) as ei:
        check_tin(value)
    assert ei.value.code == code


def test_mersis_and_mobile():
    assert check_mersis('') is None and check_mersis('0123456789012346') == '0123456789012346'
    for value, code in (('012345678901234', 'H228'), ('01234567890123456', 'H228'), ('0123456789O12346', 'H227')):
        with pytest.raises(IysValidationError) as ei:
            check_mersis(value)
        assert ei.value.code == code
    assert check_mobile('0532 111 22 33') == '+905321112233'
    assert check_mobile('+905321112233', strict=True) == '+905321112233'
    for value, strict in (('0532 111 22 33', True), ('12', False), ('+90 0532 111 22 33', False)):
        with pytest.raises(IysValidationError) as ei:
            check_mobile(value, strict=strict)
        assert ei.value.code == 'H224'


def test_retailer_body_is_cleaned():
    body = validate_retailer({**WELL_FORMED, 'mersis': '', 'alias': None, 'mobile': '0532 111 22 33',
                              'status': 'passive'})
    assert body == {**WELL_FORMED, 'city': {'code': '34', 'name': 'İstanbul'},
                    'town': {'code': '429', 'name': 'Kadıköy'}, 'mobile': '+905321112233', 'status': 'passive'}


def test_every_refusal_is_listed_with_its_code():
    _, errors = retailer_errors({'tckn': '10000000147', 'tin': '12', 'city': {'code': 34}, 'town': {'name': 'X'},
                                 'alias': 'a-b', 'status': 'closed', 'colour': 'red'})
    codes = [e.code for e in errors]
    assert codes == ['H016', 'H214', 'H215', 'H225', 'H244', 'H219', 'H221', 'H229', 'H201']
    assert all(e.explain('en') and e.explain('tr') for e in errors)
    _, errors = retailer_errors({**WELL_FORMED, 'city': None, 'town': 'Kadıköy', 'title': 'x' * 256})
    assert [e.code for e in errors] == ['H017', 'H217', 'H220']
    with pytest.raises(IysValidationError) as ei:
        validate_retailer({**WELL_FORMED, 'tin': '', 'tckn': ''})
    assert ei.value.code == 'H216' and [e.code for e in ei.value.errors] == ['H216', 'H288']


# --------------------------------------------------------------------------- simulator as İYS
def _new(sim, n, **kw):
    return sim.add_retailer(700001, {**WELL_FORMED, 'tckn': example_tckn(n), 'title': f'Bayi {n}', **kw})


def test_simulator_refuses_what_the_library_refuses(sim):
    for bad, code in (({'tckn': '10000000147'}, 'H225'), ({'tin': '1234567891'}, 'H243'),
                      ({'mobile': '05321112233'}, 'H224'), ({'mersis': ''}, 'H016'), ({'title': ''}, 'H214'),
                      ({'city': {'code': 34}}, 'H219')):
        with pytest.raises(ValueError) as ei:
            sim.add_retailer(700001, {**WELL_FORMED, **bad})
        assert ei.value.args[0]['errors'][0]['code'] == code, bad
    _new(sim, 1, mersis='0123456789012346')
    for bad, code in (({'tckn': example_tckn(1)}, 'H231'), ({'mersis': '0123456789012346'}, 'H230')):
        with pytest.raises(ValueError) as ei:
            _new(sim, 2, **bad)
        assert ei.value.args[0]['errors'][0]['code'] == code
    _new(sim, 3, status='passive')
    with pytest.raises(ValueError) as ei:
        _new(sim, 3)
    assert ei.value.args[0]['errors'][0]['code'] == 'H253'


def test_simulator_lists_pages_gets_and_deletes(client, sim):
    codes = [_new(sim, n) for n in range(1, 131)]
    _new(sim, 500, status='suspended')
    first = client.list_retailers(offset=0, limit=100)
    assert first['pagination']['totalCount'] == 130 and len(first['list']) == 100
    second = client.list_retailers(offset=100, limit=100)
    assert [r['retailerCode'] for r in first['list'] + second['list']] == codes
    assert client.list_retailers(limit=100, all=True)['pagination']['totalCount'] == 131
    short = client.list_retailers(limit=1, short=True)['list'][0]
    assert 'tckn' not in short and short['retailerCode'] == codes[0]
    with pytest.raises(IysValidationError) as ei:
        client.list_retailers(limit=101)            # refused before sending …
    assert ei.value.code == 'H186'
    with pytest.raises(IysApiError) as ei:          # … as the simulator refuses it
        client._request('GET', client._sps() + '/retailers', params={'limit': 101}, safe_to_retry=True)
    assert ei.value.code == 'H186' and ei.value.http_status == 422
    got = client.get_retailer(codes[5])
    assert got['title'] == 'Bayi 6' and got['tckn'] == example_tckn(6) and got['city'] == {'code': 34,
                                                                                            'name': 'İstanbul'}
    with pytest.raises(IysApiError) as ei:
        client.get_retailer(99999999)
    assert ei.value.code == 'H180'
    client.delete_retailer(codes[0])
    with pytest.raises(IysApiError) as ei:
        client.delete_retailer(codes[0])
    assert ei.value.code == 'H058' and ei.value.http_status == 404


def test_simulator_refuses_to_delete_a_linked_retailer(client, sim, clock):
    from iyslib.dates import to_iys_date
    collected, access, free = _new(sim, 1), _new(sim, 2), _new(sim, 3)
    body = {'recipient': '+905321112233', 'type': 'MESAJ', 'status': 'ONAY', 'source': 'HS_FIZIKSEL_ORTAM',
            'consentDate': to_iys_date(clock.utcnow()), 'recipientType': 'BIREYSEL', 'retailerCode': collected}
    client.add_consent(body)
    client.add_retailer_access('+905321112233', 'MESAJ', 'BIREYSEL', [access])
    for code in (collected, access):
        with pytest.raises(IysApiError) as ei:
            client.delete_retailer(code)
        assert ei.value.http_status == 400
        assert client.get_retailer(code)['retailerCode'] == code
    client.delete_retailer(free)


def test_simulator_info_services(client):
    cities = client.list_cities()
    assert {'code': 34, 'name': 'İstanbul'} in cities
    towns = client.list_towns()
    assert all({'code', 'name', 'city_code'} <= set(t) for t in towns)
    assert any(t['city_code'] == 34 for t in towns)
    assert client.get_city(34) == {'code': 34, 'name': 'İstanbul'}
    assert client.get_city(999) is None
    assert client.get_town(towns[0]['code'])['name'] == towns[0]['name']
    assert client.get_town(999999) is None
