"""Date handling for İYS: wire format, Turkish time, business days and the 3-business-day limit.

Conventions:

* Callers (e.g. Odoo) keep **naive UTC** datetimes.  Aware datetimes are accepted everywhere and
  converted.  Every function returning a datetime returns naive UTC.
* İYS speaks ``YYYY-MM-DD HH:mm:ss`` in **Turkish local time** (Europe/Istanbul, UTC+3 all year
  since 2016).  :func:`to_iys_date` and :func:`parse_iys_date` convert between the two.
* A **business day** is Monday to Friday and not a Turkish public holiday as listed by
  ``holidays.Turkey`` (public category).  Half-day holidays (the afternoon of 28 Ekim and of the
  arife before Ramazan and Kurban Bayramı) are **business days**: the offices work in the morning
  and İYS does not document them as holidays.  Extra "idari izin" bridge days decreed case by case
  are not holidays either.
* **The 3-business-day deadline (H467).**  A consent obtained outside İYS on local day *D* must be
  recorded by the **end of the 3rd business day after D** (D itself does not count, whatever the
  hour and whether or not D is a business day).  :func:`deadline` returns the first instant at
  which it is too late: local midnight after that 3rd business day, as naive UTC.  Example: a
  consent of Friday 15:00 can be recorded until Wednesday 23:59:59; from Thursday 00:00 İYS answers
  H467.  İYS does not publish its exact computation (gap 7 of the reference), so send the same day
  whenever possible; this rule is the one the simulator enforces too.
"""
from __future__ import annotations

import datetime as dt
import functools
import re

import holidays

from .const import DATE_FORMAT, DEADLINE_BUSINESS_DAYS, TR_TZ
from .errors import IysValidationError

__all__ = [
    'to_utc_naive', 'to_local', 'from_local', 'to_iys_date', 'parse_iys_date', 'is_business_day',
    'add_business_days', 'business_days_between', 'deadline', 'deadline_after_day', 'is_past_deadline', 'utcnow',
    'next_business_day', 'turkish_holidays', 'to_report_date',
]

_UTC = dt.timezone.utc
_IYS_DATE_RE = re.compile(r'\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}')


def utcnow() -> dt.datetime:
    """Current time as naive UTC, without microseconds."""
    return dt.datetime.now(_UTC).replace(tzinfo=None, microsecond=0)


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC and made naive."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f'expected a datetime, got {type(value).__name__}')
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    return value


def to_local(value: dt.datetime) -> dt.datetime:
    """Naive-UTC (or aware) datetime -> naive Turkish local time."""
    if value.__class__ is dt.datetime and value.tzinfo is None:
        return _naive_utc_to_local(value)
    return to_utc_naive(value).replace(tzinfo=_UTC).astimezone(TR_TZ).replace(tzinfo=None)


@functools.lru_cache(maxsize=16384)
def _naive_utc_to_local(value: dt.datetime) -> dt.datetime:
    """:func:`to_local` of a naive UTC datetime, cached: validating one movement converts its
    date several times (checks, İYS body, deadline), and the movements of a page or file share
    their seconds."""
    return value.replace(tzinfo=_UTC).astimezone(TR_TZ).replace(tzinfo=None)


def from_local(value: dt.datetime) -> dt.datetime:
    """Naive Turkish local time -> naive UTC."""
    if value.tzinfo is not None:
        return to_utc_naive(value)
    return value.replace(tzinfo=TR_TZ).astimezone(_UTC).replace(tzinfo=None)


def to_iys_date(value: dt.datetime) -> str:
    """Format a naive-UTC (or aware) datetime as İYS's ``YYYY-MM-DD HH:mm:ss`` in Turkish time.

    Microseconds are dropped (truncated), as İYS has second precision.
    """
    return to_local(value).strftime(DATE_FORMAT)


def to_report_date(value) -> str:
    """``YYYY-MM-DD`` for a reconciliation ``reportDate`` (accepts date, datetime or string)."""
    if isinstance(value, dt.datetime):
        return to_local(value).strftime('%Y-%m-%d')
    if isinstance(value, dt.date):
        return value.strftime('%Y-%m-%d')
    return str(value)


