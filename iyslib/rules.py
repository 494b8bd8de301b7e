"""İYS consent rules: the checks İYS applies, run locally before anything is sent.

The same functions decide for the client (pre-validation), for any importer or UI that wants to
warn early, and for the bundled simulator, so all three always agree.  Each refusal is an
:class:`~iyslib.errors.IysValidationError` with the H-code İYS would answer and a message naming
the field and the value.

Two stages, as in İYS:

* **fields** (:func:`validate_fields`): stateless checks of one Consent body: presence and enum
  values (H110–H117, H119), recipient format (H120/H121/H160/H464), date format and range
  (H157/H158, H155, H156, H162, H467), HS_KARAR needs RET (H408), retailer fields.
* **transition** (:func:`validate_transition`): checks against what İYS already holds for the
  address (:class:`CurrentState`): first record cannot be RET (H175, which also covers HS_KARAR on a
  first record), RET over RET (H174), date not after the stored one (H178), TACIR updates need
  consentDate and source (H462/H463).

:func:`validate_consent` runs both and returns the exact İYS request body.  :func:`validate_batch`
checks a batch list (size H091, duplicates H194, and every item's fields).
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from .const import (
    BATCH_MAX,
    CONSENT_FIELDS,
    DATE_FORMAT,
    HS_SOURCES,
    MIN_CONSENT_DATE,
    RECIPIENT_TYPES,
    RETAILER_LIST_MAX,
    STATUSES,
    TYPES,
    is_iys_source,
)
from .dates import deadline_after_day, from_local, parse_iys_date, to_iys_date, to_local, to_utc_naive, utcnow
from .errors import IysValidationError
from .normalize import normalize_recipient

__all__ = ['CurrentState', 'validate_consent', 'validate_fields', 'validate_transition', 'validate_body',
           'validate_batch', 'BatchValidation', 'body_to_kwargs', 'recipient_key', 'MIN_CONSENT_DATE_UTC',
           'CLOCK_DRIFT_MAX']

#: 2015-05-01 00:00:00 Turkish time, as naive UTC.
MIN_CONSENT_DATE_UTC = from_local(MIN_CONSENT_DATE)
#: A consentDate at most this many seconds ahead of the clock is taken for clock drift: the local
#: H162 is then retryable (``retry_after`` = the drift + 60 s).  Further ahead it is a data error.
CLOCK_DRIFT_MAX = 300

_SNAKE_ALIASES = {
    'type_': 'type', 'consent_date': 'consentDate', 'recipient_type': 'recipientType',
    'retailer_code': 'retailerCode', 'retailer_access': 'retailerAccess',
}


@dataclass
class CurrentState:
    """What İYS already records for one (brand, recipient, type, recipientType).

    Attributes:
        status: ``'ONAY'`` or ``'RET'``.
        consent_date: the stored consentDate as naive UTC, or ``None`` (a TACIR first record may
            have none).
        source: the stored source (HS_* or IYS_*), or ``None``.
    """

    status: str
    consent_date: dt.datetime | None = None
    source: str | None = None

    def __post_init__(self):
        if isinstance(self.consent_date, str):
            self.consent_date = parse_iys_date(self.consent_date) if self.consent_date else None
        elif isinstance(self.consent_date, dt.datetime):
            self.consent_date = to_utc_naive(self.consent_date)
        elif self.consent_date is not None:
            value = self.consent_date
            raise _err('H158', 'consentDate', str(value),
                       f'Kayıttaki izin tarihi {value!r} bir tarih-saat (datetime veya "YYYY-AA-GG SS:dd:ss") '
                       'olmalıdır; yalnızca gün (date) yetmez.',
                       f'The stored consent date {value!r} must be a date-time (datetime or "YYYY-MM-DD HH:mm:ss"); '
                       'a bare date is not enough.')


def _err(code, field_, value, tr, en, **kw):
    return IysValidationError(code, tr, location=[field_] if field_ else None, value=value, detail_en=en, **kw)


def _coerce_date(consent_date, field_='consentDate'):
    """consentDate as naive UTC without microseconds (accepts datetime or İYS string)."""
    if consent_date is None or consent_date == '':
        return None
    if isinstance(consent_date, str):
        return parse_iys_date(consent_date, field_)
    if isinstance(consent_date, dt.datetime):
        return to_utc_naive(consent_date).replace(microsecond=0)
    raise _err('H158', field_, str(consent_date),
               f'{field_} değeri {consent_date!r} bir tarih-saat olmalıdır (YYYY-AA-GG SS:dd:ss).',
               f'{field_} {consent_date!r} must be a date-time (YYYY-MM-DD HH:mm:ss).')


def _check_retailers(retailer_code, retailer_access):
    if retailer_code is not None:
        if retailer_code == '':
            raise _err('H267', 'retailerCode', retailer_code, 'retailerCode boş metin olmamalıdır; bayi yoksa alanı '
                       'hiç göndermeyin.', 'retailerCode must not be an empty string; leave it out when there is '
                       'no retailer.')
        if isinstance(retailer_code, bool) or not isinstance(retailer_code, int) or not 0 < retailer_code <= 99999999:
            raise _err('H085', 'retailerCode', retailer_code,
                       f'retailerCode {retailer_code!r} en fazla 8 haneli pozitif bir tam sayı olmalıdır.',
                       f'retailerCode {retailer_code!r} must be a positive integer of at most 8 digits.')
    if retailer_access is not None:
        if not isinstance(retailer_access, (list, tuple)):
            raise _err('H085', 'retailerAccess', retailer_access, 'retailerAccess bir tam sayı listesi olmalıdır.',
                       'retailerAccess must be a list of integers.')
        if not retailer_access:
            raise _err('H163', 'retailerAccess', [], 'retailerAccess boş liste olamaz; bayi yoksa alanı göndermeyin.',
                       'retailerAccess cannot be an empty list; leave it out when there are no retailers.')
        if len(retailer_access) > RETAILER_LIST_MAX:
            raise _err('H126', 'retailerAccess', len(retailer_access),
                       f'retailerAccess {len(retailer_access)} kayıt içeriyor; en fazla {RETAILER_LIST_MAX} olabilir.',
                       f'retailerAccess has {len(retailer_access)} items; at most {RETAILER_LIST_MAX} are allowed.')
        seen = set()
        for code in retailer_access:
            if isinstance(code, bool) or not isinstance(code, int) or not 0 < code <= 99999999:
                raise _err('H085', 'retailerAccess', code, f'retailerAccess içindeki {code!r} geçerli bir bayi kodu '
                           'değil.', f'{code!r} in retailerAccess is not a valid retailer code.')
            if code in seen:
                raise _err('H193', 'retailerAccess', code, f'Bayi kodu {code} retailerAccess içinde tekrarlanıyor.',
                           f'Retailer code {code} is repeated in retailerAccess.')
            seen.add(code)


def validate_fields(recipient, type_, status, source, consent_date, recipient_type='BIREYSEL', now=None,
                    retailer_code=None, check_deadline=True, retailer_access=None, clock_skew: float = 0,
                    region: str = 'TR', strict_recipient: bool = False, recipient_normalized: bool = False) -> dict:
    """Stateless checks of one consent; returns the İYS ``Consent`` body.

    Arguments are as in :func:`validate_consent` (which adds the transition checks).  For TACIR
    both *source* and *consent_date* may be ``None`` here: whether they are required depends on
    the stored state (H462/H463).  ``strict_recipient=True`` demands the wire form of the
    recipient (E.164) instead of normalising any spelling, as İYS does.
    """
    return _validate_fields(recipient, type_, status, source, consent_date, recipient_type, now, retailer_code,
                            check_deadline, retailer_access, clock_skew, region, strict_recipient,
                            recipient_normalized)[0]


#: The shape of what :func:`~iyslib.normalize.normalize_recipient` returns, per kind of channel.
_NORMALIZED_PHONE_RE = re.compile(r'\+[1-9][0-9]{6,13}')
_NORMALIZED_EMAIL_RE = re.compile(r'[a-z0-9._+-]+@[a-z0-9.-]+')


def _is_normalized(type_, recipient) -> bool:
    """True when *recipient* has the shape :func:`normalize_recipient` gives for *type_*."""
    if not isinstance(recipient, str):
        return False
    pattern = _NORMALIZED_EMAIL_RE if type_ == 'EPOSTA' else _NORMALIZED_PHONE_RE
    return bool(pattern.fullmatch(recipient))


def _validate_fields(recipient, type_, status, source, consent_date, recipient_type, now, retailer_code,
                     check_deadline, retailer_access, clock_skew, region, strict_recipient, recipient_normalized):
    """:func:`validate_fields`, also returning the consent date as naive UTC (or None)."""
    # presence and enum values -------------------------------------------------------------
    if recipient is None or (isinstance(recipient, str) and not recipient.strip()):
        raise _err('H114', 'recipient', recipient, 'Alıcı (recipient) eksik.', 'The recipient is missing.')
    if type_ is None or type_ == '':
        raise _err('H111', 'type', type_, 'İzin tipi (type) eksik.', 'The consent type (type) is missing.')
    if type_ not in TYPES:
        raise _err('H117', 'type', type_, f'İzin tipi (type) {type_!r} geçersiz; ARAMA, MESAJ veya EPOSTA olmalıdır.',
                   f'The consent type {type_!r} is invalid; use ARAMA, MESAJ or EPOSTA.')
    if status is None or status == '':
        raise _err('H110', 'status', status, 'İzin durumu (status) eksik.', 'The consent status (status) is missing.')
    if status not in STATUSES:
        raise _err('H115', 'status', status, f'İzin durumu (status) {status!r} geçersiz; ONAY veya RET olmalıdır.',
                   f'The status {status!r} is invalid; use ONAY or RET.')
    if recipient_type is None:
        recipient_type = 'BIREYSEL'
    if recipient_type not in RECIPIENT_TYPES:
        raise _err('H116', 'recipientType', recipient_type,
                   f'Alıcı tipi (recipientType) {recipient_type!r} geçersiz; BIREYSEL veya TACIR olmalıdır.',
                   f'The recipient type {recipient_type!r} is invalid; use BIREYSEL or TACIR.')
    tacir = recipient_type == 'TACIR'
    if source is None or source == '':
        if not tacir:
            raise _err('H113', 'source', source, 'İzin kaynağı (source) eksik.',
                       'The consent source (source) is missing.')
        source = None
    elif source not in HS_SOURCES:
        if is_iys_source(source):
            raise _err('H119', 'source', source,
                       f'İzin kaynağı {source!r} yalnızca İYS tarafından atanır; hizmet sağlayıcı HS_* kaynaklarından '
                       'birini göndermelidir.',
                       f'The source {source!r} is set by İYS only; a service provider must send one of the HS_* '
                       'sources.')
        raise _err('H119', 'source', source,
                   f'İzin kaynağı (source) {source!r} geçersiz; geçerli değerler: {", ".join(HS_SOURCES)}.',
                   f'The source {source!r} is invalid; valid values: {", ".join(HS_SOURCES)}.')
    if consent_date is None or consent_date == '':
        if not tacir:
            raise _err('H112', 'consentDate', consent_date, 'İzin tarihi (consentDate) eksik.',
                       'The consent date (consentDate) is missing.')
        cd = None
    else:
        cd = _coerce_date(consent_date)
    # recipient ---------------------------------------------------------------------------
    if recipient_normalized and not strict_recipient and _is_normalized(type_, recipient):
        # the caller already normalised it with normalize_recipient (e.g. an import, when it read
        # the file): phonenumbers and email-validator are not run a second time
        norm = recipient
    else:
        norm = normalize_recipient(type_, recipient, region, strict=strict_recipient)
    _check_retailers(retailer_code, retailer_access)
    # semantic field rules ------------------------------------------------------------------
    if source == 'HS_KARAR' and status != 'RET':
        raise _err('H408', 'status', status,
                   f'Kaynağı HS_KARAR olan izin için durum RET olmalıdır; gönderilen: {status}.',
                   f'A consent with source HS_KARAR must have status RET; got {status}.')
    shown = None
    if cd is not None:
        local = to_local(cd)
        shown = local.strftime(DATE_FORMAT)  # also the body's consentDate (to_iys_date(cd))
        if source == 'HS_2015':
            if local != MIN_CONSENT_DATE:
                raise _err('H155', 'consentDate', shown,
                           f'Kaynağı HS_2015 olan iznin tarihi tam olarak 2015-05-01 00:00:00 olmalıdır; gönderilen: '
                           f'{shown}.',
                           f'A consent with source HS_2015 must be dated exactly 2015-05-01 00:00:00; got {shown}.')
        elif local < MIN_CONSENT_DATE:
            raise _err('H156', 'consentDate', shown,
                       f'İzin tarihi {shown}, 1 Mayıs 2015 öncesi olamaz (bu izinler HS_2015 kaynağıyla '
                       '2015-05-01 00:00:00 tarihiyle gönderilir).',
                       f'The consent date {shown} cannot be before 1 May 2015 (such consents go with source HS_2015 '
                       'and date 2015-05-01 00:00:00).')
        now_ = to_utc_naive(now) if now is not None else utcnow()
        ahead = (cd - now_).total_seconds()
        if ahead > clock_skew:
            # A few seconds or minutes ahead is clock drift between the machine that stamped the consent and
            # this one: the same body is valid shortly.  Far ahead is a data error.
            drift = ahead <= CLOCK_DRIFT_MAX
            raise _err('H162', 'consentDate', shown,
                       f'İzin tarihi {shown} ileri bir tarih (şimdi: {to_iys_date(now_)}, Türkiye saati).',
                       f'The consent date {shown} is in the future (now: {to_iys_date(now_)}, Turkish time).',
                       retryable=drift, retry_after=(math.ceil(ahead - clock_skew) + 60.0) if drift else None)
        if check_deadline and source != 'HS_2015':
            limit = deadline_after_day(local.date())
            if now_ >= limit:
                raise _err('H467', 'consentDate', shown,
                           f'İzin tarihi {shown} üç iş gününden eski; son kayıt zamanı {to_iys_date(limit)} '
                           '(Türkiye saati) idi.',
                           f'The consent date {shown} is older than 3 business days; it had to be recorded before '
                           f'{to_iys_date(limit)} (Turkish time).')
    body = {'recipient': norm, 'type': type_}
    if source is not None:
        body['source'] = source
    body['status'] = status
    if cd is not None:
        body['consentDate'] = shown
    body['recipientType'] = recipient_type
    if retailer_code is not None:
        body['retailerCode'] = retailer_code
    if retailer_access is not None:
        body['retailerAccess'] = list(retailer_access)
    return body, cd


def validate_transition(previous: CurrentState | None, status, consent_date, source, recipient_type='BIREYSEL'):
    """Check a movement against the stored state *previous* (``None`` = İYS has no record).

    *consent_date* is a naive-UTC datetime, an İYS date string or ``None``.  Returns ``None`` when
    the movement would be accepted; raises IysValidationError H175/H174/H178/H462/H463 otherwise.
    """
    cd = _coerce_date(consent_date)
    if previous is None:
        if status == 'RET':
            if source == 'HS_KARAR':
                raise _err('H175', 'source', source,
                           'HS_KARAR ilk kayıtta kullanılamaz: İYS’de kaydı olmayan adres için RET gönderilemez.',
                           'HS_KARAR cannot be used on a first record: no RET can be sent for an address İYS does '
                           'not hold.')
            raise _err('H175', 'status', status,
                       'İlk kez kaydedilen izin RET olamaz; İYS’de kaydı olmayan adrese ileti gönderilmemesi '
                       'yeterlidir.',
                       'A first record cannot be RET; simply do not message an address İYS does not hold.')
        return None
    if recipient_type == 'TACIR':
        if cd is None:
            raise _err('H462', 'consentDate', None, 'TACIR izni güncellenirken izin tarihi (consentDate) verilmelidir.',
                       'Updating a TACIR consent requires consentDate.')
        if not source:
            raise _err('H463', 'source', None, 'TACIR izni güncellenirken izin kaynağı (source) verilmelidir.',
                       'Updating a TACIR consent requires source.')
    elif cd is None:
        raise _err('H112', 'consentDate', None, 'İzin tarihi (consentDate) eksik.',
                   'The consent date (consentDate) is missing.')
    if status == 'RET' and previous.status == 'RET':
        raise _err('H174', 'status', status, 'İzin zaten RET durumunda; RET üzerine yeniden RET gönderilemez.',
                   'The consent is already RET; RET cannot be sent again.')
    if previous.consent_date is not None and cd is not None and cd <= previous.consent_date:
        new_s, old_s = to_iys_date(cd), to_iys_date(previous.consent_date)
        raise _err('H178', 'consentDate', new_s,
                   f'İzin tarihi {new_s}, kayıttaki izin tarihinden ({old_s}) sonra olmalıdır.',
                   f'The consent date {new_s} must be later than the date on record ({old_s}).')
    return None


def validate_consent(recipient, type_, status, source, consent_date, recipient_type='BIREYSEL', previous=None,
                     now=None, retailer_code=None, check_deadline=True, *, retailer_access=None,
                     clock_skew: float = 0, region: str = 'TR', strict_recipient: bool = False,
                     recipient_normalized: bool = False) -> dict:
    """Validate one consent movement the way İYS would and return the exact İYS request body.

    Args:
        recipient: phone number (MESAJ/ARAMA) or e-mail (EPOSTA), in any common spelling; it is
            normalised (E.164 / lower-case).
        type_: ``'MESAJ'``, ``'ARAMA'`` or ``'EPOSTA'``.
        status: ``'ONAY'`` or ``'RET'``.
        source: one of :data:`~iyslib.const.HS_SOURCES` (``None`` allowed on a first TACIR record).
        consent_date: naive-UTC datetime (aware accepted) or an İYS string (Turkish local time);
            ``None`` allowed on a first TACIR record.
        recipient_type: ``'BIREYSEL'`` (default) or ``'TACIR'``.
        previous: :class:`CurrentState` of what İYS already holds, or ``None`` for no record.
        now: the current time (naive UTC) used for the future and 3-business-day checks.
        retailer_code: optional 8-digit retailer that collected the consent.
        check_deadline: when False, skip the 3-business-day check (H467).  It is always skipped
            for HS_2015.
        retailer_access: optional list of retailer codes (at most 100).
        clock_skew: seconds a consent date may lie in the future before H162 (tolerance for a
            local clock behind İYS's).  A date ahead by at most :data:`CLOCK_DRIFT_MAX` seconds more
            gives a *retryable* H162 (clock drift); further ahead a final one.
        region: default region for national phone numbers.
        strict_recipient: demand the wire form (E.164) instead of normalising.
        recipient_normalized: the caller already passed *recipient* through
            :func:`~iyslib.normalize.normalize_recipient` for *type_* (an importer that normalised
            it when reading the file): it is not normalised again.  A value without the normalised
            shape (E.164; a lower-case address) is normalised anyway.

    Returns:
        The ``Consent`` body, optional fields left out (never ``''`` or ``None``).

    Raises:
        IysValidationError: with the H-code İYS would answer.
    """
    body, cd = _validate_fields(recipient, type_, status, source, consent_date, recipient_type, now, retailer_code,
                                check_deadline, retailer_access, clock_skew, region, strict_recipient,
                                recipient_normalized)
    validate_transition(previous, body['status'], cd, body.get('source'), body['recipientType'])
    return body


#: The answer İYS gives to a field sent as ``null`` or ``""`` (wire rule: leave optional fields out).
_EMPTY_FIELD_CODES = {
    'recipient': 'H114', 'type': 'H111', 'status': 'H110', 'source': 'H113', 'consentDate': 'H112',
    'recipientType': 'H116', 'retailerCode': 'H085', 'retailerAccess': 'H085',
}


def _check_no_empty_fields(data: dict):
    """Wire rule: a key sent with ``null`` or ``""`` is refused; only a missing key means "absent"."""
    for name in CONSENT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None or (isinstance(value, str) and value == ''):
            code = 'H267' if (name == 'retailerCode' and value == '') else _EMPTY_FIELD_CODES[name]
            shown = 'null' if value is None else '""'
            raise _err(code, name, value,
                       f'{name} alanı {shown} gönderilemez; değer yoksa alanı istekten çıkarın.',
                       f'{name} cannot be sent as {shown}; leave the field out when it has no value.')


def body_to_kwargs(body, strict: bool = True) -> dict:
    """Map an İYS ``Consent`` body (camelCase) to :func:`validate_consent` keyword arguments.

    Unknown keys raise H118.  With ``strict=False`` the snake_case names of
    :func:`validate_consent` (``type_``, ``consent_date`` …) are accepted as well.

    A body in İYS's own spelling is a **wire body**: a key present with ``None`` or ``""`` is
    refused with the code İYS answers (H110–H114 for the required fields, H113/H112 for a TACIR
    source/consentDate, H116 for recipientType, H085 — or H267 for ``""`` — for retailerCode, H085
    for retailerAccess); only a missing key means "absent".  A dict using any snake_case name
    (``strict=False``) is taken as keyword arguments instead, where ``None`` means absent, exactly
    as for :func:`validate_consent`.
    """
    if not isinstance(body, dict):
        raise _err('H085', None, None, f'İzin kaydı bir JSON nesnesi olmalıdır; alınan: {type(body).__name__}.',
                   f'A consent must be a JSON object; got {type(body).__name__}.')
    data = {}
    kwargs_style = not strict and any(key in _SNAKE_ALIASES for key in body)
    for key, value in body.items():
        name = key
        if not strict and key in _SNAKE_ALIASES:
            name = _SNAKE_ALIASES[key]
        if name not in CONSENT_FIELDS:
            raise _err('H118', key, None,
                       f'{key!r} alanı kabul edilemedi. İstek gövdesinde bulunabilecek alanlar: '
                       f'{", ".join(CONSENT_FIELDS)}.',
                       f'Field {key!r} is not accepted. Allowed fields: {", ".join(CONSENT_FIELDS)}.')
        if kwargs_style and value is None:
            continue
        data[name] = value
    if not kwargs_style:
        _check_no_empty_fields(data)
    return {
        'recipient': data.get('recipient'), 'type_': data.get('type'), 'status': data.get('status'),
        'source': data.get('source'), 'consent_date': data.get('consentDate'),
        'recipient_type': data.get('recipientType', 'BIREYSEL'), 'retailer_code': data.get('retailerCode'),
        'retailer_access': data.get('retailerAccess'),
    }


def validate_body(body, previous=None, now=None, check_deadline=True, clock_skew: float = 0, strict: bool = True,
                  region: str = 'TR', strict_recipient: bool = False, check_transition: bool = True) -> dict:
    """:func:`validate_consent` for an İYS-shaped dict; returns the normalised body.

    ``strict=False`` also accepts the snake_case argument names.  With ``check_transition=False``
    only the stateless field checks run (as for batch items before processing).
    """
    kw = body_to_kwargs(body, strict=strict)
    if not check_transition:
        return validate_fields(now=now, check_deadline=check_deadline, clock_skew=clock_skew, region=region,
                               strict_recipient=strict_recipient, **kw)
    return validate_consent(previous=previous, now=now, check_deadline=check_deadline, clock_skew=clock_skew,
                            region=region, strict_recipient=strict_recipient, **kw)


def recipient_key(body: dict) -> tuple:
    """The identity of a consent in İYS: ``(recipientType, type, recipient)``."""
    return (body.get('recipientType') or 'BIREYSEL', body.get('type'), body.get('recipient'))


@dataclass
class BatchValidation:
    """Result of :func:`validate_batch`.

    Attributes:
        bodies: per index, the normalised body or ``None`` when the item failed.
        errors: the IysValidationError of each failed item (``index`` set), in index order.
    """

    bodies: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every item passed."""
        return not self.errors

    @property
    def valid_bodies(self) -> list:
        """The bodies that passed, in order."""
        return [b for b in self.bodies if b is not None]

    def raise_for_errors(self):
        """Raise the first error (with ``errors`` listing all) when any item failed."""
        if self.errors:
            first = self.errors[0]
            first.errors = list(self.errors)
            raise first


def validate_batch(items, now=None, check_deadline=True, clock_skew: float = 0, strict: bool = False,
                   region: str = 'TR', strict_recipient: bool = False) -> BatchValidation:
    """Check a batch list as İYS does synchronously.

    Raises IysValidationError H092 when *items* is not a non-empty list and H091 when it holds more
    than 1000 items.  Returns a :class:`BatchValidation` whose ``errors`` carry each failing item's
    index, including H194 for an address (recipientType, type, recipient) repeated in the list
    (the later occurrence is refused).  Transition rules (H174/H175/H178 …) are not checked here:
    İYS reports them per item after processing.
    """
    if not isinstance(items, (list, tuple)) or not items:
        raise _err('H092', None, None, 'Çoklu izin isteği boş olmayan bir liste olmalıdır.',
                   'A batch request must be a non-empty list.')
    if len(items) > BATCH_MAX:
        raise _err('H091', None, len(items), f'Listede {len(items)} izin var; en fazla {BATCH_MAX} olabilir.',
                   f'The list holds {len(items)} consents; at most {BATCH_MAX} are allowed.')
    result = BatchValidation(bodies=[None] * len(items))
    seen = {}
    for i, item in enumerate(items):
        try:
            body = validate_body(item, now=now, check_deadline=check_deadline, clock_skew=clock_skew, strict=strict,
                                 region=region, strict_recipient=strict_recipient, check_transition=False)
        except IysValidationError as exc:
            exc.index = i
            result.errors.append(exc)
            continue
        key = recipient_key(body)
        if key in seen:
            result.errors.append(_err(
                'H194', 'recipient', body['recipient'],
                f'{body["recipient"]} ({key[1]}, {key[0]}) listede {seen[key]}. sırada zaten var; bir listede her '
                'adres için tek hareket gönderilebilir.',
                f'{body["recipient"]} ({key[1]}, {key[0]}) already appears at index {seen[key]}; send one movement per '
                'address per list.', index=i))
            continue
        seen[key] = i
        result.bodies[i] = body
    return result
