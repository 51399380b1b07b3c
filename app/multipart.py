"""A streaming `multipart/form-data` parser (RFC 7578 over the RFC 2046 §5.1 grammar),
with no sockets and no disk in it.

It owns: the `boundary` parameter of the Content-Type (`boundary_from`), the step parser
(`MultipartParser`: fed bytes with `feed()`, it answers one event at a time from
`next_event()`: a part's headers, a piece of its data, its end, the end of the body, or
`NEED_DATA`), and a part's Content-Disposition (`name`, `filename`, `filename*`).

Why our own: the standard library's `email` parser builds the whole message in memory,
and a 1 GiB upload must stream to disk. The parser keeps at most one receive's worth of
bytes plus a delimiter's length: data is handed out as soon as it cannot be the start
of a delimiter, so memory stays flat whatever the size of a part, and a delimiter split
across two `recv()`s (at any byte) is still found.

Anything malformed raises `MultipartError` with a one-line reason (the handler answers
400 with it); nothing is guessed or silently repaired.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from app.errors import ProtocolError
from app.fields import Headers, parse_field_line
from app.settings import Limits


class MultipartError(ValueError):
    """A body that does not follow the multipart grammar; its text is the 400 reason."""


# RFC 2046 §5.1.1:
#   boundary      := 0*69<bchars> bcharsnospace
#   bchars        := bcharsnospace / " "
#   bcharsnospace := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." /
#                    "/" / ":" / "=" / "?"
BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

# RFC 9110 §5.6.6 parameters, as in Content-Type and (RFC 6266 §4.1) Content-Disposition:
#   parameters      = *( OWS ";" OWS [ parameter ] )
#   parameter       = parameter-name "=" parameter-value
#   parameter-value = ( token / quoted-string )
# Values are matched on text decoded as ISO-8859-1, so UTF-8 bytes inside a quoted file
# name (what browsers send, RFC 7578 §4.2) pass through untouched, to be re-decoded.
TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
PARAMETER_RE = re.compile(rf"[ \t]*;[ \t]*(?:({TOKEN})[ \t]*=[ \t]*({TOKEN}|{QUOTED}))?[ \t]*")
# RFC 9110 §5.6.4 lets a quoted-pair escape any character, but browsers follow the HTML
# standard, which never escapes (it sends `"` as %22) and leaves a backslash as it is:
# so only `\"` and `\\` (what curl sends) are unescaped, and any other backslash stays,
# to be refused with the name rather than silently dropped from it.
QUOTED_PAIR_RE = re.compile(r'\\(["\\])')

# RFC 8187 §3.2.1 (ext-value, as used by `filename*`, RFC 6266 §4.3):
#   ext-value = charset "'" [ language ] "'" value-chars
# Only UTF-8 is accepted (RFC 8187 §3.2.1: recipients MUST support it, ISO-8859-1 too,
# but no client sends that today).
EXT_VALUE_RE = re.compile(r"(?i:utf-8)'[A-Za-z0-9-]*'((?:%[0-9A-Fa-f]{2}|[-!#$&+.^_`|~0-9A-Za-z])*)")


def boundary_from(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data; boundary=...` Content-Type (RFC 7578
    §4.1: required, 1 to 70 characters of the RFC 2046 set, not ending in a space)."""
    media_type, semicolon, parameters = content_type.partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise MultipartError("Content-Type is not multipart/form-data")
    values = parse_parameters(semicolon + parameters, "Content-Type")
    boundary = values.get("boundary")
    if boundary is None:
        raise MultipartError("multipart/form-data without a boundary parameter")
    if not BOUNDARY_RE.fullmatch(boundary):
        raise MultipartError("invalid multipart boundary: 1 to 70 characters of the RFC 2046 set, no final space")
    return boundary.encode("ascii")


def parse_parameters(text: str, field: str) -> dict[str, str]:
    """`; name=value` parameters as {lowercased name: unquoted value}; a repeated name or
    anything that is not a parameter is refused (two readers could pick different ones)."""
    values: dict[str, str] = {}
    position = 0
    text = text.rstrip(" \t")
    while position < len(text):
        match = PARAMETER_RE.match(text, position)
        if match is None:
            raise MultipartError(f"malformed parameters in {field}")
        position = match.end()
        if match.group(1) is None:
            continue  # an empty parameter: `;;` or a final `;`
        name, value = match.group(1).lower(), match.group(2)
        if name in values:
            raise MultipartError(f"parameter {name} appears twice in {field}")
        if value.startswith('"'):
            value = QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
        values[name] = value
    return values


@dataclass
class Disposition:
    """What Content-Disposition says of one part (RFC 7578 §4.2): the form field's
    `name`, and the `filename` of a file part (None for a plain field)."""

    name: str
    filename: str | None


