"""The HTTP/1.1 wire format (RFC 9110, RFC 9112) both ways, with no sockets in it.

It owns: parsing a request head and decoding its body (`parse_request`, `RequestBody`),
the errors that refuse a request (`HTTPError`, `ProtocolError`), the list-valued fields
of RFC 9110 §5.6.1 (`list_elements`, the one place a field is split into elements),
content negotiation (`accepts_gzip`, `media_range_weights`), HTTP-dates both ways
(`http_date`, `parse_http_date`), and framing a response (`response_head`: status line,
Content-Length, Connection, Date, and whether a body is sent at all; for a body of
unknown length, a `StreamBody`, chunked framing or a close-delimited body:
`framed_pieces`).

It does no I/O. The connection (`connection.py`) owns a `bytearray` receive buffer and
appends whatever `recv()` returns to it; this module reads from the front of that buffer
and removes exactly the bytes of the message it parsed, so the bytes of a pipelined next
request stay where they are. When a body needs more bytes it asks its `Transport` (the
connection) for them. The README's "Life of a request" shows where this fits.

The grammar is written as compiled byte regexes and `bytes` operations, with the ABNF
they implement quoted above each. Whatever decides something on the wire uses the RFC's
ASCII rules only: OWS is SP and HTAB, DIGIT is 0-9, case is ASCII's (`ascii_lower`);
never `str.strip()`, `str.split()`, `str.lower()` on received text, `int()` or `float()`
of unvalidated text, whose Unicode notions differ (docs/parser-vs-h11.md).
"""

from __future__ import annotations

import calendar
import enum
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:  # for the annotations only: settings.py's validators import this module's grammar
    from app.settings import Limits

# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class HTTPError(Exception):
    """A request answered with an error `status` and a one-line `reason` as its body,
    e.g. a handler's 404. The connection stays open."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or []


class ProtocolError(HTTPError):
    """A request whose framing we must refuse. The connection answers, then closes:
    after a framing error the position of the next request in the byte stream can no
    longer be trusted."""


class ClientDisconnected(Exception):
    """The client closed or reset the connection before the request was complete."""


# ---------------------------------------------------------------------------------------
# Grammar
# ---------------------------------------------------------------------------------------

# RFC 9110 §5.6.2:
#   token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
TOKEN_RE = re.compile(TOKEN)

# RFC 9112 §3.2: request-target, in its four forms. We accept printable ASCII only:
# no control characters, no space (it separates the request line), no bytes >= 0x80
# (a URI is ASCII; clients percent-encode everything else, RFC 3986 §2.1).
REQUEST_TARGET_RE = re.compile(rb"[\x21-\x7e]+")

# RFC 9112 §2.3:  HTTP-version = HTTP-name "/" DIGIT "." DIGIT ;  HTTP-name = %s"HTTP"
HTTP_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")

# RFC 9110 §5.5:
#   field-value   = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar   = VCHAR / obs-text          ; obs-text = %x80-FF
# Once leading and trailing whitespace are stripped, a value is valid exactly when it
# holds no control character other than HTAB (so no NUL, CR, LF or DEL).
FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

# RFC 9110 §7.2:  Host = uri-host [ ":" port ]  (uri-host from RFC 3986 §3.2.2:
# IP-literal / IPv4address / reg-name). This accepts their union of characters.
URI_HOST = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])"
HOST_RE = re.compile(rb"%s(?::[0-9]*)?" % URI_HOST)
# RFC 9112 §3.2.3:  authority-form = uri-host ":" port  (the target of CONNECT). The port
# is 1*DIGIT here (RFC 3986 allows it empty, but a tunnel to no port is no tunnel).
AUTHORITY_FORM_RE = re.compile(rb"(?=[^:])%s:[0-9]{1,5}" % URI_HOST)

# RFC 9112 §7.1:
#   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size = 1*HEXDIG
# RFC 9112 §7.1.1:
#   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token
#   chunk-ext-val  = token / quoted-string
# RFC 9110 §5.6.4:
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
# At most 16 hex digits: a size that does not fit in 64 bits is an attack, not a body
# (§7.1: recipients MUST anticipate large numerals and prevent integer overflow).
QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_EXT = rb"(?:[ \t]*;[ \t]*%s(?:[ \t]*=[ \t]*(?:%s|%s))?)*" % (TOKEN, TOKEN, QUOTED_STRING)
CHUNK_SIZE_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})(%s)" % CHUNK_EXT)

# RFC 9112 §6.1 (Content-Length = 1*DIGIT). 18 digits keeps the value below 2**63.
CONTENT_LENGTH_RE = re.compile(rb"[0-9]{1,18}")

# Header values are kept as `str` (ISO-8859-1), so the list grammars below are `str`
# regexes, written with explicit ASCII classes only: never `\s`, `\d`, `\w`, `str.strip()`
# or `str.isdigit()`, whose Unicode notion of whitespace and digits (U+00A0, U+0085,
# U+0663, ...) is not the RFC's, and would let `Transfer-Encoding: \xa0chunked` pass.
TOKEN_STR = TOKEN.decode("ascii")
QUOTED_STRING_STR = QUOTED_STRING.decode("latin-1")
TOKEN_STR_RE = re.compile(TOKEN_STR)

# RFC 9110 §5.6.1 (recipient form):  #element => [ element ] *( OWS "," OWS [ element ] )
#                 §5.6.3:            OWS = *( SP / HTAB )
OWS = " \t"
LIST_GAP_RE = re.compile(r"[ \t,]*")  # OWS and empty elements before the next element
LIST_END_RE = re.compile(r"[ \t]*(?:,|\Z)")  # OWS, then "," or the end of the value

# RFC 9112 §7:  transfer-coding    = token *( OWS ";" OWS transfer-parameter )
#               transfer-parameter = token BWS "=" BWS ( token / quoted-string )
TRANSFER_CODING_RE = re.compile(
    r"(%s)((?:[ \t]*;[ \t]*%s[ \t]*=[ \t]*(?:%s|%s))*)" % (TOKEN_STR, TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR)
)
# RFC 9110 §10.1.1:  expectation = token [ "=" ( token / quoted-string ) parameters ]
#        §5.6.6:     parameters  = *( OWS ";" OWS [ parameter ] )
#                    parameter   = parameter-name "=" parameter-value
PARAMETERS = r"(?:[ \t]*;[ \t]*(?:%s=(?:%s|%s))?)*" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR)
EXPECTATION_RE = re.compile(r"%s(?:=(?:%s|%s)%s)?" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR, PARAMETERS))

CRLF = b"\r\n"
BARE_LF_RE = re.compile(rb"(?<!\r)\n")
BARE_CR_RE = re.compile(rb"\r(?!\n)(?=.)", re.DOTALL)

# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------


class Headers:
    """The header fields of a message, in the order received.

    Names are compared case-insensitively (RFC 9110 §5.1), so they are stored lowercased;
    values are kept as received, decoded as ISO-8859-1 so that obs-text survives.
    `fields` keeps the order; an index by name answers lookups (a request asks for half
    a dozen fields, most of them absent) without scanning the list each time. Add
    fields with `add()`, which keeps both.
    """

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        self.fields: list[tuple[str, str]] = []
        self._by_name: dict[str, list[str]] = {}
        for name, value in fields or ():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field; `name` must already be lowercase."""
        self.fields.append((name, value))
        self._by_name.setdefault(name, []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a field, or `default` when it is absent."""
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"Headers({self.fields!r})"


def list_elements(values: list[str], element: re.Pattern[str]) -> list[re.Match[str]]:
    """The elements of a list-valued field (RFC 9110 §5.6.1), across all its field lines,
    each a match of the field's own `element` grammar: separated by ",", trimmed of OWS
    (SP and HTAB, nothing else), empty elements skipped. Matching the element at its
    position (rather than splitting first) keeps a "," inside a quoted-string in its
    element. `ValueError` for an element that does not match: the field is invalid."""
    elements = []
    for value in values:
        position = LIST_GAP_RE.match(value).end()
        while position < len(value):
            match = element.match(value, position)
            end = match and LIST_END_RE.match(value, match.end())
            if not end:
                raise ValueError(f"invalid list element at {value[position:position + 40]!r}")
            elements.append(match)
            position = LIST_GAP_RE.match(value, end.end()).end()
    return elements


class Transport(Protocol):
    """What a request body needs from its connection: the receive buffer, more bytes
    in it, and the interim answer that invites the client to send the body."""

    buffer: bytearray

    def receive_more(self) -> None:
        """Append at least one byte to `buffer`, or raise `ClientDisconnected`."""

    def send_continue(self) -> None:
        """Send the interim `100 Continue` response (RFC 9110 §15.2.1)."""


@dataclass
class Request:
    method: str
    target: str  # the request-target as sent, e.g. "/echo/abc?x=1"
    path: str  # the target's path, still percent-encoded, e.g. "/echo/abc"
    query: str  # after "?", without it; "" when absent
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: Headers
    raw_head: bytes  # the request line and header section exactly as received
    body: RequestBody
    wants_keep_alive: bool  # what the client asked for (RFC 9112 §9.3); the server decides
    # The client's address: the peer's, or behind a trusted proxy the one it forwarded
    # (`forwarded.py`); the connection fills it in.
    client: str = ""
    # Who is asking, for `permissions.require()`: the user who logged in (`auth.py`, None
    # if anonymous), or the share link used (`sharelinks.py`: a `permissions.Grant`).
    user: str | None = None
    grant: Any = None


class BodyEvent(enum.Enum):
    """What a body decoder answers when it has no body bytes to return."""

    NEED_DATA = "need data"
    END_OF_BODY = "end of body"


class ContentLengthDecoder:
    """A body of exactly `length` bytes (RFC 9112 §6.2)."""

    def __init__(self, length: int) -> None:
        self.remaining = length

    def expected_bytes(self) -> int:
        """Body bytes announced (by Content-Length) but not yet taken off the buffer."""
        return self.remaining

    def next_piece(self, buffer: bytearray) -> bytes | BodyEvent:
        if self.remaining == 0:
            return BodyEvent.END_OF_BODY
        if not buffer:
            return BodyEvent.NEED_DATA
        piece = bytes(buffer[: self.remaining])
        # Deleting from the front of a bytearray is cheap in CPython: it moves a start
        # offset rather than the bytes.
        del buffer[: len(piece)]
        self.remaining -= len(piece)
        return piece


class ChunkedDecoder:
    """A `Transfer-Encoding: chunked` body (RFC 9112 §7.1), trailers included."""

    _SIZE_LINE, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.state = self._SIZE_LINE
        self.chunk_remaining = 0
        self.trailers = Headers()
        self.trailer_bytes = 0

    def expected_bytes(self) -> int:
        """Bytes of the current chunk (announced by its size line) not yet taken off
        the buffer."""
        return self.chunk_remaining if self.state == self._DATA else 0

    def next_piece(self, buffer: bytearray) -> bytes | BodyEvent:
        while True:
            if self.state == self._SIZE_LINE:
                line = take_line(buffer, self.limits.max_chunk_line, "chunk-size line")
                if line is None:
                    return BodyEvent.NEED_DATA
                match = CHUNK_SIZE_LINE_RE.fullmatch(line)
                if match is None:
                    raise ProtocolError(400, "invalid chunk size line in chunked body")
                self.chunk_remaining = int(match.group(1), 16)
                self.state = self._DATA if self.chunk_remaining else self._TRAILERS
            elif self.state == self._DATA:
                if not buffer:
                    return BodyEvent.NEED_DATA
                piece = bytes(buffer[: self.chunk_remaining])
                del buffer[: len(piece)]
                self.chunk_remaining -= len(piece)
                if self.chunk_remaining == 0:
                    self.state = self._DATA_END
                return piece
            elif self.state == self._DATA_END:
                if len(buffer) < 2:
                    if buffer[:1] not in (b"", b"\r"):
                        raise ProtocolError(400, "chunk data not followed by CRLF")
                    return BodyEvent.NEED_DATA
                if buffer[:2] != CRLF:
                    raise ProtocolError(400, "chunk data not followed by CRLF")
                del buffer[:2]
                self.state = self._SIZE_LINE
            elif self.state == self._TRAILERS:
                # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF.
                line = take_line(buffer, self.limits.max_header_bytes, "trailer field")
                if line is None:
                    return BodyEvent.NEED_DATA
                if not line:
                    self.state = self._DONE
                    continue
                self.trailer_bytes += len(line) + 2
                if (
                    self.trailer_bytes > self.limits.max_header_bytes
                    or len(self.trailers) >= self.limits.max_header_fields
                ):
                    raise ProtocolError(431, "trailer section too large")
                self.trailers.add(*trailer_field(line))
            else:
                return BodyEvent.END_OF_BODY


BodyDecoder = ContentLengthDecoder | ChunkedDecoder


class RequestBody:
    """The body of one request, decoded as the handler reads it.

    Iterate over it for pieces of bytes (an upload streams to disk this way) or call
    `read_all()` for the whole of a small body. The connection checks `finished`
    after the handler returns, to know whether the next request starts in the buffer.
    """

    def __init__(
        self, decoder: BodyDecoder, transport: Transport, expect_continue: bool, limit: int
    ) -> None:
        self.decoder = decoder
        self.transport = transport
        # RFC 9110 §10.1.1: with `Expect: 100-continue` the client waits for our interim
        # answer before sending the body; we send it only if the handler asks for it, so
        # a handler can refuse (413, 404) without the body ever being sent.
        self.awaiting_continue = expect_continue
        self.limit = limit
        self.received = 0
        self.discarded = 0  # bytes read and dropped by `discard()`, over all its calls
        self.finished = isinstance(decoder, ContentLengthDecoder) and decoder.remaining == 0

    @property
    def trailers(self) -> Headers:
        return self.decoder.trailers if isinstance(self.decoder, ChunkedDecoder) else Headers()

    @property
    def declared_length(self) -> int | None:
        """The bytes Content-Length says are still to come; None for a chunked body,
        whose length is known only at its end."""
        if isinstance(self.decoder, ContentLengthDecoder):
            return self.decoder.remaining
        return None

    def __iter__(self) -> Iterator[bytes]:
        while not self.finished:
            piece = self.decoder.next_piece(self.transport.buffer)
            if piece is BodyEvent.NEED_DATA:
                self._check_limit()  # Content-Length, or a chunk size just read
                if self.awaiting_continue:
                    self.awaiting_continue = False
                    self.transport.send_continue()
                self.transport.receive_more()
            elif piece is BodyEvent.END_OF_BODY:
                self.finished = True
            else:
                self.received += len(piece)
                self._check_limit()
                yield piece

    def _check_limit(self) -> None:
        """413 as soon as the body is known to exceed the limit: from Content-Length or a
        chunk size, before those bytes are read or stored, and before 100 Continue
        invites the client to send them (RFC 9110 §15.5.14)."""
        if self.received + self.decoder.expected_bytes() > self.limit:
            raise ProtocolError(413, f"request body larger than {self.limit} bytes")

    def discard(self, max_bytes: int) -> bool:
        """Read and drop the rest of the body; False once more than `max_bytes` in all
        were dropped (a second call does not start counting again)."""
        if self.discarded > max_bytes:
            return False
        for piece in self:
            self.discarded += len(piece)
            if self.discarded > max_bytes:
                return False
        return True

    def read_all(self, limit: int) -> bytes:
        """The whole body, refusing with 413 one larger than `limit` bytes."""
        self.limit = min(self.limit, limit)
        if isinstance(self.decoder, ContentLengthDecoder) and self.decoder.remaining > limit:
            raise ProtocolError(413, f"request body larger than {limit} bytes")
        return b"".join(self)


def take_line(buffer: bytearray, max_length: int, what: str) -> bytes | None:
    """Remove one CRLF-terminated line from the front of `buffer` and return it without
    its CRLF; `None` if the line is not complete yet.

    RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; we do not: a bare
    LF or CR is read differently by different servers, which is what request smuggling
    feeds on, so it is a 400 here."""
    end = buffer.find(b"\n", 0, max_length + 2)
    if end < 0:
        if len(buffer) > max_length + 1:
            raise ProtocolError(400, f"{what} longer than {max_length} bytes")
        if b"\r" in buffer[: max(len(buffer) - 1, 0)]:
            raise ProtocolError(400, f"bare CR in {what}")
        return None
    if end == 0 or buffer[end - 1] != 0x0D:
        raise ProtocolError(400, f"bare LF in {what}; lines must end with CRLF")
    line = bytes(buffer[: end - 1])
    if b"\r" in line:
        raise ProtocolError(400, f"bare CR in {what}")
    del buffer[: end + 1]
    return line


def parse_field_line(line: bytes) -> tuple[str, str]:
    """RFC 9112 §5:  field-line = field-name ":" OWS field-value OWS"""
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obs-fold. A server MUST reject it or unfold it; we reject. (On the
        # first field line this is whitespace after the start-line, §2.2: reject too.)
        raise ProtocolError(400, "obsolete line folding (obs-fold) in header section")
    name, colon, value = line.partition(b":")
    if not colon:
        raise ProtocolError(400, "header field line without a colon")
    if not TOKEN_RE.fullmatch(name):
        if name.rstrip(b" \t") != name:
            # RFC 9112 §5.1: no whitespace is allowed between the field name and colon;
            # a server MUST reject such a message with 400.
            raise ProtocolError(400, "whitespace between header field name and colon")
        raise ProtocolError(400, "invalid character in header field name")
    value = value.strip(b" \t")
    # RFC 9110 §5.5: CR, LF and NUL in a field value are "invalid and dangerous"; a
    # recipient MUST reject the message or replace them. We reject every control byte.
    if not FIELD_VALUE_RE.fullmatch(value):
        raise ProtocolError(400, f"invalid character in value of header field {name.decode()}")
    return name.decode("ascii").lower(), value.decode("latin-1")


# RFC 9110 §6.5.1: "Many fields cannot be processed outside the header section because
# their evaluation is necessary prior to receiving the content, such as those that describe
# message framing, routing, authentication, request modifiers, response controls, or
# content format." A trailer naming one of them is how a second parser is made to see
# another message, so it is refused (400), as llhttp does.
FORBIDDEN_TRAILERS = frozenset({
    # framing (RFC 9112 §6) and the connection (RFC 9110 §7.6)
    "content-length", "transfer-encoding", "trailer", "te", "connection", "keep-alive",
    "proxy-connection", "upgrade",
    # routing and request modifiers (RFC 9110 §7.2, §7.6.2, §10.1, §13.1, §14.2)
    "host", "max-forwards", "expect", "range", "if-match", "if-none-match",
    "if-modified-since", "if-unmodified-since", "if-range",
    # authentication (RFC 9110 §11) and cookies (RFC 6265)
    "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
    "cookie", "set-cookie",
    # content format (RFC 9110 §8) and response controls (RFC 9110 §10.2, RFC 9111 §5)
    "content-encoding", "content-type", "content-range", "cache-control", "age", "expires",
    "date", "location", "retry-after", "vary", "warning",
})


def trailer_field(line: bytes) -> tuple[str, str]:
    """A trailer field line (RFC 9112 §7.1.2); 400 for a field that may not be a trailer."""
    name, value = parse_field_line(line)
    if name in FORBIDDEN_TRAILERS:
        raise ProtocolError(400, f"{name} is not allowed in the trailer section")
    return name, value


def parse_request(transport: Transport, limits: Limits) -> Request | None:
    """Parse one request head from the front of `transport.buffer`.

    Returns `None` when the header section is not complete yet (the buffer is left as it
    is), or a `Request` whose head bytes have been removed from the buffer. Raises
    `ProtocolError` for a request that must be refused.
    """
    buffer = transport.buffer
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the
    # request line (some clients send an extra CRLF after a POST body).
    while buffer[:2] == CRLF:
        del buffer[:2]
    head_end = buffer.find(b"\r\n\r\n", 0, limits.max_header_bytes)
    if head_end < 0:
        check_incomplete_head(buffer, limits)
        return None
    raw_head = bytes(buffer[: head_end + 4])
    method, target, version, headers = parse_common_head(raw_head, limits) or parse_head(raw_head, limits)
    path, query = split_target(method, target)
    check_host(version, headers)
    decoder = body_decoder_for(version, headers, limits)
    options = token_list(headers, "connection")
    expect_continue = expects_continue(version, headers)

    del buffer[: head_end + 4]
    return Request(
        method=method,
        target=target,
        path=path,
        query=query,
        version=version,
        headers=headers,
        raw_head=raw_head,
        body=RequestBody(decoder, transport, expect_continue, limits.max_upload),
        wants_keep_alive=wants_keep_alive(version, options),
    )


def parse_head(raw_head: bytes, limits: Limits) -> tuple[str, str, str, Headers]:
    """The request line and header fields of a complete head, line by line: every error
    gets its precise status and reason."""
    lines = split_head(raw_head[:-4], limits)
    method, target, version = parse_request_line(lines[0])
    return method, target, version, Headers([parse_field_line(line) for line in lines[1:]])


# The head nearly every client sends, matched whole by one pattern: a token method, an
# origin-form target (RFC 9112 §3.2.1) without '#' (x23, refused by `parse_request_line`),
# HTTP/1.1 or HTTP/1.0, then field lines
#   field-line = field-name ":" OWS field-value OWS    (RFC 9112 §5)
# whose name is a token right before the colon and whose value (with its OWS) holds no
# control character but HTAB (RFC 9110 §5.5, as FIELD_VALUE_RE). Every head it matches
# is one `parse_head` accepts with the same result (tests/test_parser_properties.py
# checks it); anything else, valid or not, takes `parse_head`. The quantifiers are
# possessive (`*+`): no backtracking, so the match is linear in the head's length.
COMMON_FIELD_LINE = rb"(%s):([\t\x20-\x7e\x80-\xff]*+)\r\n" % TOKEN
COMMON_HEAD_RE = re.compile(
    rb"(%s) (/[\x21\x22\x24-\x7e]*+) (HTTP/1\.[01])\r\n((?:%s:[\t\x20-\x7e\x80-\xff]*+\r\n)*+)\r\n"
    % (TOKEN, TOKEN)
)
COMMON_FIELD_LINE_RE = re.compile(COMMON_FIELD_LINE)


def parse_common_head(raw_head: bytes, limits: Limits) -> tuple[str, str, str, Headers] | None:
    """`parse_head`'s result for a head of the common shape (`COMMON_HEAD_RE`) within
    the limits, found with two calls into the regex engine; None for any other head."""
    match = COMMON_HEAD_RE.fullmatch(raw_head)
    if match is None or match.end(3) > limits.max_request_line:
        return None
    fields = COMMON_FIELD_LINE_RE.findall(match.group(4))
    if len(fields) > limits.max_header_fields:
        return None
    headers = Headers([(name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")) for name, value in fields])
    method, target, version = match.group(1, 2, 3)
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers


def split_head(head: bytes, limits: Limits) -> list[bytes]:
    """The lines of a complete head (without its final CRLF CRLF), checked for bare CR
    and LF and for the request-line and field-count limits."""
    lines = head.split(CRLF)
    # Every LF and every CR must belong to a CRLF line end: counted in C, one pass each,
    # rather than searched for line by line.
    line_ends = len(lines) - 1
    if head.count(b"\n") != line_ends:
        raise ProtocolError(400, "bare LF in header section; lines must end with CRLF")
    if head.count(b"\r") != line_ends:
        raise ProtocolError(400, "bare CR in header section; lines must end with CRLF")
    if len(lines[0]) > limits.max_request_line:
        raise ProtocolError(414, f"request line longer than {limits.max_request_line} bytes")
    if len(lines) - 1 > limits.max_header_fields:
        raise ProtocolError(431, f"more than {limits.max_header_fields} header fields")
    return lines


TLS_ON_PLAIN_PORT = "this port speaks plain HTTP: a TLS handshake was sent to it; use http://, not https://"
# RFC 8446 §5.1 (RFC 5246 §6.2.1 for TLS 1.2): every TLS record starts with its content
# type, and a connection starts with a handshake record (the ClientHello):
#   enum { ..., handshake(22), ... } ContentType;
# No HTTP request starts with this byte: a method is a token (RFC 9110 §9.1).
TLS_HANDSHAKE_RECORD = b"\x16"


def check_incomplete_head(buffer: bytearray, limits: Limits) -> None:
    """Refuse early what can already be refused before the head is complete: an oversized
    request line or header section, and bare-LF line ends (which would otherwise make us
    wait for a CRLF CRLF that never comes), and a TLS handshake sent to this plain port."""
    # A TLS client, waiting for our ServerHello, would otherwise wait for the timeout.
    if buffer[:1] == TLS_HANDSHAKE_RECORD:
        raise ProtocolError(400, TLS_ON_PLAIN_PORT)
    line_end = buffer.find(b"\n", 0, limits.max_request_line + 2)
    if line_end < 0 and len(buffer) > limits.max_request_line + 1:
        raise ProtocolError(414, f"request line longer than {limits.max_request_line} bytes")
    if len(buffer) >= limits.max_header_bytes:
        raise ProtocolError(431, f"header section larger than {limits.max_header_bytes} bytes")
    # RFC 9112 §2.2: a bare CR MUST be rejected (or replaced by SP); a bare LF MAY be
    # taken as a line end, but we refuse it (see `take_line`). A CR as the very last byte
    # may still be followed by its LF.
    if BARE_LF_RE.search(buffer):
        raise ProtocolError(400, "bare LF in header section; lines must end with CRLF")
    if BARE_CR_RE.search(buffer):
        raise ProtocolError(400, "bare CR in header section; lines must end with CRLF")


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """RFC 9112 §3:  request-line = method SP request-target SP HTTP-version"""
    parts = line.split(b" ")
    if len(parts) != 3:
        raise ProtocolError(400, "malformed request line; expected: METHOD SP TARGET SP HTTP/1.1")
    method, target, version = parts
    if not TOKEN_RE.fullmatch(method):
        # A TLS handshake whose bytes happen to hold a CRLF CRLF ends up here.
        tls = method[:1] == TLS_HANDSHAKE_RECORD
        raise ProtocolError(400, TLS_ON_PLAIN_PORT if tls else "invalid character in method")
    if not REQUEST_TARGET_RE.fullmatch(target):
        raise ProtocolError(400, "invalid character in request target")
    if b"#" in target:
        # RFC 9112 §3.2: the target is a URI without its fragment (a client strips it:
        # RFC 9110 §7.1); a '#' here is a client bug or a probe, not a path to guess at.
        raise ProtocolError(400, "'#' in request target: a URI fragment is never sent to the server")
    return method.decode("ascii"), target.decode("ascii"), http_version(version)


def http_version(version: bytes) -> str:
    """The version we process the request as (RFC 9112 §2.3). RFC 9110 §2.5: a message of a
    higher minor version of a major version we implement SHOULD be processed as the highest
    minor version we implement, so HTTP/1.2 is HTTP/1.1; another major version is 505."""
    match = HTTP_VERSION_RE.fullmatch(version)
    if match is None:
        raise ProtocolError(400, "malformed HTTP version")
    if match.group(1) != b"1":
        raise ProtocolError(505, f"HTTP version {version.decode()} is not supported")
    return "HTTP/1.0" if match.group(2) == b"0" else "HTTP/1.1"


def split_target(method: str, target: str) -> tuple[str, str]:
    """The path and query of a request-target (RFC 9112 §3.2)."""
    if method == "CONNECT":  # authority-form, §3.2.3 (answered 501 by the handlers)
        if not AUTHORITY_FORM_RE.fullmatch(target.encode("ascii")):
            raise ProtocolError(400, "CONNECT target must be host:port (authority-form)")
        return target, ""
    if target.startswith("/"):  # origin-form
        path, _, query = target.partition("?")
        return path, query
    if ascii_lower(target).startswith(("http://", "https://")):  # absolute-form, §3.2.2
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        path_and_query = rest[slash:] if slash >= 0 else "/"
        path, _, query = path_and_query.partition("?")
        return path, query
    if target == "*" and method == "OPTIONS":  # asterisk-form, §3.2.4
        return "*", ""
    raise ProtocolError(400, "request target must start with '/'")


def check_host(version: str, headers: Headers) -> None:
    """RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without a Host
    field or with more than one, and to one with an invalid Host value."""
    hosts = headers.get_all("host")
    if version == "HTTP/1.1" and not hosts:
        raise ProtocolError(400, "missing Host header (required in HTTP/1.1)")
    if len(hosts) > 1:
        raise ProtocolError(400, "more than one Host header")
    if hosts and not HOST_RE.fullmatch(hosts[0].encode("latin-1")):
        raise ProtocolError(400, "invalid Host header")


def body_decoder_for(version: str, headers: Headers, limits: Limits) -> BodyDecoder:
    """How the request body is framed (RFC 9112 §6.3), refusing every ambiguous case."""
    transfer_encodings = headers.get_all("transfer-encoding")
    content_lengths = headers.get_all("content-length")
    if transfer_encodings:
        if content_lengths:
            # §6.3 point 3: a message with both "might indicate an attempt to perform
            # request smuggling ... and ought to be handled as an error"; §6.1 lets a
            # server reject it and requires closing the connection after answering.
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding present")
        return chunked_decoder_for(version, headers, limits)
    if content_lengths:
        if len(content_lengths) > 1:
            # RFC 9110 §8.6 allows identical duplicates to be merged; we refuse them all,
            # as waitress does: a client has no reason to send two, and two servers that
            # merge differently are how bodies get smuggled.
            raise ProtocolError(400, "more than one Content-Length header")
        value = content_lengths[0].encode("latin-1")
        # §6.3 point 5: an invalid Content-Length is an unrecoverable framing error; the
        # server MUST answer 400 and close. A sign, inner spaces, a comma list, hex or more
        # than 18 digits (which could overflow a reader's integer) are all invalid.
        if not CONTENT_LENGTH_RE.fullmatch(value):
            raise ProtocolError(400, "Content-Length must be plain digits")
        return ContentLengthDecoder(int(value))
    # §6.3 point 7: a request with neither has an empty body.
    return ContentLengthDecoder(0)


def chunked_decoder_for(version: str, headers: Headers, limits: Limits) -> ChunkedDecoder:
    """The decoder of a request with Transfer-Encoding (RFC 9112 §6.1, §6.3), which must
    be exactly `chunked`: everything else is refused before any body byte is read."""
    if version == "HTTP/1.0":
        # §6.1: Transfer-Encoding in HTTP/1.0 MUST be treated as faulty framing.
        raise ProtocolError(400, "Transfer-Encoding is not allowed in HTTP/1.0")
    codings = transfer_codings(headers)
    if not codings or codings[-1] != "chunked":
        # §6.3 point 4: if chunked is not the final coding, the length of a request
        # body cannot be determined: 400 and close.
        raise ProtocolError(400, "Transfer-Encoding must end with chunked")
    if codings.count("chunked") > 1:
        # §6.1: a sender MUST NOT apply chunked more than once.
        raise ProtocolError(400, "chunked applied more than once")
    if len(codings) > 1:
        # §6.1: a well-formed transfer coding we do not implement: 501.
        raise ProtocolError(501, f"transfer coding {codings[0]} is not implemented")
    return ChunkedDecoder(limits)


def transfer_codings(headers: Headers) -> list[str]:
    """The Transfer-Encoding codings in order, names lowercased (RFC 9112 §7: names are
    case-insensitive); a coding with parameters keeps them, so it is never `chunked`,
    which has none. 400 for a value outside the grammar (0xA0 before `chunked`, 0x85
    after it: Python's `str.strip()` would make them chunked, another parser would not)."""
    try:
        codings = list_elements(headers.get_all("transfer-encoding"), TRANSFER_CODING_RE)
    except ValueError:
        raise ProtocolError(400, "invalid Transfer-Encoding header: codings are tokens separated by commas") from None
    return [ascii_lower(coding.group(1)) + coding.group(2) for coding in codings]


def token_list(headers: Headers, name: str, element: re.Pattern[str] = TOKEN_STR_RE) -> list[str]:
    """A list field whose elements begin with a token (Connection, Expect), each element
    lowercased; 400 for a value outside the field's grammar."""
    try:
        return [ascii_lower(match.group()) for match in list_elements(headers.get_all(name), element)]
    except ValueError:
        raise ProtocolError(400, f"invalid {name.title()} header: expected tokens separated by commas") from None


def wants_keep_alive(version: str, options: list[str]) -> bool:
    """RFC 9112 §9.3: HTTP/1.1 persists unless `close` is among the Connection options;
    HTTP/1.0 persists only if the client sent `Connection: keep-alive`."""
    if "close" in options:
        return False
    if version == "HTTP/1.0":
        return "keep-alive" in options
    return True


def expects_continue(version: str, headers: Headers) -> bool:
    """RFC 9110 §10.1.1: `Expect: 100-continue` (case-insensitive); never for HTTP/1.0,
    to which a server MUST NOT send 100. Other expectations are ignored."""
    expectations = token_list(headers, "expect", EXPECTATION_RE)
    return version == "HTTP/1.1" and "100-continue" in expectations


# ---------------------------------------------------------------------------------------
# Content negotiation
# ---------------------------------------------------------------------------------------

# RFC 9110 §12.4.2:  weight = OWS ";" OWS "q=" qvalue      ("q=" is case-insensitive:
#                    qvalue = ( "0" [ "." 0*3DIGIT ] )        a quoted ABNF string is,
#                           / ( "1" [ "." 0*3("0") ] )        RFC 5234 §2.3)
QVALUE = r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)"
QVALUE_RE = re.compile(QVALUE)
# RFC 9110 §12.5.3:  Accept-Encoding = #( codings [ weight ] )
#                    codings = content-coding / "identity" / "*"     (all three are tokens)
CODINGS_ELEMENT_RE = re.compile(r"(%s)(?:[ \t]*;[ \t]*[Qq]=(%s))?" % (TOKEN_STR, QVALUE))
# RFC 9110 §12.5.1:  Accept = #( media-range [ weight ] )
#   media-range = ( "*/*" / ( type "/" "*" ) / ( type "/" subtype ) ) parameters
# "*" is a tchar, so type "/" subtype covers all three. The weight is a parameter named q,
# read from the parameters one by one (`parameters_weight`).
MEDIA_RANGE_ELEMENT_RE = re.compile(r"(%s/%s)(%s)" % (TOKEN_STR, TOKEN_STR, PARAMETERS))
PARAMETER_RE = re.compile(r"[ \t]*;[ \t]*(?:(%s)=(%s|%s))?" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR))

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """`text` with A-Z lowercased and nothing else changed: the case-insensitivity of
    tokens is ASCII's (RFC 9110 §5.6.2), not Unicode's (`str.lower()` also maps `À`)."""
    return text.translate(_ASCII_LOWER)


