"""Idle memory (issue 20): what a plain launch loads at start, and what an idle
keep-alive connection holds. The figures are in docs/performance.md ("Idle memory")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from app.settings import Limits
from tests.conftest import ROOT

H = b"Host: localhost\r\n"

# Modules that map big libraries (OpenSSL's libcrypto and libssl: 3.5 and 6 MiB of RSS)
# or are only needed by one rare request: a server without --tls-cert, passwords or an
# archive download must not load them at start. Nor `mimetypes` (0.5 MiB: the first file
# of the static site loads it), `calendar` with `datetime` and `locale` (0.4-0.8 MiB:
# `dates.utc_timestamp` does its sum), `getpass` (only the password prompt).
LATE_MODULES = (
    "_hashlib", "hashlib", "hmac", "ssl", "_ssl", "zipfile", "tarfile",
    "mimetypes", "calendar", "datetime", "locale", "getpass", "termios",
)


def test_a_plain_launch_loads_no_crypto_and_no_archive_module() -> None:
    code = f"import sys, app.main; print([m for m in {LATE_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_idle_recv_buffer_is_a_pymalloc_block() -> None:
    """The recv() an idle connection blocks in allocates its size first: a bytes object
    of at most 512 bytes comes from pymalloc, a larger one from glibc's arena of the
    thread (1.4 KiB more per idle connection, docs/performance.md "Idle memory")."""
    assert sys.getsizeof(bytes(Limits().idle_recv_size)) <= 512


def test_an_idle_connection_waits_in_a_small_recv(start_server) -> None:
    """The idle recv() is small (479 bytes, not 4 KiB); a head longer than that still
    arrives whole (a second recv)."""
    server = start_server("-q")
    cookie = "c=" + "x" * 3000  # a head of ~3 KiB: more than one idle recv
    with server.connect() as client:
        for _ in range(2):
            response = client.exchange(f"GET /echo/a HTTP/1.1\r\n{H.decode()}Cookie: {cookie}\r\n\r\n".encode())
            assert (response.status, response.body) == (200, b"a")


def resident_stack_pages(server) -> list[int]:
    """The resident pages of each connection thread's stack: the anonymous mappings of
    `thread_stack_size` (256 KiB; the main thread's stack is named [stack])."""
    pages, size = [], None
    for line in Path(f"/proc/{server.process.pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            size = end - start if len(fields) == 5 and fields[1] == "rw-p" else None
        elif fields[0] == "Rss:" and size == 256 * 1024:
            pages.append(int(fields[1]) // 4)
    return pages


def test_an_idle_connection_touches_two_pages_of_its_thread_stack(start_server) -> None:
    """An idle keep-alive connection holds one thread, and its stack costs the pages it
    ever touched: the top one (glibc's thread descriptor and TLS) and the C frames of one
    request and of the recv() it waits in, which fit in a second page as long as the
    thread sets no socket timeout itself (CPython's setsockopt() with a struct timeval
    would touch a third: `Connection.__init__` sets both in the accept loop's thread).
    4 KiB per idle connection: 4 MiB of the 1,000 idle connections' row in bench/run.py."""
    server = start_server("-q")
    clients = [server.connect() for _ in range(20)]
    try:
        for client in clients:
            response = client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"\r\n")
            assert (response.status, response.body) == (200, b"a")
        time.sleep(0.2)  # every thread back in its recv()
        pages = resident_stack_pages(server)
        assert len(pages) >= 20
        assert max(pages) <= 2, pages
    finally:
        for client in clients:
            client.close()
