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
more than 64 KiB streams (chunked). Neither the page nor the entries are ever held
whole: a folder of more than 10,000 entries is sorted in runs spilled to temporary
files and merged while the page goes out (`listing_sort.py`), so a folder of 200,000
entries is listed in the memory of 10,000.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from urllib.parse import parse_qsl, unquote

try:  # hashlib's own BLAKE2, without hashlib, which loads OpenSSL's libcrypto (3.5 MiB of
    from _blake2 import blake2b  # RSS) at start for nothing: docs/performance.md
except ImportError:  # a Python built without it
    from hashlib import blake2b

from app import listing_sort, listing_view, safefs
from app.compression import GZIP_LEVEL, accepts_gzip
from app.conditional import precondition_status
from app.errors import HTTPError
from app.fields import Headers
from app.files import CACHE_CONTROL
from app.framing import Response, StreamBody
from app.listing_sort import SortedEntries
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


def open_folder(folder: ServedPath, path: str) -> safefs.Walk:
    """The walk from the root's descriptor down to the folder (`walk.fd`; a context
    manager that closes them); 404 or 403 naming `path` when it cannot be opened."""
    walk = None
    try:
        walk = safefs.Walk(folder.root)
        walk.down(folder.segments)
        return walk
    except (FileNotFoundError, NotADirectoryError):
        refusal = HTTPError(404, f"no folder at {path}")
    except PermissionError:
        refusal = HTTPError(403, f"permission denied reading {path}")
    except BaseException:
        if walk is not None:
            walk.close()
        raise
    if walk is not None:
        walk.close()
    raise refusal from None


def list_folder(descriptor: int, show_hidden: bool = False) -> Iterator[Entry]:
    """The listed entries of the folder open at `descriptor`, one at a time, in the
    order the folder is read: regular files and folders, no symlinks, never the state
    folder, read with `os.scandir(fd)`, each entry's status from `fstatat` in it, never
    through a link (the rules of `safefs.scan_entries`, written out here: one `stat` per
    entry and, for the common name, ASCII and not hidden, no call of ours, for folders
    of 200,000 entries)."""
    make_entry = tuple.__new__
    with os.scandir(descriptor) as scan:
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
                yield make_entry(Entry, (name, False, info.st_size, info.st_mtime_ns))
            elif S_ISDIR(info.st_mode):
                yield make_entry(Entry, (name, True, 0, info.st_mtime_ns))


def shown_entries(entries: Iterable[Entry], view: View, shown: Callable[[Entry], bool] | None = None) -> Iterator[Entry]:
    """The entries the view shows, in the order given: those `shown` allows (the access
    rules; None: all) whose name contains the view's filter, without regard to case.
    `listing_sort.SortedEntries` puts them in the view's order."""
    if shown is not None:
        entries = filter(shown, entries)
    if view.filter:
        wanted = view.filter.casefold()
        entries = (entry for entry in entries if wanted in entry.name.casefold())
    return iter(entries)


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


def in_batches(entries: Iterable[Entry], size: int = ROWS_PER_PIECE) -> Iterator[list[Entry]]:
    """The entries in lists of `size` (the last one shorter)."""
    iterator = iter(entries)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def listing_json(entries: Iterable[Entry]) -> bytes:
    """A JSON array of {name, size, modified}; folder names end with "/". Files add
    `hash`: the relative URL that answers their SHA-256 when asked (`digest.py`)."""
    return "".join(json_pieces(entries)).encode("utf-8")


def json_pieces(entries: Iterable[Entry]) -> Iterator[str]:
    """`listing_json`'s text in pieces of a few KiB."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    hash_href = listing_view.hash_href
    yield "["
    separator = ""
    for batch in in_batches(entries):
        items = ", ".join(
            f'{{"name": {encode(listing_view.display_name(entry))}, "size": {entry.size}, '
            f'"modified": "{utc(entry.modified_ns, "%Y-%m-%dT%H:%M:%SZ")}"'
            + ("}" if entry.is_dir else f', "hash": {encode(hash_href(entry))}}}')
            for entry in batch
        )
        yield separator + items
        separator = ", "
    yield "]"


# A file name may hold any byte but NUL and "/": a line break in one would split it in
# two lines, so control characters are written as %XX (and "%" itself, to stay reversible).
UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f%]")


def listing_text(entries: Iterable[Entry]) -> bytes:
    """One name a line, folders ending with "/", for terminals and scripts."""
    return "".join(text_pieces(entries)).encode("utf-8")


def text_pieces(entries: Iterable[Entry]) -> Iterator[str]:
    """`listing_text`'s text in pieces of a few KiB."""
    for batch in in_batches(entries):
        yield "".join(
            UNPRINTABLE_RE.sub(lambda m: f"%{ord(m.group()):02X}", listing_view.display_name(e)) + "\n"
            for e in batch
        )


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------

