"""Everything that touches the file system, except listings (`listing.py`): safe path
resolution (`resolve_under`), atomic writes (`write_atomically`), and serving one file
with content types, validators, conditional requests, ranges and gzip. Used by the
static site and by `/files/` in `handlers.py`.

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

Every path that reaches the disk, reading or writing, comes from `resolve_under()`.
"""

from __future__ import annotations

import errno
import functools
import mimetypes
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from app.compression import VARY_ACCEPT_ENCODING, accepts_coding, compressible, gzip_compress, is_textual, use_gzip
from app.dates import http_date, parse_http_date
from app.errors import HTTPError
from app.fields import OWS, Headers, ascii_lower, list_elements
from app.framing import FileBody, Response, text_response
from app.request import Request
from app.leftovers import TEMPORARY_NAME_RE, temporary_prefix
from app.policy import write_refusal
from app.settings import Settings

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

def content_type_for(path: Path) -> str:
    """The Content-Type for a file from its extension; `charset=utf-8` on text."""
    content_type, _ = _TYPES.guess_type(path.name, strict=False)
    if content_type is None:
        return "application/octet-stream"
    if is_textual(content_type) and content_type != "image/svg+xml":
        return f"{content_type}; charset=utf-8"
    return content_type


# ---------------------------------------------------------------------------------------
# Paths: from a percent-encoded name in a URL to a file under a root
# ---------------------------------------------------------------------------------------

# A percent-encoded "/" or "\\" would become a separator only after decoding: the client
# meant it as part of one name, and a filter that looks at the raw path misses it.
ENCODED_SEPARATOR_RE = re.compile(r"%(2f|5c)", re.IGNORECASE)
# An escape of ".", "/", "\\" or NUL left after decoding once means the name was encoded
# twice (`%252e%252e` → `%2e%2e`): a second decoder further on would make it `..`. Other
# escapes are left alone, so a file may be called `100%cool.txt`.
DOUBLE_ENCODED_RE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


