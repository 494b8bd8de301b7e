"""Normalisation of İYS recipients (phone numbers and e-mail addresses).

İYS stores phone numbers in E.164 (``+905321112233``, at most 15 characters) and e-mail addresses
lower-cased.  Normalise before storing and before comparing, so the same person always maps to the
same address.  Every function here is idempotent: normalising a normalised value returns it
unchanged.  Failures raise :class:`~iyslib.errors.IysValidationError` carrying the H-code İYS would
answer (H121 / H160 for phones, H120 for e-mails, H464 for a channel mismatch).
"""
from __future__ import annotations

import functools
import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .const import PHONE_TYPES, TYPES
from .errors import IysValidationError

__all__ = ['normalize_phone', 'normalize_email', 'normalize_recipient', 'looks_like_email', 'is_valid_phone',
           'is_valid_email', 'EMAIL_MAX_LEN', 'IYS_EMAIL_MAX_LEN']

PHONE_MAX_LEN = 15
EMAIL_MIN_LEN = 6
#: İYS documents 265 characters, but an address longer than 254 cannot be used on the Internet
#: (RFC 5321 path limit; email-validator enforces it), so 254 is the limit applied here.
EMAIL_MAX_LEN = 254
#: What İYS's own documentation allows (for reference).
IYS_EMAIL_MAX_LEN = 265
#: RFC 5321: the part before the @ has at most 64 characters.
_LOCAL_PART_MAX = 64
#: How email-validator is asked (syntax only, no DNS; İYS takes neither quoted local parts,
#: literal domains nor non-ASCII addresses).
_EMAIL_VALIDATOR_OPTIONS = {'check_deliverability': False, 'allow_smtputf8': False, 'allow_quoted_local': False,
                            'allow_domain_literal': False}

#: Separators tolerated inside a phone number: spaces of every width (NBSP, thin, narrow no-break,
#: figure …), dashes (hyphen, en/em dash, minus sign), brackets, dots, slashes and the invisible
#: direction / zero-width marks that copy-paste from right-to-left text or spreadsheets leaves.
_PHONE_PUNCT = set(' \t-().\u00a0/'
                   '\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000'
                   '\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d'
                   '\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff')
#: the ASCII separators of _PHONE_PUNCT, for str.translate (deleted)
_ASCII_PUNCT_DELETE = {ord(ch): None for ch in _PHONE_PUNCT if ch.isascii()}
_LOCAL_PART_RE = re.compile(r'^[a-z0-9](?:[a-z0-9._+-]*[a-z0-9_+-])?$|^[a-z0-9]$')
_DOMAIN_RE = re.compile(r'^(?=.{4,255}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$')


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def looks_like_email(value) -> bool:
    """Cheap guess: does *value* look like an e-mail address rather than a phone number?"""
    return isinstance(value, str) and '@' in value


