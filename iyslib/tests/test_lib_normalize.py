"""Tests of iyslib.normalize: phone and e-mail normalisation, including property tests."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iyslib.errors import IysValidationError
from iyslib.normalize import (
    is_valid_email,
    is_valid_phone,
    normalize_email,
    normalize_phone,
    normalize_recipient,
)


@pytest.mark.parametrize('raw', [
    '0532 111 22 33', '905321112233', '+90 532 111 22 33', '5321112233', '(0532) 111-22-33',
    '00905321112233', '+905321112233', ' +90-532-111-22-33 ', '0532.111.22.33', 5321112233,
])
def test_phone_accepts_common_spellings(raw):
    assert normalize_phone(raw) == '+905321112233'


def test_phone_landline_and_foreign():
    assert normalize_phone('0212 222 33 44') == '+902122223344'
    assert normalize_phone('+49 151 12345678') == '+4915112345678'


@pytest.mark.parametrize('raw', ['+9005321112233', '+90 0532 111 22 33', '0090 0532 111 22 33'])
def test_phone_rejects_plus_90_zero(raw):
    with pytest.raises(IysValidationError) as ei:
        normalize_phone(raw)
    assert ei.value.code == 'H121'
    assert '+90 0' in ei.value.message
    assert ei.value.value == raw


@pytest.mark.parametrize('raw', ['0532 111 22 3', '1', 'abc', '0532 FLOWERS', '+90532111223',
                                 '05321112233 ext 12', '+', '0000000000', '++905321112233'])
def test_phone_rejects_invalid(raw):
    with pytest.raises(IysValidationError) as ei:
        normalize_phone(raw)
    assert ei.value.code == 'H121'
    assert repr(raw)[:20] in ei.value.message  # names the value


def test_phone_too_long_is_h160():
    with pytest.raises(IysValidationError) as ei:
        normalize_phone('+0554321323223333333333')
    assert ei.value.code == 'H160'


def test_phone_empty_and_wrong_type():
    with pytest.raises(IysValidationError) as ei:
        normalize_phone('   ')
    assert ei.value.code == 'H114'
    with pytest.raises(IysValidationError) as ei:
        normalize_phone(None)
    assert ei.value.code == 'H121'


@pytest.mark.parametrize('raw,expected', [
    (' Ali.Veli@Example.COM ', 'ali.veli@example.com'),
    ('a+label@ornek.com.tr', 'a+label@ornek.com.tr'),
    ('x@xx.xx', 'x@xx.xx'),
    ('first_last-1@sub.example.org', 'first_last-1@sub.example.org'),
])
def test_email_accepts(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize('raw,reason', [
    ('ali@örnek.com', 'ASCII'), ('çağrı@example.com', 'ASCII'), ('ali veli@example.com', 'boşluk'),
    ('a@b.c', 'uzunluğu'), ('ali!@example.com', 'yalnızca'), ('ali#x@example.com', 'yalnızca'),
    ('.ali@example.com', 'yalnızca'), ('ali..veli@example.com', 'yalnızca'), ('ali@example', 'alan adı'),
    ('ali@@example.com', '@'), ('ali.example.com', '@'), ('ali@-example.com', 'alan adı'),
    ('a' * 260 + '@example.com', 'uzunluğu'), ('"ali"@example.com', 'yalnızca'),
])
def test_email_rejects_with_reason(raw, reason):
    with pytest.raises(IysValidationError) as ei:
        normalize_email(raw)
    assert ei.value.code == 'H120'
    assert reason in ei.value.message
    assert ei.value.detail_en and 'invalid' in ei.value.detail_en


def test_recipient_dispatch_and_mismatch():
    assert normalize_recipient('MESAJ', '0532 111 22 33') == '+905321112233'
    assert normalize_recipient('ARAMA', '+905321112233') == '+905321112233'
    assert normalize_recipient('EPOSTA', 'A@Example.com') == 'a@example.com'
    with pytest.raises(IysValidationError) as ei:
        normalize_recipient('MESAJ', 'a@example.com')
    assert ei.value.code == 'H464'
    with pytest.raises(IysValidationError) as ei:
        normalize_recipient('EPOSTA', '+905321112233')
    assert ei.value.code == 'H464'
    with pytest.raises(IysValidationError) as ei:
        normalize_recipient('EPOSTA', 'not-an-email')
    assert ei.value.code == 'H120'
    with pytest.raises(IysValidationError) as ei:
        normalize_recipient('FAX', '+905321112233')
    assert ei.value.code == 'H117'
    with pytest.raises(IysValidationError) as ei:
        normalize_recipient('MESAJ', '')
    assert ei.value.code == 'H114'


def test_helpers():
    assert is_valid_phone('05321112233') and not is_valid_phone('123')
    assert is_valid_email('a@example.com') and not is_valid_email('a@b')


# ---------------------------------------------------------------------------- property tests

_phone_chars = st.sampled_from(list('0123456789 +-().') + ['9', '0', '5'])
phoneish = st.one_of(
    st.text(alphabet=_phone_chars, max_size=22),
    st.builds(lambda a, b: f'+90{a}{b:07d}', st.sampled_from(['530', '532', '542', '555', '212', '216', '312']),
              st.integers(0, 9999999)),
    st.builds(lambda a, b: f'0{a} {b:07d}', st.sampled_from(['532', '505', '544', '232']), st.integers(0, 9999999)),
    st.text(max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(phoneish)
def test_property_phone_normalizes_or_raises_clean(value):
    try:
        out = normalize_phone(value)
    except IysValidationError as exc:
        assert exc.code in ('H121', 'H160', 'H114')
        assert exc.message and len(exc.message) > 10
        return
    assert out.startswith('+') and out[1:].isdigit() and len(out) <= 15
    assert not out.startswith('+900')
    assert normalize_phone(out) == out  # idempotent


_local = st.text(alphabet=st.sampled_from(list('abcXYZ019._+-!#çğ ')), min_size=1, max_size=12)
_domain = st.sampled_from(['example.com', 'Ornek.COM.tr', 'x.io', 'örnek.com', 'a', 'mail.example', 'sub.-x.com',
                           'iys.org.tr'])
emailish = st.one_of(st.builds(lambda a, b: f'{a}@{b}', _local, _domain), st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(emailish)
def test_property_email_normalizes_or_raises_clean(value):
    try:
        out = normalize_email(value)
    except IysValidationError as exc:
        assert exc.code in ('H120', 'H114')
        assert exc.message and len(exc.message) > 10
        return
    assert out == out.strip().lower() and out.isascii() and ' ' not in out
    assert 6 <= len(out) <= 265 and out.count('@') == 1
    assert normalize_email(out) == out  # idempotent


@pytest.mark.parametrize('raw', ['9005321112233', '90 0532 111 22 33', '+9005321112233', '009005321112233'])
def test_plus_90_zero_is_refused_with_or_without_the_plus(raw):
    with pytest.raises(IysValidationError) as ei:
        normalize_phone(raw)
    assert ei.value.code == 'H121' and '+90 0' in ei.value.message


@pytest.mark.parametrize('raw', [
    '+90\u2009532 111 22 33', '+90\u202f532\u202f111\u202f22\u202f33', '+90\u00a0532\u00a0111\u00a022\u00a033',
    '0532\u2013111\u201322\u201333', '0532\u2212111\u221222\u221233', '\u200e+905321112233', '+905321112233\u200f',
    '\u202a0532 111 22 33\u202c', '\ufeff05321112233',
])
def test_phone_tolerates_unicode_spaces_dashes_and_direction_marks(raw):
    assert normalize_phone(raw) == '+905321112233'
    with pytest.raises(IysValidationError):
        normalize_phone(raw, strict=True)                 # the wire form stays exact E.164


def test_email_length_limit_is_254():
    from iyslib.normalize import EMAIL_MAX_LEN, IYS_EMAIL_MAX_LEN
    assert (EMAIL_MAX_LEN, IYS_EMAIL_MAX_LEN) == (254, 265)

    def address(n):
        head = 'a' * 60 + '@' + ('b' * 60 + '.') * 3
        return head + 'x' * (n - len(head) - 3) + '.co'
    assert normalize_email(address(254)) == address(254)
    for n in (255, 265):
        with pytest.raises(IysValidationError) as ei:
            normalize_email(address(n))
        assert ei.value.code == 'H120' and '254' in ei.value.detail_en and 'syntax' not in ei.value.detail_en


def test_email_punycode_domain_is_kept_ascii():
    assert normalize_email('Ali@XN--rnek-zra.com') == 'ali@xn--rnek-zra.com'
    assert normalize_email('ali@xn--rnek-zra.com') == 'ali@xn--rnek-zra.com'


def _outcome(value):
    try:
        return normalize_phone(value)
    except IysValidationError as exc:
        return exc.code, str(exc)


def test_fast_turkish_path_gives_phonenumbers_answers(monkeypatch):
    """The shortcut for the usual Turkish spellings agrees with phonenumbers' full parse on every
    shape, prefix and length around them, valid or not (seeded random sample)."""
    import random

    import iyslib.normalize as normalize

    rng = random.Random(6563)
    samples = []
    for _ in range(20000):
        national = str(rng.randint(1, 9)) + ''.join(rng.choice('0123456789') for _ in range(rng.choice((8, 9, 9, 10))))
        prefix = rng.choice(('', '0', '90', '+90', '0090', '+900', '00', '+', '9', '+9'))
        text = prefix + national
        if rng.random() < 0.3:
            text = ' '.join(text[i:i + 3] for i in range(0, len(text), 3))
        samples.append(text)
    samples += ['05321112233', '+90 532 111 22 33', '(0532) 111-22-33', '905321112233', '00905321112233',
                '5321112233', '02125551234', '4441234', '904441234', '08501234567', '09001234567',
                '+90532111223', '+9053211122334', '90532111223', '0532 111 22 33 x12', '٠٥٣٢١١١٢٢٣٣']
    fast = [_outcome(text) for text in samples]
    monkeypatch.setattr(normalize, '_fast_turkish_e164', lambda digits: None)
    slow = [_outcome(text) for text in samples]
    assert fast == slow
    assert sum(1 for item in fast if isinstance(item, str)) > 1000  # the sample holds valid numbers too


def test_fast_turkish_validity_is_phonenumbers():
    """The validity check of the shortcut gives phonenumbers' ``is_valid_number`` for every 4-digit
    prefix of the ranges it is used for, and for other lengths and first digits (seeded sample)."""
    import random

    import phonenumbers

    from iyslib.normalize import _is_valid_turkish_national

    rng = random.Random(16)
    nationals = [f'{prefix}{rng.randrange(10 ** 6):06d}' for prefix in range(2000, 6000) for _ in range(3)]
    nationals += [str(rng.randint(1, 9)) + ''.join(rng.choice('0123456789') for _ in range(length - 1))
                  for length in (6, 7, 8, 9, 11, 12, 13, 14) for _ in range(1000)]
    nationals += ['5321112233', '2125551234', '4441234', '8501234567', '9001234567', '5922111234', '5121234567']
    fast = [_is_valid_turkish_national(national) for national in nationals]
    slow = [phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=90, national_number=int(national)))
            for national in nationals]
    assert fast == slow
    assert 1000 < sum(fast) < len(fast)  # valid and invalid numbers are in the sample


def _email_outcome(value):
    try:
        return normalize_email(value)
    except IysValidationError as exc:
        return exc.code, str(exc), exc.detail_en


def test_email_shortcut_gives_the_same_answers(monkeypatch):
    """Reusing email-validator's verdict on a domain gives, for every address, what validating the
    whole address gives (seeded random sample around the limits, valid or not)."""
    import random

    import iyslib.normalize as normalize

    rng = random.Random(6563)
    # domains email-validator refuses although they look fine (special-use names, broken IDNA,
    # "ab--"), domains it accepts, and malformed ones
    domains = ['gmail.com', 'firma.com.tr', 'xn--rnek-zoa.com', 'localhost', 'a.b', 'ex-ample.co', 'sub.x.io',
               'test', 'example.invalid', 'my.local', 'x.onion', 'a.test', 'ab--cd.com', 'xn--zz.com',
               'x' * 63 + '.com', 'x' * 64 + '.com', '1.2.3.4', 'a.123', 'arpa', 'in-addr.arpa', 'gmail.com.',
               '-bad.com', 'ok-.com', 'xn--a.com']
    samples = []
    for _ in range(6000):
        length = rng.choice((1, 2, 5, 20, 63, 64, 65, 70))
        if rng.random() < 0.7:  # a well-formed local part
            local = rng.choice('abz09') + ''.join(rng.choice('abcxyz0189_+-') for _ in range(length - 1))
        else:
            local = ''.join(rng.choice('abcxyz0189._+-') for _ in range(length))
        samples.append(local + '@' + rng.choice(domains))
    samples += ['ayse.yilmaz@gmail.com', 'a' * 64 + '@gmail.com', 'a' * 65 + '@gmail.com', 'Ayse@Gmail.COM',
                'a..b@gmail.com', '.a@gmail.com', 'a.@gmail.com', 'a@' + 'b' * 250 + '.com']
    normalize._ascii_domain.cache_clear()
    fast = [_email_outcome(text) for text in samples]
    monkeypatch.setattr(normalize, '_ascii_domain', lambda domain: None)
    slow = [_email_outcome(text) for text in samples]
    assert fast == slow
    assert sum(1 for item in fast if isinstance(item, str)) > 1000  # valid addresses are in the sample
    refused_domains = {text.split('@')[1] for text, item in zip(samples, fast, strict=True)
                       if not isinstance(item, str) and 'special-use' in item[2]}
    assert {'my.local', 'example.invalid', 'x.onion'} <= refused_domains


def test_broken_idna_domain_is_h120_not_a_crash():
    # email-validator lets the codec's UnicodeError through for an undecodable xn-- label
    with pytest.raises(IysValidationError) as ei:
        normalize_email('ayse@xn--zz.com')
    assert ei.value.code == 'H120'
