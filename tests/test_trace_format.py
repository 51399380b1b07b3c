"""Unit tables for how a trace reads (app/trace.py): escaping, redaction, body previews as
text or hex, colours, and the words for a body and a request's place on its connection."""

from __future__ import annotations

import io

import pytest

from app.framing import FileBody, Response
from app.trace import (
    as_text,
    body_lines,
    body_summary,
    escape_head_bytes,
    exchange_title,
    head_lines,
    hex_lines,
    paint,
    redact,
    split_lines,
    tagged,
    use_colour,
)


@pytest.mark.parametrize(
    "data, shown",
    [
        (b"GET / HTTP/1.1\r\n", r"GET / HTTP/1.1\r\n"),
        (b"bare LF\n", r"bare LF\n"),
        (b"tab\there", r"tab\there"),
        (b"back\\slash", r"back\\slash"),
        (b"nul\x00 esc\x1b del\x7f", r"nul\x00 esc\x1b del\x7f"),
        (b"latin-1 \xe9 \xff \x85", r"latin-1 \xe9 \xff \x85"),
        (b"\x1b[31mred\x1b[0m", r"\x1b[31mred\x1b[0m"),  # cannot colour or move the terminal
    ],
)
def test_escape_head_bytes(data: bytes, shown: str) -> None:
    assert escape_head_bytes(data) == shown


@pytest.mark.parametrize(
    "data, lines",
    [
        (b"a\r\nb\r\n\r\n", [b"a\r\n", b"b\r\n", b"\r\n"]),
        (b"a\nb\r\n", [b"a\n", b"b\r\n"]),
        (b"a\r\nunfinished", [b"a\r\n", b"unfinished"]),
        (b"bare\rCR\r\n", [b"bare\rCR\r\n"]),
        (b"", []),
    ],
)
def test_split_lines_keeps_each_line_end(data: bytes, lines: list[bytes]) -> None:
    assert split_lines(data) == lines


@pytest.mark.parametrize(
    "line, redacted",
    [
        (b"Authorization: Basic dXNlcjpwYXNz\r\n", b"Authorization: [redacted, 18 bytes]\r\n"),
        (b"cookie:   a=1; b=2  \r\n", b"cookie: [redacted, 8 bytes]\r\n"),
        (b"Set-Cookie: id=42", b"Set-Cookie: [redacted, 5 bytes]"),
        (b"Proxy-Authorization:\r\n", b"Proxy-Authorization: [redacted, 0 bytes]\r\n"),
    ],
)
def test_redact(line: bytes, redacted: bytes) -> None:
    assert redact(line) == redacted


SECRET = b"s3cr3t-t0ken"


@pytest.mark.parametrize(
    "field_line",
    [
        b"Authorization: Bearer " + SECRET,
        b"Proxy-Authorization: Basic " + SECRET,
        b"Cookie: session=" + SECRET,
        b"Set-Cookie: session=" + SECRET + b"; HttpOnly",
        b"AUTHORIZATION: " + SECRET,
        b"Cookie : " + SECRET,  # refused (space before the colon), and still hidden
        b"Cookie: a=1\r\n " + SECRET,  # obs-fold: refused, and the continuation hidden too
        b"Cookie: " + SECRET + b"\n",  # a bare LF line end
    ],
)
def test_head_lines_never_show_a_secret(field_line: bytes) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + field_line + b"\r\nAccept: */*\r\n\r\n"
    lines = head_lines(head)
    assert all(SECRET.decode() not in line for line in lines), lines
    assert any("[redacted, " in line for line in lines)
    assert lines[-2:] == [r"Accept: */*\r\n", r"\r\n"]  # the fields after it are shown


def test_head_lines_shows_a_head_line_by_line() -> None:
    head = b"GET /a%20b HTTP/1.1\r\nHost: localhost\r\nUser-Agent: x\ty\r\n\r\n"
    assert head_lines(head) == [
        r"GET /a%20b HTTP/1.1\r\n",
        r"Host: localhost\r\n",
        r"User-Agent: x\ty\r\n",
        r"\r\n",
    ]


