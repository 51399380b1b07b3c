"""Routes and handlers: what the server answers to each request.

The connection loop in `main.py` calls `dispatch(request, settings)` once per request.
`dispatch` answers what no handler needs to see (an unknown method, an unknown path, a
method the path does not allow, OPTIONS), then looks the path up in `ROUTES` and calls the
route's handler for the method. A handler is a plain function

    handler(request, settings, rest) -> Response

where `rest` is the part of the path after the route's prefix, still percent-encoded.
Handlers never touch the socket: they read the body through `request.body` and return a
`Response`, which the connection serializes and sends. HEAD is answered by the GET
handler; the connection leaves the body out.

A path no route claims belongs to the static site (`--www`), served by `static_site`.
Every name that reaches the disk, on either side, goes through `resolve_under()`; the
HTTP side of serving a file (validators, conditional requests, ranges, gzip, listings)
lives in `files.py`.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, unquote_to_bytes

from app.files import GZIP_LEVEL, content_type_for, etag_for, file_response, listing_response, precondition_status
from app.http import Request, Response, accepts_gzip, text_response
from app.settings import Settings

Handler = Callable[[Request, Settings, str], Response]


# ---------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------


def root(request: Request, settings: Settings, rest: str) -> Response:
    """`/`: the static site's index.html, or an empty 200 when there is no site."""
    if settings.www is None:
        return Response(200)
    return static_site(request, settings, "")


def echo_text(request: Request, settings: Settings, rest: str) -> Response:
    """`/echo/{text}`: the text, percent-decoded, gzipped when the client accepts it."""
    text = unquote_to_bytes(rest)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return text_response(400, "echo text is not valid UTF-8 once percent-decoded")
    # The body depends on Accept-Encoding whether or not we compress this time, so caches
    # must key on it either way (RFC 9110 §12.5.5).
    headers = [("Content-Type", "text/plain"), ("Vary", "Accept-Encoding")]
    if accepts_gzip(request.headers):
        # mtime=0 keeps the output identical for identical input (no timestamp inside).
        text = gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    return Response(200, headers, text)


def echo_request(request: Request, settings: Settings, rest: str) -> Response:
    """`/echo`: the request exactly as received, then one `name: value` line for each
    query parameter."""
    body = request.raw_head + request.body.read_all(settings.limits.max_in_memory_body)
    parameters = parse_qsl(request.query, keep_blank_values=True)
    listing = "".join(f"{name}: {value}\n" for name, value in parameters)
    return Response(200, [("Content-Type", "text/plain")], body + listing.encode("utf-8"))


def user_agent(request: Request, settings: Settings, rest: str) -> Response:
    value = request.headers.get("user-agent", "")
    return Response(200, [("Content-Type", "text/plain")], value.encode("latin-1"))


def get_file(request: Request, settings: Settings, rest: str) -> Response:
    """`GET /files/{name}`: the file's bytes from `--directory`, always as
    `application/octet-stream`, with validators and ranges. `GET /files/` (or a
    subfolder, `/files/sub/`) lists the folder, as JSON for `Accept: application/json`."""
    if settings.directory is None:
        return text_response(404, "file serving is off: start the server with --directory DIR")
    if rest == "" or rest.endswith("/"):
        return folder_listing(request, settings, settings.directory, rest, "/files/", offer_json=True)
    try:
        path = resolve_under(settings.directory, rest)
    except ValueError as error:
        return text_response(400, str(error))
    return serve_file(request, settings, path, "application/octet-stream", unquote(rest))


