"""The access line's pure parts: the request line as logged (escaped), and the chunking of
buffered lines into whole-line writes; the bound on the lines kept in memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import accesslog
from app.accesslog import WRITE_SIZE, AccessLog, escape_for_log, log_access, request_line_for_log, whole_line_pieces

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


def test_a_connection_thread_writes_a_full_batch_itself(tmp_path: Path) -> None:
    """However late the flusher runs (it waits for the GIL like any thread: with 50 busy
    connections, 50 ms and more), the buffer never holds more than `batch_lines` lines:
    the thread that appends the last of a batch writes it out (issue 20, idle memory).
    Here the flusher would wait an hour; every line still reaches the file, in order."""
    log = AccessLog(tmp_path / "access.log")
    log.flush_interval = 3600.0
    previous, accesslog.active_log = accesslog.active_log, log
    try:
        most = 0
        for number in range(3 * log.batch_lines + 10):
            log_access("127.0.0.1", f"GET /echo/{number} HTTP/1.1\r\n".encode(), 200, 1, time.perf_counter())
            most = max(most, len(log.lines))
        assert most < log.batch_lines
        written = (tmp_path / "access.log").read_text().splitlines()
        assert len(written) + len(log.lines) == 3 * log.batch_lines + 10
        assert [line.split('"')[1] for line in written] == [f"GET /echo/{n} HTTP/1.1" for n in range(len(written))]
    finally:
        accesslog.active_log = previous
        log.flush()
        log.wake.set()  # the flusher finds nothing to write, and ends
        if log.flusher is not None:
            log.flusher.join(5)
        os.close(log.fd)
