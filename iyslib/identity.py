"""Turkish identity numbers and İYS retailer (bayi) fields, checked before anything is sent.

Pure Python (no Odoo): the Odoo layer validates a dealer with :func:`retailer_errors` before
"Register on İYS", the client refuses an invalid body in :meth:`IysClient.create_retailer`, and the
simulator answers with the same H-codes İYS does.

* TCKN (T.C. kimlik numarası): 11 digits, the first not 0; the 10th digit is
  ``(7 × (d1+d3+d5+d7+d9) − (d2+d4+d6+d8)) mod 10`` and the 11th ``(d1+…+d10) mod 10``.
* VKN (vergi kimlik numarası): 10 digits; the 10th is the check digit of the Revenue
  Administration (GİB) algorithm, see :func:`vkn_check_digit`.
* ``tin`` (tax number of a retailer): a VKN, or the TCKN of a sole trader (11 digits).
* MERSİS: 16 digits (the central registry number), optional.
* mobile: E.164 (``+905321112233``), optional.

Every refusal is an :class:`IysValidationError` carrying the H-code İYS would answer
(:data:`iyslib.errors.H_CODES`), a Turkish message and an English ``detail_en``.
"""
from __future__ import annotations

from .errors import IysValidationError
from .normalize import normalize_phone

__all__ = [
    'RETAILER_FIELDS', 'RETAILER_STATUSES', 'TITLE_MAX_LEN', 'tckn_check_digits', 'is_valid_tckn',
    'vkn_check_digit', 'is_valid_vkn', 'is_valid_tin', 'is_valid_mersis', 'check_tckn', 'check_tin',
    'check_mersis', 'check_mobile', 'retailer_errors', 'validate_retailer', 'example_tckn', 'example_vkn',
]

#: Keys İYS accepts in a retailer creation body.
RETAILER_FIELDS = ('title', 'name', 'tckn', 'tin', 'city', 'town', 'mersis', 'alias', 'mobile', 'status')
RETAILER_STATUSES = ('active', 'passive', 'suspended')
TITLE_MAX_LEN = 255


def _text(value) -> str:
    if value is None or isinstance(value, bool):
        return ''
    return str(value).strip()


# ------------------------------------------------------------------------------ check digits
def tckn_check_digits(first9: str) -> str:
    """The two check digits (10th and 11th) of a TCKN whose first nine digits are *first9*."""
    d = [int(c) for c in first9]
    if len(d) != 9:
        raise ValueError('nine digits expected')
    d10 = (7 * (d[0] + d[2] + d[4] + d[6] + d[8]) - (d[1] + d[3] + d[5] + d[7])) % 10
    d11 = (sum(d) + d10) % 10
    return f'{d10}{d11}'


def is_valid_tckn(value) -> bool:
    """True for a TCKN: 11 digits, the first not 0, both check digits right."""
    v = _text(value)
    return len(v) == 11 and v.isascii() and v.isdigit() and v[0] != '0' and tckn_check_digits(v[:9]) == v[9:]


def vkn_check_digit(first9: str) -> str:
    """The check digit (10th) of a VKN whose first nine digits are *first9* (GİB's algorithm).

    For position i = 1…9 from the left: ``t = (digit + 10 − i) mod 10``; ``p = t × 2^(10−i) mod 9``,
    except that ``p = 9`` when ``t`` is 9; the check digit is ``(10 − (Σp mod 10)) mod 10``.
    """
    if len(first9) != 9 or not first9.isdigit():
        raise ValueError('nine digits expected')
    total = 0
    for i, char in enumerate(first9, start=1):
        t = (int(char) + 10 - i) % 10
        total += 9 if t == 9 else (t * 2 ** (10 - i)) % 9
    return str((10 - total % 10) % 10)


def is_valid_vkn(value) -> bool:
    """True for a VKN: 10 digits with the right check digit."""
    v = _text(value)
    return len(v) == 10 and v.isascii() and v.isdigit() and vkn_check_digit(v[:9]) == v[9]


def is_valid_tin(value) -> bool:
    """True for a retailer's tax number: a VKN (10 digits) or a TCKN (11 digits)."""
    return is_valid_vkn(value) or is_valid_tckn(value)


def is_valid_mersis(value) -> bool:
    v = _text(value)
    return len(v) == 16 and v.isascii() and v.isdigit()


def example_tckn(n: int) -> str:
    """A valid TCKN made from the number *n* (for tests and demo data; not anybody's number)."""
    first9 = f'{100000000 + int(n) % 900000000:09d}'
    return first9 + tckn_check_digits(first9)


