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

from app.bodies import ByteSource, RequestBody
from app.errors import ClientDisconnected, HTTPError, ProtocolError
from app.fields import CRLF, Headers, token_list
from app.framing import Response, response_head, sends_body, text_response
from app.request import (
    Request,
    body_decoder_for,
    check_host,
    check_incomplete_head,
    expects_continue,
    parse_common_head,
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
        body=RequestBody(decoder, source, expect_continue, limits.max_upload),
        wants_keep_alive=wants_keep_alive(version, options),
    )
