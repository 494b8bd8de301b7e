"""Tests of iyslib.dates: wire format, Turkish time and the business-day deadline (H467)."""
import datetime as dt

import pytest

from iyslib.dates import (
    add_business_days,
    business_days_between,
    deadline,
    from_local,
    is_business_day,
    is_past_deadline,
    next_business_day,
    parse_iys_date,
    to_iys_date,
    to_local,
)
from iyslib.errors import IysValidationError

D = dt.date
T = dt.datetime
UTC = dt.timezone.utc


def local(*a):
    """Naive UTC instant of a Turkish local time."""
    return from_local(T(*a))


def test_to_iys_date_converts_utc_to_turkish_time():
    assert to_iys_date(T(2026, 11, 23, 9, 0, 0)) == '2026-11-23 12:00:00'
    assert to_iys_date(T(2026, 12, 31, 22, 30, 5, 999999)) == '2027-01-01 01:30:05'
    assert to_iys_date(T(2026, 11, 23, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))) == '2026-11-23 12:00:00'
    assert to_iys_date(T(2026, 11, 23, 9, 0, tzinfo=UTC)) == '2026-11-23 12:00:00'


def test_parse_iys_date_round_trip_and_2015_dst():
    assert parse_iys_date('2026-11-23 12:00:00') == T(2026, 11, 23, 9, 0, 0)
    # 1 May 2015 was summer time (+03) too: the law's start instant is 2015-04-30 21:00 UTC.
    assert parse_iys_date('2015-05-01 00:00:00') == T(2015, 4, 30, 21, 0, 0)
    for s in ('2026-01-01 00:00:00', '2026-07-15 23:59:59', '2015-05-01 00:00:00'):
        assert to_iys_date(parse_iys_date(s)) == s


@pytest.mark.parametrize('bad', ['2026-11-23T12:00:00', '2026-11-23T09:00:00Z', '2026-11-23', '23.11.2026 12:00:00',
                                 '2026-11-23 12:00', '', None, 20261123])
def test_parse_iys_date_format_is_h158(bad):
    with pytest.raises(IysValidationError) as ei:
        parse_iys_date(bad)
    assert ei.value.code == 'H158'
    assert 'YYYY' in ei.value.message


@pytest.mark.parametrize('bad', ['2026-02-30 10:00:00', '2026-13-01 00:00:00', '2026-11-23 24:00:00'])
def test_parse_iys_date_invalid_is_h157(bad):
    with pytest.raises(IysValidationError) as ei:
        parse_iys_date(bad)
    assert ei.value.code == 'H157'
    assert bad in ei.value.message


@pytest.mark.parametrize('day,expected', [
    (D(2026, 11, 23), True),    # Monday
    (D(2026, 11, 21), False),   # Saturday
    (D(2026, 11, 22), False),   # Sunday
    (D(2026, 10, 29), False),   # Cumhuriyet Bayramı
    (D(2026, 10, 28), True),    # half day (afternoon off): business day
    (D(2026, 3, 19), True),     # Ramazan Bayramı arife, half day: business day
    (D(2026, 3, 20), False),    # Ramazan Bayramı 1
    (D(2026, 5, 26), True),     # Kurban Bayramı arife, half day
    (D(2026, 5, 27), False), (D(2026, 5, 28), False), (D(2026, 5, 29), False),
    (D(2027, 1, 1), False),     # Yılbaşı
    (D(2026, 12, 31), True),
    (D(2026, 7, 15), False), (D(2026, 5, 19), False), (D(2026, 4, 23), False), (D(2026, 5, 1), False),
])
def test_is_business_day(day, expected):
    assert is_business_day(day) is expected


def test_add_business_days_keeps_local_time_and_skips_holidays():
    # Friday 2026-11-20 15:00 local + 1 business day = Monday 15:00 local
    assert add_business_days(local(2026, 11, 20, 15, 0), 1) == local(2026, 11, 23, 15, 0)
    # Wednesday 28 Ekim + 1 = Friday 30 Ekim (29 is a holiday)
    assert add_business_days(local(2026, 10, 28, 10, 0), 1) == local(2026, 10, 30, 10, 0)
    assert add_business_days(local(2026, 10, 30, 10, 0), -1) == local(2026, 10, 28, 10, 0)
    assert add_business_days(local(2026, 11, 23, 1, 0), 0) == local(2026, 11, 23, 1, 0)
    # across the year end: Thu 31 Dec 2026 + 1 = Mon 4 Jan 2027 (1 Jan holiday, then weekend)
    assert add_business_days(local(2026, 12, 31, 9, 0), 1) == local(2027, 1, 4, 9, 0)