def resolve_under(root: Path, encoded_name: str) -> Path:
    """The path a percent-encoded, relative name refers to under `root`, or `ValueError`
    saying why the name is refused. Every path that touches the disk goes through here.

    Decodes exactly once, then refuses anything that could step out: encoded separators
    (`%2F`, `%5C`), names encoded twice (`%252e`), absolute names, empty, `.` or `..`
    segments, backslashes, NUL; and, after resolving symlinks, any path that does not
    end up under `root` (a symlink pointing out of the folder)."""
    if ENCODED_SEPARATOR_RE.search(encoded_name):
        raise ValueError("file name must not contain an encoded '/' or '\\' (%2F, %5C)")
    try:
        name = unquote(encoded_name, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("file name is not valid UTF-8 once percent-decoded") from None
    if not name:
        raise ValueError("missing file name")
    if "\0" in name or "\\" in name:
        raise ValueError("file name must not contain NUL or backslash")
    if DOUBLE_ENCODED_RE.search(name):
        raise ValueError("file name is percent-encoded twice")
    if name.startswith("/"):
        raise ValueError("file name must be relative, not absolute")
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError("file name must not contain empty, '.' or '..' segments")
    # NAME_MAX on Linux, macOS and Windows: longer names make every file call fail.
    if any(len(segment.encode("utf-8")) > MAX_NAME_BYTES for segment in segments):
        raise ValueError(f"file name longer than {MAX_NAME_BYTES} bytes")
    root = resolved_root(root)
    path = root.joinpath(*segments)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        raise ValueError("file name cannot be resolved (symlink loop?)") from None
    if not resolved.is_relative_to(root):
        raise ValueError("file name leads outside the served directory")
    return path


MAX_NAME_BYTES = 255


@functools.lru_cache(maxsize=8)
def resolved_root(root: Path) -> Path:
    """The served folder with its symlinks resolved, once: resolving walks the path with
    one lstat() per component, and the folder does not move while the server runs."""
    return root.resolve()


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `path` so that readers see the old file or the whole new one,
    never part of it: stream them into a temporary file beside it (never holding the
    whole body in memory), flush it to disk, then rename it over the target (rename is
    atomic within a file system) and flush the folder, so the rename survives a crash too.
    If anything fails (a full disk, the client going away mid-body, a body over the
    limit), the temporary file is removed and `path` is untouched.
    """
    temporary = temporary_path(path)
    # O_EXCL: a new file, never one that exists (or a symlink planted there); created
    # with its final mode at once (what the umask allows of rw-r--r--), no chmod after.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:  # straight to the descriptor: the body comes in large chunks already
            for chunk in chunks:
                write_all(descriptor, chunk)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_all(descriptor: int, data: bytes | memoryview) -> None:
    """os.write() until the whole of `data` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def temporary_path(path: Path) -> Path:
    """Where an upload to `path` is written until it is whole: a hidden name beside it,
    ending in `.part`, that names this host and process (`leftovers.py`: no other process,
    here or on another host, can pick it, and a dead process's file can be told apart)
    plus 48 random bits; the target's name is cut short to stay within NAME_MAX.
    (`os.urandom(6).hex()` is what `secrets.token_hex(6)` does, without `secrets`, which
    loads hashlib and OpenSSL's libcrypto at start-up: docs/performance.md.)"""
    return path.with_name(f"{temporary_prefix(path.name)}{os.urandom(6).hex()}.part")


def is_upload_in_progress(name: str) -> bool:
    """Whether a file name is the temporary file of an upload still being written (the
    name `temporary_path` gives, `leftovers.TEMPORARY_NAME_RE`)."""
    return TEMPORARY_NAME_RE.fullmatch(name) is not None


def store_upload(path: Path, chunks: Iterable[bytes], name: str) -> None:
    """`write_atomically()` into `path`, creating its folders, with the file system's
    refusals answered as statuses (`name` is the file's name for the reasons)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, chunks)
    except (FileExistsError, NotADirectoryError):
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    except IsADirectoryError:
        raise HTTPError(409, f"{name} is a folder") from None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise HTTPError(507, f"not enough storage to save {name}") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied writing {name}") from None
        raise


def refuse_oversized(request: Request, settings: Settings) -> None:
    """413 for an upload whose Content-Length is over `--max-upload`, before any byte of
    it is read (so a client waiting on `Expect: 100-continue` never sends it)."""
    declared = request.body.declared_length
    limit = settings.limits.max_upload
    if declared is not None and declared > limit:
        raise HTTPError(413, f"upload of {declared} bytes is larger than the limit of {limit} bytes")


def make_directory(path: Path, name: str, parents: bool) -> bool:
    """Create the folder `path` (and its missing parents if `parents`); False when
    something exists there already. The file system's refusals become statuses."""
    try:
        path.mkdir(parents=parents)
    except FileExistsError:
        return False
    except FileNotFoundError:
        raise HTTPError(409, f"the parent folder of {name} does not exist") from None
    except NotADirectoryError:
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied creating {name}") from None
    return True


def remove_path(path: Path, name: str) -> None:
    """Remove a file, or a folder if it is empty; a folder with entries is 409 (never a
    recursive delete), as the file system's other refusals get their status."""
    try:
        if stat.S_ISDIR(path.lstat().st_mode):
            path.rmdir()
        else:
            path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no file or folder named {name}") from None
    except OSError as error:
        if error.errno == errno.ENOTEMPTY:
            count = sum(1 for _ in os.scandir(path))
            entries = "1 entry" if count == 1 else f"{count} entries"
            raise HTTPError(409, f"folder {name} is not empty ({entries}); delete them first") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied deleting {name}") from None
        raise


def checked_path(root: Path, encoded_name: str) -> Path:
    """`resolve_under()`, refusing a bad name with 400 and its reason."""
    try:
        return resolve_under(root, encoded_name)
    except ValueError as error:
        raise HTTPError(400, str(error)) from None


def writable_path(settings: Settings, encoded_name: str) -> Path:
    """The path of `/files/{encoded_name}` for a request that changes it; 403 with the
    write policy's reason (`policy.write_refusal`) when this server refuses writes."""
    check_writes_allowed(settings)
    return checked_path(settings.directory, encoded_name)


def writable_folder(settings: Settings, encoded_folder: str) -> Path:
    """The folder of a folder URL `/files/{encoded_folder}` ("" or ending in "/"), for a
    request that writes into it (`writable_path()`; "" is `--directory` itself)."""
    name = encoded_folder.removesuffix("/")
    if name:
        return writable_path(settings, name)
    check_writes_allowed(settings)
    return settings.directory.resolve()


def check_writes_allowed(settings: Settings) -> None:
    """403 with the write policy's one-line reason when this server refuses writes."""
    refusal = write_refusal(settings)
    if refusal is not None:
        raise HTTPError(403, refusal)


# ---------------------------------------------------------------------------------------
# Validators and conditional requests (RFC 9110 §8.8, §13)
# ---------------------------------------------------------------------------------------


def etag_for(status: os.stat_result, suffix: str = "") -> str:
    """A strong entity tag from size and modification time in nanoseconds (as nginx
    does): any write changes one of them. `suffix` tells representations apart (the
    gzipped bytes are not the file's bytes, so they need a tag of their own)."""
    return f'"{status.st_size:x}-{status.st_mtime_ns:x}{suffix}"'


# RFC 9110 §8.8.3:  entity-tag = [ weak ] opaque-tag ;  weak = %s"W/"
#                   opaque-tag = DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
ENTITY_TAG_RE = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


def etag_list(value: str) -> list[tuple[bool, str]] | None:
    """If-Match / If-None-Match (§13.1.1: "*" / #entity-tag) as [(weak, opaque-tag)], or
    None for `*`. A value outside the grammar is [], which matches nothing: If-Match
    then fails (412) rather than letting a write through, If-None-Match never matches."""
    if value.strip(OWS) == "*":
        return None
    try:
        tags = list_elements([value], ENTITY_TAG_RE)
    except ValueError:
        return []
    return [(tag.group(1) is not None, tag.group(2)) for tag in tags]


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

# §14.1.1:  ranges-specifier = range-unit "=" range-set ;  range-unit = token
#           range-set  = 1#range-spec
#           range-spec = int-range / suffix-range / other-range
#           int-range  = first-pos "-" [ last-pos ] ;  suffix-range = "-" suffix-length
#           other-range = 1*( %x21-2B / %x2D-7E )   ; any VCHAR but ","
# No whitespace inside a range-spec; OWS only around the commas of the list. At most 18
# digits, so a position always fits in 63 bits.
OTHER_RANGE_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
RANGE_SPEC_RE = re.compile(r"([0-9]{1,18})?-([0-9]{1,18})?")


class Unsatisfiable(Exception):
    """No range in the request overlaps the file: 416."""


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A `Range: bytes=...` value as (first, last) inclusive, or None to ignore it and
    answer the whole file. Raises `Unsatisfiable` for a range wholly past the end.

    Several ranges in one request are answered with the whole file (200): §14.2 lets a
    server ignore Range, and multipart/byteranges buys little (browsers and download
    tools ask for one range at a time) for a good deal of framing code."""
    unit, equals, range_set = value.partition("=")
    if not equals or ascii_lower(unit) != "bytes":
        return None  # §14.2: an unknown range unit is ignored (§14.1: case-insensitive)
    try:
        specs = list_elements([range_set], OTHER_RANGE_RE)
    except ValueError:
        return None
    if len(specs) != 1:
        return None
    match = RANGE_SPEC_RE.fullmatch(specs[0].group())
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
    value = headers.get("if-range")  # If-Range = entity-tag / HTTP-date
    if value is None:
        return True
    if ENTITY_TAG_RE.fullmatch(value):
        return value == etag  # a weak tag never matches strongly
    return parse_http_date(value) == float(int(modified))


# ---------------------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------------------


# Precompressed files beside a file of the site, the smallest coding first (as nginx's
# gzip_static and caddy's precompressed): `app.js.br`, then `app.js.gz`.
PRECOMPRESSED_SUFFIXES = (("br", ".br"), ("gzip", ".gz"))

Precompressed = list[tuple[str, Path]]  # (content coding, path), best first


def precompressed_files(root: Path, encoded_name: str) -> Precompressed:
    """The `.br` and `.gz` files that sit beside `encoded_name` under `root`, each path
    checked by `resolve_under` like any other (a symlink out of the root is not one)."""
    found = []
    for coding, suffix in PRECOMPRESSED_SUFFIXES:
        try:
            path = resolve_under(root, encoded_name + suffix)
        except ValueError:
            continue
        if path.is_file():
            found.append((coding, path))
    return found


def choose_precompressed(headers: Headers, found: Precompressed) -> tuple[str, Path] | None:
    """The first precompressed file whose coding the client accepts; none for a Range
    request, since a range counts bytes of the file itself (RFC 9110 §14.1.2)."""
    if headers.get("range") is not None:
        return None
    return next(((coding, path) for coding, path in found if accepts_coding(headers, coding)), None)


def serve_file(
    request: Request,
    settings: Settings,
    path: Path,
    content_type: str,
    name: str,
    missing: str,
    precompressed: Precompressed = (),
) -> Response:
    """GET/HEAD of one file (`file_response`), the file system's errors answered with
    their status; `name` is the file's name for messages, `missing` the text of the 404."""
    try:
        return file_response(request, settings, path, content_type, precompressed)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, missing) from None
    except IsADirectoryError:
        raise HTTPError(404, f"{name} is a directory, not a file") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied reading {name}") from None


