"""Request heads (RFC 9112 §2, §3, §5, §6.3): a complete head split into the request
line and field lines, the common shape matched at once (`parse_common_head`) and every
other head line by line (`parse_head`), the target, Host, the body's framing
(`body_decoder_for`), keep-alive and 100-continue, and what can be refused before the
head is complete (`check_incomplete_head`). `http.parse_request` puts them together."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.bodies import BodyDecoder, ChunkedDecoder, ContentLengthDecoder, RequestBody
from app.errors import ProtocolError
from app.fields import (
    AUTHORITY_FORM_RE,
    BARE_CR_RE,
    BARE_LF_RE,
    CONTENT_LENGTH_RE,
    CRLF,
    EXPECTATION_RE,
    HOST_RE,
    HTTP_VERSION_RE,
    REQUEST_TARGET_RE,
    TOKEN_RE,
    TOKEN_STR,
    TRANSFER_CODING_RE,
    Headers,
    ascii_lower,
    list_elements,
    parse_field_line,
    token_list,
)

if TYPE_CHECKING:  # for the annotations only
    from app.settings import Limits

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
# The patterns are `str` patterns, matched against the head decoded once as ISO-8859-1,
# which maps each byte to the one character of the same code (b"\xe9" to "\xe9"): the
# classes below mean the same bytes, and the parts they give are text already, with no
# decode of each part (issue 20).
COMMON_FIELD_LINE = r"(%s):([\t\x20-\x7e\x80-\xff]*+)\r\n" % TOKEN_STR
COMMON_HEAD_RE = re.compile(
    r"(%s) (/[\x21\x22\x24-\x7e]*+) (HTTP/1\.[01])\r\n((?:%s:[\t\x20-\x7e\x80-\xff]*+\r\n)*+)\r\n"
    % (TOKEN_STR, TOKEN_STR)
)
COMMON_FIELD_LINE_RE = re.compile(COMMON_FIELD_LINE)


def parse_common_head(raw_head: bytes, limits: Limits) -> tuple[str, str, str, Headers] | None:
    """`parse_head`'s result for a head of the common shape (`COMMON_HEAD_RE`) within
    the limits, found with two calls into the regex engine; None for any other head.
    (`http.parse_request` does the same inline.)"""
    text = raw_head.decode("latin-1")
    match = COMMON_HEAD_RE.fullmatch(text)
    if match is None or match.end(3) > limits.max_request_line:
        return None
    fields = COMMON_FIELD_LINE_RE.findall(text, match.start(4), match.end(4))
    if len(fields) > limits.max_header_fields:
        return None
    method, target, version = match.group(1, 2, 3)
    return method, target, version, Headers.from_lines(fields)


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


# Host values already found valid (`HOST_RE`), at most VALID_HOSTS_LIMIT of them: a
# server is reached under a few names, so most requests' Host is judged by one set lookup
# rather than a regex (issue 20). The limit keeps made-up names from filling it.
VALID_HOSTS: set[str] = set()
VALID_HOSTS_LIMIT = 256


def host_is_valid(value: str) -> bool:
    """Whether a Host value is valid (RFC 9110 §7.2, `HOST_RE`); remembered in
    VALID_HOSTS while there is room."""
    if HOST_RE.fullmatch(value.encode("latin-1")) is None:
        return False
    if len(VALID_HOSTS) < VALID_HOSTS_LIMIT:
        VALID_HOSTS.add(value)
    return True


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