def test_business_days_between():
    assert business_days_between(local(2026, 11, 20, 15), local(2026, 11, 25, 10)) == 3
    assert business_days_between(local(2026, 11, 25, 10), local(2026, 11, 20, 15)) == -3
    assert business_days_between(local(2026, 11, 23, 1), local(2026, 11, 23, 23)) == 0
    assert business_days_between(local(2026, 5, 25, 12), local(2026, 6, 2, 12)) == 3  # 26 May, 1 Jun, 2 Jun


@pytest.mark.parametrize('consent_local,deadline_local', [
    # Friday afternoon -> Mon, Tue, Wed count -> too late from Thursday 00:00
    ((2026, 11, 20, 15, 0), (2026, 11, 26)),
    # Saturday -> Mon, Tue, Wed
    ((2026, 11, 21, 10, 0), (2026, 11, 26)),
    # Monday 00:00:01 -> Tue, Wed, Thu
    ((2026, 11, 23, 0, 0, 1), (2026, 11, 27)),
    # Monday 23:59 local (20:59 UTC) is still Monday in Turkey
    ((2026, 11, 23, 23, 59), (2026, 11, 27)),
    # 29 Ekim 2026 (Thursday holiday): consent on Tue 27 -> Wed 28 (half day), Fri 30, Mon 2 Nov
    ((2026, 10, 27, 11, 0), (2026, 11, 3)),
    # Ramazan Bayramı 2026 (20-22 Mar): consent on arife Thu 19 -> Mon 23, Tue 24, Wed 25
    ((2026, 3, 19, 16, 0), (2026, 3, 26)),
    # consent Wed 18 Mar -> Thu 19 (half day counts), Mon 23, Tue 24
    ((2026, 3, 18, 9, 0), (2026, 3, 25)),
    # Kurban Bayramı 2026 (27-30 May): consent Mon 25 May -> Tue 26 (arife), Mon 1 Jun, Tue 2 Jun
    ((2026, 5, 25, 12, 0), (2026, 6, 3)),
    # year end: Thu 31 Dec 2026 -> Mon 4, Tue 5, Wed 6 Jan 2027
    ((2026, 12, 31, 18, 0), (2027, 1, 7)),
    # Tue 29 Dec 2026 -> Wed 30, Thu 31, Mon 4 Jan
    ((2026, 12, 29, 18, 0), (2027, 1, 5)),
])
def test_deadline(consent_local, deadline_local):
    cd = local(*consent_local)
    limit = deadline(cd)
    assert limit == local(*deadline_local, 0, 0)
    assert not is_past_deadline(cd, limit - dt.timedelta(seconds=1))
    assert is_past_deadline(cd, limit)


def test_deadline_utc_boundary():
    # 2026-11-23 21:30 UTC is already Tuesday 00:30 in Turkey: the count starts from Tuesday.
    cd = T(2026, 11, 23, 21, 30)
    assert to_local(cd).date() == D(2026, 11, 24)
    assert deadline(cd) == local(2026, 11, 28, 0, 0)  # Wed, Thu, Fri -> Saturday 00:00


def test_is_business_day_reads_a_datetime_as_naive_utc():
    # Friday 2026-11-20 21:30 UTC is Saturday 00:30 in Türkiye: not a business day
    assert is_business_day(dt.datetime(2026, 11, 20, 21, 30)) is False
    assert is_business_day(D(2026, 11, 20)) is True                   # a date is a local calendar day
    # Sunday 2026-11-22 22:30 UTC is Monday 01:30 in Türkiye
    assert is_business_day(dt.datetime(2026, 11, 22, 22, 30)) is True
    assert is_business_day(D(2026, 11, 22)) is False
    aware = dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))   # Saturday local
    assert is_business_day(aware) is False


def test_parse_iys_date_refuses_a_trailing_newline():
    with pytest.raises(IysValidationError) as ei:
        parse_iys_date('2026-11-23 10:00:00\n')
    assert ei.value.code == 'H158'
    assert parse_iys_date('2026-11-23 10:00:00') == T(2026, 11, 23, 7, 0)


@pytest.mark.parametrize('text', ['2026-02-30 10:00:00', '2026-13-01 10:00:00', '2026-11-23 24:00:00',
                                  '2026-11-23 10:60:00', '2026-11-23 10:00:60', '0000-01-01 00:00:00'])
def test_parse_iys_date_refuses_impossible_dates(text):
    with pytest.raises(IysValidationError) as ei:
        parse_iys_date(text)
    assert ei.value.code == 'H157'


def test_deadline_after_day_is_the_deadline_of_every_instant_of_that_day():
    # every hour of a year, in Turkish time: the per-day (cached) deadline is the instant's deadline,
    # counted afresh here without the cache
    start = local(2026, 1, 1, 0, 30)
    for hours in range(0, 366 * 24, 5):
        cd = start + dt.timedelta(hours=hours)
        day = to_local(cd).date()
        expected = day
        for _ in range(3):
            expected = next_business_day(expected)
        assert deadline(cd) == local(*(expected + dt.timedelta(days=1)).timetuple()[:3], 0, 0)
