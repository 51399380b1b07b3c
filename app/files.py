"""Serving files from disk: content types, validators, conditional requests, ranges,
gzip, and folder listings. Used by the static site and by `/files/` in `handlers.py`.

`file_response()` is the whole of a GET for one file, in the order RFC 9110 §13.2.2
evaluates it:

1. open the file and `fstat` the open descriptor (so what we describe is what we send),
2. choose the representation: gzip when the type compresses, the file is small and the
   client accepts it (`Vary: Accept-Encoding` whenever that choice was possible),
3. its validators: a strong `ETag` and `Last-Modified`,
4. the preconditions (`If-Match`, `If-Unmodified-Since`, `If-None-Match`,
   `If-Modified-Since`) → 412 or 304,
5. `Range` (with `If-Range`) → 206 or 416,
6. the body: a `FileBody` streamed with sendfile, or the gzipped bytes.

Paths reach this module already checked by `handlers.resolve_under()`.
"""

from __future__ import annotations

import gzip
import html
import json
import mimetypes
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from app.http import FileBody, Headers, Request, Response, accepts_gzip, text_response, weighted_elements
from app.settings import Settings

# gzip level 6 is zlib's default: most of level 9's size for a fraction of its time.
GZIP_LEVEL = 6

# Browsers revalidate every time (with If-None-Match), so an edited file shows at once,
# while an unchanged one costs a 304 and no body (RFC 9111 §5.2.2.4).
CACHE_CONTROL = ("Cache-Control", "no-cache")

# ---------------------------------------------------------------------------------------
# Content types
# ---------------------------------------------------------------------------------------

# The built-in table only: reading the machine's /etc/mime.types would make answers
# depend on where the server runs. Corrections for what the table gets wrong or lacks.
_TYPES = mimetypes.MimeTypes()
_TYPES.add_type("text/javascript", ".js")  # RFC 9239: the one JavaScript type
_TYPES.add_type("text/javascript", ".mjs")
_TYPES.add_type("video/webm", ".webm")
_TYPES.add_type("audio/webm", ".weba")
_TYPES.add_type("image/webp", ".webp")
_TYPES.add_type("font/woff2", ".woff2")
_TYPES.add_type("text/markdown", ".md")

# Types that are text underneath besides text/*; they get a charset and gzip.
_TEXTUAL_TYPES = {"application/json", "application/javascript", "application/xml", "image/svg+xml"}


def content_type_for(path: Path) -> str:
    """The Content-Type for a file from its extension; `charset=utf-8` on text."""
    content_type, _ = _TYPES.guess_type(path.name, strict=False)
    if content_type is None:
        return "application/octet-stream"
    if is_textual(content_type) and content_type != "image/svg+xml":
        return f"{content_type}; charset=utf-8"
    return content_type