def check_write_preconditions(request: Request, current: os.stat_result | None, name: str) -> None:
    """412 when If-Match / If-None-Match / If-Unmodified-Since refuse a PUT or DELETE
    of the file whose current state is `current` (None: there is no file yet)."""
    etag = etag_for(current) if current is not None else None
    modified = current.st_mtime if current is not None else None
    if precondition_status(request.headers, request.method, etag, modified) == 412:
        raise HTTPError(412, f"precondition failed for {name}")


def file_response(
    request: Request, settings: Settings, path: Path, content_type: str, precompressed: Precompressed = ()
) -> Response:
    """GET/HEAD of one regular file, with validators, preconditions, ranges and gzip,
    or of the precompressed file beside it that the client accepts. Raises OSError
    (FileNotFoundError, IsADirectoryError, PermissionError) for the caller to turn into
    a status."""
    if not stat.S_ISREG(path.stat().st_mode):
        # Checked before open(): opening a FIFO would block the thread until a writer came.
        raise IsADirectoryError(f"{path.name} is not a regular file")
    coding, source = choose_precompressed(request.headers, precompressed) or (None, path)
    file = open(source, "rb")
    try:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise IsADirectoryError(f"{path.name} is not a regular file")
        response = _file_response(request, settings, file, status, content_type, coding, bool(precompressed))
    except BaseException:
        file.close()
        raise
    if not isinstance(response.body, FileBody):
        file.close()
    return response


def _file_response(
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
