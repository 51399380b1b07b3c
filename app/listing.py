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
Every format is gzipped when the client accepts it, and written in pieces: a listing of
more than 64 KiB streams (chunked), so a folder of 200,000 entries holds its entries in
memory (to sort them) but never its page.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import zlib
from array import array
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from urllib.parse import parse_qsl, unquote

try:  # hashlib's own BLAKE2, without hashlib, which loads OpenSSL's libcrypto (3.5 MiB of
    from _blake2 import blake2b  # RSS) at start for nothing: docs/performance.md
except ImportError:  # a Python built without it
    from hashlib import blake2b

from app import listing_view, safefs
from app.compression import GZIP_LEVEL, accepts_gzip
from app.conditional import precondition_status
from app.errors import HTTPError
from app.fields import Headers
from app.files import CACHE_CONTROL
from app.framing import Response, StreamBody
from app.listing_view import ROWS_PER_PIECE, SORT_KEYS, Entry, Page, View, listing_pieces, utc
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
    folders, no symlinks, never the state folder: the folder walked from the root's
    descriptor (`safefs.open_folder`) and read with `os.scandir(fd)`, each entry's
    status from `fstatat` in it, never through a link (the rules of
    `safefs.folder_entries`, written out here: one `stat` per entry and, for the common
    name, ASCII and not hidden, no call of ours, for folders of 200,000 entries)."""
    entries: list[Entry] = []
    append, make_entry = entries.append, tuple.__new__
    with safefs.open_folder(folder.root, folder.segments) as descriptor, os.scandir(descriptor) as scan:
        for item in scan:
            name = item.name
            if name.startswith(".") or not name.isascii():
                if not is_listed(name, show_hidden):  # the state folder too
                    continue
            if item.is_symlink():
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            # tuple.__new__: a C call, where Entry(...) would run NamedTuple's Python __new__.
            if S_ISREG(info.st_mode):
                append(make_entry(Entry, (name, False, info.st_size, info.st_mtime_ns)))
            elif S_ISDIR(info.st_mode):
                append(make_entry(Entry, (name, True, 0, info.st_mtime_ns)))
    return entries


def arrange(entries: list[Entry], view: View) -> list[Entry]:
    """The entries the view shows, folders first, each group in the view's order. Each
    group is sorted in place by stable passes, the last key first (the name as it is,
    then without case, then the size or time): memory holds one key per entry at a time,
    and the exact-name and size passes use C key functions (a folder may hold 200,000)."""
    if view.filter:
        wanted = view.filter.casefold()
        entries = [entry for entry in entries if wanted in entry.name.casefold()]
    descending = view.order == "desc"
    folders = [entry for entry in entries if entry.is_dir]
    files = [entry for entry in entries if not entry.is_dir]
    for group in (folders, files):
        group.sort(key=BY_NAME, reverse=descending)
        group.sort(key=folded_name, reverse=descending)
        if view.sort != "name":
            group.sort(key=BY_SIZE if view.sort == "size" else BY_MODIFIED, reverse=descending)
    return folders + files


BY_NAME, BY_SIZE, BY_MODIFIED = itemgetter(0), itemgetter(2), itemgetter(3)  # Entry's fields


def folded_name(entry: Entry) -> str:
    return entry.name.casefold()


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
    return "".join(json_pieces(entries)).encode("utf-8")


def json_pieces(entries: list[Entry]) -> Iterator[str]:
    """`listing_json`'s text in pieces of a few KiB."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    hash_href = listing_view.hash_href
    yield "["
    for start in range(0, len(entries), ROWS_PER_PIECE):
        items = ", ".join(
            f'{{"name": {encode(listing_view.display_name(entry))}, "size": {entry.size}, '
            f'"modified": "{utc(entry.modified_ns, "%Y-%m-%dT%H:%M:%SZ")}"'
            + ("}" if entry.is_dir else f', "hash": {encode(hash_href(entry))}}}')
            for entry in entries[start : start + ROWS_PER_PIECE]
        )
        yield items if start == 0 else ", " + items
    yield "]"


# A file name may hold any byte but NUL and "/": a line break in one would split it in
# two lines, so control characters are written as %XX (and "%" itself, to stay reversible).
UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f%]")


def listing_text(entries: list[Entry]) -> bytes:
    """One name a line, folders ending with "/", for terminals and scripts."""
    return "".join(text_pieces(entries)).encode("utf-8")


