"""The access log: one line per request, in Common Log Format plus how long it took.

    127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /echo/abc HTTP/1.1" 200 3 0.1ms

The request line is the client's bytes, so it is escaped (`escape_for_log`): a request
can neither forge log lines nor hide in them.

Writing a line must cost little next to answering the request, so it does not go through
`logging` (a record object, a formatter, a lock and a write per line): `log_access()`
formats the line itself (the timestamp is formatted once a second) and appends it to the
`AccessLog`'s buffer. A flusher thread writes the buffer out once a second, in whole
lines; a connection thread that finds `batch_lines` lines buffered writes them itself
(memory stays bounded however long the flusher waits for the GIL); a terminal gets each
line at once; `flush()` empties it at shutdown. `main.py`
opens the log (stderr, or `--access-log FILE`, reopened on SIGHUP) or leaves it off (`-q`).
A log that cannot be written (a full disk) never stops the serving: its lines are dropped
and counted, and one warning says how many when it takes writes again, or at shutdown.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from app.dates import FormattedOncePerSecond
from app.request import TLS_HANDSHAKE_RECORD
from app.sharelinks import SHARE_PREFIX, hide_tokens

log = logging.getLogger("app")

_LOG_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}
_LOG_ESCAPES[ord('"')] = '\\"'
_LOG_ESCAPES[ord("\\")] = "\\\\"

# Writes to a pipe up to this size are atomic (POSIX PIPE_BUF): with worker processes
# sharing a pipe as stderr, no line of one is ever cut by a line of another. (A write to a
# file opened for appending is atomic whatever its size.)
WRITE_SIZE = 4096


def escape_for_log(text: str) -> str:
    """Escape control characters, quotes and backslashes."""
    return text.translate(_LOG_ESCAPES)


def request_line_for_log(raw_head: bytes) -> str:
    """The request line of a head (its first 1 KiB at most), escaped; a TLS handshake
    sent to the plain port (its first byte 0x16, see request.TLS_ON_PLAIN_PORT) is named
    rather than dumped as 1 KiB of binary. Nearly every line is printable ASCII with no
    quote or backslash: it is written as it is, found so by three string methods in C
    rather than a translation character by character."""
    if raw_head[:1] == TLS_HANDSHAKE_RECORD:
        return "(TLS handshake on the plain HTTP port)"
    start = raw_head[:1026]
    end = start.find(b"\r\n")
    text = (start[:end] if 0 <= end <= 1024 else start[:1024]).decode("latin-1")
    if SHARE_PREFIX in text:  # a share link's token is a password: its id is logged instead
        text = hide_tokens(text)
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return escape_for_log(text)


def clf_time(timestamp: int) -> str:
    """The Common Log Format time, `22/Nov/2026:10:00:00 +0000`, in local time."""
    return time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(timestamp))


current_clf_time = FormattedOncePerSecond(clf_time)


class AccessLog:
    """Access lines buffered in memory, written to a file descriptor in whole lines at
    least once a second (at once on a terminal). With a `path`, `reopen_soon()` makes the
    flusher open the path anew: logrotate renames the file, then sends SIGHUP."""

    flush_interval = 1.0  # seconds a line may wait in memory
    # The most lines kept in memory: the connection thread that appends this many writes
    # them out itself, so that at thousands of requests a second (each line up to 1 KiB
    # of request line: 70 KiB a batch) memory stays small. Waking the flusher instead
    # left it to the GIL: with 50 busy connections it ran 50 ms late or more, and a wake
    # was missed when two threads appended between one's append and its test. (One write
    # per 64 requests costs nothing next to them; issue 20, "Idle memory".)
    batch_lines = 64

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.fd = self.open_file() if path is not None else 2  # stderr
        self.at_once = os.isatty(self.fd)
        self.write_size = piece_size(self.fd)
        # Connection threads append, the flusher pops: both are atomic on a deque, so
        # logging a line takes no lock.
        self.lines: deque[str] = deque()
        self.lock = threading.Lock()  # one writer of the file at a time
        self.wake = threading.Event()
        self.reopen_requested = False
        self.flusher: threading.Thread | None = None  # started by the first line
        # Lines lost since the log last took a write (a full disk): told in one warning
        # when it takes writes again, or at shutdown (`report_dropped`).
        self.dropped = 0
        self.drop_reason = ""
        self.cut_line = False  # the last failed write left part of a line in the file

    def open_file(self) -> int:
        assert self.path is not None
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, line: str) -> None:
        self.lines.append(line)
        self.after_append()

    def after_append(self) -> None:
        """After a line was appended: start the flusher; write a full batch out in this
        thread, or every line at once to a terminal."""
        if self.flusher is None:
            self.start_flusher()
        if self.at_once:
            self.flush()
        elif len(self.lines) >= self.batch_lines and self.lock.acquire(blocking=False):
            # One thread writes; the others, finding it at work, go on without waiting:
            # waiting, each would then write a line or two of its own (a convoy of
            # small writes that cost 16 µs a request at 50 connections).
            try:
                self.write_lines()
            finally:
                self.lock.release()

    def start_flusher(self) -> None:
        """The flusher runs while lines come, and ends after a second with none, so an
        idle server has no thread but its accept loop (a forked worker starts its own)."""
        with self.lock:
            if self.flusher is None:
                self.flusher = threading.Thread(target=self.flush_forever, name="access-log", daemon=True)
                self.flusher.start()

    def flush_forever(self) -> None:
        while True:
            self.wake.wait(self.flush_interval)
            self.wake.clear()
            if self.reopen_requested:
                self.reopen()
            if not self.flush():
                with self.lock:
                    # `write` appends, then looks for a flusher: clearing it first, then
                    # looking for lines, means a line is never left without a flusher.
                    self.flusher = None
                    if not self.lines:
                        return
                    self.flusher = threading.current_thread()

    def flush(self) -> int:
        """Write out every buffered line; returns how many. The lock is held while
        writing, so lines leave in the order they came and no reopen cuts in."""
        with self.lock:
            return self.write_lines()

    def write_lines(self) -> int:
        """Write out the lines buffered now, in batches; how many (lock held)."""
        count = len(self.lines)
        for first in range(0, count, self.batch_lines):
            batch = [self.lines.popleft() for _ in range(min(self.batch_lines, count - first))]
            for piece in whole_line_pieces("".join(batch).encode("utf-8", "backslashreplace"), self.write_size):
                self.write_piece(piece)
        return count

    def write_piece(self, piece: memoryview) -> None:
        """Write whole lines; a log that cannot be written (a full disk, EDQUOT, EIO)
        loses them rather than stopping the server, and counts them (lock held)."""
        rest = piece
        try:
            if self.cut_line:  # a line cut by the last failure: ended, so the next is whole
                os.write(self.fd, b"\n")
                self.cut_line = False
            while rest:
                rest = rest[os.write(self.fd, rest) :]
        except OSError as error:
            self.dropped += bytes(rest).count(b"\n")
            self.drop_reason = error.strerror or str(error)
            written = len(piece) - len(rest)
            self.cut_line = self.cut_line or (written > 0 and piece[written - 1] != ord("\n"))
            return
        if self.dropped:
            self.report_dropped()

    def report_dropped(self) -> None:
        """One warning for the lines lost since the last that were written."""
        where = self.path if self.path is not None else "stderr"
        log.warning("access log %s: %d line(s) dropped: %s", where, self.dropped, self.drop_reason)
        self.dropped = 0

    def reopen_soon(self) -> None:
        """From a signal handler: ask the flusher to reopen the file (no lock taken here)."""
        self.reopen_requested = True
        self.wake.set()

    def reopen(self) -> None:
        """Open the path anew; lines still buffered go to the new file (a flusher that
        had ended runs again at the next line, and only then reopens)."""
        with self.lock:
            self.reopen_requested = False
            fd, self.fd = self.fd, self.open_file()
            self.write_size = piece_size(self.fd)
            os.close(fd)


def piece_size(fd: int) -> int:
    """The largest write to `fd`: `WRITE_SIZE` to a pipe, else no limit."""
    return WRITE_SIZE if stat.S_ISFIFO(os.fstat(fd).st_mode) else sys.maxsize


def whole_line_pieces(data: bytes, size: int = WRITE_SIZE) -> Iterator[memoryview]:
    """`data` (whole lines) in pieces of at most `size` bytes, each ending at a line end
    (a line longer than that is a piece of its own); views, not copies."""
    view = memoryview(data)
    start = 0
    while start < len(data):
        end = start + size
        if end < len(data):
            last_line_end = data.rfind(b"\n", start, end)
            end = last_line_end + 1 if last_line_end >= 0 else data.find(b"\n", end) + 1 or len(data)
        yield view[start:end]
        start = end


# The log in use: None with -q (or when no one opened it, as in tests that import the app).
active_log: AccessLog | None = None


def open_access_log(path: Path | None) -> AccessLog:
    global active_log
    active_log = AccessLog(path)
    return active_log


def flush() -> None:
    """Write out what is buffered: at shutdown, so no line is lost."""
    if active_log is not None:
        active_log.flush()
        with active_log.lock:
            if active_log.dropped:
                active_log.report_dropped()


def log_access(client: str, raw_head: bytes, status: int, size: int, started: float) -> None:
    """One line for a request answered with `status` and `size` body bytes, `started`
    being its `time.perf_counter()` when its head was complete. The common line (a
    printable request line, the clock's second already formatted, a flusher running)
    takes no call but this one (issue 20): the rest is `request_line_for_log`,
    `current_clf_time` and `AccessLog.write`, done here inline."""
    log = active_log
    if log is None:
        return
    # Tenths of a millisecond as a whole number: formatting a float costs more than the
    # rest of the line.
    tenths = int((time.perf_counter() - started) * 10000 + 0.5)
    end = raw_head.find(b"\r\n", 0, 1026)
    line = raw_head[:end].decode("latin-1") if 0 < end <= 1024 else ""
    # A share link's token is a password: `request_line_for_log` logs its id instead.
    if (
        not line
        or SHARE_PREFIX in line
        or not (line.isascii() and line.isprintable() and '"' not in line and "\\" not in line)
    ):
        line = request_line_for_log(raw_head)
    start, end, clock = current_clf_time.cached
    if not start <= time.time() < end:
        clock = current_clf_time()
    lines = log.lines
    lines.append(f'{client} - - [{clock}] "{line}" {status} {size} {tenths // 10}.{tenths % 10}ms\n')
    if log.flusher is None or log.at_once or len(lines) >= log.batch_lines:
        log.after_append()
