"""Request bodies (RFC 9112 §6, §7): the two body decoders (`ContentLengthDecoder`,
`ChunkedDecoder` with its trailers), and `RequestBody`, which a handler iterates or
reads whole while it pulls bytes from its connection (`ByteSource`), sends 100 Continue
when first asked, and refuses with 413 a body over its limit.

They do no I/O themselves: they read from the front of the connection's receive buffer
and remove exactly the bytes of the body, so a pipelined next request stays in it."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from app.errors import ProtocolError
from app.fields import CHUNK_SIZE_LINE_RE, CRLF, Headers, parse_field_line

if TYPE_CHECKING:  # for the annotations only
    from app.settings import Limits

class ByteSource(Protocol):
    """What a request body needs from its connection: the receive buffer, more bytes
    in it, and the interim answer that invites the client to send the body."""

    buffer: bytearray

    def receive_more(self) -> None:
        """Append at least one byte to `buffer`, or raise `ClientDisconnected`."""

    def send_continue(self) -> None:
        """Send the interim `100 Continue` response (RFC 9110 §15.2.1)."""


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
        if len(buffer) <= self.remaining:  # the whole buffer: one copy, not two
            piece = bytes(buffer)
            buffer.clear()
        else:
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
        self, decoder: BodyDecoder, source: ByteSource, expect_continue: bool, limit: int
    ) -> None:
        self.decoder = decoder
        self.source = source
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
            piece = self.decoder.next_piece(self.source.buffer)
            if piece is BodyEvent.NEED_DATA:
                self.check_limit()  # Content-Length, or a chunk size just read
                if self.awaiting_continue:
                    self.awaiting_continue = False
                    self.source.send_continue()
                self.source.receive_more()
            elif piece is BodyEvent.END_OF_BODY:
                self.finished = True
            else:
                self.received += len(piece)
                self.check_limit()
                yield piece

    def check_limit(self) -> None:
        """413 as soon as the body is known to exceed the limit: from Content-Length or a
        chunk size, before those bytes are read or stored, and before 100 Continue
        invites the client to send them (RFC 9110 §15.5.14). A handler calls it before
        anything else that could refuse the request (an upload's 409 or 412)."""
        refuse_oversized(self.received + self.decoder.expected_bytes(), self.limit)

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
        self.check_limit()
        return b"".join(self)


def refuse_oversized(size: int, limit: int) -> None:
    """The one refusal of a request body over its limit, with one text, wherever the size
    is learnt (Content-Length, a chunk size, the bytes received): 413 (RFC 9110
    §15.5.14). A `ProtocolError`: the rest of the body is never read, so the connection
    closes after the answer, as §15.5.14 allows."""
    if size > limit:
        raise ProtocolError(413, f"request body larger than {limit} bytes")


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


# The body of every request without Content-Length, Transfer-Encoding or Expect (RFC 9112
# §6.3 point 7: empty): finished from the start, so nothing in it ever changes, and one
# object serves them all, which saves two constructor calls per request (issue 20).
NO_BODY = RequestBody(ContentLengthDecoder(0), None, False, 0)  # type: ignore[arg-type]