def parse_disposition(value: str) -> Disposition:
    """`form-data; name="field"; filename="a.txt"` (or `filename*=UTF-8''a%20b.txt`,
    RFC 6266 §4.3, which wins over `filename` when both are sent)."""
    kind, semicolon, rest = value.partition(";")
    if kind.strip().lower() != "form-data":
        raise MultipartError("part's Content-Disposition is not form-data")
    parameters = parse_parameters(semicolon + rest, "Content-Disposition")
    if "name" not in parameters:
        raise MultipartError("part's Content-Disposition has no name parameter")
    filename = parameters.get("filename")
    if "filename*" in parameters:
        match = EXT_VALUE_RE.fullmatch(parameters["filename*"])
        if match is None:
            raise MultipartError("part's filename* is not UTF-8''percent-encoded (RFC 8187)")
        return Disposition(utf8(parameters["name"]), unquote(match.group(1), errors="strict"))
    return Disposition(utf8(parameters["name"]), None if filename is None else utf8(filename))


def utf8(latin1_text: str) -> str:
    """A value decoded as ISO-8859-1 (as header fields are) re-read as the UTF-8 that
    browsers send for non-ASCII names (RFC 7578 §5.1.3)."""
    try:
        return latin1_text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise MultipartError("part's name or filename is not valid UTF-8") from None


# ---------------------------------------------------------------------------------------
# The step parser
# ---------------------------------------------------------------------------------------


class Event(enum.Enum):
    NEED_DATA = "need data"  # feed() more bytes (or end_of_input())
    PART_END = "part end"  # the current part's data is complete
    END_OF_BODY = "end of body"  # the close-delimiter was read; nothing follows


@dataclass
class PartStart:
    """The headers of the next part have been read."""

    headers: Headers
    disposition: Disposition


MultipartEvent = PartStart | bytes | Event

# RFC 2046 §5.1.1:
#   transport-padding := *LWSP-char   ; composers MUST NOT generate it, but
#                                     ; receivers MUST be able to handle it
PADDING = b" \t"