def normalize_phone(value, region: str = 'TR', strict: bool = False) -> str:
    """Return *value* as an E.164 phone number (``+905321112233``).

    Accepted inputs include ``0532 111 22 33``, ``905321112233``, ``+90 532 111 22 33``,
    ``5321112233``, ``(0532) 111-22-33`` and ``00905321112233``.  National numbers are read in
    *region* (default Turkey).  Any kind of space (NBSP, thin U+2009, narrow U+202F …), dash
    (hyphen, en dash, minus sign) and invisible direction mark (LRM/RLM, zero-width) is ignored.

    With ``strict=True`` the input must already be in E.164 form (what İYS itself demands on
    the wire); the simulator uses this.

    Raises IysValidationError:
        H160: the written E.164 number is longer than 15 characters;
        H121: anything else that is not a valid, allocated phone number (letters, extensions, the
        wrong ``+9005…`` / ``009005…`` / ``9005…`` prefix, too short or too long numbers, unknown
        ranges).
    """
    if not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        else:
            raise IysValidationError('H121', f'Telefon numarası metin olmalıdır, alınan: {_short(value)}.',
                                     location=['recipient'], value=None,
                                     detail_en=f'The phone number must be a string, got {_short(value)}.')
    raw = value.strip()
    if not raw:
        raise IysValidationError('H114', 'Alıcı (recipient) boş: telefon numarası girilmelidir.',
                                 location=['recipient'], value=value,
                                 detail_en='The recipient is empty: a phone number is required.')
    digits = raw.translate(_ASCII_PUNCT_DELETE) if raw.isascii() else None
    if not digits or not (digits.isdigit() or (digits[0] == '+' and digits[1:].isdigit())):
        digits = _compact_phone(value, raw)
    if digits.startswith('+') and len(digits) > PHONE_MAX_LEN:
        raise IysValidationError(
            'H160', f'Telefon numarası {_short(value)} 15 karakterden uzun.',
            location=['recipient'], value=value,
            detail_en=f'The phone number {_short(value)} is longer than 15 characters.')
    # The "+90 0…" mistake: İYS stores it as a different (invisible) number; refuse it outright, also
    # without the plus ("9005321112233": the country code, the trunk 0 and ten digits).
    if digits.startswith(('+900', '00900')) or (digits.startswith('900') and len(digits) == 13):
        raise IysValidationError(
            'H121', f'Telefon numarası {_short(value)} hatalı "+90 0" önekiyle yazılmış; ülke kodundan '
                    'sonra 0 gelmemelidir (ör. +905321112233).',
            location=['recipient'], value=value,
            detail_en=f'The phone number {_short(value)} has the wrong "+90 0" prefix; no 0 may follow the '
                      'country code (e.g. +905321112233).')
    e164 = _fast_turkish_e164(digits) if region == 'TR' and not strict else None
    if e164:
        return e164
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        raise IysValidationError(
            'H121', f'Telefon numarası {_short(value)} çözümlenemedi.', location=['recipient'], value=value,
            detail_en=f'The phone number {_short(value)} cannot be parsed ({exc}).') from None
    if not phonenumbers.is_valid_number(num):
        raise IysValidationError(
            'H121', f'Telefon numarası {_short(value)} geçerli ve kullanımda olan bir numara değil.',
            location=['recipient'], value=value,
            detail_en=f'The phone number {_short(value)} is not a valid number in use.')
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) > PHONE_MAX_LEN:
        raise IysValidationError(
            'H160', f'Telefon numarası {_short(value)} E.164 biçiminde 15 karakterden uzun ({e164}).',
            location=['recipient'], value=value,
            detail_en=f'The phone number {_short(value)} is longer than 15 characters in E.164 ({e164}).')
    if strict and value != e164:
        raise IysValidationError(
            'H121', f'Alıcı (recipient) {_short(value)} E.164 uluslararası biçimde olmalıdır (ör. {e164}).',
            location=['recipient'], value=value,
            detail_en=f'The recipient {_short(value)} must be in E.164 international form (e.g. {e164}).')
    return e164


def _compact_phone(value, raw: str) -> str:
    """*raw* without separators, with ASCII digits; H121 on any other character."""
    compact = []
    for ch in raw:
        if ch in _PHONE_PUNCT:
            continue
        if ch == '+' and not compact:
            compact.append('+')
        elif ch.isdecimal():
            compact.append(str(int(ch)))  # also folds non-ASCII digits (e.g. Arabic-Indic) to ASCII
        else:
            raise IysValidationError(
                'H121', f'Telefon numarası {_short(value)} geçersiz karakter içeriyor: {ch!r}.',
                location=['recipient'], value=value,
                detail_en=f'The phone number {_short(value)} contains an invalid character {ch!r}.')
    return ''.join(compact)


def _fast_turkish_e164(digits: str):
    """E.164 of the usual spellings of a Turkish number, without phonenumbers' text parser.

    For ``+90``/``0090``/``90``/``0`` followed by ten digits, or ten digits, whose national part
    starts with 2 to 5 (landlines and mobiles), phonenumbers' ``parse(…, 'TR')`` takes exactly those
    ten digits as the national number; only its validity check (``is_valid_number``) is run here.
    Anything else, or an invalid number, returns None: the caller parses it in full (and words
    the error).  A million-row import reads numbers twice as fast this way.
    """
    length = len(digits)
    if length == 13 and digits.startswith('+90'):
        national = digits[3:]
    elif length == 14 and digits.startswith('0090'):
        national = digits[4:]
    elif length == 12 and digits.startswith('90'):
        national = digits[2:]
    elif length == 11 and digits[0] == '0':
        national = digits[1:]
    elif length == 10:
        national = digits
    else:
        return None
    if national[0] not in '2345' or not _is_valid_turkish_national(national):
        return None
    return '+90' + national


