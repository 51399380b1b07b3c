"""The file manager's "Share": the pages under `/shares/` that make and end share links.

    GET  /shares/?path=NAME   the form for a link to NAME: expiry, password, upload-only
    POST /shares/             path=NAME&expires=2d[&password=...][&upload=on]: a new link;
                              201 with its URL (and, with --qr, its QR code as SVG)
    GET  /shares/             the links this user made, each with "Revoke"
    POST /shares/             revoke=ID: end a link this user made; 303 back to the list

The links themselves live in `sharelinks.py`. Who may make one: whoever may read the
path (`r`, and `l` for a folder; `w` for an upload-only link), asked of
`permissions.require()` like any other way in: a link never grants more than its maker
has. The token is shown once, on the page that made it, and never again (only its digest
is kept). With Accept: application/json the answers are JSON.
"""

from __future__ import annotations

import html
import json
import os
from urllib.parse import parse_qsl, quote, unquote

from app.errors import HTTPError
from app.framing import Response, text_response
from app.listing_view import SHARE_FIELD
from app.negotiation import media_range_weights
from app.paths import checked_path
from app.permissions import require
from app.request import Request
from app.safefs import ServedPath
from app.settings import Settings
from app.sharelinks import SHARE_PREFIX, Link, all_links, clock, create_link, parse_expiry, revoke, utc_text

SHARES_PAGE = "/shares/"
MAX_FORM_BYTES = 16 * 1024
EXPIRY_CHOICES = ("1h", "1d", "2d", "7d", "30d", "never")


def wants_json(request: Request) -> bool:
    weights = media_range_weights(request.headers)
    return weights.get("application/json", 0) > weights.get("text/html", 0)


def page(title: str, body: str, status: int = 200) -> Response:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>\n{body}\n</main></body></html>\n"
    )
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
    return Response(status, headers, text.encode("utf-8"))


STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:48rem;padding:0 1rem}"
    "label{display:block;margin:.5rem 0}input[readonly]{width:100%;font-family:monospace}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;"
    "border-bottom:1px solid #ddd}.qr svg{width:12rem;height:12rem}"
)


# ---------------------------------------------------------------------------------------
# GET: the form, or the list
# ---------------------------------------------------------------------------------------


def shares_page(request: Request, settings: Settings, subpath: str) -> Response:
    if subpath:
        raise HTTPError(404, f"nothing at {request.path}")
    pairs = parse_qsl(request.query, keep_blank_values=True)
    if pairs and pairs[-1][0] == SHARE_FIELD:  # the listing's "Share selected" (last in the form)
        return share_form(request, settings, selected_path(pairs))
    fields = dict(pairs)
    if "path" in fields:
        return share_form(request, settings, fields["path"])
    return links_list(request, settings)


def selected_path(pairs: list[tuple[str, str]]) -> str:
    """The decoded relative path of the one entry checked in the listing's selection
    form: its checkboxes are named by the percent-encoded name (`listing_view.table_rows`),
    the last field is the folder (`share-in`); 400 unless exactly one is checked."""
    names = [name for name, _ in pairs[:-1]]
    if len(names) != 1:
        raise HTTPError(400, f"check exactly one entry to share, not {len(names)}")
    try:
        return pairs[-1][1] + unquote(names[0], errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "the selected name is not UTF-8 once percent-decoded") from None


def shared_place(request: Request, settings: Settings, name: str) -> tuple[str, bool]:
    """The decoded relative path of NAME and whether it is a folder; 404 if missing."""
    name = name.strip("/")
    path = checked_path(settings.directory, quote(name)) if name else ServedPath(settings.directory, ())
    require(request, settings, name, "r")
    if not (path.is_dir() or path.is_file()):
        raise HTTPError(404, f"no file or folder named {name}")
    return name, path.is_dir()


def share_form(request: Request, settings: Settings, name: str) -> Response:
    name, folder = shared_place(request, settings, name)
    options = "".join(f'<option{" selected" if c == "7d" else ""}>{c}</option>' for c in EXPIRY_CHOICES)
    upload = (
        '<label><input type="checkbox" name="upload"> upload-only: people with the link drop files in, '
        "and see nothing</label>"
        if folder
        else ""
    )
    body = (
        f'<form method="post" action="{SHARES_PAGE}" id="share">'
        f'<input type="hidden" name="path" value="{html.escape(name)}">'
        f'<label>Expires in <select name="expires">{options}</select> '
        '(or type 3d, 12h, 2026-12-11) <input name="expires_text" placeholder="optional"></label>'
        '<label>Password (optional) <input type="password" name="password" autocomplete="new-password"></label>'
        f'{upload}<button type="submit">Create link</button></form>'
    )
    return page(f"Share /{name}{'/' if folder and name else ''}", body)