class MultipartParser:
    """The RFC 2046 §5.1.1 body as a state machine:

        multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
                          body-part *encapsulation close-delimiter
                          transport-padding [CRLF epilogue]
        encapsulation  := delimiter transport-padding CRLF body-part
        delimiter      := CRLF dash-boundary
        close-delimiter := delimiter "--"
        body-part      := MIME-part-headers [CRLF *OCTET]

    Feed bytes in any pieces with `feed()`; call `end_of_input()` once the body has
    ended; take events with `next_event()` until `Event.END_OF_BODY`.
    """

    _PREAMBLE, _AFTER_BOUNDARY, _HEADERS, _DATA, _EPILOGUE = range(5)

    def __init__(self, boundary: bytes) -> None:
        self.dash_boundary = b"--" + boundary
        self.delimiter = b"\r\n" + self.dash_boundary
        self.buffer = bytearray()
        self.state = self._PREAMBLE
        self.at_body_start = True  # nothing of the body dropped yet (a preamble would be)
        self.input_ended = False

    def feed(self, data: bytes) -> None:
        if self.state != self._EPILOGUE:  # RFC 2046: the epilogue is to be ignored
            self.buffer += data

    def end_of_input(self) -> None:
        self.input_ended = True

    def next_event(self) -> MultipartEvent:
        while True:
            if self.state == self._PREAMBLE:
                event = self._skip_preamble()
            elif self.state == self._AFTER_BOUNDARY:
                event = self._after_boundary()
            elif self.state == self._HEADERS:
                event = self._part_headers()
            elif self.state == self._DATA:
                event = self._part_data()
            else:
                return Event.END_OF_BODY
            if event is not None:
                return self._check_end(event)

    def _check_end(self, event: MultipartEvent) -> MultipartEvent:
        """NEED_DATA after the body has ended: the close-delimiter never came."""
        if event is Event.NEED_DATA and self.input_ended:
            if self.state == self._PREAMBLE:
                raise MultipartError("multipart body holds no boundary line (--BOUNDARY)")
            raise MultipartError("multipart body ends before its final boundary")
        return event

    def _skip_preamble(self) -> Event | None:
        """Drop the preamble, up to the first dash-boundary (at the very start of the
        body, or after a CRLF)."""
        if self.at_body_start:
            if self.buffer.startswith(self.dash_boundary):
                del self.buffer[: len(self.dash_boundary)]
                self.state = self._AFTER_BOUNDARY
                return None
            if len(self.buffer) < len(self.dash_boundary) and self.dash_boundary.startswith(self.buffer):
                return Event.NEED_DATA  # maybe the first boundary, not all here yet
            self.at_body_start = False  # a preamble: from now on only CRLF--boundary counts
        found = self.buffer.find(self.delimiter)
        if found < 0:
            # Keep what could be the start of the delimiter; drop the rest.
            del self.buffer[: max(len(self.buffer) - len(self.delimiter) + 1, 0)]
            return Event.NEED_DATA
        del self.buffer[: found + len(self.delimiter)]
        self.state = self._AFTER_BOUNDARY
        return None

    def _after_boundary(self) -> Event | None:
        """After a boundary: `--` (the close-delimiter), or transport padding then CRLF."""
        if self.buffer[:2] == b"--":
            self.state = self._EPILOGUE
            self.buffer.clear()
            return Event.END_OF_BODY
        padding = len(self.buffer) - len(self.buffer.lstrip(PADDING))
        rest = self.buffer[padding : padding + 2]
        if rest == b"\r\n":
            del self.buffer[: padding + 2]
            self.state = self._HEADERS
            return None
        if len(rest) == 2 or rest not in (b"", b"\r", b"-") or (rest == b"-" and padding):
            raise MultipartError("multipart boundary not followed by CRLF or '--'")
        if padding > Limits.max_part_header_bytes:
            raise MultipartError("too much padding after a multipart boundary")
        return Event.NEED_DATA

    def _part_headers(self) -> PartStart | Event:
        """RFC 2046 §5.1.1: MIME-part-headers, ended by an empty line."""
        if self.buffer.startswith(b"\r\n"):  # a part with no header fields at all
            raise MultipartError("multipart part without a Content-Disposition header")
        end = self.buffer.find(b"\r\n\r\n", 0, Limits.max_part_header_bytes)
        if end < 0:
            if len(self.buffer) >= Limits.max_part_header_bytes:
                raise MultipartError(f"multipart part headers larger than {Limits.max_part_header_bytes} bytes")
            return Event.NEED_DATA
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        self.state = self._DATA
        return part_start(lines)

    def _part_data(self) -> bytes | Event:
        """Data up to the next delimiter. Without one in the buffer, everything but the
        last `len(delimiter) - 1` bytes (which could begin a delimiter) is data."""
        found = self.buffer.find(self.delimiter)
        if found == 0:
            del self.buffer[: len(self.delimiter)]
            self.state = self._AFTER_BOUNDARY
            return Event.PART_END
        safe = found if found > 0 else len(self.buffer) - len(self.delimiter) + 1
        if safe <= 0:
            return Event.NEED_DATA
        piece = bytes(self.buffer[:safe])
        del self.buffer[:safe]
        return piece


def part_start(lines: list[bytes]) -> PartStart:
    """The headers of one part (RFC 7578 §4.8: only Content-Disposition, Content-Type
    and Content-Transfer-Encoding are meaningful), with the one that must be there."""
    if len(lines) > Limits.max_part_header_fields:
        raise MultipartError(f"more than {Limits.max_part_header_fields} header fields in a multipart part")
    headers = Headers()
    for line in lines:
        try:
            headers.add(*parse_field_line(line))
        except ProtocolError as error:
            raise MultipartError(f"in a multipart part's headers: {error.reason}") from None
    # RFC 7578 §4.7: Content-Transfer-Encoding is deprecated; a part in base64 or
    # quoted-printable would be stored still encoded, so it is refused, not stored.
    encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
    if encoding not in ("binary", "8bit", "7bit"):
        raise MultipartError(f"Content-Transfer-Encoding {encoding} in a multipart part is not supported (RFC 7578 §4.7)")
    dispositions = headers.get_all("content-disposition")
    if len(dispositions) != 1:
        raise MultipartError("a multipart part needs exactly one Content-Disposition header")
    return PartStart(headers, parse_disposition(dispositions[0]))


class MultipartReader:
    """A `MultipartParser` fed from an iterable of byte pieces (a request body): events
    come out as the parser needs more input, and `part_data()` gives one part's data."""

    def __init__(self, boundary: bytes, pieces: Iterable[bytes]) -> None:
        self.parser = MultipartParser(boundary)
        self.pieces = iter(pieces)

    def next_event(self) -> MultipartEvent:
        while (event := self.parser.next_event()) is Event.NEED_DATA:
            piece = next(self.pieces, None)
            if piece is None:
                self.parser.end_of_input()
            else:
                self.parser.feed(piece)
        return event

    def part_data(self) -> Iterator[bytes]:
        """The data of the part whose `PartStart` was just returned, piece by piece."""
        while (event := self.next_event()) is not Event.PART_END:
            assert isinstance(event, bytes), event  # the grammar allows nothing else here
            yield event
