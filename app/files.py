"""Serving one file: its content type, the precompressed files beside it, and the GET
or HEAD response with validators, preconditions, ranges and gzip. Used by the static
site and by `/files/` in `handlers.py`. Paths come from `paths.py`, validators and
ranges from `conditional.py`, the gzip decision from `compression.py`.

`response_for_path()` is the whole of a GET for one file, in the order RFC 9110 §13.2.2
evaluates it:

1. open the file and `fstat` the open descriptor (so what we describe is what we send),
2. choose the representation: gzip when the type compresses, the file is small and the
   client accepts it (`Vary: Accept-Encoding` whenever that choice was possible),
3. its validators: a strong `ETag` and `Last-Modified`,
4. the preconditions (`If-Match`, `If-Unmodified-Since`, `If-None-Match`,
   `If-Modified-Since`) → 412 or 304,
5. `Range` (with `If-Range`) → 206 or 416,
6. the body: a `FileBody` streamed with sendfile, or the gzipped bytes.

Every name that reaches the disk, reading or writing, comes from `resolve_under()` and is
walked from the root's descriptor (`safefs.py`) each time it is used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from app.compression import (
    VARY_ACCEPT_ENCODING,
    Precompressed,
    choose_precompressed,
    compressible,
    gzip_compress,
    is_textual,
    use_gzip,
)
from app.conditional import Unsatisfiable, etag_for, if_range_allows, parse_range, precondition_status
from app.dates import http_date
from app.errors import HTTPError
from app.framing import FileBody, Response, text_response
from app.paths import resolve_under
from app.request import Request
from app.safefs import Refused, ServedPath
from app.settings import Settings

if TYPE_CHECKING:  # for annotations: `content_types()` imports it when a site file asks
    import mimetypes

# Browsers revalidate every time (with If-None-Match), so an edited file shows at once,
# while an unchanged one costs a 304 and no body (RFC 9111 §5.2.2.4).
CACHE_CONTROL = ("Cache-Control", "no-cache")

# ---------------------------------------------------------------------------------------
# Content types
# ---------------------------------------------------------------------------------------

# The table, made by `content_types()` at the first content type asked for (a file of the
# static site): `mimetypes` and its table cost 0.5 MiB of RSS that a server without --www
# never needs (issue 20, idle memory).
_TYPES: mimetypes.MimeTypes | None = None


def content_types() -> mimetypes.MimeTypes:
    """The built-in table only: reading the machine's /etc/mime.types would make answers
    depend on where the server runs. Corrections for what the table gets wrong or lacks."""
    import mimetypes

    global _TYPES
    types = mimetypes.MimeTypes()
    types.add_type("text/javascript", ".js")  # RFC 9239: the one JavaScript type
    types.add_type("text/javascript", ".mjs")
    types.add_type("video/webm", ".webm")
    types.add_type("audio/webm", ".weba")
    types.add_type("image/webp", ".webp")
    types.add_type("font/woff2", ".woff2")
    types.add_type("text/markdown", ".md")
    _TYPES = types
    return types


def content_type_for(path: Path | ServedPath) -> str:
    """The Content-Type for a file from its extension; `charset=utf-8` on text."""
    content_type, _ = (_TYPES or content_types()).guess_type(path.name, strict=False)
    if content_type is None:
        return "application/octet-stream"
    if is_textual(content_type) and content_type != "image/svg+xml":
        return f"{content_type}; charset=utf-8"
    return content_type


# ---------------------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------------------


# Precompressed files beside a file of the site, the smallest coding first (as nginx's
# gzip_static and caddy's precompressed): `app.js.br`, then `app.js.gz`.
PRECOMPRESSED_SUFFIXES = (("br", ".br"), ("gzip", ".gz"))


def precompressed_files(root: Path, encoded_name: str) -> Precompressed:
    """The `.br` and `.gz` files that sit beside `encoded_name` under `root`, each name
    checked by `resolve_under` and walked like any other (a symlink out of the root is
    not one: `Refused` is taken as "none")."""
    found = []
    for coding, suffix in PRECOMPRESSED_SUFFIXES:
        try:
            path = resolve_under(root, encoded_name + suffix)
            if path.is_file():
                found.append((coding, path))
        except (ValueError, Refused):
            continue
    return found


def respond_with_file(
    request: Request,
    settings: Settings,
    path: ServedPath,
    content_type: str,
    name: str,
    missing: str,
    precompressed: Precompressed = (),
) -> Response:
    """GET/HEAD of one file (`response_for_path`), the file system's errors answered with
    their status; `name` is the file's name for messages, `missing` the text of the 404."""
    try:
        return response_for_path(request, settings, path, content_type, precompressed)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, missing) from None
    except IsADirectoryError:
        raise HTTPError(404, f"{name} is a directory, not a file") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied reading {name}") from None