def links_list(request: Request, settings: Settings) -> Response:
    links = all_links(settings, request.user, everyone=False)
    now = clock()
    if wants_json(request):
        items = [link_json(link, now) for link in links]
        return Response(200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                        json.dumps(items).encode("utf-8"))
    rows = "".join(
        f"<tr><td>{link.id}</td><td>/{html.escape(link.path)}</td><td>{link.state(now)}</td>"
        f"<td>{utc_text(link.expires)}</td><td>{link.uses}</td><td>{revoke_form(link) if link.state(now) == 'active' else ''}</td></tr>"
        for link in links
    )
    heads = "<tr><th>id</th><th>path</th><th>state</th><th>expires</th><th>uses</th><th></th></tr>"
    return page("Share links", f"<table>{heads}{rows}</table>" if links else "<p>No share links yet.</p>")


def revoke_form(link: Link) -> str:
    return (
        f'<form method="post" action="{SHARES_PAGE}"><input type="hidden" name="revoke" value="{link.id}">'
        f'<button type="submit" id="revoke-{link.id}">Revoke</button></form>'
    )


def link_json(link: Link, now: float) -> dict:
    return {
        "id": link.id, "path": link.path, "folder": link.folder, "upload_only": link.upload_only,
        "password": link.password is not None, "expires": utc_text(link.expires), "state": link.state(now),
        "uses": link.uses,
    }


# ---------------------------------------------------------------------------------------
# POST: make a link, or revoke one
# ---------------------------------------------------------------------------------------


def shares_action(request: Request, settings: Settings, subpath: str) -> Response:
    if subpath:
        raise HTTPError(404, f"nothing at {request.path}")
    fields = form_fields(request)
    if "revoke" in fields:
        link = revoke(settings, fields["revoke"], request.user, anyone=False)
        if link is None:
            raise HTTPError(404, "no share link of yours with that id")
        return text_response(303, f"share link {link.id} revoked", [("Location", SHARES_PAGE)])
    return make_link(request, settings, fields)


def form_fields(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise HTTPError(415, "POST /shares/ takes application/x-www-form-urlencoded")
    body = request.body.read_all(MAX_FORM_BYTES)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError):
        raise HTTPError(400, "malformed form body") from None


def make_link(request: Request, settings: Settings, fields: dict[str, str]) -> Response:
    """A new link from the form's fields; 201 with its URL."""
    name, folder = shared_place(request, settings, fields.get("path", ""))
    upload_only = fields.get("upload") in ("on", "1", "true")
    if folder:
        require(request, settings, name, "w" if upload_only else "l")
    try:
        expires = parse_expiry(fields.get("expires_text") or fields.get("expires") or "7d", clock())
        token, link = create_link(settings, name, expires, folder=folder, password=fields.get("password") or None,
                                  upload_only=upload_only, creator=request.user)
    except ValueError as error:
        raise HTTPError(400, str(error)) from None
    url = link_url(request, settings, token, folder)
    if wants_json(request):
        body = json.dumps({"url": url, **link_json(link, clock())}).encode("utf-8")
        return Response(201, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body)
    return page("Share link created", created_body(settings, url, link), 201)


def link_url(request: Request, settings: Settings, token: str, folder: bool) -> str:
    scheme = "https" if settings.tls_cert is not None else "http"
    host = request.headers.get("host") or f"{settings.host}:{settings.port}"
    return f"{scheme}://{host}{SHARE_PREFIX}{token}{'/' if folder else ''}"


def created_body(settings: Settings, url: str, link: Link) -> str:
    what = "drop files into" if link.upload_only else "read"
    qr = ""
    if settings.qr:
        from app import qr as qr_module  # the one module that imports segno (--qr)

        qr = f'<p class="qr">{qr_module.svg(url) or ""}</p>'
    return (
        f'<p>Whoever has this link may {what} /{html.escape(link.path)} until {utc_text(link.expires)}'
        f'{" with its password" if link.password else ""}. It is shown only now: copy it.</p>'
        f'<p><input readonly id="link" value="{html.escape(url)}" onfocus="this.select()"></p>{qr}'
        f'<p>{revoke_form(link)}</p><p><a href="{SHARES_PAGE}">All your links</a> · '
        f'<a href="{html.escape(folder_url(link))}">Back</a></p>'
    )


def folder_url(link: Link) -> str:
    """The /files/ URL of the folder a link's path is in (for "Back")."""
    parent = os.path.dirname(link.path) if not link.folder else link.path
    return "/files/" + (quote(parent) + "/" if parent else "")