def example_vkn(n: int) -> str:
    """A valid VKN made from the number *n* (for tests and demo data)."""
    first9 = f'{int(n) % 1000000000:09d}'
    return first9 + vkn_check_digit(first9)


# ------------------------------------------------------------------------------ field checks
def _err(code, tr, en, field, value=None):
    return IysValidationError(code, tr, location=[field], value=value, detail_en=en)


def check_tckn(value, field: str = 'tckn') -> str:
    """The TCKN as 11 digits, or IysValidationError H216 (empty), H226 (not 11 digits), H225 (invalid)."""
    v = _text(value)
    if not v:
        raise _err('H216', 'Bayi yetkilisinin T.C. kimlik numarası boş bırakılamaz.',
                   "The authorised person's TCKN is empty.", field, value)
    if len(v) != 11 or not (v.isascii() and v.isdigit()):
        raise _err('H226', f'T.C. kimlik numarası {v} 11 rakamdan oluşmalıdır.',
                   f'The TCKN {v} must be 11 digits.', field, v)
    if v[0] == '0':
        raise _err('H225', f'T.C. kimlik numarası {v} 0 ile başlayamaz.', f'The TCKN {v} cannot start with 0.',
                   field, v)
    if tckn_check_digits(v[:9]) != v[9:]:
        raise _err('H225', f'T.C. kimlik numarası {v} geçersiz: kontrol haneleri tutmuyor.',
                   f'The TCKN {v} is not valid: its check digits do not match.', field, v)
    return v


def check_tin(value, field: str = 'tin') -> str:
    """The tax number (VKN or TCKN), or IysValidationError H288 (empty), H244 (length), H243 (invalid)."""
    v = _text(value)
    if not v:
        raise _err('H288', 'Vergi numarası (tin) boş bırakılamaz.', 'The tax number (tin) is empty.', field, value)
    if not (v.isascii() and v.isdigit()):
        raise _err('H243', f'Vergi numarası {v} yalnızca rakamlardan oluşmalıdır.',
                   f'The tax number {v} must contain digits only.', field, v)
    if len(v) not in (10, 11):
        raise _err('H244', f'Vergi numarası {v} {len(v)} haneli; 10 (VKN) veya 11 (TCKN) haneli olmalıdır.',
                   f'The tax number {v} has {len(v)} digits; it must have 10 (VKN) or 11 (TCKN).', field, v)
    if len(v) == 10 and not is_valid_vkn(v):
        raise _err('H243', f'Vergi kimlik numarası {v} geçersiz: kontrol hanesi tutmuyor.',
                   f'The tax number (VKN) {v} is not valid: its check digit does not match.', field, v)
    if len(v) == 11 and not is_valid_tckn(v):
        raise _err('H243', f'Vergi numarası {v} geçerli bir T.C. kimlik numarası değil.',
                   f'The 11-digit tax number {v} is not a valid TCKN.', field, v)
    return v


def check_mersis(value, field: str = 'mersis') -> str | None:
    """The MERSİS number (16 digits) or None when empty; IysValidationError H228 (length), H227 (not digits)."""
    v = _text(value)
    if not v:
        return None
    if len(v) != 16:
        raise _err('H228', f'MERSİS numarası {v} {len(v)} karakter; 16 karakter olmalıdır.',
                   f'The MERSİS number {v} has {len(v)} characters; it must have 16.', field, v)
    if not (v.isascii() and v.isdigit()):
        raise _err('H227', f'MERSİS numarası {v} yalnızca rakamlardan oluşmalıdır.',
                   f'The MERSİS number {v} must contain digits only.', field, v)
    return v


def check_mobile(value, strict: bool = False, field: str = 'mobile') -> str | None:
    """The mobile number in E.164 or None when empty; IysValidationError H224 otherwise.

    *strict*: the value must already be E.164 (what İYS demands on the wire; the simulator).  Else
    a national form (``0532 …``) is turned into E.164, as the client does before sending.
    """
    v = _text(value)
    if not v:
        return None
    try:
        return normalize_phone(v, strict=strict)
    except IysValidationError:
        raise _err('H224', f'Cep telefonu {v} geçersiz; E.164 biçiminde olmalıdır (ör. +905321112233).',
                   f'The mobile number {v} is not valid; it must be in E.164 form (e.g. +905321112233).',
                   field, v) from None