def text_pieces(entries: list[Entry]) -> Iterator[str]:
    """`listing_text`'s text in pieces of a few KiB."""
    for start in range(0, len(entries), ROWS_PER_PIECE):
        yield "".join(
            UNPRINTABLE_RE.sub(lambda m: f"%{ord(m.group()):02X}", listing_view.display_name(e)) + "\n"
            for e in entries[start : start + ROWS_PER_PIECE]
        )


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------

# The page's own code is part of every tag: a new version of the page is a new tag.
PAGE_CODE = blake2b(
    Path(__file__).read_bytes() + Path(listing_view.__file__).read_bytes(), digest_size=8
).hexdigest()


def listing_etag(entries: list[Entry], view: View, page: Page, fmt: str, coding: str) -> str:
    """A strong tag from everything the listing shows: each entry's name, kind, size
    and modification time in nanoseconds, the view, the page's options, the format and
    the content coding (the gzipped bytes are another representation: RFC 9110 §8.8.3)."""
    digest = blake2b(digest_size=12)
    digest.update(repr((PAGE_CODE, fmt, coding, view, page)).encode("utf-8"))
    # Whole columns at a time (a comprehension and one join each, no call per entry).
    digest.update("\0".join([entry.name + "/" * entry.is_dir for entry in entries]).encode("utf-8", "surrogateescape"))
    digest.update(array("q", [entry.size for entry in entries]).tobytes())
    digest.update(array("q", [entry.modified_ns for entry in entries]).tobytes())
    return f'"L{digest.hexdigest()}"'


def render(fmt: str, page: Page, entries: list[Entry], view: View) -> Iterator[str]:
    """The listing in the format asked for, as pieces of text."""
    if fmt == "json":
        return json_pieces(entries)
    if fmt == "text":
        return text_pieces(entries)
    return listing_pieces(page, entries, view, has_parent=page.folder_url != page.root_url)


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
    `root`, in the format the client prefers among `offered`, gzipped when it accepts
    gzip, or 304. `shown` leaves out the entries it refuses (the access rules:
    `files_listing`)."""
    if not settings.listing:
        raise HTTPError(404, "folder listings are off (--no-listing)")
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else ServedPath(root, ())
    view = view_from_query(request.query)
    fmt = choose_format(request.headers, offered)
    # Every format is text: compressed whatever its size, when the client accepts gzip.
    coding = "gzip" if accepts_gzip(request.headers) else "identity"
    try:
        entries = list_folder(folder, settings.show_hidden)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no folder at {request.path}") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied reading {request.path}") from None
    entries = arrange([entry for entry in entries if shown(entry)] if shown is not None else entries, view)
    etag = listing_etag(entries, view, page, fmt, coding)
    headers = [("ETag", etag), CACHE_CONTROL, VARY]
    outcome = precondition_status(request.headers, request.method, etag, None)
    if outcome == 304:
        return Response(304, headers)
    if outcome == 412:
        raise HTTPError(412, "precondition failed: the listing has changed")
    pieces = (piece.encode("utf-8") for piece in render(fmt, page, entries, view))
    if coding == "gzip":
        headers.append(("Content-Encoding", "gzip"))
        pieces = gzip_pieces(pieces)
    return Response(200, [("Content-Type", LISTING_CONTENT_TYPES[fmt]), *headers], whole_or_streamed(pieces))


# The listing varies with both: the format (Accept) and the coding (Accept-Encoding).
VARY = ("Vary", "Accept, Accept-Encoding")
# A listing up to this size goes out whole, with Content-Length; a larger one streams
# (chunked), so memory never holds a big folder's page.
WHOLE_LISTING_LIMIT = 64 * 1024


def whole_or_streamed(pieces: Iterator[bytes]) -> bytes | StreamBody:
    """The body as bytes if the pieces end within `WHOLE_LISTING_LIMIT`, else a
    `StreamBody` that sends what was read, then the rest as it is made."""
    first: list[bytes] = []
    size = 0
    for piece in pieces:
        first.append(piece)
        size += len(piece)
        if size > WHOLE_LISTING_LIMIT:
            return StreamBody(itertools.chain(first, pieces))
    return b"".join(first)


def gzip_pieces(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces gzipped as one stream (level 1, as `compression.GZIP_LEVEL`); a piece
    out for every few pieces in, so memory holds one piece at a time."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    for piece in pieces:
        if out := compressor.compress(piece):
            yield out
    yield compressor.flush()


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
