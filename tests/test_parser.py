"""The parser on exact bytes: every case is fed whole, one byte at a time, and with the
next request's bytes behind it (which must be left untouched in the buffer)."""

from __future__ import annotations

import pytest

from app.accesslog import escape_for_log
from app.compression import accepts_gzip
from app.errors import ClientDisconnected, ProtocolError
from app.fields import Headers
from app.framing import serialize_response_head
from app.http import parse_request
from app.request import Request
from app.settings import Limits
from tests.conftest import FeedSource

LIMITS = Limits()
NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: example\r\n\r\n"
FEEDS = ["whole", "bytewise"]


def parse(data: bytes, how: str, limits: Limits = LIMITS) -> tuple[Request, bytes, bytes]:
    """Parse one request and read its body; returns (request, body, bytes left over)."""
    source = FeedSource.split(data, how)
    while (request := parse_request(source, limits)) is None:
        source.receive_more()
    body = b"".join(request.body)
    leftover = bytes(source.buffer) + b"".join(source.pieces)
    return request, body, leftover


# (name, bytes in, expected method, target, version, headers, body)
VALID_REQUESTS = [
    (
        "simple GET",
        b"GET /echo/abc HTTP/1.1\r\nHost: localhost:4221\r\n\r\n",
        ("GET", "/echo/abc", "HTTP/1.1", [("host", "localhost:4221")], b""),
    ),
    (
        "names lowercased, optional whitespace stripped, obs-text kept",
        b"GET / HTTP/1.1\r\nHOST: x\r\nX-Thing:\t  a  b \t\r\nX-Latin: caf\xe9\r\nX-Empty:\r\n\r\n",
        ("GET", "/", "HTTP/1.1", [("host", "x"), ("x-thing", "a  b"), ("x-latin", "caf\xe9"), ("x-empty", "")], b""),
    ),
    (
        "Content-Length body",
        b"POST /files/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        ("POST", "/files/a", "HTTP/1.1", [("host", "x"), ("content-length", "5")], b"hello"),
    ),
    (
        "chunked body with extensions and trailers",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6 ; q=\"a\\\"b\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        ("POST", "/p", "HTTP/1.1", [("host", "x"), ("transfer-encoding", "chunked")], b"hello world"),
    ),
    (
        "chunked with upper-case hex and leading zeros",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n000A\r\n0123456789\r\n000\r\n\r\n",
        ("POST", "/p", "HTTP/1.1", [("host", "x"), ("transfer-encoding", "Chunked")], b"0123456789"),
    ),
    (
        "a higher minor version of HTTP/1 is processed as HTTP/1.1 (RFC 9110 section 2.5)",
        b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
        ("GET", "/", "HTTP/1.1", [("host", "x")], b""),
    ),
    (
        "HTTP/1.9 too, chunked body and all",
        b"POST /p HTTP/1.9\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        ("POST", "/p", "HTTP/1.1", [("host", "x"), ("transfer-encoding", "chunked")], b"a"),
    ),
    (
        "HTTP/1.0 needs no Host",
        b"GET /user-agent HTTP/1.0\r\nUser-Agent: old\r\n\r\n",
        ("GET", "/user-agent", "HTTP/1.0", [("user-agent", "old")], b""),
    ),
    (
        "empty lines before the request line are ignored (RFC 9112 section 2.2)",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ("GET", "/", "HTTP/1.1", [("host", "x")], b""),
    ),
    (
        "absolute-form target",
        b"GET http://localhost:4221/echo/hi?x=1 HTTP/1.1\r\nHost: localhost:4221\r\n\r\n",
        ("GET", "http://localhost:4221/echo/hi?x=1", "HTTP/1.1", [("host", "localhost:4221")], b""),
    ),
    (
        "OPTIONS in asterisk-form",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        ("OPTIONS", "*", "HTTP/1.1", [("host", "x")], b""),
    ),
    (
        "Transfer-Encoding: OWS (SP, HTAB) and empty elements around chunked, any case",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\t CHUNKED \t,\r\n\r\n1\r\na\r\n0\r\n\r\n",
        ("POST", "/p", "HTTP/1.1", [("host", "x"), ("transfer-encoding", ",\t CHUNKED \t,")], b"a"),
    ),
    (
        "CONNECT in authority-form (answered 501 by the handlers, not the parser)",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ("CONNECT", "example.com:443", "HTTP/1.1", [("host", "example.com:443")], b""),
    ),
    (
        "trailers that frame nothing are kept apart from the header fields",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Checksum: 1\r\nServer-Timing: a\r\n\r\n",
        ("POST", "/p", "HTTP/1.1", [("host", "x"), ("transfer-encoding", "chunked")], b""),
    ),
    (
        "Content-Length zero",
        b"POST /files/empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        ("POST", "/files/empty", "HTTP/1.1", [("host", "x"), ("content-length", "0")], b""),
    ),
]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize("trailing", [b"", NEXT_REQUEST], ids=["alone", "pipelined"])
@pytest.mark.parametrize("name, data, expected", VALID_REQUESTS, ids=[case[0] for case in VALID_REQUESTS])
def test_valid_request(name: str, data: bytes, expected: tuple, how: str, trailing: bytes) -> None:
    request, body, leftover = parse(data + trailing, how)
    method, target, version, headers, expected_body = expected
    assert (request.method, request.target, request.version) == (method, target, version)
    assert request.headers.fields == headers
    assert body == expected_body
    assert leftover == trailing
    head = data.lstrip(b"\r\n")
    assert request.raw_head == head[: head.index(b"\r\n\r\n") + 4]