def response_for_path(
    request: Request, settings: Settings, path: ServedPath, content_type: str, precompressed: Precompressed = ()
) -> Response:
    """GET/HEAD of one regular file, with validators, preconditions, ranges and gzip,
    or of the precompressed file beside it that the client accepts. Raises OSError
    (FileNotFoundError, IsADirectoryError, PermissionError) for the caller to turn into
    a status."""
    coding, source = choose_precompressed(request.headers, precompressed) or (None, path)
    if coding is not None and not stat.S_ISREG(path.stat().st_mode):
        raise IsADirectoryError(f"{path.name} is not a regular file")
    # Walked from the root's descriptor, opened O_NOFOLLOW | O_NONBLOCK (a FIFO cannot
    # block the thread) and refused unless a regular file (safefs.open_file).
    file = open(source.open_file(), "rb")
    try:
        status = os.fstat(file.fileno())
        response = response_for_open_file(request, settings, file, status, content_type, coding, bool(precompressed))
    except BaseException:
        file.close()
        raise
    if not isinstance(response.body, FileBody):
        file.close()
    return response


def response_for_open_file(
    request: Request,
    settings: Settings,
    file: BinaryIO,
    status: os.stat_result,
    content_type: str,
    coding: str | None = None,
    has_precompressed: bool = False,
) -> Response:
    """`file` is the file itself (`coding` None) or a precompressed form of it, sent
    as it is with its own tag and `Content-Encoding: coding`."""
    size, modified = status.st_size, status.st_mtime
    compress = coding is None and use_gzip(request.headers, content_type, size, settings.limits.max_gzip_file)
    coded = coding or ("gzip" if compress else None)
    etag = etag_for(status, f"-{coded}" if coded else "")
    headers = [
        ("Content-Type", content_type),
        ("Last-Modified", http_date(modified)),
        ("ETag", etag),
        CACHE_CONTROL,
        ("Accept-Ranges", "bytes"),
    ]
    if has_precompressed or compressible(content_type, size, settings.limits.max_gzip_file):
        headers.append(VARY_ACCEPT_ENCODING)

    outcome = precondition_status(request.headers, request.method, etag, modified)
    if outcome == 304:
        # §15.4.5: a 304 carries the validators and caching fields a 200 would have had.
        return Response(304, [h for h in headers if h[0] not in ("Content-Type", "Accept-Ranges")])
    if outcome == 412:
        return text_response(412, "precondition failed: the file has changed")

    partial = range_response(request, file, status, headers)
    if partial is not None:
        return partial
    if compress:
        return Response(200, [*headers, ("Content-Encoding", "gzip")], gzip_compress(file.read(size)))
    if coding is not None:
        headers.append(("Content-Encoding", coding))
    return Response(200, headers, FileBody(file, 0, size))


def range_response(
    request: Request, file: BinaryIO, status: os.stat_result, headers: list[tuple[str, str]]
) -> Response | None:
    """206 or 416 for a Range request that applies (If-Range allowing), else None: the
    whole file goes out. `headers` are those of the 200; `file` is the file itself."""
    range_header = request.headers.get("range")
    size = status.st_size
    if range_header is None or not if_range_allows(request.headers, etag_for(status), status.st_mtime):
        return None
    try:
        byte_range = parse_range(range_header, size)
    except Unsatisfiable:
        return text_response(
            416, f"range not satisfiable: the file has {size} bytes", [("Content-Range", f"bytes */{size}")]
        )
    if byte_range is None:
        return None
    # A range is always of the file's own bytes (identity), so its tag is the file's
    # tag whatever Accept-Encoding said.
    first, last = byte_range
    headers = [("ETag", etag_for(status)) if name == "ETag" else (name, value) for name, value in headers]
    headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    return Response(206, headers, FileBody(file, first, last - first + 1))