def qvalue_weight(qvalue: str | None) -> int:
    """A qvalue already matched by QVALUE, in thousandths ("0.5" → 500); no weight is 1000.
    Exact, and no `float()` of received text."""
    if qvalue is None:
        return 1000
    whole, _, fraction = qvalue.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def parameters_weight(parameters: str) -> int | None:
    """The weight among a media range's parameters (1000 without q), None for a q that is
    not a qvalue."""
    for parameter in PARAMETER_RE.finditer(parameters):
        if parameter.group(1) is not None and ascii_lower(parameter.group(1)) == "q":
            qvalue = parameter.group(2)
            return qvalue_weight(qvalue) if QVALUE_RE.fullmatch(qvalue) else None
    return 1000


def coding_weights(headers: Headers) -> dict[str, int]:
    """Accept-Encoding as {coding, lowercased: weight in thousandths}. A field outside the
    grammar is ignored as a whole, as if absent (we then send identity, always acceptable)."""
    try:
        elements = list_elements(headers.get_all("accept-encoding"), CODINGS_ELEMENT_RE)
    except ValueError:
        return {}
    return {ascii_lower(element.group(1)): qvalue_weight(element.group(2)) for element in elements}


def media_range_weights(headers: Headers) -> dict[str, int]:
    """Accept as {type/subtype, lowercased: weight in thousandths}, parameters other than q
    left out; {} (as if absent) for a field outside the grammar."""
    try:
        elements = list_elements(headers.get_all("accept"), MEDIA_RANGE_ELEMENT_RE)
    except ValueError:
        return {}
    weights = [(ascii_lower(element.group(1)), parameters_weight(element.group(2))) for element in elements]
    return {} if any(weight is None for _, weight in weights) else dict(weights)