def parse_iys_date(value, field: str = 'consentDate') -> dt.datetime:
    """Parse İYS's ``YYYY-MM-DD HH:mm:ss`` (Turkish local time) into a naive UTC datetime.

    Raises IysValidationError H158 when the text does not have that shape (e.g. ISO ``T``/``Z``
    forms, a trailing newline) and H157 when it has the shape but is not a real date
    (``2025-02-30 10:00:00``).
    """
    if isinstance(value, str):
        parsed = _parse_iys_date_cached(str(value))
        if parsed is not None:
            return parsed
        if _IYS_DATE_RE.fullmatch(value):
            raise IysValidationError(
                'H157', f'{field} değeri {value!r} geçerli bir tarih değil.', location=[field], value=value,
                detail_en=f'{field} {value!r} is not a valid date.')
    raise IysValidationError(
        'H158', f'{field} değeri {value!r} YYYY-AA-GG SS:dd:ss biçiminde (Türkiye saati) olmalıdır.',
        location=[field], value=value,
        detail_en=f'{field} {value!r} must have the format YYYY-MM-DD HH:mm:ss (Turkish local time).')


@functools.lru_cache(maxsize=16384)
def _parse_iys_date_cached(value: str):
    """The naive UTC datetime of a well-formed İYS date, else None (then :func:`parse_iys_date`
    words the error). Cached: a pull page or an import file repeats the same seconds (İYS dates
    have second precision) and each movement carries two dates; datetimes are immutable."""
    if not _IYS_DATE_RE.fullmatch(value):
        return None
    try:
        # the shape is checked above: the fields are read by position (several times faster than
        # strptime, which matters when a file of a million rows is read)
        local = dt.datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                            int(value[14:16]), int(value[17:19]))
    except ValueError:
        return None
    return from_local(local)


@functools.lru_cache(maxsize=64)
def _holidays_for(year: int):
    return holidays.Turkey(years=year)


def turkish_holidays(year: int) -> dict:
    """Public holidays of *year* as ``{date: name}`` (half days excluded)."""
    return dict(_holidays_for(year))


def is_business_day(day) -> bool:
    """True for Monday–Friday that is not a Turkish public holiday.

    A :class:`datetime.date` is a calendar day in Turkish local time.  A :class:`datetime.datetime`
    is an instant like everywhere else in this module: naive means UTC (aware ones are converted),
    and the Turkish local date of that instant is checked (Sunday 22:30 UTC is Monday 01:30 in
    Türkiye).  Half-day holidays (arife afternoons, 28 Ekim afternoon) count as business days.
    """
    if isinstance(day, dt.datetime):
        day = to_local(day).date()
    if day.weekday() >= 5:
        return False
    return day not in _holidays_for(day.year)


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after *day* (local date)."""
    day = day + dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def add_business_days(value: dt.datetime, n: int) -> dt.datetime:
    """Move *value* (naive UTC) by *n* business days, keeping the Turkish local time of day.

    Days are counted in Turkish local time; the start day does not count.  ``n=0`` returns the
    value unchanged; a negative *n* moves backwards.
    """
    local = to_local(value)
    day = local.date()
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    while remaining:
        day += dt.timedelta(days=step)
        if is_business_day(day):
            remaining -= 1
    return from_local(dt.datetime.combine(day, local.time()))


def business_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Number of business days *d* with ``local(start).date() < d <= local(end).date()``.

    Negative when *end* is before *start*.  Both arguments are naive UTC (or aware).
    """
    a, b = to_local(start).date(), to_local(end).date()
    sign = 1
    if b < a:
        a, b, sign = b, a, -1
    count = 0
    day = a
    while day < b:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            count += 1
    return sign * count


def deadline(consent_date: dt.datetime, business_days: int = DEADLINE_BUSINESS_DAYS) -> dt.datetime:
    """First instant (naive UTC) at which a consent dated *consent_date* is too old for İYS (H467).

    That is local midnight at the end of the *business_days*-th business day after the consent's
    local date.  See the module docstring for the reasoning.
    """
    return deadline_after_day(to_local(consent_date).date(), business_days)


@functools.lru_cache(maxsize=4096)
def deadline_after_day(day: dt.date, business_days: int = DEADLINE_BUSINESS_DAYS) -> dt.datetime:
    """:func:`deadline` of any consent given on the Turkish local day *day* (cached per day: an
    import of a million rows has only a few hundred distinct days)."""
    for _ in range(business_days):
        day = next_business_day(day)
    return from_local(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


def is_past_deadline(consent_date: dt.datetime, now: dt.datetime | None = None) -> bool:
    """True when *now* (naive UTC, default: current time) is at or after :func:`deadline`."""
    now = to_utc_naive(now) if now is not None else utcnow()
    return now >= deadline(consent_date)