def put_file(request: Request, settings: Settings, rest: str) -> Response:
    """`POST` or `PUT /files/{name}`: create or replace the file with the body, streamed
    to disk and renamed into place (`write_atomically`). 201 with Location when new, 204
    when replaced; folders in the name are created."""
    if settings.directory is None:
        return text_response(
            403, "uploads are off: start the server with --directory DIR to enable them"
        )
    try:
        path = resolve_under(settings.directory, rest)
    except ValueError as error:
        return text_response(400, str(error))
    name = unquote(rest)
    # Everything that can refuse the upload is checked before the body is read: with
    # `Expect: 100-continue` the client then never sends it (RFC 9110 §10.1.1).
    declared = request.body.declared_length
    limit = settings.limits.max_upload
    if declared is not None and declared > limit:
        return text_response(413, f"upload of {declared} bytes is larger than the limit of {limit} bytes")
    try:
        current = path.stat()
    except FileNotFoundError:
        current = None
    except NotADirectoryError:
        return text_response(409, f"a file is in the way of the folders of {name}")
    if current is not None and not os.path.isfile(path):
        return text_response(409, f"{name} is a folder")
    etag = etag_for(current) if current is not None else None
    modified = current.st_mtime if current is not None else None
    if precondition_status(request.headers, request.method, etag, modified) == 412:
        return text_response(412, f"precondition failed for {name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, request.body)
    except (FileExistsError, NotADirectoryError):
        return text_response(409, f"a file is in the way of the folders of {name}")
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return text_response(507, f"not enough storage to save {name}")
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return text_response(403, f"permission denied writing {name}")
        raise
    if current is not None:
        return Response(204)
    return Response(201, [("Location", "/files/" + quote(name))])


def delete_file(request: Request, settings: Settings, rest: str) -> Response:
    """`DELETE /files/{name}`: remove the file; 204."""
    if settings.directory is None:
        return text_response(403, "file routes are off: start the server with --directory DIR")
    try:
        path = resolve_under(settings.directory, rest)
    except ValueError as error:
        return text_response(400, str(error))
    name = unquote(rest)
    try:
        current = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return text_response(404, f"no file named {name}")
    if not os.path.isfile(path):
        return text_response(409, f"{name} is a folder; only files can be deleted")
    if precondition_status(request.headers, request.method, etag_for(current), current.st_mtime) == 412:
        return text_response(412, f"precondition failed for {name}")
    try:
        path.unlink()
    except FileNotFoundError:
        return text_response(404, f"no file named {name}")
    except PermissionError:
        return text_response(403, f"permission denied deleting {name}")
    return Response(204)


def static_site(request: Request, settings: Settings, rest: str) -> Response:
    """Any path no API route claims: a file of the static site under `--www`. A folder
    answers its index.html, else a listing (unless `--no-listing`)."""
    if settings.www is None:
        return text_response(404, f"nothing at {request.path}")
    name = rest.removesuffix("/")
    try:
        path = resolve_under(settings.www, name) if name else settings.www.resolve()
    except ValueError as error:
        return text_response(400, str(error))
    if path.is_dir():
        if not request.path.endswith("/"):
            # Relative links in the folder's page resolve against its URL, which must
            # end with "/" for them to land inside the folder.
            return Response(301, [("Location", request.path + "/")])
        try:
            index = resolve_under(settings.www, f"{name}/index.html" if name else "index.html")
        except ValueError as error:
            return text_response(400, str(error))
        if not index.is_file():
            return folder_listing(request, settings, settings.www, rest, "/", offer_json=False)
        path = index
    elif rest.endswith("/"):
        return text_response(404, f"nothing at {request.path}")
    return serve_file(request, settings, path, content_type_for(path), unquote(rest), f"nothing at {request.path}")


def serve_file(
    request: Request, settings: Settings, path: Path, content_type: str, name: str, missing: str = ""
) -> Response:
    """`file_response()`, with the file system's errors as statuses; `missing` is the
    text of the 404."""
    try:
        return file_response(request, settings, path, content_type)
    except (FileNotFoundError, NotADirectoryError):
        return text_response(404, missing or f"no file named {name}")
    except IsADirectoryError:
        return text_response(404, f"{name} is a directory, not a file")
    except PermissionError:
        return text_response(403, f"permission denied reading {name}")


def folder_listing(
    request: Request, settings: Settings, root: Path, rest: str, url_prefix: str, offer_json: bool
) -> Response:
    """The listing of folder `rest` (percent-encoded, "" or ending in "/") under `root`."""
    if not settings.listing:
        return text_response(404, "folder listings are off (--no-listing)")
    try:
        folder = resolve_under(root, rest.removesuffix("/")) if rest else root.resolve()
    except ValueError as error:
        return text_response(400, str(error))
    if not folder.is_dir():
        return text_response(404, f"no folder at {request.path}")
    return listing_response(request, folder, url_prefix + unquote(rest), bool(rest), offer_json)


# ---------------------------------------------------------------------------------------
# Files
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
    root = root.resolve()
    path = root.joinpath(*segments)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        raise ValueError("file name cannot be resolved (symlink loop?)") from None
    if not resolved.is_relative_to(root):
        raise ValueError("file name leads outside the served directory")
    return path


MAX_NAME_BYTES = 255


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `path` so that readers see the old file or the whole new one,
    never part of it: stream them into a temporary file beside it (never holding the
    whole body in memory), flush it to disk, then rename it over the target (rename is
    atomic within a file system) and flush the folder, so the rename survives a crash too.
    If anything fails (a full disk, the client going away mid-body, a body over the
    limit), the temporary file is removed and `path` is untouched.
    """
    # The name is cut short so that the temporary name stays within NAME_MAX too.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    path: str  # a full path, or a prefix when it ends with "/" (not the root)
    handlers: dict[str, Handler]

    def match(self, path: str) -> str | None:
        """The rest of `path` after this route's prefix, or None if it does not match."""
        if self.path != "/" and self.path.endswith("/"):
            return path[len(self.path) :] if path.startswith(self.path) else None
        return "" if path == self.path else None

    def allowed_methods(self) -> list[str]:
        methods = set(self.handlers) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)


ROUTES: tuple[Route, ...] = (
    Route("/", {"GET": root}),
    Route("/echo", {"GET": echo_request}),
    Route("/echo/", {"GET": echo_text}),
    Route("/user-agent", {"GET": user_agent}),
    Route("/files/", {"GET": get_file, "POST": put_file, "PUT": put_file, "DELETE": delete_file}),
)

# Paths no route above claims are files of the static site (`--www`), GET and HEAD only.
STATIC_SITE = Route("/", {"GET": static_site})

# Every method some route answers, plus HEAD and OPTIONS which `dispatch` answers for all.
IMPLEMENTED_METHODS = frozenset({"HEAD", "OPTIONS"}.union(*(route.handlers for route in ROUTES)))


def dispatch(request: Request, settings: Settings) -> Response:
    if request.method not in IMPLEMENTED_METHODS:
        # RFC 9110 §9.1: a method the server does not recognize or implement is 501.
        return text_response(501, f"method {request.method} is not implemented")
    if request.path == "*":  # `OPTIONS *` asks about the server as a whole (§9.3.7)
        return Response(204, [("Allow", ", ".join(sorted(IMPLEMENTED_METHODS)))])
    for route in ROUTES:
        rest = route.match(request.path)
        if rest is not None:
            break
    else:
        if settings.www is None:
            return text_response(404, f"nothing at {request.path}")
        route, rest = STATIC_SITE, request.path[1:]
    handler = route.handlers.get("GET" if request.method == "HEAD" else request.method)
    if handler is not None:
        return handler(request, settings, rest)
    allow = [("Allow", ", ".join(route.allowed_methods()))]
    if request.method == "OPTIONS":
        return Response(204, allow)
    # RFC 9110 §15.5.6: a 405 MUST carry Allow with the methods the target supports.
    return text_response(405, f"{request.method} is not allowed on {request.path}", allow)
