"""CORS (the Fetch standard, §3.2): which web pages of other origins may read our answers.

`--cors` alone allows every origin (`Access-Control-Allow-Origin: *`); `--cors ORIGIN`
(repeatable) allows the ones named: the response names the request's `Origin` when it is
one of them, and says `Vary: Origin` so that a cache keeps one answer per origin.

Credentials (Fetch §3.2.5): a browser sends its saved Basic password cross-origin, and
lets the page read the answer, only if the response names the origin exactly and says
`Access-Control-Allow-Credentials: true`, never with `*`. So with `--auth`, named
origins get credentials; `*` does not (a page may still send its own `Authorization`
header, which every preflight allows).

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, §3.2.2) is
answered `204` here, before the password check: browsers never send credentials with it.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from app.fields import TOKEN_STR_RE, list_elements
from app.framing import Response
from app.request import Request

if TYPE_CHECKING:
    from app.settings import Settings

# RFC 6454 §6.2, the serialized origin: scheme "://" host [ ":" port ], no path.
ORIGIN_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[A-Za-z0-9._~%!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

# How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
MAX_AGE = "600"
METHODS = "GET, HEAD, POST, PUT, DELETE, MKCOL, OPTIONS, PATCH"
# Beyond the CORS-safelisted response headers, the ones a page may want to read (the
# Upload-* and Tus-* ones: a tus client in a page of another origin, tus.py).
EXPOSED = (
    "ETag, Location, Content-Range, Accept-Ranges, Retry-After, WWW-Authenticate, "
    "Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Tus-Resumable, Tus-Version, "
    "Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)


def cors_origin(value: str) -> str:
    """`--cors ORIGIN`: `*`, or an origin such as `https://app.example:8443`."""
    if value == "*" or ORIGIN_RE.fullmatch(value):
        return value.lower() if value != "*" else value
    raise argparse.ArgumentTypeError(f"{value!r} is not * or an origin like https://example.com:8443 (no path)")


def allowed_origin(request: Request | None, settings: Settings) -> str | None:
    """The `Access-Control-Allow-Origin` value for this request, or None."""
    if "*" in settings.cors:
        return "*"
    origin = request.headers.get("origin") if request is not None else None
    return origin if origin is not None and origin.lower() in settings.cors else None


def cors_headers(request: Request | None, settings: Settings) -> list[tuple[str, str]]:
    """The fields `--cors` adds to an actual (not preflight) response."""
    origin = allowed_origin(request, settings)
    headers = [] if origin == "*" else [("Vary", "Origin")]
    if origin is not None:
        headers += [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", EXPOSED)]
        if origin != "*" and settings.accounts:
            headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def preflight_response(request: Request, settings: Settings) -> Response | None:
    """The 204 answering a CORS preflight from an allowed origin; None for any other
    request (a refused origin gets the plain OPTIONS answer, without CORS fields, which
    the browser reads as a refusal)."""
    if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
        return None
    if "origin" not in request.headers or allowed_origin(request, settings) is None:
        return None
    headers = [
        ("Access-Control-Allow-Methods", METHODS),
        ("Access-Control-Max-Age", MAX_AGE),
        ("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if requested := requested_headers(request):
        headers.append(("Access-Control-Allow-Headers", ", ".join(requested)))
    # The fields of an actual response come on top (connection.send), Vary: Origin included.
    return Response(204, headers)


def requested_headers(request: Request) -> list[str]:
    """The field names of `Access-Control-Request-Headers = #field-name` (Fetch §3.2.2;
    field-name = token); none when the list is invalid."""
    try:
        elements = list_elements(request.headers.get_all("access-control-request-headers"), TOKEN_STR_RE)
    except ValueError:
        return []
    return [element.group() for element in elements]
