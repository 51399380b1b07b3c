"""`--trace`: every exchange on stderr, as the server sees it.

It owns two things:

- how a trace reads: pure functions that turn bytes into lines (`head_lines` escapes a
  head line by line with CR and LF shown as `\\r` `\\n`, `redact` hides the values of
  `SECRET_FIELDS`, `body_lines` previews a body as text or hex, `paint` colours a line);
- `TracedConnection`, the `Connection` (`connection.py`) that `server.py` starts instead
  of the plain one under `--trace`. It overrides the connection's hook methods to collect
  the lines of one exchange (request head, `100 Continue`, response head, body, timings)
  and writes them with one `write()` under a lock, so that the lines of concurrent
  connections never mix within an exchange. The plain `Connection` does none of this:
  with `--trace` off, no trace code runs at all.

Lines start as curl's `-v` does: `>` what the client sent, `<` what the server sent, `*`
an event; then the connection's id (`[c7]`). docs/trace.md shows how to read one.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from app.bodies import RequestBody
from app.connection import Connection
from app.errors import ProtocolError
from app.framing import CONTINUE_RESPONSE, FileBody, Response, StreamBody, chunked, response_head, sends_body
from app.request import Request

# Header fields whose values are secrets: never written to a terminal or a log file.
SECRET_FIELDS = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})

# A refused head can be as large as the header limit (64 KiB): show its start only.
REFUSED_HEAD_SHOWN = 4096

# ---------------------------------------------------------------------------------------
# Escaping: every byte visible, none able to move the cursor or forge a line
# ---------------------------------------------------------------------------------------

_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL_ESCAPES |= {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\"}
# Text (a body that is UTF-8): control characters escaped, the rest as it is.
TEXT_ESCAPES = str.maketrans(_CONTROL_ESCAPES)
# A head (bytes decoded as ISO-8859-1): also every byte above 0x7E, as `\xNN`.
HEAD_ESCAPES = str.maketrans(_CONTROL_ESCAPES | {code: f"\\x{code:02x}" for code in range(0xA0, 0x100)})


def escape_head_bytes(data: bytes) -> str:
    """Printable ASCII as it is; CR, LF, tab and backslash as `\\r` `\\n` `\\t` `\\\\`;
    any other byte as `\\xNN`."""
    return data.decode("latin-1").translate(HEAD_ESCAPES)


def split_lines(data: bytes) -> list[bytes]:
    """`data` cut after each LF, each piece keeping its line end: a CRLF, or the bare LF
    of a request that is refused for it, which the trace must show as it is."""
    pieces = data.split(b"\n")
    lines = [piece + b"\n" for piece in pieces[:-1]]
    return lines + [pieces[-1]] if pieces[-1] else lines


def field_name(line: bytes) -> bytes:
    """The lowercased name of a field line (whitespace before the colon dropped, so a
    malformed secret field is still recognised); b"" for a line without a colon."""
    name, colon, _ = line.partition(b":")
    return name.strip(b" \t").lower() if colon else b""


def redact(line: bytes) -> bytes:
    """A field line with its value replaced by `[redacted, N bytes]` (N: the value's
    length, without the whitespace around it)."""
    name, _, rest = line.partition(b":")
    value_and_space = rest.rstrip(b"\r\n")
    value = value_and_space.strip(b" \t")
    return b"%s: [redacted, %d bytes]%s" % (name, len(value), rest[len(value_and_space):])


def head_lines(head: bytes) -> list[str]:
    """A request or response head as escaped lines, secret values redacted. A line that
    continues a secret field (obs-fold, refused but still shown) is redacted too."""
    lines, in_secret = [], False
    for line in split_lines(head):
        continued = line[:1] in (b" ", b"\t")
        if not continued:
            in_secret = field_name(line) in SECRET_FIELDS
        if in_secret:
            line = redact(b"(continued):" + line) if continued else redact(line)
        lines.append(escape_head_bytes(line))
    return lines


# ---------------------------------------------------------------------------------------
# Body previews (--trace-body N): text when it reads as text, else hex
# ---------------------------------------------------------------------------------------

# Control characters that make a body binary (tab, LF, CR and ESC-free text is text).
BINARY_CONTROLS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def as_text(data: bytes) -> str | None:
    """`data` as text if it is UTF-8 without binary control characters (a character cut
    in two at the end by the preview's limit is dropped); None if it is binary."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason != "unexpected end of data":
            return None
        text = data[: error.start].decode("utf-8")
    return None if BINARY_CONTROLS_RE.search(text) else text


def hex_lines(data: bytes) -> list[str]:
    """A hex dump, 16 bytes a line: offset, bytes in hex, and the printable ones."""
    lines = []
    for offset in range(0, len(data), 16):
        row = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in row)
        shown = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        lines.append(f"{offset:04x}  {hex_part:<47}  |{shown}|")
    return lines


