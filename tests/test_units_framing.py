"""Unit table for response framing: `response_head()` (the exact head bytes: status line,
the handler's fields, then Date, Content-Length and Connection as the framing needs) and
`sends_body()` (whether the body goes on the wire), for each kind of status, method,
HTTP version, keep-alive decision and the Date switch.

RFC 9110 §6.4.1 and §8.6: 1xx, 204 and 304 have no content, so no Content-Length; §9.3.2:
HEAD gets the Content-Length a GET would have, and no body. RFC 9112 §9.3 and §9.6:
`Connection: close` when the connection ends, `Connection: keep-alive` for an HTTP/1.0
client whose connection stays. RFC 9110 §6.6.1: Date, only when switched on."""

from __future__ import annotations

import io

import pytest

from app import framing
from app.dates import FormattedOncePerSecond
from app.framing import (
    FileBody,
    Response,
    StreamBody,
    close_delimited,
    framed_pieces,
    response_head,
    sends_body,
)
from app.http import parse_request
from app.request import Request
from app.settings import Limits
from tests.conftest import FeedSource

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
TEXT = [("Content-Type", "text/plain")]
VALIDATORS = [("ETag", '"e-1"')]


def request(method: str, version: str = "HTTP/1.1") -> Request:
    """A request as the parser makes it from real bytes."""
    source = FeedSource([f"{method} /x {version}\r\nHost: localhost\r\n\r\n".encode()])
    while (parsed := parse_request(source, Limits())) is None:
        source.receive_more()
    return parsed


def file_body() -> FileBody:
    return FileBody(io.BytesIO(b"x" * 2000), offset=10, length=1000)


def stream_body() -> StreamBody:
    return StreamBody(iter([b"abc", b"", b"de"]))