@pytest.mark.parametrize(
    "data, text",
    [
        (b"hello\n", "hello\n"),
        ("caf\u00e9".encode(), "caf\u00e9"),
        ("caf\u00e9".encode()[:-1], "caf"),  # a character cut by the preview's limit
        (b"\xff\xfe", None),  # not UTF-8
        (b"\x1f\x8b\x08\x00", None),  # gzip: control bytes
        (b"a\x00b", None),
        (b"tab\tCR\rLF\n", "tab\tCR\rLF\n"),
        (b"", ""),
    ],
)
def test_as_text(data: bytes, text: str | None) -> None:
    assert as_text(data) == text


def test_hex_lines() -> None:
    data = bytes(range(0x1E, 0x1E + 18))
    assert hex_lines(data) == [
        "0000  1e 1f 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d  |.. !\"#$%&'()*+,-|",
        "0010  2e 2f                                            |./|",
    ]


@pytest.mark.parametrize(
    "data, lines",
    [
        (b"line one\nline two", [r"line one\n", "line two"]),
        (b"caf\xc3\xa9 \\ \x1b", ["0000  63 61 66 c3 a9 20 5c 20 1b" + " " * 21 + "  |caf.. \\ .|"]),
        (b"\x00\x01", ["0000  00 01" + " " * 42 + "  |..|"]),
    ],
)
def test_body_lines_text_or_hex(data: bytes, lines: list[str]) -> None:
    assert body_lines(data) == lines


def test_body_lines_escapes_text() -> None:
    assert body_lines("a\\b \u00e9\r\n".encode()) == ["a\\\\b \u00e9\\r\\n"]


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    "tty, environ, colour",
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
        (False, {}, False),
        (False, {"NO_COLOR": "1"}, False),
    ],
)
def test_use_colour(tty: bool, environ: dict[str, str], colour: bool) -> None:
    assert use_colour(FakeTerminal(tty), environ) is colour


@pytest.mark.parametrize(
    "line, colour, painted",
    [
        ("> [c1] GET / HTTP/1.1\\r\\n", True, "\x1b[36m> [c1] GET / HTTP/1.1\\r\\n\x1b[0m"),
        ("< [c1] HTTP/1.1 200 OK\\r\\n", True, "\x1b[32m< [c1] HTTP/1.1 200 OK\\r\\n\x1b[0m"),
        ("* [c1] closed", True, "\x1b[33m* [c1] closed\x1b[0m"),
        ("* [c1] closed", False, "* [c1] closed"),
    ],
)
def test_paint(line: str, colour: bool, painted: str) -> None:
    assert paint(line, colour) == painted


def test_tagged() -> None:
    assert tagged(">", "c3", ["a", "b"]) == ["> [c3] a", "> [c3] b"]


@pytest.mark.parametrize(
    "number, pipelined, title",
    [
        (1, False, "request 1 on this connection"),
        (2, False, "request 2 on this connection (reused: keep-alive)"),
        (
            3,
            True,
            "request 3 on this connection (reused: keep-alive), pipelined: its bytes were "
            "already received with the previous request",
        ),
    ],
)
def test_exchange_title(number: int, pipelined: bool, title: str) -> None:
    assert exchange_title(number, pipelined) == title


def file_body(length: int) -> FileBody:
    return FileBody(io.BytesIO(b"x" * length), 0, length)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response, size, sent_by, summary",
    [
        (Response(200, [], b"abc"), 3, "sendfile", "response body: 3 bytes, sent with the head in one sendall"),
        (
            Response(200, [("Content-Encoding", "gzip")], b"x" * 23),
            23,
            "sendfile",
            "response body: 23 bytes, gzipped, sent with the head in one sendall",
        ),
        (
            Response(206, [("Content-Range", "bytes 0-4/13")], file_body(5)),
            5,
            "sendfile",
            "response body: 5 bytes, range bytes 0-4/13, sent after the head by sendfile",
        ),
        (
            Response(200, [], file_body(9)),
            9,
            "a read-and-send loop",
            "response body: 9 bytes, sent after the head by a read-and-send loop",
        ),
        (Response(200, [], file_body(9)), 9, "", "response body: 9 bytes, sent after the head"),
        (Response(304), 0, "sendfile", "no response body (status 304)"),
        (Response(204), 0, "sendfile", "no response body (status 204)"),
    ],
)
def test_body_summary(response: Response, size: int, sent_by: str, summary: str) -> None:
    assert body_summary(response, None, size, sent_by) == summary


def test_connection_id() -> None:
    import os

    from app.trace import connection_id

    assert connection_id(7, workers=1) == "c7"
    assert connection_id(7, workers=2) == f"{os.getpid()}.c7"
