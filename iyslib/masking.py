"""Masking of personal data and secrets in logs.

Phone numbers and e-mail addresses are personal data under KVKK; access tokens and passwords are
secrets.  The library logs only through :func:`mask_text`/:func:`mask_recipient`, and
:class:`MaskingFilter` can be attached to any logger or handler to scrub records written by others.
"""
from __future__ import annotations

import logging
import re

import phonenumbers

from .errors import IysValidationError
from .normalize import normalize_phone

__all__ = ['mask_recipient', 'mask_text', 'mask_data', 'MaskingFilter', 'REDACTED', 'SECRET_KEYS']

REDACTED = '***'
SECRET_KEYS = ('password', 'access_token', 'refresh_token', 'authorization', 'client_secret')

# Any address-looking token, Unicode included ("çağrı@örnek.com", "a@b.c"): what İYS refuses (H120)
# is still personal data in a log line.  Delimiters that cannot be part of an address İYS accepts
# (quotes, brackets, "=", ":", ",", ";") end the match so labels and punctuation around it stay.
_EMAIL_RE = re.compile(r'([^\s@\'"<>=:;,()\[\]{}]+)@([^\s@\'"<>;,()\[\]{}]+)')
# "+90 532 111 22 33", "+905321112233", "0532 111 22 33", "(0532) 111-22-33", "5321112233",
# "0532–111–22–33" (en dash), thin/narrow spaces, LRM/RLM marks …
_PHONE_SEP = r'\s().\-\u2010-\u2015\u2212\u200b-\u200f\u2066-\u2069\ufeff'
_PHONE_RE = re.compile(r'(?<![\w*])(\+|00)?(?:\(?\d[\d' + _PHONE_SEP + r']{7,40}\d)(?![\w*])')
_SECRET_KV_RE = re.compile(
    r'(?i)(["\']?(?:password|access_token|refresh_token|client_secret)["\']?\s*[:=]\s*)'
    r'("[^"]*"|\'[^\']*\'|[^\s,&}\]]+)')
_AUTH_HEADER_RE = re.compile(r'(?i)(authorization["\']?\s*[:=]\s*["\']?)((?:bearer|basic)\s+)?[^\s"\',}]+')
_BEARER_RE = re.compile(r'(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}')


def _head_len(n: int) -> int:
    """Digits shown before the stars: at most 3, and never more than half of the number with the tail."""
    return min(3, max(0, n - 2 - (n + 1) // 2))


def _mask_digits(digits: str, plus: bool = False) -> str:
    head = _head_len(len(digits))
    return ('+' if plus else '') + digits[:head] + '*' * (len(digits) - head - 2) + digits[-2:]


def _mask_phone(text: str) -> str | None:
    """Masked E.164 form of *text* when it is a valid phone number in any spelling, else None."""
    try:
        e164 = normalize_phone(text)
    except IysValidationError:
        return None
    num = phonenumbers.parse(e164, None)
    nsn = phonenumbers.national_significant_number(num)
    return f'+{num.country_code}' + _mask_digits(nsn)


def mask_recipient(value) -> str:
    """Mask a phone number or an e-mail address for display in logs.

    A phone number in any spelling (``+905321112233``, ``905321112233``, ``05321112233``,
    ``5321112233``, ``0532 111 22 33`` …) is normalised and shows at most its country code, the
    first 3 digits of the national number and the last 2 digits: ``+90532*****33``.  Other digit
    strings of 8 or more digits (an invalid number, an identity number) show at most 3 leading and
    2 trailing digits.  An e-mail keeps the first character of its local part and the domain:
    ``ali@example.com`` -> ``a***@example.com``.  Anything else keeps at most its first and last
    two characters.
    """
    if value is None:
        return ''
    s = str(value)
    if '@' in s:
        local, _, domain = s.rpartition('@')
        return f'{local[:1]}***@{domain}'
    masked = _mask_phone(s)
    if masked:
        return masked
    digits = ''.join(str(int(ch)) for ch in s if ch.isdecimal())
    if len(digits) >= 8:
        return _mask_digits(digits, plus=s.lstrip().startswith('+'))
    if len(s) <= 4:
        return REDACTED
    return f'{s[:2]}***{s[-2:]}'


def _mask_phone_match(m: re.Match) -> str:
    text = m.group(0)
    digits = ''.join(str(int(ch)) for ch in text if ch.isdecimal())
    if len(digits) < 9:
        return text
    # Leave dates and times alone (long hex ids never match: letters around the digits).
    if re.search(r'\d{4}-\d{2}-\d{2}', text) or ':' in text:
        return text
    if len(digits) > 15:             # several numbers in a row (e.g. "0532 … 0533 …"): hide them all
        return _mask_digits(digits, plus=text.startswith('+'))
    return mask_recipient(text)


def mask_text(text) -> str:
    """Mask e-mails, phone numbers, passwords, tokens and Authorization headers inside *text*."""
    if text is None:
        return ''
    s = str(text)
    s = _AUTH_HEADER_RE.sub(lambda m: m.group(1) + (m.group(2) or '') + REDACTED, s)
    s = _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, s)
    s = _SECRET_KV_RE.sub(lambda m: m.group(1) + (
        f'"{REDACTED}"' if m.group(2).startswith('"') else REDACTED), s)
    s = _EMAIL_RE.sub(lambda m: f'{m.group(1)[:1]}***@{m.group(2)}', s)
    s = _PHONE_RE.sub(_mask_phone_match, s)
    return s


def mask_data(data):
    """Deep copy of *data* (dicts/lists/strings) with secrets redacted and recipients masked."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if str(k).lower() in SECRET_KEYS:
                out[k] = REDACTED
            elif str(k) in ('recipient', 'recipients', 'mobile', 'url_username', 'username', 'tckn', 'tin'):
                out[k] = [mask_recipient(x) for x in v] if isinstance(v, list) else mask_recipient(v)
            else:
                out[k] = mask_data(v)
        return out
    if isinstance(data, (list, tuple)):
        return [mask_data(v) for v in data]
    if isinstance(data, str):
        return mask_text(data)
    return data


class MaskingFilter(logging.Filter):
    """Logging filter that masks personal data and redacts secrets in every record it sees.

    The record's message is rendered with its arguments, masked, and stored back (``args``
    cleared), so formatters downstream only ever see the masked text.  Exception text is masked
    too.  The filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except (TypeError, ValueError, KeyError):  # malformed format args: mask what we have
            msg = f'{record.msg} {record.args}'
        record.msg = mask_text(msg)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
