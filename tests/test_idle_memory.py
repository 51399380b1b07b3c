"""Idle memory (issue 20): what a plain launch loads at start, and what an idle
keep-alive connection holds. The figures are in docs/performance.md ("Idle memory")."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

H = b"Host: localhost\r\n"

# Modules that map big libraries (OpenSSL's libcrypto and libssl: 3.5 and 6 MiB of RSS)
# or are only needed by one rare request: a server without --tls-cert, passwords or an
# archive download must not load them at start.
LATE_MODULES = ("_hashlib", "hashlib", "hmac", "ssl", "_ssl", "zipfile", "tarfile")


def test_a_plain_launch_loads_no_crypto_and_no_archive_module() -> None:
    code = f"import sys, app.main; print([m for m in {LATE_MODULES!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_an_idle_connection_waits_in_a_small_recv(start_server) -> None:
    """The recv() an idle connection blocks in allocates its size first: 1 KiB, not 4; a
    head longer than that still arrives whole (a second recv)."""
    server = start_server("-q")
    cookie = "c=" + "x" * 3000  # a head of ~3 KiB: more than one idle recv
    with server.connect() as client:
        for _ in range(2):
            response = client.exchange(f"GET /echo/a HTTP/1.1\r\n{H.decode()}Cookie: {cookie}\r\n\r\n".encode())
            assert (response.status, response.body) == (200, b"a")