def accepts_gzip(headers: Headers) -> bool:
    """Whether gzip is an acceptable content coding: named with q > 0, or not named but
    covered by `*` with q > 0 (Accept-Encoding, RFC 9110 §12.5.3)."""
    codings = coding_weights(headers)
    if "gzip" in codings:
        return codings["gzip"] > 0
    if "x-gzip" in codings:  # RFC 9110 §8.4.1.3: x-gzip is an alias of gzip
        return codings["x-gzip"] > 0
    return codings.get("*", 0) > 0


# ---------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------

# RFC 9110 §15: the reason phrases, exactly as the RFC spells them (Python 3.11's
# http.HTTPStatus still has older names for 413, 416 and 422).
REASON_PHRASES: dict[int, str] = {
    100: "Continue",
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content",
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
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
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
    - `Date` when `date` is on (RFC 9110 §6.6.1).
    - for a body of unknown length (`StreamBody`), `Transfer-Encoding: chunked` to an
      HTTP/1.1 client, and to an HTTP/1.0 one nothing: the end of the connection ends
      the body (RFC 9112 §6.3 point 8), so the caller must not keep it open
      (`close_delimited()`).
    """
    headers = list(response.headers)
    if date:
        headers.append(("Date", current_http_date()))
    if body_allowed(response.status):
        length = response.content_length
        if length is not None:
            headers.append(("Content-Length", str(length)))
        elif chunked(request):
            headers.append(("Transfer-Encoding", "chunked"))
    if not keep_open:
        headers.append(("Connection", "close"))
    elif request is not None and request.version == "HTTP/1.0":
        headers.append(("Connection", "keep-alive"))
    return serialize_response_head(response.status, headers)


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


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """A time as an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`:
    English names whatever the locale, always GMT."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


# RFC 9110 §5.6.7: HTTP-date = IMF-fixdate / obs-date. Names are case-sensitive (%s"..."),
# digits are ASCII DIGIT, and the separators are exactly one SP, "," or "-".
#   IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT     ; date1 = day SP month SP year
#   rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT   ; date2 = day "-" month "-" 2DIGIT
#   asctime-date = day-name SP date3 SP time-of-day SP year        ; date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
#   time-of-day  = hour ":" minute ":" second                      ; each 2DIGIT
_DAY_NAME = "|".join(_DAY_NAMES)
_DAY_NAME_L = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTH = "(?P<month>%s)" % "|".join(_MONTH_NAMES)
_TIME_OF_DAY = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
HTTP_DATE_RES = (
    re.compile(rf"(?:{_DAY_NAME}), (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME_OF_DAY} GMT"),
    re.compile(rf"(?:{_DAY_NAME_L}), (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME_OF_DAY} GMT"),
    re.compile(rf"(?:{_DAY_NAME}) {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME_OF_DAY} (?P<year>[0-9]{{4}})"),
)


def parse_http_date(value: str | None, now: float | None = None) -> float | None:
    """An HTTP-date in any of its three forms as a timestamp; None when absent or not an
    HTTP-date (a recipient then ignores the field: RFC 9110 §13.1.3, §13.1.4)."""
    match = match_http_date(value) if value is not None else None
    if match is None:
        return None
    year, month = int(match["year"]), _MONTH_NAMES.index(match["month"]) + 1
    if len(match["year"]) == 2:
        year = rfc850_year(year, time.gmtime(now).tm_year)
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "second"))
    if year < 1 or day < 1 or day > calendar.monthrange(year, month)[1]:
        return None
    if hour > 23 or minute > 59 or second > 60:  # second 60: a leap second (§5.6.7)
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def match_http_date(value: str) -> re.Match[str] | None:
    """The match of `value` against the first of the three forms it fits."""
    for pattern in HTTP_DATE_RES:
        match = pattern.fullmatch(value)
        if match is not None:
            return match
    return None


def rfc850_year(two_digits: int, current_year: int) -> int:
    """RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the
    future" is "the most recent year in the past that had the same last two digits"."""
    year = current_year - current_year % 100 + two_digits
    return year - 100 if year > current_year + 50 else year


class PerSecond:
    """The current time in some format, formatted at most once a second: a busy server
    asks for it on every request, and formatting costs more than looking it up."""

    def __init__(self, format_time: Callable[[int], str]) -> None:
        self.format_time = format_time
        self.cached: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        now = int(time.time())
        second, text = self.cached  # one tuple: threads never see a half-updated pair
        if second != now:
            text = self.format_time(now)
            self.cached = (now, text)
        return text


current_http_date = PerSecond(http_date)