@functools.cache
def _turkish_number_descs():
    """phonenumbers' Turkish metadata as ((lengths, pattern) of the general description,
    [(lengths, pattern) of each number type, mobile and fixed line first]); empty lengths: any."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region('TR')

    def desc(number_desc):
        if number_desc is None or not number_desc.national_number_pattern:
            return None  # phonenumbers: matches nothing
        return frozenset(number_desc.possible_length or ()), re.compile(number_desc.national_number_pattern)

    kinds = [desc(getattr(metadata, name)) for name in (
        'mobile', 'fixed_line', 'premium_rate', 'toll_free', 'shared_cost', 'voip', 'personal_number', 'pager', 'uan',
        'voicemail')]
    return desc(metadata.general_desc), [kind for kind in kinds if kind]


def _is_valid_turkish_national(national: str) -> bool:
    """``phonenumbers.is_valid_number`` of +90 *national* (digits, no leading 0), in a few µs.

    phonenumbers finds the number's *type* by trying a dozen patterns in a fixed order (premium
    rate, toll free … fixed line, mobile) and calls it valid when it has one, after the general
    pattern matched: valid is the general pattern and *any* type's pattern, so they are tried here
    most common first, with the same length and pattern tests (``_is_number_matching_desc``) on
    the same metadata. ``test_fast_turkish_validity_is_phonenumbers`` compares both.
    """
    general, kinds = _turkish_number_descs()
    if general is None:
        return False
    length = len(national)
    lengths, pattern = general
    if (lengths and length not in lengths) or not pattern.fullmatch(national):
        return False
    for lengths, pattern in kinds:
        if (not lengths or length in lengths) and pattern.fullmatch(national):
            return True
    return False


def normalize_email(value) -> str:
    """Return *value* as a trimmed, lower-cased e-mail address that İYS accepts.

    Besides RFC syntax (checked with email-validator, without any DNS look-up) İYS requires:
    ASCII only (no Turkish letters), no spaces, only ``.``, ``-``, ``_`` and ``+`` as special
    characters in the local part, a dotted domain with a letter TLD and 6 to 254 characters.
    İYS documents 265 as its maximum, but addresses above 254 characters cannot be delivered
    (RFC 5321), so they are refused here (:data:`EMAIL_MAX_LEN`).  Punycode (``xn--``) domains are
    kept in their ASCII form.

    Raises IysValidationError H120 with the reason.
    """
    def fail(tr: str, en: str):
        return IysValidationError('H120', f'E-posta adresi {_short(value)} geçersiz: {tr}.',
                                  location=['recipient'], value=value,
                                  detail_en=f'The e-mail address {_short(value)} is invalid: {en}.')

    if not isinstance(value, str):
        raise fail('metin olmalıdır', 'it must be a string')
    addr = value.strip()
    if not addr:
        raise IysValidationError('H114', 'Alıcı (recipient) boş: e-posta adresi girilmelidir.',
                                 location=['recipient'], value=value,
                                 detail_en='The recipient is empty: an e-mail address is required.')
    if not addr.isascii():
        raise fail('Türkçe veya ASCII dışı karakter içeriyor', 'it contains Turkish or other non-ASCII characters')
    if any(ch.isspace() for ch in addr):
        raise fail('boşluk içeriyor', 'it contains spaces')
    addr = addr.lower()
    if not (EMAIL_MIN_LEN <= len(addr) <= EMAIL_MAX_LEN):
        raise fail(f'uzunluğu {EMAIL_MIN_LEN}-{EMAIL_MAX_LEN} karakter arasında olmalıdır',
                   f'its length must be {EMAIL_MIN_LEN} to {EMAIL_MAX_LEN} characters')
    if addr.count('@') != 1:
        raise fail('tam olarak bir @ içermelidir', 'it must contain exactly one @')
    local, domain = addr.split('@')
    if not _LOCAL_PART_RE.match(local) or '..' in local:
        raise fail('@ öncesinde yalnızca harf, rakam ve . - _ + kullanılabilir (başta özel karakter ve '
                   'ardışık nokta olamaz)',
                   'the part before @ may only hold letters, digits and . - _ + (no leading special '
                   'character, no consecutive dots)')
    if not _DOMAIN_RE.match(domain):
        raise fail('alan adı geçersiz (ör. ornek.com)', 'the domain is invalid (e.g. example.com)')
    if len(local) <= _LOCAL_PART_MAX and _ascii_domain(domain) == domain:
        # email-validator has accepted this domain before, and a local part that passed the checks
        # above (a dot-atom of ASCII letters, digits and . - _ +) is one it accepts: the answer is
        # the address itself (test_email_shortcut_gives_the_same_answers). Longer local parts, on
        # which email-validator versions differ, take the long way.
        return addr
    try:
        info = validate_email(addr, **_EMAIL_VALIDATOR_OPTIONS)
    except (EmailNotValidError, UnicodeError) as exc:  # a broken IDNA (xn--) label: UnicodeError
        raise fail('söz dizimi hatalı', f'bad syntax ({exc})') from None
    # ascii_email keeps an IDNA (xn--) domain in ASCII; ``normalized`` would turn it into Unicode.
    normalized = (info.ascii_email or info.normalized).lower()
    if normalized != addr:  # should not happen for ASCII input; keep idempotence guaranteed
        return normalize_email(normalized)
    return normalized


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str):
    """The ASCII form email-validator gives *domain*, or None when it refuses it (cached: a file of
    a million addresses has a few thousand domains)."""
    try:
        info = validate_email('a@' + domain, **_EMAIL_VALIDATOR_OPTIONS)
    except (EmailNotValidError, UnicodeError):
        return None
    return info.ascii_domain


def normalize_recipient(type_, value, region: str = 'TR', strict: bool = False) -> str:
    """Normalise *value* for consent type *type_* (MESAJ/ARAMA: phone, EPOSTA: e-mail).

    ``strict=True`` demands wire form: E.164 phones and e-mails without surrounding spaces.

    A phone number given for EPOSTA or an e-mail address given for MESAJ/ARAMA raises H464, as
    İYS does.  An unknown *type_* raises H117 (H111 when missing).
    """
    if type_ in (None, ''):
        raise IysValidationError('H111', 'İzin tipi (type) eksik.', location=['type'],
                                 detail_en='The consent type (type) is missing.')
    if type_ not in TYPES:
        raise IysValidationError('H117', f'İzin tipi (type) {_short(type_)} geçersiz; ARAMA, MESAJ veya '
                                         'EPOSTA olmalıdır.', location=['type'], value=type_,
                                 detail_en=f'The consent type {_short(type_)} is invalid; use ARAMA, MESAJ or '
                                           'EPOSTA.')
    if value is None or (isinstance(value, str) and not value.strip()):
        raise IysValidationError('H114', 'Alıcı (recipient) eksik.', location=['recipient'], value=value,
                                 detail_en='The recipient is missing.')
    if type_ in PHONE_TYPES:
        if looks_like_email(value):
            raise IysValidationError(
                'H464', f'İzin tipi (type) {type_} için alıcı telefon numarası olmalıdır; {_short(value)} bir '
                        'e-posta adresi.', location=['recipient'], value=value,
                detail_en=f'Type {type_} needs a phone number; {_short(value)} is an e-mail address.')
        return normalize_phone(value, region, strict=strict)
    if isinstance(value, str) and not looks_like_email(value) and _looks_like_phone(value):
        raise IysValidationError(
            'H464', f'İzin tipi (type) EPOSTA için alıcı e-posta adresi olmalıdır; {_short(value)} bir telefon '
                    'numarası.', location=['recipient'], value=value,
            detail_en=f'Type EPOSTA needs an e-mail address; {_short(value)} is a phone number.')
    if strict and isinstance(value, str) and value != value.strip():
        raise IysValidationError('H120', f'E-posta adresi {_short(value)} boşluk içermemelidir.',
                                 location=['recipient'], value=value,
                                 detail_en=f'The e-mail address {_short(value)} must not contain spaces.')
    return normalize_email(value)


def _looks_like_phone(value: str) -> bool:
    stripped = ''.join(ch for ch in value if ch not in _PHONE_PUNCT)
    return bool(stripped) and (stripped.lstrip('+').isdigit()) and len(stripped) >= 7


def is_valid_phone(value, region: str = 'TR') -> bool:
    """True when :func:`normalize_phone` accepts *value*."""
    try:
        normalize_phone(value, region)
    except IysValidationError:
        return False
    return True


def is_valid_email(value) -> bool:
    """True when :func:`normalize_email` accepts *value*."""
    try:
        normalize_email(value)
    except IysValidationError:
        return False
    return True
