"""What every request passes before its route, and what every response gets after it.

The connection calls `before_route()` between parsing a request and dispatching it, and
`add_response_headers()` on every response it sends (refusals of the parser included).
The checks run in this order, each one able to answer the request itself:

1. a CORS preflight from an allowed origin: `204` (`cors.py`). It comes first because
   browsers send preflights without credentials (Fetch §3.2.2);
2. the lock-out: `429` with `Retry-After` (`lockout.py`, through `auth.py`);
3. the password: `401` with `WWW-Authenticate` (`auth.py`), which also says who logged
   in (`request.user`). With access rules, an anonymous request to a ruled route goes
   on, and the rules answer it path by path; a share link (`/s/TOKEN`) always goes on:
   the link is the credential (`sharelinks.py`);
4. the route (`handlers.py`), which asks `permissions.require()` for every path it
   touches: `403` if writes are off, `401`/`403`/`404` if the rules refuse.

A plain launch configures none of these: `before_route()` answers None and
`add_response_headers()` adds nothing, so the bytes on the wire are the challenge's.
"""

from __future__ import annotations

from app.auth import password_refusal
from app.cors import cors_headers, preflight_response
from app.extraheaders import add_vary, replace_fields
from app.framing import Response
from app.permissions import decides_anonymous
from app.request import Request
from app.settings import Settings
from app.sharelinks import SHARE_PREFIX


def gates(settings: Settings) -> bool:
    """Whether `before_route` can answer anything with these settings. A connection asks
    once and skips the call on every request when not (issue 20): a check added to
    `before_route` must be added here too."""
    return bool(settings.cors or settings.accounts)


def decorates(settings: Settings) -> bool:
    """Whether `add_response_headers` adds anything with these settings (asked once per
    connection, like `gates`)."""
    return bool(settings.cors or settings.header or settings.server_header is not None)


def before_route(request: Request, settings: Settings, client: str) -> Response | None:
    """The response that answers `request` before any route sees it, or None."""
    if settings.cors and (preflight := preflight_response(request, settings)) is not None:
        return preflight
    if not settings.accounts:
        return None  # no passwords to check (access rules, if any, are the route's)
    if request.path.startswith(SHARE_PREFIX) and settings.directory is not None:
        return None  # a share link: its token (and its own password) is the credential
    return password_refusal(request, settings, client, decides_anonymous(request, settings))


def add_response_headers(response: Response, request: Request | None, settings: Settings) -> None:
    """Add the fields of `--cors`, `-H` and `--server-header` to a response."""
    if settings.cors:
        for name, value in cors_headers(request, settings):
            if name == "Vary":
                add_vary(response.headers, value)
            else:
                response.headers.append((name, value))
    if settings.header:
        replace_fields(response.headers, list(settings.header))
    if settings.server_header is not None:
        replace_fields(response.headers, [("Server", settings.server_header)])
