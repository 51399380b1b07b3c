"""The access log: one line per request, in Common Log Format plus how long it took.

    127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /echo/abc HTTP/1.1" 200 3 0.1ms

The request line is the client's bytes, so it is escaped (`escape_for_log`): a request
can neither forge log lines nor hide in them. `main.py` decides where the lines go and
whether they are written (`-q` turns them off).
"""

from __future__ import annotations

import logging
import time

from app.http import TLS_HANDSHAKE_RECORD, PerSecond

access_log = logging.getLogger("app.access")

_LOG_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}
_LOG_ESCAPES[ord('"')] = '\\"'
_LOG_ESCAPES[ord("\\")] = "\\\\"


def escape_for_log(text: str) -> str:
    """Escape control characters, quotes and backslashes."""
    return text.translate(_LOG_ESCAPES)


def request_line_for_log(raw_head: bytes) -> str:
    """The request line of a head (its first 1 KiB at most), escaped; a TLS handshake
    sent to the plain port (its first byte 0x16, see http.TLS_ON_PLAIN_PORT) is named
    rather than dumped as 1 KiB of binary."""
    if raw_head[:1] == TLS_HANDSHAKE_RECORD:
        return "(TLS handshake on the plain HTTP port)"
    return escape_for_log(raw_head.split(b"\r\n", 1)[0][:1024].decode("latin-1"))


def clf_time(timestamp: int) -> str:
    """The Common Log Format time, `22/Nov/2026:10:00:00 +0000`, in local time."""
    return time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(timestamp))


current_clf_time = PerSecond(clf_time)


def log_access(client: str, raw_head: bytes, status: int, size: int, started: float) -> None:
    """One line for a request answered with `status` and `size` body bytes, `started`
    being its `time.perf_counter()` when its head was complete."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    access_log.info(
        '%s - - [%s] "%s" %d %d %.1fms',
        client, current_clf_time(), request_line_for_log(raw_head), status, size, elapsed_ms,
    )
