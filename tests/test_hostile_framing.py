"""Hostile framing: request smuggling vectors and malformed syntax, end to end.

Each case is the exact bytes sent on a fresh connection and the status expected. Every
refusal must carry `Connection: close`, a one-line text/plain reason, and be followed by
the server closing the connection (after a framing error the next request's start cannot
be trusted). After every case the server must still answer a plain request.
"""

from __future__ import annotations

import pytest

from app.errors import ProtocolError
from app.http import parse_request
from app.settings import Limits
from tests.conftest import FeedSource

H = b"Host: localhost\r\n"

# (id, bytes sent, status expected). The RFC rule each case attacks is in app/request.py or app/bodies.py.
REFUSED: list[tuple[str, bytes, int]] = [
    # --- Content-Length and Transfer-Encoding together (RFC 9112 §6.1, §6.3 point 3)
    ("cl-then-te", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-then-cl", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("cl-and-te-identity", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc", 400),
    # --- Content-Length: one value, plain digits (RFC 9112 §6.3 point 5, RFC 9110 §8.6)
    ("cl-twice-same", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("cl-twice-differ", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl-list", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    ("cl-plus-sign", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400),
    ("cl-minus-sign", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-inner-space", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 1 2\r\n\r\nabcdefghijkl", 400),
    ("cl-hex", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n\r\nabc", 400),
    ("cl-exponent", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 3e0\r\n\r\nabc", 400),
    ("cl-empty", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n", 400),
    ("cl-overflow", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551619\r\n\r\n", 400),
    ("cl-unicode-digit", b"GET /echo HTTP/1.1\r\n" + H + "Content-Length: \u0663\r\n\r\nabc".encode("utf-8"), 400),
    # --- Transfer-Encoding must end with chunked, once (RFC 9112 §6.1, §6.3 point 4)
    ("te-gzip-only", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc", 400),
    ("te-chunked-then-gzip", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("te-identity", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("te-chunked-twice", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-chunked-two-lines", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-empty-list", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,\r\n\r\n0\r\n\r\n", 400),
    ("te-xchunked", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te-chunked-parameter", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
    ("te-vertical-tab", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", 400),
    ("te-in-http-1.0", b"GET /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-unknown-coding", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    # --- chunk sizes: hex digits only, at most 16, line and data end with CRLF (RFC 9112 §7.1)
    ("chunk-negative", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-plus", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-0x", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-empty-size", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-17-digits", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n00000000000000003\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size-space", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size-bare-lf", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
    ("chunk-data-too-long", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-data-bare-lf", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400),
    ("chunk-data-no-crlf", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n", 400),
    ("chunk-bad-extension", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3;a b\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-huge-size", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc", 413),
    ("trailer-obs-fold", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400),
    # --- line ends: CRLF only (RFC 9112 §2.2)
    ("bare-lf-request-line", b"GET / HTTP/1.1\n" + H + b"\r\n", 400),
    ("bare-lf-field-line", b"GET / HTTP/1.1\r\nHost: localhost\nX: y\r\n\r\n", 400),
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: localhost\n\n", 400),
    ("bare-lf-end-of-head", b"GET / HTTP/1.1\r\nHost: localhost\r\n\n", 400),
    ("bare-cr-request-line", b"GET / HTTP/1.1\rHost: localhost\r\n\r\n", 400),
    ("bare-cr-field-line", b"GET / HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n", 400),
    ("bare-cr-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    ("bare-cr-everywhere", b"GET / HTTP/1.1\rHost: localhost\r\r", 400),
    # --- field lines (RFC 9112 §5.1, §5.2, §2.2; RFC 9110 §5.5)
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n\tb\r\n\r\n", 400),
    ("space-before-first-field", b"GET / HTTP/1.1\r\n " + H + b"\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400),
    ("tab-before-colon", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length\t: 3\r\n\r\nabc", 400),
    ("te-space-before-colon", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\n" + H + b"X-No-Colon\r\n\r\n", 400),
    ("empty-name", b"GET / HTTP/1.1\r\n" + H + b": value\r\n\r\n", 400),
    ("nul-in-name", b"GET / HTTP/1.1\r\n" + H + b"X\x00Y: z\r\n\r\n", 400),
    ("control-in-name", b"GET / HTTP/1.1\r\n" + H + b"X\x01Y: z\r\n\r\n", 400),
    ("non-ascii-name", b"GET / HTTP/1.1\r\n" + H + b"Transfer-Encoding\xa0: chunked\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    ("control-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x1bb\r\n\r\n", 400),
    ("del-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", 400),
    # --- request line (RFC 9112 §3, §3.2, §2.3)
    ("nul-in-target", b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("control-in-target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("del-in-target", b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("tab-in-target", b"GET /a\tb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("non-ascii-target", b"GET /\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("double-space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("no-version", b"GET /\r\n" + H + b"\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("two-digit-version", b"GET / HTTP/1.10\r\n" + H + b"\r\n", 400),
    ("version-2", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("control-in-method", b"G\x00T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    # A TLS ClientHello's first bytes (RFC 8446 §5.1): refused at the first byte, not after
    # the header timeout (request.TLS_ON_PLAIN_PORT).
    ("tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),
    ("target-not-a-path", b"GET echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    # --- Host (RFC 9112 §3.2)
    ("host-missing", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("host-twice", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("host-twice-same", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("host-twice-http-1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-with-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host-with-at", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
]


# Where another rule would refuse the bytes too, the reason shows which rule did.
REASONS: dict[str, bytes] = {
    "obs-fold": b"obs-fold",
    "obs-fold-tab": b"obs-fold",
    "space-before-first-field": b"obs-fold",
    "trailer-obs-fold": b"obs-fold",
    "space-before-colon": b"whitespace between header field name and colon",
    "tab-before-colon": b"whitespace between header field name and colon",
    "te-space-before-colon": b"whitespace between header field name and colon",
    "chunk-data-too-long": b"chunk data not followed by CRLF",
    "chunk-data-bare-lf": b"chunk data not followed by CRLF",
    "chunk-data-no-crlf": b"chunk data not followed by CRLF",
    "bare-cr-everywhere": b"bare CR",
    "bare-lf-everywhere": b"bare LF",
    "cl-and-te-identity": b"both Content-Length and Transfer-Encoding",
    "cl-twice-same": b"more than one Content-Length",
    "te-chunked-two-lines": b"chunked applied more than once",
    "tls-client-hello": b"this port speaks plain HTTP",
}


@pytest.mark.parametrize("case, sent, status", REFUSED, ids=[case[0] for case in REFUSED])
def test_refused_and_closed(server, case: str, sent: bytes, status: int) -> None:
    with server.connect() as client:
        client.send(sent)
        response = client.read_response()
        assert response.status == status, response.raw
        assert REASONS.get(case, b"") in response.body
        assert response.header("Connection") == "close"
        assert response.header("Content-Type") == "text/plain; charset=utf-8"
        assert response.body.endswith(b"\n") and response.body.count(b"\n") == 1
        assert client.is_closed_by_server(within=5)
    server.assert_answers()


def test_refusal_does_not_wait_for_the_rest_of_a_bare_lf_head(server) -> None:
    """A head with bare LF line ends never gets its CRLF CRLF; it is refused at once
    instead of after the header timeout."""
    with server.connect(timeout=3) as client:
        response = client.exchange(b"GET / HTTP/1.1\nHost: localhost\nX: y")
    assert response.status == 400
    server.assert_answers()


# --- A body that looks like a request is never parsed as one -----------------------------

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
FOLLOW_UP = b"GET /user-agent HTTP/1.1\r\nHost: localhost\r\nUser-Agent: follow-up\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


@pytest.mark.parametrize(
    "first, status, body",
    [
        # The handler reads the body: the "request" comes back as data.
        (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED, 200, None),
        (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SMUGGLED), 200, None),
        # The handler ignores the body: the connection reads and drops it.
        (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED, 405, None),
        (b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SMUGGLED), 405, None),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED, 200, b""),
    ],
    ids=["echo-content-length", "echo-chunked", "405-content-length", "405-chunked", "root-content-length"],
)
def test_body_that_looks_like_a_request_is_data(server, first: bytes, status: int, body: bytes | None) -> None:
    with server.connect() as client:
        client.send(first + FOLLOW_UP)
        response = client.read_response()
        assert response.status == status
        if status == 200 and body is None:
            assert response.body.endswith(SMUGGLED)
        # The very next response is the follow-up's, not one for /smuggled.
        follow_up = client.read_response()
        assert follow_up.status == 200 and follow_up.body == b"follow-up"
    server.assert_answers()


def test_pipelined_requests_after_a_refusal_are_not_answered(server) -> None:
    """After a framing error the server answers once and closes: the bytes behind the bad
    request are never taken for a request."""
    with server.connect() as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 30\r\n\r\n" + SMUGGLED)
        response = client.read_response()
        assert response.status == 400
        assert client.read_until_closed() == b""
    server.assert_answers()


# --- The same cases at the parser, fed whole, byte by byte, and with a request behind ------

NEXT_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.mark.parametrize("how", ["whole", "bytewise", "with-next-request"])
@pytest.mark.parametrize("case, sent, status", REFUSED, ids=[case[0] for case in REFUSED])
def test_refused_by_the_parser(case: str, sent: bytes, status: int, how: str) -> None:
    data = sent + NEXT_REQUEST if how == "with-next-request" else sent
    source = FeedSource.split(data, "bytewise" if how == "bytewise" else "whole")
    with pytest.raises(ProtocolError) as refusal:
        while (request := parse_request(source, Limits())) is None:
            source.receive_more()
        b"".join(request.body)  # the body's framing is checked as it is read
    assert refusal.value.status == status
    assert REASONS.get(case, b"").decode() in refusal.value.reason
