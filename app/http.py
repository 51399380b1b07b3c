"""The protocol's front door: HTTP/1.1 (RFC 9110, RFC 9112) with no sockets in it.

`parse_request` turns the bytes at the front of a connection's receive buffer into a
`Request`, using the modules that each own one job:

- `request.py`: the request head (request line, field lines, target, Host, framing);
- `bodies.py`: the request body (Content-Length and chunked decoders, `RequestBody`);
- `fields.py`: field grammar (tokens, field values, lists, `Headers`);
- `negotiation.py`: Accept and Accept-Encoding weights; `dates.py`: HTTP-dates;
- `framing.py`: the response (`Response`, `response_head`, `sends_body`, chunked framing);
- `errors.py`: `HTTPError`, `ProtocolError`, `ClientDisconnected`.

It does no I/O. The connection (`connection.py`) owns a `bytearray` receive buffer and
appends whatever `recv()` returns to it; `parse_request` reads from the front of that
buffer and removes exactly the bytes of the head it parsed, so the bytes of a pipelined
next request stay where they are. When a body needs more bytes it asks its
`ByteSource` (the connection) for them. The README's "Life of a request" shows where
this fits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.bodies import NO_BODY, ByteSource, RequestBody
from app.errors import ClientDisconnected, HTTPError, ProtocolError
from app.fields import CRLF, Headers, token_list
from app.framing import Response, response_head, sends_body, text_response
from app.request import (
    COMMON_FIELD_LINE_RE,
    COMMON_HEAD_RE,
    VALID_HOSTS,
    Request,
    body_decoder_for,
    check_host,
    check_incomplete_head,
    expects_continue,
    host_is_valid,
    parse_head,
    split_target,
    wants_keep_alive,
)

if TYPE_CHECKING:  # for the annotations only: settings.py's validators import the grammar
    from app.settings import Limits

# What the rest of the server takes from the front door; each name lives in its own module.
__all__ = [
    "ByteSource", "ClientDisconnected", "HTTPError", "Headers", "ProtocolError", "Request",
    "Response", "parse_request", "response_head", "sends_body", "text_response",
]


def parse_request(source: ByteSource, limits: Limits) -> Request | None:
    """Parse one request head from the front of `source.buffer`.

    Returns `None` when the header section is not complete yet (the buffer is left as it
    is), or a `Request` whose head bytes have been removed from the buffer. Raises
    `ProtocolError` for a request that must be refused.

    The head most clients send (`request.COMMON_HEAD_RE`) is read in one pass, and the
    fields that frame or steer the request (Host, Content-Length, Transfer-Encoding,
    Connection, Expect) are looked at in it: the checks of a field run only when it is
    present, and a valid Host is judged here by one set lookup (a value found valid
    before) or one regex; anything else takes the full functions of `request.py`, which
    give every error its precise status (issue 20: the hot path's calls).
    """
    buffer = source.buffer
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the
    # request line (some clients send an extra CRLF after a POST body).
    while buffer[:2] == CRLF:
        del buffer[:2]
    head_end = buffer.find(b"\r\n\r\n", 0, limits.max_header_bytes)
    if head_end < 0:
        check_incomplete_head(buffer, limits)
        return None
    raw_head = bytes(buffer[: head_end + 4])
    text = raw_head.decode("latin-1")  # one decode: the patterns and the parts are `str`
    match = COMMON_HEAD_RE.fullmatch(text)
    if match is not None and match.end(3) <= limits.max_request_line:
        lines = COMMON_FIELD_LINE_RE.findall(text, match.start(4), match.end(4))
        if len(lines) > limits.max_header_fields:
            method, target, version, headers = parse_head(raw_head, limits)
        else:
            method, target, version = match.group(1, 2, 3)
            headers = Headers.from_lines(lines)
    else:
        method, target, version, headers = parse_head(raw_head, limits)
    if method == "CONNECT" or target[:1] != "/":
        path, query = split_target(method, target)
    else:  # origin-form (RFC 9112 §3.2.1)
        path, _, query = target.partition("?")
    index = headers.index
    hosts = index.get("host")
    if hosts is None or len(hosts) != 1 or (hosts[0] not in VALID_HOSTS and not host_is_valid(hosts[0])):
        check_host(version, headers)  # absent (fine for HTTP/1.0), twice, or invalid
    expect_continue = "expect" in index and expects_continue(version, headers)
    if "content-length" in index or "transfer-encoding" in index:
        body = RequestBody(body_decoder_for(version, headers, limits), source, expect_continue, limits.max_upload)
    elif expect_continue:
        body = RequestBody(NO_BODY.decoder, source, True, limits.max_upload)
    else:
        body = NO_BODY  # finished, stateless: one for every request without a body
    if "connection" in index:
        keep_alive = wants_keep_alive(version, token_list(headers, "connection"))
    else:  # RFC 9112 §9.3: HTTP/1.1 persists by default, HTTP/1.0 does not
        keep_alive = version == "HTTP/1.1"
    del buffer[: head_end + 4]
    return Request(method, target, path, query, version, headers, raw_head, body, keep_alive)
