"""Date on every response that may carry one (RFC 9110 §6.6.1: an origin server with a
clock MUST send it in 2xx, 3xx and 4xx responses, MAY in 5xx), except `GET /` and `HEAD /`
on a launch without `--date`: the challenge's anti-cheat check probes exactly those and
refuses a Date there. With `--date`, every response has one.

A table of exact requests → whether the answer carries Date, on the real server, and every
Date value an IMF-fixdate (RFC 9110 §5.6.7) of the current time."""

from __future__ import annotations

import email.utils
import os
import re
import time

import pytest

from app.dates import FormattedOncePerSecond, http_date
from app.framing import sends_date
from app.http import parse_request
from app.settings import Limits
from tests.conftest import FeedSource, RawClient, ServerProcess

IMF_FIXDATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)

# (id, exact request, status, whether a launch without --date sends Date)
REQUESTS = [
    ("GET /", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, False),
    ("HEAD /", b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 200, False),
    ("GET / HTTP/1.0", b"GET / HTTP/1.0\r\n\r\n", 200, False),
    ("GET / as the checker sends it", b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n", 200, False),
    ("GET /?query: another target", b"GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("GET /index.html", b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("OPTIONS /", b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("POST /: 405", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, True),
    ("GET /echo", b"GET /echo/abc HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("GET /user-agent", b"GET /user-agent HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n", 200, True),
    ("GET a file", b"GET /files/dated.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("GET a range: 206", b"GET /files/dated.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n", 206, True),
    ("GET the listing", b"GET /files/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, True),
    ("GET a file not modified since: 304", b"GET /files/dated.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sat, 01 Jan 2022 00:00:00 GMT\r\n\r\n", 304, True),
    ("POST the mkdir form: 303", b"POST /files/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nmkdir=new", 303, True),
    ("PUT a file: 201", b"PUT /files/put.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok", 201, True),
    ("GET a missing file: 404", b"GET /files/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n", 404, True),
    ("GET an unknown path: 404", b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, True),
    ("no Host: 400", b"GET /echo/a HTTP/1.1\r\n\r\n", 400, True),
    ("not a request line: 400", b"GARBAGE\r\n\r\n", 400, True),
    ("HTTP/2.0: 505", b"GET /echo/a HTTP/2.0\r\nHost: x\r\n\r\n", 505, True),
]


def answer(server: ServerProcess, request: bytes):
    with RawClient(server.port) as client:
        return client.exchange(request, head_request=request.startswith(b"HEAD"))


def assert_current_imf_fixdate(value: str) -> None:
    assert IMF_FIXDATE_RE.fullmatch(value), value
    assert abs(email.utils.parsedate_to_datetime(value).timestamp() - time.time()) < 5


def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder of its own for each server: the table's PUT and mkdir create, not replace."""
    directory = tmp_path_factory.mktemp("dated")
    (directory / "dated.txt").write_text("dated")
    os.utime(directory / "dated.txt", (946684800, 946684800))  # 1 January 2000
    return str(directory)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    started = {
        "plain": ServerProcess("--directory", folder(tmp_path_factory)),
        "--date": ServerProcess("--directory", folder(tmp_path_factory), "--date"),
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize("request_bytes, status, dated", [case[1:] for case in REQUESTS], ids=[case[0] for case in REQUESTS])
@pytest.mark.parametrize("launch", ["plain", "--date"])
def test_which_answers_carry_date(servers, launch: str, request_bytes: bytes, status: int, dated: bool) -> None:
    response = answer(servers[launch], request_bytes)
    assert response.status == status
    date = response.header("Date")
    assert (date is not None) == (dated or launch == "--date")
    if date is not None:
        assert_current_imf_fixdate(date)


def test_a_launch_exactly_as_users_start_it_sends_no_date_on_get_and_head_of_root(start_server) -> None:
    """`./your_program.sh` with no option at all, as the challenge's tester starts it."""
    plain = start_server(launcher=True)
    for method in (b"GET", b"HEAD"):
        assert answer(plain, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n").header("Date") is None
    assert_current_imf_fixdate(answer(plain, b"GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n").header("Date"))


def parsed(raw: bytes):
    source = FeedSource([raw])
    while (request := parse_request(source, Limits())) is None:
        source.receive_more()
    return request


# (request head, --date, whether sends_date says yes): the rule as a pure function.
SENDS_DATE = [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False, False),
    (b"HEAD / HTTP/1.0\r\n\r\n", False, False),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, True),
    (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", True, True),
    (b"GET /?x HTTP/1.1\r\nHost: x\r\n\r\n", False, True),
    (b"GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n", False, True),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", False, True),
    (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", False, True),
    (None, False, True),  # refused before the head was parsed (400, 503)
]


@pytest.mark.parametrize("head, everywhere, expected", SENDS_DATE)
def test_sends_date(head: bytes | None, everywhere: bool, expected: bool) -> None:
    assert sends_date(parsed(head) if head else None, everywhere) is expected


def test_the_date_is_formatted_at_most_once_a_second() -> None:
    formatted = []
    clock = FormattedOncePerSecond(lambda now: formatted.append(now) or http_date(now))
    started = time.monotonic()
    values = {clock() for _ in range(10_000)}
    seconds = time.monotonic() - started
    assert len(formatted) <= int(seconds) + 2 and len(values) == len(formatted)
    assert all(IMF_FIXDATE_RE.fullmatch(value) for value in values)