def body_lines(data: bytes) -> list[str]:
    """The lines that show the first bytes of a body."""
    text = as_text(data)
    if text is None:
        return hex_lines(data)
    return [line.translate(TEXT_ESCAPES) for line in text.splitlines(keepends=True)]


# ---------------------------------------------------------------------------------------
# Lines and colours
# ---------------------------------------------------------------------------------------

# ANSI SGR colours: what the client sent, what the server sent, and events.
COLOURS = {">": "36", "<": "32", "*": "33"}  # cyan, green, yellow


def use_colour(stream: TextIO, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour only on a terminal, and never when `NO_COLOR` is set to anything but the
    empty string (https://no-color.org)."""
    return stream.isatty() and not environ.get("NO_COLOR")


def paint(line: str, colour: bool) -> str:
    """The line in the colour of its first character (`>`, `<` or `*`)."""
    return f"\x1b[{COLOURS[line[0]]}m{line}\x1b[0m" if colour else line


def tagged(marker: str, connection_id: str, lines: list[str]) -> list[str]:
    """Lines that start with their marker and connection id, e.g. `> [c1] GET / ...`."""
    return [f"{marker} [{connection_id}] {line}" for line in lines]


def connection_id(number: int, workers: int) -> str:
    """`c7`; with worker processes, each counting its own, `4711.c7` (the process id)."""
    return f"{os.getpid()}.c{number}" if workers > 1 else f"c{number}"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def exchange_title(number: int, pipelined: bool) -> str:
    """What the trace says about a request's place on its connection."""
    if number == 1:
        return "request 1 on this connection"
    title = f"request {number} on this connection (reused: keep-alive)"
    if pipelined:
        title += ", pipelined: its bytes were already received with the previous request"
    return title


def body_summary(response: Response, request: Request | None, size: int, file_sent_by: str) -> str:
    """The response body in words: its size, and whether it was gzipped, a range, and how
    it went out."""
    if not sends_body(response, request):
        why = "HEAD" if request is not None and request.method == "HEAD" else f"status {response.status}"
        return f"no response body ({why})"
    headers = {name.lower(): value for name, value in response.headers}
    words = [f"response body: {size} byte{'' if size == 1 else 's'}"]
    if headers.get("content-encoding") == "gzip":
        words.append("gzipped")
    if "content-range" in headers:
        words.append(f"range {headers['content-range']}")
    if isinstance(response.body, FileBody):
        words.append(f"sent after the head by {file_sent_by}" if file_sent_by else "sent after the head")
    elif isinstance(response.body, StreamBody):
        words.append("made while sent, " + ("chunked" if chunked(request) else "close-delimited (HTTP/1.0)"))
    else:
        words.append("sent with the head in one sendall")
    return ", ".join(words)


def file_preview(body: FileBody, limit: int) -> bytes:
    """The first `limit` bytes of a file body, read without moving the file's offset."""
    return os.pread(body.file.fileno(), min(limit, body.length), body.offset)


def response_preview(response: Response, request: Request | None, limit: int) -> bytes:
    """The first `limit` bytes of the body the response will send (b"" when none)."""
    if not sends_body(response, request):
        return b""
    if isinstance(response.body, FileBody):
        return file_preview(response.body, limit)
    if isinstance(response.body, StreamBody):
        return b""  # made while it is sent: nothing to look at beforehand
    return response.body[:limit]


# ---------------------------------------------------------------------------------------
# The traced connection
# ---------------------------------------------------------------------------------------

# One lock for every connection's writes: each exchange is one write, whole.
WRITE_LOCK = threading.Lock()
CONNECTION_IDS = itertools.count(1)


class PreviewedBody(RequestBody):
    """A request body that keeps its first `preview_limit` bytes for --trace-body."""

    preview: bytearray
    preview_limit: int

    def __iter__(self) -> Iterator[bytes]:
        for piece in super().__iter__():
            room = self.preview_limit - len(self.preview)
            if room > 0:
                self.preview += piece[:room]
            yield piece


class TracedConnection(Connection):
    """A `Connection` that writes each exchange, and its opening and close, to stderr."""

    def __init__(self, *arguments: Any, **keywords: Any) -> None:
        super().__init__(*arguments, **keywords)
        self.trace_id = connection_id(next(CONNECTION_IDS), self.settings.workers)
        self.colour = use_colour(sys.stderr, os.environ)
        self.opened = time.perf_counter()
        self.requests = 0
        self.lines: list[str] = []  # of the exchange under way, not written yet
        self.started = self.first_byte = 0.0
        self.response_head = b""
        self.request_body: PreviewedBody | None = None
        self.file_sent_by = ""  # how the file body of the exchange went out, if it had one

    def event(self, text: str) -> None:
        self.lines.append(f"* [{self.trace_id}] {text}")

    def write(self) -> None:
        """Write the lines collected, in one write under the lock, and start afresh."""
        text = "".join(paint(line, self.colour) + "\n" for line in self.lines)
        self.lines = []
        with WRITE_LOCK:
            sys.stderr.write(text)
            sys.stderr.flush()

    # The hooks of Connection -----------------------------------------------------------

    def serve(self) -> None:
        try:
            host, port = self.sock.getpeername()[:2]
            self.event(f"connection from {host} port {port} opened")
        except OSError:  # already gone; `close()` will say how
            self.event(f"connection from {self.client} opened")
        self.write()
        super().serve()

    def note_tls(self, version: str, cipher: str) -> None:
        super().note_tls(version, cipher)
        self.event(f"TLS handshake: {version} {cipher}")
        self.write()

    def receive_request(self) -> Request | None:
        # Bytes already here (not just the stray CRLF some clients send after a body): the
        # request arrived before the previous one was answered.
        pipelined = bool(self.buffer.strip(b"\r\n"))
        request = super().receive_request()
        if request is not None:
            self.start_exchange(request.raw_head, pipelined)
            if self.settings.trace_body and not request.body.finished:
                self.keep_preview(request.body)
        return request

    def send_continue(self) -> None:
        super().send_continue()
        self.event(f"100 Continue sent after {milliseconds(time.perf_counter() - self.started)}: the client may send the body")
        self.lines += tagged("<", self.trace_id, head_lines(CONTINUE_RESPONSE))

    def build_response_head(self, response: Response, request: Request | None, keep_open: bool, date: bool) -> bytes:
        self.response_head = response_head(response, request, keep_open, date)
        self.first_byte = time.perf_counter()
        return self.response_head

    def refuse(self, request: Request | None, error: ProtocolError) -> None:
        if request is None:  # refused before its head was whole or parsed
            self.start_exchange(bytes(self.buffer[:REFUSED_HEAD_SHOWN]), pipelined=False)
            if len(self.buffer) > REFUSED_HEAD_SHOWN:
                self.event(f"(and {len(self.buffer) - REFUSED_HEAD_SHOWN} more bytes received, not shown)")
        super().refuse(request, error)

    def send(self, response: Response, request: Request | None, keep_open: bool) -> int:
        limit = self.settings.trace_body
        preview = response_preview(response, request, limit) if limit else b""
        self.file_sent_by = ""
        size = super().send(response, request, keep_open)
        self.finish_exchange(response, request, size, preview)
        return size

    # How a file body goes out: what was called says it, not a guess from the socket.
    def send_file(self, body: FileBody) -> int:
        self.file_sent_by = "sendfile"
        return super().send_file(body)

    def copy_file(self, body: FileBody) -> int:
        """Over TLS (`Connection.copy_file`): the bytes are encrypted in Python, so they
        are read from the file and sent, piece by piece."""
        self.file_sent_by = "a read-and-send loop (TLS)"
        return super().copy_file(body)

    def close(self) -> None:
        super().close()
        if self.lines:  # an exchange the connection ended in the middle of
            if self.response_head:
                self.lines += tagged("<", self.trace_id, head_lines(self.response_head))
            self.event("the response was not completed" if self.response_head else "no response was sent")
        lifetime = milliseconds(time.perf_counter() - self.opened)
        self.event(f"closed after {self.requests} request(s) and {lifetime}: {self.close_reason}")
        self.write()

    # Collecting an exchange ------------------------------------------------------------

    def start_exchange(self, head: bytes, pipelined: bool) -> None:
        self.requests += 1
        self.started = time.perf_counter()
        self.request_body, self.response_head = None, b""
        self.event(exchange_title(self.requests, pipelined))
        self.lines += tagged(">", self.trace_id, head_lines(head))

    def keep_preview(self, body: RequestBody) -> None:
        """Make the body keep its first bytes as the handler reads it. The parser built
        it already: it gets the recording subclass, rather than every body a check."""
        body.__class__ = PreviewedBody
        body.preview, body.preview_limit = bytearray(), self.settings.trace_body
        self.request_body = body

    def finish_exchange(self, response: Response, request: Request | None, size: int, preview: bytes) -> None:
        if self.request_body is not None and self.request_body.preview:
            self.add_preview(">", "request body", bytes(self.request_body.preview), self.request_body.received)
        self.lines += tagged("<", self.trace_id, head_lines(self.response_head))
        self.event(body_summary(response, request, size, self.file_sent_by))
        if preview:
            self.add_preview("<", "response body", preview, size)
        now = time.perf_counter()
        self.event(
            f"first response byte after {milliseconds(self.first_byte - self.started)}, "
            f"done after {milliseconds(now - self.started)}"
        )
        self.write()

    def add_preview(self, marker: str, what: str, data: bytes, total: int) -> None:
        self.event(f"{what}, first {len(data)} of {total} bytes:")
        self.lines += tagged(marker, self.trace_id, ["  " + line for line in body_lines(data)])
