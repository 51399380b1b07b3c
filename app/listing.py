"""Folder listings: which entries a folder shows, in which order, in which format.

`/files/` (and its subfolders) is answered by `files_listing()`, the static site's
folders without an index.html by `site_listing()`. Entries are read with `os.scandir` on
the folder's descriptor, walked from the root's (`safefs.entries`);
dot files are left out unless `--show-hidden`, and the `.NAME.HOST-PID.RANDOM.part` files
of uploads in progress always (`storage.is_upload_in_progress`); symlinks and anything that is
neither a file nor a folder are left out too.

The query chooses the view (`?sort=name|size|modified&order=asc|desc&filter=TEXT`,
folders always first); `Accept` chooses the format: HTML (`listing_view.py`), JSON on
`/files/`, or plain text, one name a line. Every listing carries an ETag made from what
it shows, so a browser revalidates with `If-None-Match` and gets a 304 without a body.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from app import listing_view, safefs
from app.conditional import precondition_status
from app.errors import HTTPError
from app.fields import Headers
from app.files import CACHE_CONTROL
from app.framing import Response
from app.listing_view import SORT_KEYS, Entry, Page, View, listing_page, utc
from app.negotiation import media_range_weights
from app.paths import checked_path
from app.permissions import allows, has_rules, require, shows
from app.request import Request
from app.safefs import ServedPath
from app.settings import Settings
from app.state import state_directory
from app.state import is_state_name
from app.storage import is_upload_in_progress

# ---------------------------------------------------------------------------------------
# Reading and arranging a folder
# ---------------------------------------------------------------------------------------


def is_listed(name: str, show_hidden: bool) -> bool:
    """Dot files only with --show-hidden; uploads in progress and the state folder
    (`state.is_state_name`) never; nor a name that
    is not UTF-8 (os.scandir hands its bytes over as surrogates): a URL's path is
    decoded as UTF-8, so no request could name it."""
    if not is_utf8(name):
        return False
    if not name.startswith("."):
        return True
    return show_hidden and not is_upload_in_progress(name) and not is_state_name(name)


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_folder(folder: ServedPath, show_hidden: bool = False) -> list[Entry]:
    """The listed entries of a folder, in no particular order: regular files and
    folders, no symlinks, never the state folder (`safefs.entries`: the folder walked
    from the root's descriptor, read with `os.scandir(fd)`)."""
    entries = []
    for item in safefs.entries(folder.root, folder.segments):
        if is_listed(item.name, show_hidden):
            size = 0 if item.is_dir else item.status.st_size
            entries.append(Entry(item.name, item.is_dir, size, item.status.st_mtime_ns))
    return entries


def sort_key(entry: Entry, sort: str) -> tuple:
    """Names compare without case (then exactly, so the order is total); sizes and
    times fall back on the name."""
    name = (entry.name.casefold(), entry.name)
    if sort == "size":
        return (entry.size, *name)
    if sort == "modified":
        return (entry.modified_ns, *name)
    return name


def arrange(entries: list[Entry], view: View) -> list[Entry]:
    """The entries the view shows, folders first, each group in the view's order."""
    wanted = view.filter.casefold()
    shown = [entry for entry in entries if wanted in entry.name.casefold()]
    descending = view.order == "desc"
    folders = sorted((e for e in shown if e.is_dir), key=lambda e: sort_key(e, view.sort), reverse=descending)
    files = sorted((e for e in shown if not e.is_dir), key=lambda e: sort_key(e, view.sort), reverse=descending)
    return folders + files


def view_from_query(query: str) -> View:
    """The view a query asks for; 400 for a sort or order we do not know. Other
    parameters (e.g. `download`) are not the listing's business and are ignored."""
    parameters = dict(parse_qsl(query, keep_blank_values=True))
    sort = parameters.get("sort", "name")
    order = parameters.get("order", "asc")
    if sort not in SORT_KEYS:
        raise HTTPError(400, f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    if order not in ("asc", "desc"):
        raise HTTPError(400, f"order must be asc or desc, not {order!r}")
    return View(sort, order, parameters.get("filter", ""))


# ---------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------

LISTING_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json", "text": "text/plain; charset=utf-8"}
MEDIA_TYPES = {"html": "text/html", "json": "application/json", "text": "text/plain"}


def choose_format(headers: Headers, offered: tuple[str, ...]) -> str:
    """The offered format the client weighs most in Accept (RFC 9110 §12.5.1), HTML
    unless another is named with a weight as high; on a tie JSON wins over text, and
    both over HTML, since only a client that wants them names them."""
    weights = media_range_weights(headers)
    best, best_weight = "html", weights.get("text/html", 0)
    for name in ("json", "text"):
        weight = weights.get(MEDIA_TYPES[name], 0)
        if name in offered and weight > 0 and (weight > best_weight or (weight == best_weight and best == "html")):
            best, best_weight = name, weight
    return best


def listing_json(entries: list[Entry]) -> bytes:
    """A JSON array of {name, size, modified}; folder names end with "/". Files add
    `hash`: the relative URL that answers their SHA-256 when asked (`digest.py`)."""
    items = [
        {
            "name": listing_view.display_name(entry),
            "size": entry.size,
            "modified": utc(entry.modified_ns, "%Y-%m-%dT%H:%M:%SZ"),
            **({} if entry.is_dir else {"hash": listing_view.hash_href(entry)}),
        }
        for entry in entries
    ]
    return json.dumps(items, ensure_ascii=False).encode("utf-8")


# A file name may hold any byte but NUL and "/": a line break in one would split it in
# two lines, so control characters are written as %XX (and "%" itself, to stay reversible).
UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f%]")


def listing_text(entries: list[Entry]) -> bytes:
    """One name a line, folders ending with "/", for terminals and scripts."""
    lines = (UNPRINTABLE_RE.sub(lambda m: f"%{ord(m.group()):02X}", listing_view.display_name(e)) for e in entries)
    return "".join(line + "\n" for line in lines).encode("utf-8")


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------

# The page's own code is part of every tag: a new version of the page is a new tag.
PAGE_CODE = hashlib.blake2b(
    Path(__file__).read_bytes() + Path(listing_view.__file__).read_bytes(), digest_size=8
).hexdigest()


def listing_etag(entries: list[Entry], view: View, page: Page, fmt: str) -> str:
    """A strong tag from everything the listing shows: each entry's name, kind, size
    and modification time in nanoseconds, the view, the page's options and format."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(repr((PAGE_CODE, fmt, view, page)).encode("utf-8"))
    for entry in entries:
        digest.update(repr((entry.name, entry.is_dir, entry.size, entry.modified_ns)).encode("utf-8"))
    return f'"L{digest.hexdigest()}"'


def render(fmt: str, page: Page, entries: list[Entry], view: View) -> bytes:
    if fmt == "json":
        return listing_json(entries)
    if fmt == "text":
        return listing_text(entries)
    return listing_page(page, entries, view, has_parent=page.folder_url != page.root_url)


def listing_response(
    request: Request,
    settings: Settings,
    root: Path,
    subpath: str,
    page: Page,
    offered: tuple[str, ...],
    shown: Callable[[Entry], bool] | None = None,
) -> Response:
    """The listing of folder `subpath` (percent-encoded, "" or ending in "/") under
    `root`, in the format the client prefers among `offered`, or 304. `shown` leaves out
    the entries it refuses (the access rules: `files_listing`)."""
    if not settings.listing:
        raise HTTPError(404, "folder listings are off (--no-listing)")
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else ServedPath(root, ())
    view = view_from_query(request.query)
    fmt = choose_format(request.headers, offered)
    try:
        entries = list_folder(folder, settings.show_hidden)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no folder at {request.path}") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied reading {request.path}") from None
    entries = arrange([entry for entry in entries if shown(entry)] if shown is not None else entries, view)
    etag = listing_etag(entries, view, page, fmt)
    headers = [("ETag", etag), CACHE_CONTROL, ("Vary", "Accept")]
    outcome = precondition_status(request.headers, request.method, etag, None)
    if outcome == 304:
        return Response(304, headers)
    if outcome == 412:
        raise HTTPError(412, "precondition failed: the listing has changed")
    return Response(200, [("Content-Type", LISTING_CONTENT_TYPES[fmt]), *headers], render(fmt, page, entries, view))


def files_listing(request: Request, settings: Settings, subpath: str, url: str = "/files/") -> Response:
    """`GET /files/` and its folders (or a share link's, `url` its root): HTML, JSON or
    text, with archive links, and the file manager where the user may write. Entries the
    user has no right on are left out; a folder the user may write to but not list (a
    drop box) lists nothing and shows the upload form."""
    folder = unquote(subpath.removesuffix("/"))
    if not allows(request, settings, folder, "w"):
        require(request, settings, folder, "l")
    lists = allows(request, settings, folder, "l")
    page = Page(
        request.path,
        url,
        downloads=lists and allows(request, settings, folder, "r"),
        manager=allows(request, settings, folder, "w"),
        share=lists and url == "/files/" and has_state(settings),
    )
    shown = visible_entries(request, settings, folder) if lists else (lambda entry: False)
    return listing_response(request, settings, settings.directory, subpath, page, ("html", "json", "text"), shown)


def visible_entries(request: Request, settings: Settings, folder: str) -> Callable[[Entry], bool] | None:
    """The entries of `folder` a listing shows (`permissions.shows()`). None: all (no rules)."""
    if request.grant is None and not has_rules(settings):
        return None
    prefix = folder + "/" if folder else ""
    return lambda entry: shows(request, settings, prefix + entry.name)


def has_state(settings: Settings) -> bool:
    """Whether share links can be kept (a state folder that outlives this process)."""
    return state_directory(settings) is not None


def site_listing(request: Request, settings: Settings, subpath: str) -> Response:
    """A folder of the static site without an index.html: HTML or text."""
    page = Page("/" + subpath, "/", downloads=False, manager=False)
    return listing_response(request, settings, settings.www, subpath, page, ("html", "text"))