# (id, response, request (method, version) or None, keep_open, date,
#  the exact head expected, whether the body is sent)
CASES = [
    # Content-Length whenever the status allows content.
    ("200-get", Response(200, TEXT, b"hello"), ("GET",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", True),
    ("200-empty", Response(200), ("GET",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    ("200-file", Response(200, [], file_body()), ("GET",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", True),
    ("201-post", Response(201, [("Location", "/files/a")]), ("POST",), True, False,
     b"HTTP/1.1 201 Created\r\nLocation: /files/a\r\nContent-Length: 0\r\n\r\n", True),
    ("206-range", Response(206, [("Content-Range", "bytes 0-4/14")], b"Hello"), ("GET",), True, False,
     b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/14\r\nContent-Length: 5\r\n\r\n", True),
    ("404-error", Response(404, TEXT, b"no\n"), ("GET",), True, False,
     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n", True),
    # HEAD: the Content-Length a GET would get, and no body.
    ("200-head", Response(200, TEXT, b"hello"), ("HEAD",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", False),
    ("200-head-file", Response(200, [], file_body()), ("HEAD",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", False),
    ("404-head", Response(404, TEXT, b"no\n"), ("HEAD",), True, False,
     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n", False),
    # 1xx, 204, 304: no content, so neither Content-Length nor a body.
    ("100-continue", Response(100), ("PUT",), True, False,
     b"HTTP/1.1 100 Continue\r\n\r\n", False),
    ("204-put", Response(204), ("PUT",), True, False,
     b"HTTP/1.1 204 No Content\r\n\r\n", False),
    ("204-options", Response(204, [("Allow", "GET, HEAD, OPTIONS")]), ("OPTIONS",), True, False,
     b"HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n", False),
    ("304-get", Response(304, VALIDATORS), ("GET",), True, False,
     b'HTTP/1.1 304 Not Modified\r\nETag: "e-1"\r\n\r\n', False),
    ("304-head", Response(304, VALIDATORS), ("HEAD",), True, False,
     b'HTTP/1.1 304 Not Modified\r\nETag: "e-1"\r\n\r\n', False),
    ("304-body-is-dropped", Response(304, VALIDATORS, b"stray"), ("GET",), True, False,
     b'HTTP/1.1 304 Not Modified\r\nETag: "e-1"\r\n\r\n', False),
    # Connection: close when the connection ends; keep-alive only for HTTP/1.0 that stays.
    ("1.1-keep-open", Response(200, TEXT, b"a"), ("GET", "HTTP/1.1"), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n", True),
    ("1.1-close", Response(200, TEXT, b"a"), ("GET", "HTTP/1.1"), False, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", True),
    ("1.0-keep-open", Response(200, TEXT, b"a"), ("GET", "HTTP/1.0"), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", True),
    ("1.0-close", Response(200, TEXT, b"a"), ("GET", "HTTP/1.0"), False, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", True),
    ("204-close", Response(204), ("DELETE",), False, False,
     b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", False),
    ("304-1.0-keep-open", Response(304, VALIDATORS), ("GET", "HTTP/1.0"), True, False,
     b'HTTP/1.1 304 Not Modified\r\nETag: "e-1"\r\nConnection: keep-alive\r\n\r\n', False),
    ("head-close", Response(200, TEXT, b"hello"), ("HEAD",), False, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", False),
    # No request (refused before its head was parsed, or a 503 at the door): always closes.
    ("400-no-request", Response(400, TEXT, b"bad\n"), None, False, False,
     b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n", True),
    ("503-no-request", Response(503, [("Retry-After", "1")], b"busy\n"), None, False, False,
     b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", True),
    # A body of unknown length (StreamBody): chunked to HTTP/1.1, close-delimited (no
    # Content-Length, and the connection closes) to HTTP/1.0; HEAD gets the same head.
    ("stream-1.1", Response(200, TEXT, stream_body()), ("GET",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", True),
    ("stream-1.1-head", Response(200, TEXT, stream_body()), ("HEAD",), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", False),
    ("stream-1.0", Response(200, TEXT, stream_body()), ("GET", "HTTP/1.0"), False, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n", True),
    ("stream-1.0-head", Response(200, TEXT, stream_body()), ("HEAD", "HTTP/1.0"), True, False,
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\n", False),
    # Date: only when switched on, after the handler's fields.
    ("date-on", Response(200, TEXT, b"a"), ("GET",), True, True,
     f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: {DATE}\r\nContent-Length: 1\r\n\r\n".encode(), True),
    ("date-on-304-close", Response(304, VALIDATORS), ("GET",), False, True,
     f'HTTP/1.1 304 Not Modified\r\nETag: "e-1"\r\nDate: {DATE}\r\nConnection: close\r\n\r\n'.encode(), False),
    ("date-on-no-request", Response(400, [], b"x"), None, False, True,
     f"HTTP/1.1 400 Bad Request\r\nDate: {DATE}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n".encode(), True),
]


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is the one input that is not in the table: fix it."""
    monkeypatch.setattr(framing, "current_date_line", FormattedOncePerSecond(lambda second: f"Date: {DATE}\r\n".encode()))


@pytest.mark.parametrize(
    "response, asked, keep_open, date, head, body_sent",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_framing(response: Response, asked, keep_open: bool, date: bool, head: bytes, body_sent: bool) -> None:
    answered = request(*asked) if asked is not None else None
    assert response_head(response, answered, keep_open, date) == head
    assert sends_body(response, answered) is body_sent


def test_framing_leaves_the_response_alone() -> None:
    response = Response(200, list(TEXT), b"a")
    response_head(response, request("GET"), keep_open=False, date=True)
    assert response.headers == TEXT


@pytest.mark.parametrize("name, value", [("X-A", "a\r\nSet-Cookie: x=1"), ("X-A", "a\nb"), ("X-A", "a\0b"), ("X A", "b")])
def test_a_field_that_would_split_the_head_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        response_head(Response(200, [(name, value)]), request("GET"), keep_open=True, date=False)


# (id, request (method, version), the bytes on the wire, whether the connection must close)
STREAM_CASES = [
    # RFC 9112 §7.1: each piece a chunk (hex size, CRLF, data, CRLF), the empty piece left
    # out (it would read as the last chunk), then last-chunk and an empty trailer section.
    ("chunked-1.1", ("GET", "HTTP/1.1"), b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", False),
    # §6.3 point 8: HTTP/1.0 has no chunked; the body ends when the connection does.
    ("close-delimited-1.0", ("GET", "HTTP/1.0"), b"abcde", True),
    ("head-1.0-sends-nothing", ("HEAD", "HTTP/1.0"), None, False),
]


@pytest.mark.parametrize("asked, wire, closes", [case[1:] for case in STREAM_CASES], ids=[c[0] for c in STREAM_CASES])
def test_stream_body_framing(asked, wire: bytes | None, closes: bool) -> None:
    answered = request(*asked)
    response = Response(200, TEXT, stream_body())
    assert close_delimited(response, answered) is closes
    if wire is not None:
        assert b"".join(framed_pieces(response.body, answered)) == wire


def test_a_long_piece_is_one_chunk_with_its_size_in_hex() -> None:
    piece = b"x" * 70000
    framed = b"".join(framed_pieces(StreamBody(iter([piece])), request("GET")))
    assert framed == b"11170\r\n" + piece + b"\r\n0\r\n\r\n"