def is_textual(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip()
    return media_type.startswith("text/") or media_type in _TEXTUAL_TYPES or media_type.endswith("+json")


# ---------------------------------------------------------------------------------------
# Validators and conditional requests (RFC 9110 §8.8, §13)
# ---------------------------------------------------------------------------------------


def etag_for(status: os.stat_result, suffix: str = "") -> str:
    """A strong entity tag from size and modification time in nanoseconds (as nginx
    does): any write changes one of them. `suffix` tells representations apart (the
    gzipped bytes are not the file's bytes, so they need a tag of their own)."""
    return f'"{status.st_size:x}-{status.st_mtime_ns:x}{suffix}"'


def http_date_of(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as a timestamp; None when absent or invalid, in
    which case the header is ignored (§13.1.3, §13.1.4)."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# RFC 9110 §8.8.3:  entity-tag = [ weak ] opaque-tag ;  weak = %s"W/"
#                   opaque-tag = DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
ENTITY_TAG_RE = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


def etag_list(value: str) -> list[tuple[bool, str]] | None:
    """If-Match / If-None-Match as [(weak, opaque-tag)], or None for `*`."""
    if value.strip() == "*":
        return None
    return [(bool(weak), tag) for weak, tag in ENTITY_TAG_RE.findall(value)]


def matches(header: str, etag: str | None, weak_comparison: bool) -> bool:
    """Whether an If-Match / If-None-Match value matches the current `etag` (None: no
    current representation). §8.8.3.2: strong comparison needs both tags strong."""
    tags = etag_list(header)
    if tags is None:  # "*": any current representation
        return etag is not None
    if etag is None:
        return False
    return any(tag == etag and (weak_comparison or not weak) for weak, tag in tags)


def precondition_status(
    headers: Headers, method: str, etag: str | None, modified: float | None
) -> int | None:
    """RFC 9110 §13.2.2: evaluate the preconditions in order; 412, 304, or None to go on.
    `etag` and `modified` describe the current representation (None: there is none)."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if not matches(if_match, etag, weak_comparison=False):
            return 412
    else:
        since = parse_http_date(headers.get("if-unmodified-since"))
        if since is not None and (modified is None or int(modified) > since):
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if matches(if_none_match, etag, weak_comparison=True):
            return 304 if safe else 412
    elif safe and modified is not None:
        since = parse_http_date(headers.get("if-modified-since"))
        if since is not None and int(modified) <= since:
            return 304
    return None


# ---------------------------------------------------------------------------------------
# Ranges (RFC 9110 §14)
# ---------------------------------------------------------------------------------------

# §14.1.1:  ranges-specifier = range-unit "=" range-set
#           int-range = first-pos "-" [ last-pos ] ;  suffix-range = "-" suffix-length
RANGE_SPEC_RE = re.compile(r"\s*([0-9]{1,18})?\s*-\s*([0-9]{1,18})?\s*")


class Unsatisfiable(Exception):
    """No range in the request overlaps the file: 416."""


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A `Range: bytes=...` value as (first, last) inclusive, or None to ignore it and
    answer the whole file. Raises `Unsatisfiable` for a range wholly past the end.

    Several ranges in one request are answered with the whole file (200): §14.2 lets a
    server ignore Range, and multipart/byteranges buys little (browsers and download
    tools ask for one range at a time) for a good deal of framing code."""
    unit, equals, range_set = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None  # §14.2: an unknown range unit is ignored
    specs = range_set.split(",")
    if len(specs) != 1:
        return None
    match = RANGE_SPEC_RE.fullmatch(specs[0])
    if match is None or (match.group(1) is None and match.group(2) is None):
        return None  # not valid syntax: ignored
    first, last = match.group(1), match.group(2)
    if first is None:  # suffix-range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last is None else min(int(last), size - 1)
    if last is not None and int(last) < start:
        return None  # §14.1.1: invalid when last-pos < first-pos
    if start >= size:
        raise Unsatisfiable
    return start, end


def if_range_allows(headers: Headers, etag: str, modified: float) -> bool:
    """§13.1.5: with If-Range, the range applies only if the validator still matches
    (an entity-tag by strong comparison, or exactly the Last-Modified date)."""
    value = headers.get("if-range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # a weak tag never matches strongly
    return parse_http_date(value) == float(int(modified))


# ---------------------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------------------


def file_response(request: Request, settings: Settings, path: Path, content_type: str) -> Response:
    """GET/HEAD of one regular file, with validators, preconditions, ranges and gzip.
    Raises OSError (FileNotFoundError, IsADirectoryError, PermissionError) for the
    caller to turn into a status."""
    if not stat.S_ISREG(path.stat().st_mode):
        # Checked before open(): opening a FIFO would block the thread until a writer came.
        raise IsADirectoryError(f"{path.name} is not a regular file")
    file = open(path, "rb")
    try:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise IsADirectoryError(f"{path.name} is not a regular file")
        response = _file_response(request, settings, file, status, content_type)
    except BaseException:
        file.close()
        raise
    if not isinstance(response.body, FileBody):
        file.close()
    return response


def _file_response(
    request: Request, settings: Settings, file: BinaryIO, status: os.stat_result, content_type: str
) -> Response:
    size, modified = status.st_size, status.st_mtime
    compressible = is_textual(content_type) and size <= settings.limits.max_gzip_file
    compress = compressible and accepts_gzip(request.headers)
    etag = etag_for(status, "-gzip" if compress else "")
    headers = [
        ("Content-Type", content_type),
        ("Last-Modified", http_date_of(modified)),
        ("ETag", etag),
        CACHE_CONTROL,
        ("Accept-Ranges", "bytes"),
    ]
    if compressible:
        # The answer depends on Accept-Encoding, whichever way it went (§12.5.5).
        headers.append(("Vary", "Accept-Encoding"))

    outcome = precondition_status(request.headers, request.method, etag, modified)
    if outcome == 304:
        # §15.4.5: a 304 carries the validators and caching fields a 200 would have had.
        return Response(304, [h for h in headers if h[0] not in ("Content-Type", "Accept-Ranges")])
    if outcome == 412:
        return text_response(412, "precondition failed: the file has changed")

    range_header = request.headers.get("range")
    if range_header is not None and if_range_allows(request.headers, etag_for(status), modified):
        try:
            byte_range = parse_range(range_header, size)
        except Unsatisfiable:
            return text_response(
                416, f"range not satisfiable: the file has {size} bytes", [("Content-Range", f"bytes */{size}")]
            )
        if byte_range is not None:
            # A range is always of the file's own bytes (identity), so its tag is the
            # file's tag whatever Accept-Encoding said.
            first, last = byte_range
            headers[2] = ("ETag", etag_for(status))
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            return Response(206, headers, FileBody(file, first, last - first + 1))

    if compress:
        # mtime=0: no timestamp inside, so the same file always gzips to the same bytes
        # (the strong ETag promises exactly that).
        data = gzip.compress(file.read(size), compresslevel=GZIP_LEVEL, mtime=0)
        return Response(200, [*headers, ("Content-Encoding", "gzip")], data)
    return Response(200, headers, FileBody(file, 0, size))


# ---------------------------------------------------------------------------------------
# Listings
# ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    is_dir: bool
    size: int
    modified: float


def list_folder(folder: Path) -> list[Entry]:
    """The visible entries of a folder, folders first, then by name. Dot files are left
    out (among them the `.name.part` files of uploads in progress); entries that are
    neither regular files nor folders, and symlinks, are left out too."""
    entries = []
    with os.scandir(folder) as scan:
        for item in scan:
            if item.name.startswith(".") or item.is_symlink():
                continue
            try:
                info = item.stat()
            except OSError:
                continue  # removed while we looked
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                is_dir = stat.S_ISDIR(info.st_mode)
                entries.append(Entry(item.name, is_dir, 0 if is_dir else info.st_size, info.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name))
    return entries


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


LISTING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d2330; }}
h1 {{ font-size: 1.4rem; font-weight: 600; word-break: break-all; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e6ec; }}
th {{ color: #5a6275; font-weight: 500; }}
td.size, th.size {{ text-align: right; font-variant-numeric: tabular-nums; }}
a {{ color: #1a56db; text-decoration: none; }} a:hover, a:focus {{ text-decoration: underline; }}
</style>
</head>
<body>
<h1>Index of {title}</h1>
<table>
<thead><tr><th>Name</th><th class="size">Size</th><th>Modified (UTC)</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def listing_html(title: str, entries: list[Entry], has_parent: bool) -> bytes:
    """An HTML listing. Every name is escaped for HTML and its link percent-encoded in
    full (spaces, `#`, `?`, `%` and non-ASCII included), relative to the folder's URL."""
    rows = []
    if has_parent:
        rows.append('<tr><td><a href="../">../</a></td><td class="size"></td><td></td></tr>')
    for entry in entries:
        href = quote(entry.name, safe="") + ("/" if entry.is_dir else "")
        label = html.escape(entry.name + ("/" if entry.is_dir else ""))
        size = "" if entry.is_dir else html.escape(human_size(entry.size))
        modified = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.modified))
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{label}</a></td>'
            f'<td class="size" title="{entry.size} bytes">{size}</td><td>{modified}</td></tr>'
        )
    page = LISTING_PAGE.format(title=html.escape(title), rows="\n".join(rows))
    return page.encode("utf-8")


def listing_json(entries: list[Entry]) -> bytes:
    """A JSON array of {name, size, modified}; folder names end with "/"."""
    items = [
        {"name": entry.name + ("/" if entry.is_dir else ""), "size": entry.size, "modified": iso_time(entry.modified)}
        for entry in entries
    ]
    return json.dumps(items, ensure_ascii=False).encode("utf-8")


def wants_json(headers: Headers) -> bool:
    """Whether Accept (RFC 9110 §12.5.1) prefers application/json to text/html."""
    weights = weighted_elements(headers, "accept")
    json_weight = weights.get("application/json", 0.0)
    return json_weight > 0 and json_weight >= weights.get("text/html", 0.0)


def listing_response(request: Request, folder: Path, title: str, has_parent: bool, offer_json: bool) -> Response:
    entries = list_folder(folder)
    headers = [CACHE_CONTROL]
    if offer_json:
        headers.append(("Vary", "Accept"))
        if wants_json(request.headers):
            return Response(200, [("Content-Type", "application/json"), *headers], listing_json(entries))
    return Response(200, [("Content-Type", "text/html; charset=utf-8"), *headers], listing_html(title, entries, has_parent))