def test_path_and_query_are_split() -> None:
    request, _, _ = parse(b"GET /echo?name=Alice&age=30 HTTP/1.1\r\nHost: x\r\n\r\n", "whole")
    assert (request.path, request.query) == ("/echo", "name=Alice&age=30")
    request, _, _ = parse(b"GET http://h:1/a/b?q HTTP/1.1\r\nHost: h:1\r\n\r\n", "whole")
    assert (request.path, request.query) == ("/a/b", "q")
    request, _, _ = parse(b"GET http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", "whole")
    assert (request.path, request.query) == ("/", "")


def test_trailers_are_kept() -> None:
    data = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 42\r\n\r\n"
    request, _, _ = parse(data, "bytewise")
    assert request.body.trailers.fields == [("x-sum", "42")]


def test_incomplete_head_needs_more_data_and_leaves_buffer() -> None:
    source = FeedSource([])
    source.buffer += b"GET / HTTP/1.1\r\nHost: x\r\n"
    assert parse_request(source, LIMITS) is None
    assert source.buffer == b"GET / HTTP/1.1\r\nHost: x\r\n"


def test_body_is_read_lazily_from_the_source() -> None:
    source = FeedSource([b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab", b"cd", b"ef" + NEXT_REQUEST])
    source.receive_more()
    request = parse_request(source, LIMITS)
    assert request is not None and not request.body.finished
    assert list(request.body) == [b"ab", b"cd", b"ef"]
    assert request.body.finished
    assert bytes(source.buffer) == NEXT_REQUEST


@pytest.mark.parametrize(
    "head, continues",
    [
        (b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 1),
        (b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n", 1),
        (b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", 0),
        # RFC 9110 section 10.1.1: a server MUST NOT send 100 to an HTTP/1.0 client.
        (b"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0),
    ],
)
def test_100_continue_is_sent_once_when_the_body_is_first_read(head: bytes, continues: int) -> None:
    body = b"3\r\nabc\r\n0\r\n\r\n" if b"chunked" in head else b"abc"
    source = FeedSource([head, body])
    source.receive_more()
    request = parse_request(source, LIMITS)
    assert request is not None
    assert source.continues_sent == 0  # not before the handler asks for the body
    assert request.body.read_all(100) == b"abc"
    assert source.continues_sent == continues


def test_no_continue_when_the_body_is_already_here() -> None:
    data = b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    request, body, _ = parse(data, "whole")
    assert body == b"abc"
    assert request.body.source.continues_sent == 0


@pytest.mark.parametrize(
    "data, keep_alive",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, CLOSE\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nConnection: Close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: ,\tclose ,\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: upgrade,keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_the_connection_options(data: bytes, keep_alive: bool) -> None:
    request, _, _ = parse(data, "whole")
    assert request.wants_keep_alive is keep_alive


# (bytes in, status, a part of the reason)
REFUSED_REQUESTS = [
    # request line (RFC 9112 section 3)
    (b"GET /\r\nHost: x\r\n\r\n", 400, "malformed request line"),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, "malformed request line"),
    (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid character in method"),
    (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid character in request target"),
    (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid character in request target"),
    (b"GET echo HTTP/1.1\r\nHost: x\r\n\r\n", 400, "must start with '/'"),
    # RFC 9112 section 3.2: a fragment is never part of the target
    (b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "'#' in request target"),
    (b"GET /# HTTP/1.1\r\nHost: x\r\n\r\n", 400, "'#' in request target"),
    (b"GET /a?b=c#d HTTP/1.1\r\nHost: x\r\n\r\n", 400, "'#' in request target"),
    (b"GET http://x/#top HTTP/1.1\r\nHost: x\r\n\r\n", 400, "'#' in request target"),
    (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "must start with '/'"),
    (b"GET / http/1.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"),
    (b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0 is not supported"),
    (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "HTTP/3.0 is not supported"),
    (b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505, "HTTP/0.9 is not supported"),
    # line endings (RFC 9112 section 2.2)
    (b"GET / HTTP/1.1\nHost: x\n\n", 400, "bare LF"),
    (b"GET / HTTP/1.1\r\nHost: x\n\r\n", 400, "bare LF"),
    (b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400, "bare CR"),
    # field lines (RFC 9112 section 5)
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400, "obs-fold"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "whitespace between header field name and colon"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "without a colon"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", 400, "invalid character in header field name"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "invalid character in value of header field X-A"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400, "invalid character in value"),
    # Host (RFC 9112 section 3.2)
    (b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"),
    (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host header"),
    # framing (RFC 9112 section 6)
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, "more than one"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3 3\r\n\r\nabc", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", 400, "plain digits"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "must end with chunked"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400, "must end with chunked"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "more than once"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "gzip is not implemented"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "not allowed in HTTP/1.0"),
    # list-valued framing fields: RFC 9110 section 5.6.1 alone (OWS is SP and HTAB, elements
    # are tokens); Python's idea of whitespace (0xA0, 0x85 as latin-1) must not decide
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\xa0chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x85\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,\xa0chunked\r\n\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;\r\n\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chun ked\r\n\r\n0\r\n\r\n", 400, "invalid Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;a=b\r\n\r\n0\r\n\r\n", 400, "must end with chunked"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n0\r\n\r\n", 400, "must end with chunked"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x;a=\"1,2\", chunked\r\n\r\n0\r\n\r\n", 501, "x;a=\"1,2\" is not implemented"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: \xa0close\r\n\r\n", 400, "invalid Connection header"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\x85\r\n\r\n", 400, "invalid Connection header"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close;x\r\n\r\n", 400, "invalid Connection header"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: \xa0100-continue\r\nContent-Length: 1\r\n\r\na", 400, "invalid Expect header"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\x85\r\nContent-Length: 1\r\n\r\na", 400, "invalid Expect header"),
    # CONNECT: authority-form only (RFC 9112 section 3.2.3), checked before the 501
    (b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT http://x:80/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT x HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT x: HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT x:4a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    (b"CONNECT user@x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "CONNECT target must be host:port"),
    # chunked body (RFC 9112 section 7.1)
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400, "not followed by CRLF"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "bare LF"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n", 400, "colon"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=" + b"b" * 65536 + b"\r\nhello\r\n0\r\n\r\n",
     400, "chunk-size line longer than 4096 bytes"),
    # trailers that would change framing, routing or authentication (RFC 9110 section 6.5.1)
    *[
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n%s: 1\r\n\r\n" % name, 400, "not allowed in the trailer section")
        for name in [b"Content-Length", b"transfer-encoding", b"Host", b"Connection", b"Expect", b"Trailer",
                     b"Authorization", b"Content-Type", b"Content-Encoding", b"Range", b"TE", b"Cookie",
                     b"Set-Cookie", b"Cache-Control", b"If-None-Match", b"Max-Forwards", b"Upgrade"]
    ],
]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize("data, status, reason", REFUSED_REQUESTS, ids=[repr(case[0][:48]) for case in REFUSED_REQUESTS])
def test_refused_request(data: bytes, status: int, reason: str, how: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(data + NEXT_REQUEST, how)
    assert caught.value.status == status
    assert reason in caught.value.reason


@pytest.mark.parametrize("how", FEEDS)
def test_request_line_longer_than_the_limit_is_414(how: str) -> None:
    limits = Limits(max_request_line=100)
    data = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        parse(data, how, limits)
    assert caught.value.status == 414


@pytest.mark.parametrize("how", FEEDS)
def test_too_many_header_fields_is_431(how: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 100 + b"\r\n"
    with pytest.raises(ProtocolError) as caught:
        parse(data, how)
    assert caught.value.status == 431


@pytest.mark.parametrize("how", FEEDS)
def test_header_section_larger_than_the_limit_is_431(how: str) -> None:
    limits = Limits(max_header_bytes=1000)
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        parse(data, how, limits)
    assert caught.value.status == 431


def test_read_all_refuses_a_body_over_its_limit_before_reading_it() -> None:
    source = FeedSource([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"])
    source.receive_more()
    request = parse_request(source, LIMITS)
    with pytest.raises(ProtocolError) as caught:
        request.body.read_all(10)
    assert caught.value.status == 413


@pytest.mark.parametrize("how", FEEDS)
def test_read_all_refuses_a_chunked_body_over_its_limit(how: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n"
    source = FeedSource.split(data, how)
    while (request := parse_request(source, LIMITS)) is None:
        source.receive_more()
    with pytest.raises(ProtocolError) as caught:
        request.body.read_all(10)
    assert caught.value.status == 413


def test_a_body_cut_off_raises_client_disconnected() -> None:
    with pytest.raises(ClientDisconnected):
        parse(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "whole")


def test_a_body_that_looks_like_a_request_stays_a_body() -> None:
    smuggled = b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n"
    data = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    request, body, leftover = parse(data + NEXT_REQUEST, "bytewise")
    assert body == smuggled
    assert leftover == NEXT_REQUEST


@pytest.mark.parametrize(
    "accept_encoding, gzip_ok",
    [
        (None, False),
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("invalid-encoding-1, gzip, invalid-encoding-2", True),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=0.5", True),
        ("GZIP;Q=1.0", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0.1", True),
        ("identity", False),
        ("gzip;q=2", False),  # malformed weight: the field is ignored
        ("", False),
        # RFC 9110 section 12.4.2: qvalue grammar exactly; a field outside it is ignored
        # as a whole (as if absent: identity).
        ("gzip;q=0.001", True),
        ("gzip ; Q=1.000", True),
        ("gzip;q=1.001", False),
        ("gzip;q=0.0001", False),
        ("gzip;q=.5", False),
        ("gzip;q=1e0", False),
        ("gzip;q=0.5_0", False),
        ("gzip;q=\u0661", False),
        ("gzip;q= 1", False),
        ("gzip;q=nan", False),
        ("gzip, deflate;q=2", False),
        ("\xa0gzip", False),
        ("gzip\x85", False),
        ("\tgzip\t, br", True),
        ("g\u0130zip", False),
    ],
)
def test_accept_encoding_negotiation(accept_encoding: str | None, gzip_ok: bool) -> None:
    headers = Headers([] if accept_encoding is None else [("accept-encoding", accept_encoding)])
    assert accepts_gzip(headers) is gzip_ok


def test_response_head_serialization() -> None:
    head = serialize_response_head(201, [("Content-Length", "0")])
    assert head == b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    assert serialize_response_head(413, []) == b"HTTP/1.1 413 Content Too Large\r\n\r\n"


@pytest.mark.parametrize("name, value", [("X-A", "a\r\nSet-Cookie: x"), ("X-A", "a\nb"), ("X A", "b"), ("X-A", "\0")])
def test_response_header_injection_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        serialize_response_head(200, [(name, value)])


def test_log_escaping() -> None:
    assert escape_for_log('GET /\x1b[31mred"\\ HTTP/1.1\n') == 'GET /\\x1b[31mred\\"\\\\ HTTP/1.1\\x0a'