# The page's own code is part of every tag: a new version of the page is a new tag.
PAGE_CODE = blake2b(
    b"".join(Path(module.__file__).read_bytes() for module in (listing_sort, listing_view)) + Path(__file__).read_bytes(),
    digest_size=8,
).hexdigest()


class ListingTag:
    """The strong ETag of a listing, made from everything it shows: the view, the
    page's options, the format and the content coding (the gzipped bytes are another
    representation: RFC 9110 §8.8.3), then each entry's name, kind, size and
    modification time in nanoseconds, fed by `update()` as the folder is read.

    The entries go in in the order the folder is read, not the order shown: the
    file system gives the same order while the folder is unchanged, and the order shown
    follows from the entries and the view, both in the tag. So the tag is made as the
    entries pass, in batches, without holding them; a folder the file system reorders
    unchanged would only cost a 200 where a 304 would do."""

    def __init__(self, view: View, page: Page, fmt: str, coding: str) -> None:
        self.digest = blake2b(digest_size=12)
        self.digest.update(repr((PAGE_CODE, fmt, coding, view, page)).encode("utf-8"))

    def update(self, entries: list[Entry]) -> None:
        """Feed a batch of entries to the tag: its length, then whole columns at a time
        (a comprehension and one join each, no call per entry)."""
        update = self.digest.update
        update(len(entries).to_bytes(4, "little"))
        update("\0".join([entry.name + "/" * entry.is_dir for entry in entries]).encode("utf-8", "surrogateescape"))
        update(array("q", [entry.size for entry in entries]).tobytes())
        update(array("q", [entry.modified_ns for entry in entries]).tobytes())

    @property
    def etag(self) -> str:
        return f'"L{self.digest.hexdigest()}"'


READ_BATCH = 1024  # entries read, then tagged and sorted, at a time


def render(fmt: str, page: Page, entries: Iterable[Entry], view: View) -> Iterator[str]:
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
    `files_listing`). The entries are read once, tagged as they pass and put in order
    (`SortedEntries`: a big folder's runs spill to temporary files, freed when the page
    is sent or given up, whatever happens)."""
    if not settings.listing:
        raise HTTPError(404, "folder listings are off (--no-listing)")
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else ServedPath(root, ())
    view = view_from_query(request.query)
    fmt = choose_format(request.headers, offered)
    # Every format is text: compressed whatever its size, when the client accepts gzip.
    coding = "gzip" if accepts_gzip(request.headers) else "identity"
    tag = ListingTag(view, page, fmt, coding)
    with ExitStack() as cleanup:  # closes the sort's files, unless a stream takes them
        entries = cleanup.enter_context(SortedEntries(view))
        with open_folder(folder, request.path) as walk:
            for batch in in_batches(shown_entries(list_folder(walk.fd, settings.show_hidden), view, shown), READ_BATCH):
                tag.update(batch)
                entries.extend(batch)
        headers = [("ETag", tag.etag), CACHE_CONTROL, VARY]
        outcome = precondition_status(request.headers, request.method, tag.etag, None)
        if outcome == 304:
            return Response(304, headers)
        if outcome == 412:
            raise HTTPError(412, "precondition failed: the listing has changed")
        pieces = (piece.encode("utf-8") for piece in render(fmt, page, entries, view))
        if coding == "gzip":
            headers.append(("Content-Encoding", "gzip"))
            pieces = gzip_pieces(pieces)
        body = whole_or_streamed(pieces)
        if isinstance(body, StreamBody):  # the stream closes the files when it ends or is closed
            body = StreamBody(Releasing(body.pieces, cleanup.pop_all().close))
        return Response(200, [("Content-Type", LISTING_CONTENT_TYPES[fmt]), *headers], body)


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


class Releasing:
    """The pieces of a stream, and what to release when the stream is closed: the
    connection closes every `StreamBody` (`StreamBody.close()`) once it is sent, and
    when it is not (a client gone mid-page, a HEAD), so `release` is always called."""

    def __init__(self, pieces: Iterator[bytes], release: Callable[[], None]) -> None:
        self.pieces, self.release = pieces, release

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.pieces)

    def close(self) -> None:
        self.release()


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
