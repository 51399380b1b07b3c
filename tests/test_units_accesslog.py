"""The access line's pure parts: the request line as logged (escaped), and the chunking of
buffered lines into whole-line writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.accesslog import WRITE_SIZE, escape_for_log, request_line_for_log, whole_line_pieces

REQUEST_LINES = [
    (b"GET /echo/abc HTTP/1.1\r\nHost: x\r\n\r\n", "GET /echo/abc HTTP/1.1"),
    (b"GET / HTTP/1.1", "GET / HTTP/1.1"),  # no CRLF at all (a head refused early)
    (b'GET /\x1b[2J"x" HTTP/1.1\r\n', 'GET /\\x1b[2J\\"x\\" HTTP/1.1'),
    (b"GET /a\\b HTTP/1.1\r\n", "GET /a\\\\b HTTP/1.1"),
    (b"GET /\x7f\x00 HTTP/1.1\r\n", "GET /\\x7f\\x00 HTTP/1.1"),
    (b"GET /caf\xe9 HTTP/1.1\r\n", "GET /caf\xe9 HTTP/1.1"),  # obs-text kept, as Latin-1
    (b"G" * 2000 + b"\r\n", "G" * 1024),  # at most 1 KiB of it
]


@pytest.mark.parametrize(("raw_head", "logged"), REQUEST_LINES)
def test_request_line_for_log(raw_head: bytes, logged: str) -> None:
    assert request_line_for_log(raw_head) == logged


@given(st.binary(max_size=1200).filter(lambda raw_head: raw_head[:1] != b"\x16"))  # not a TLS handshake
def test_the_fast_path_escapes_as_the_translation_does(raw_head: bytes) -> None:
    first_line = raw_head.split(b"\r\n", 1)[0][:1024]
    assert request_line_for_log(raw_head) == escape_for_log(first_line.decode("latin-1"))


@given(st.lists(st.text(alphabet="ab\xe9", max_size=3000).map(lambda text: text + "\n"), max_size=30))
def test_chunks_hold_whole_lines_in_order(lines: list[str]) -> None:
    data = "".join(lines).encode("utf-8")
    chunks = [bytes(piece) for piece in whole_line_pieces(data)]
    assert b"".join(chunks) == data
    for chunk in chunks:
        assert chunk.endswith(b"\n")
        assert len(chunk) <= WRITE_SIZE or chunk.count(b"\n") == 1  # only a long line alone
