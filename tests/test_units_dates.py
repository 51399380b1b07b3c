"""Unit table for `parse_http_date()`: the three HTTP-date forms of RFC 9110 §5.6.7
(IMF-fixdate, the obsolete RFC 850 form and asctime), ASCII only, exactly as the ABNF
spells them; anything else is None (the field is then ignored, §13.1.3, §13.1.4)."""

from __future__ import annotations

import calendar
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.dates import days_in_month, http_date, parse_http_date, utc_timestamp

NOV_6_1994 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example
NOW = calendar.timegm((2026, 12, 1, 0, 0, 0))  # the two-digit years below are read from here

# (id, value, expected timestamp or None)
CASES = [
    ("imf-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", NOV_6_1994),
    ("rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", NOV_6_1994),
    ("asctime-space-padded-day", "Sun Nov  6 08:49:37 1994", NOV_6_1994),
    ("asctime-two-digit-day", "Sun Nov 06 08:49:37 1994", NOV_6_1994),
    ("leap-second", "Sat, 31 Dec 2016 23:59:60 GMT", calendar.timegm((2017, 1, 1, 0, 0, 0))),
    ("leap-day", "Thu, 29 Feb 2024 00:00:00 GMT", calendar.timegm((2024, 2, 29, 0, 0, 0))),
    # §5.6.7: a two-digit year more than 50 years ahead is in the past century.
    ("rfc850-year-within-50-years", "Monday, 01-Jan-76 00:00:00 GMT", calendar.timegm((2076, 1, 1, 0, 0, 0))),
    ("rfc850-year-over-50-years", "Friday, 01-Jan-77 00:00:00 GMT", calendar.timegm((1977, 1, 1, 0, 0, 0))),
    # Names and GMT are case-sensitive (%s"..."), separators are exact.
    ("lowercase-gmt", "Sun, 06 Nov 1994 08:49:37 gmt", None),
    ("lowercase-month", "Sun, 06 nov 1994 08:49:37 GMT", None),
    ("utc-is-not-gmt", "Sun, 06 Nov 1994 08:49:37 UTC", None),
    ("numeric-zone", "Sun, 06 Nov 1994 08:49:37 +0000", None),
    ("no-day-name", "06 Nov 1994 08:49:37 GMT", None),
    ("long-day-name-in-imf", "Sunday, 06 Nov 1994 08:49:37 GMT", None),
    ("one-digit-day-in-imf", "Sun, 6 Nov 1994 08:49:37 GMT", None),
    ("two-spaces", "Sun, 06 Nov 1994  08:49:37 GMT", None),
    ("trailing-space", "Sun, 06 Nov 1994 08:49:37 GMT ", None),
    ("tab-for-space", "Sun,\t06 Nov 1994 08:49:37 GMT", None),
    ("nbsp-for-space", "Sun,\xa006 Nov 1994 08:49:37 GMT", None),
    ("nel-after", "Sun, 06 Nov 1994 08:49:37 GMT\x85", None),
    ("arabic-indic-digit", "Sun, \u06606 Nov 1994 08:49:37 GMT", None),
    ("fullwidth-digit", "Sun, 0\uff16 Nov 1994 08:49:37 GMT", None),
    ("two-digit-year-in-imf", "Sun, 06 Nov 94 08:49:37 GMT", None),
    # Values out of range.
    ("february-30", "Sun, 30 Feb 1994 08:49:37 GMT", None),
    ("day-zero", "Sun, 00 Nov 1994 08:49:37 GMT", None),
    ("hour-24", "Sun, 06 Nov 1994 24:00:00 GMT", None),
    ("minute-60", "Sun, 06 Nov 1994 08:60:00 GMT", None),
    ("second-61", "Sun, 06 Nov 1994 08:49:61 GMT", None),
    ("year-zero", "Mon, 01 Jan 0000 00:00:00 GMT", None),
    ("empty", "", None),
    ("not-a-date", "yesterday", None),
    ("absent", None, None),
]


@pytest.mark.parametrize("value, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_parse_http_date(value: str | None, expected: float | None) -> None:
    assert parse_http_date(value, now=NOW) == expected


@pytest.mark.parametrize("timestamp", [0, NOV_6_1994, 1_000_000_000, 4_102_444_799])
def test_what_we_send_we_read_back(timestamp: float) -> None:
    assert parse_http_date(http_date(timestamp)) == timestamp


@given(st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59)))
def test_utc_timestamp_is_calendar_timegm(moment: datetime.datetime) -> None:
    """`dates.utc_timestamp` stands in for `calendar.timegm` (not imported at run time)."""
    fields = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    assert utc_timestamp(*fields) == calendar.timegm(fields)
    assert days_in_month(moment.year, moment.month) == calendar.monthrange(moment.year, moment.month)[1]