def _place(data, key, codes, errors):
    """city/town as ``{code, name}`` (code as a string), appending H217-H222 refusals to *errors*."""
    missing, no_code, no_name = codes
    label_tr, label_en = ('İl', 'City') if key == 'city' else ('İlçe', 'Town')
    value = data.get(key)
    if not value:
        errors.append(_err(missing, f'Bayi {label_tr.lower()} bilgisi ({key}) boş bırakılamaz.',
                           f'The {label_en.lower()} ({key}) is empty.', key, value))
        return None
    if not isinstance(value, dict):
        errors.append(_err(missing, f'Bayi {label_tr.lower()} bilgisi ({key}) {{code, name}} biçiminde olmalıdır.',
                           f'The {label_en.lower()} ({key}) must be given as {{code, name}}.', key, value))
        return None
    code, name = _text(value.get('code')), _text(value.get('name'))
    if not code:
        errors.append(_err(no_code, f'{label_tr} kodu ({key}.code) boş bırakılamaz.',
                           f'The {label_en.lower()} code ({key}.code) is empty.', key, value))
    if not name:
        errors.append(_err(no_name, f'{label_tr} adı ({key}.name) boş bırakılamaz.',
                           f'The {label_en.lower()} name ({key}.name) is empty.', key, value))
    return {'code': code, 'name': name} if code and name else None


def retailer_errors(data: dict, strict: bool = False) -> tuple[dict, list]:
    """Check a retailer creation body as İYS does: ``(clean_body, [IysValidationError, …])``.

    *clean_body* leaves out empty optional fields (İYS refuses them as ``""``/``null``), gives
    city/town codes as strings and the mobile in E.164.  The error list is empty when İYS's own
    checks would pass (uniqueness of TCKN/MERSİS is İYS's to check).  Unknown keys are H016.
    """
    data = dict(data or {})
    errors, body = [], {}
    unknown = [k for k in data if k not in RETAILER_FIELDS]
    for key in unknown:
        errors.append(_err('H016', f'Geçersiz girdi: bilinmeyen bayi alanı {key}.', f'Unknown retailer field {key}.',
                           key))
    title, name = _text(data.get('title')), _text(data.get('name'))
    if not title:
        errors.append(_err('H214', 'Bayi ticaret unvanı (title) boş bırakılamaz.', 'The trade name (title) is empty.',
                           'title'))
    elif len(title) > TITLE_MAX_LEN:
        errors.append(_err('H017', f'Ticaret unvanı {len(title)} karakter; en fazla {TITLE_MAX_LEN} olabilir.',
                           f'The trade name has {len(title)} characters; at most {TITLE_MAX_LEN} are allowed.',
                           'title'))
    else:
        body['title'] = title
    if not name:
        errors.append(_err('H215', 'Bayi yetkilisinin adı (name) boş bırakılamaz.',
                           "The authorised person's name (name) is empty.", 'name'))
    else:
        body['name'] = name
    for key, check in (('tckn', check_tckn), ('tin', check_tin), ('mersis', check_mersis)):
        try:
            value = check(data.get(key))
        except IysValidationError as exc:
            errors.append(exc)
        else:
            if value:
                body[key] = value
    for key, codes in (('city', ('H217', 'H218', 'H219')), ('town', ('H220', 'H221', 'H222'))):
        place = _place(data, key, codes, errors)
        if place:
            body[key] = place
    alias = _text(data.get('alias'))
    if alias:
        if not alias.replace(' ', '').isalnum():
            errors.append(_err('H229', f'Kısa ad (alias) {alias} yalnızca harf, rakam ve boşluk içermelidir.',
                               f'The short name (alias) {alias} may contain only letters, digits and spaces.',
                               'alias', alias))
        else:
            body['alias'] = alias
    try:
        mobile = check_mobile(data.get('mobile'), strict=strict)
    except IysValidationError as exc:
        errors.append(exc)
    else:
        if mobile:
            body['mobile'] = mobile
    status = _text(data.get('status'))
    if status:
        if status not in RETAILER_STATUSES:
            errors.append(_err('H201', f'Bayi durumu {status} geçersiz; active, passive veya suspended olmalıdır.',
                               f'The status {status} is not valid; use active, passive or suspended.', 'status',
                               status))
        else:
            body['status'] = status
    return body, errors


def validate_retailer(data: dict, strict: bool = False) -> dict:
    """The clean retailer body (see :func:`retailer_errors`), or the first refusal raised.

    The raised error's ``errors`` attribute lists every refusal found, so a form can show them all.
    """
    body, errors = retailer_errors(data, strict=strict)
    if errors:
        first = errors[0]
        first.errors = errors
        raise first
    return body
