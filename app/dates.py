"""HTTP dates (RFC 9110 §5.6.7) both ways: `http_date` writes an IMF-fixdate,
`parse_http_date` reads all three forms, and `current_date_line` is the Date field
line of a response, formatted at most once a second."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """A time as an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`:
    English names whatever the locale, always GMT."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


# RFC 9110 §5.6.7: HTTP-date = IMF-fixdate / obs-date. Names are case-sensitive (%s"..."),
# digits are ASCII DIGIT, and the separators are exactly one SP, "," or "-".
#   IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT     ; date1 = day SP month SP year
#   rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT   ; date2 = day "-" month "-" 2DIGIT
#   asctime-date = day-name SP date3 SP time-of-day SP year        ; date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
#   time-of-day  = hour ":" minute ":" second                      ; each 2DIGIT
_DAY_NAME = "|".join(_DAY_NAMES)
_DAY_NAME_L = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTH = "(?P<month>%s)" % "|".join(_MONTH_NAMES)
_TIME_OF_DAY = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
HTTP_DATE_RES = (
    re.compile(rf"(?:{_DAY_NAME}), (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME_OF_DAY} GMT"),
    re.compile(rf"(?:{_DAY_NAME_L}), (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME_OF_DAY} GMT"),
    re.compile(rf"(?:{_DAY_NAME}) {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME_OF_DAY} (?P<year>[0-9]{{4}})"),
)


def parse_http_date(value: str | None, now: float | None = None) -> float | None:
    """An HTTP-date in any of its three forms as a timestamp; None when absent or not an
    HTTP-date (a recipient then ignores the field: RFC 9110 §13.1.3, §13.1.4)."""
    match = match_http_date(value) if value is not None else None
    if match is None:
        return None
    year, month = int(match["year"]), _MONTH_NAMES.index(match["month"]) + 1
    if len(match["year"]) == 2:
        year = rfc850_year(year, time.gmtime(now).tm_year)
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "second"))
    if year < 1 or day < 1 or day > days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 60:  # second 60: a leap second (§5.6.7)
        return None
    return float(utc_timestamp(year, month, day, hour, minute, second))


# Days before the first of each month in a year that is not a leap year.
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def utc_timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """What `calendar.timegm` gives for a UTC time (proleptic Gregorian), without the
    `calendar` module: it imports `datetime` and `locale`, 0.4-0.8 MiB of RSS at start
    that a plain launch never otherwise needs (issue 20, idle memory)."""
    before = year - 1  # whole years since 0001-01-01, then days since 1970-01-01
    days = before * 365 + before // 4 - before // 100 + before // 400 - 719_162
    days += _DAYS_BEFORE_MONTH[month - 1] + (month > 2 and is_leap_year(year)) + day - 1
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def match_http_date(value: str) -> re.Match[str] | None:
    """The match of `value` against the first of the three forms it fits."""
    for pattern in HTTP_DATE_RES:
        match = pattern.fullmatch(value)
        if match is not None:
            return match
    return None


def rfc850_year(two_digits: int, current_year: int) -> int:
    """RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the
    future" is "the most recent year in the past that had the same last two digits"."""
    year = current_year - current_year % 100 + two_digits
    return year - 100 if year > current_year + 50 else year


class FormattedOncePerSecond:
    """The current time in some format, formatted at most once a second: a busy server
    asks for it on every request, and formatting costs more than looking it up.

    `cached` is `(start, end, text)`: the text holds while `start <= time.time() < end`.
    A hot path reads it inline, with no call (issue 20):

        start, end, text = clock.cached
        if not start <= time.time() < end:
            text = clock()

    (Both bounds: a clock set back formats the text anew too.)"""

    def __init__(self, format_time: Callable[[int], T]) -> None:
        self.format_time = format_time
        self.cached: tuple[float, float, T | None] = (0.0, 0.0, None)

    def __call__(self) -> T:
        now = time.time()
        start, end, text = self.cached  # one tuple: threads never see a half-updated one
        if not start <= now < end:
            second = int(now)
            text = self.format_time(second)
            self.cached = (second, second + 1, text)
        return text  # type: ignore[return-value]


def date_line(second: int) -> bytes:
    """The `Date` field line of a response sent during `second` (RFC 9110 §6.6.1)."""
    return b"Date: %s\r\n" % http_date(second).encode("ascii")


# The Date field line, shared by every response of the same second (`framing.response_head`).
current_date_line = FormattedOncePerSecond(date_line)
