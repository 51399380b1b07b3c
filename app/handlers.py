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
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

from app.http import Request, Response, accepts_gzip, text_response
from app.settings import Settings

Handler = Callable[[Request, Settings, str], Response]

# gzip level 6 is zlib's default: most of level 9's size for a fraction of its time.
GZIP_LEVEL = 6


# ---------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------


def root(request: Request, settings: Settings, rest: str) -> Response:
    return Response(200)


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
    """`GET /files/{name}`: the file's bytes from `--directory`."""
    if settings.directory is None:
        return text_response(404, "file serving is off: start the server with --directory DIR")
    try:
        path = resolve_under(settings.directory, rest)
    except ValueError as error:
        return text_response(400, str(error))
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return text_response(404, f"no file named {unquote(rest)}")
    except IsADirectoryError:
        return text_response(404, f"{unquote(rest)} is a directory, not a file")
    except PermissionError:
        return text_response(403, f"permission denied reading {unquote(rest)}")
    return Response(200, [("Content-Type", "application/octet-stream")], content)


def post_file(request: Request, settings: Settings, rest: str) -> Response:
    """`POST /files/{name}`: store the body as the file, atomically."""
    if settings.directory is None:
        return text_response(
            403, "uploads are off: start the server with --directory DIR to enable them"
        )
    try:
        path = resolve_under(settings.directory, rest)
    except ValueError as error:
        return text_response(400, str(error))
    if path.is_dir():
        return text_response(409, f"{unquote(rest)} is a directory")
    if not path.parent.is_dir():
        return text_response(404, f"no folder for {unquote(rest)} in the upload directory")
    try:
        write_atomically(path, request.body)
    except PermissionError:
        return text_response(403, f"permission denied writing {unquote(rest)}")
    return Response(201)


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def resolve_under(root: Path, encoded_name: str) -> Path:
    """The file a percent-encoded name refers to under `root`, or `ValueError` saying why
    the name is refused. Decodes exactly once, then refuses anything that could step out:
    empty, `.` or `..` segments, backslashes, NUL, and (after resolving symlinks) any path
    that does not end up under `root`."""
    try:
        name = unquote(encoded_name, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("file name is not valid UTF-8 once percent-decoded") from None
    if not name:
        raise ValueError("missing file name")
    if "\0" in name or "\\" in name:
        raise ValueError("file name must not contain NUL or backslash")
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError("file name must not contain empty, '.' or '..' segments")
    root = root.resolve()
    path = root.joinpath(*segments)
    if not path.resolve().is_relative_to(root):
        raise ValueError("file name leads outside the served directory")
    return path


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `path` so that readers see the old file or the whole new one,
    never part of it: write a temporary file beside it, flush it to disk, then rename it
    over the target (rename is atomic within a file system). If anything fails, including
    the client going away mid-body, the temporary file is removed and `path` is untouched.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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
    Route("/files/", {"GET": get_file, "POST": post_file}),
)

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
        return text_response(404, f"nothing at {request.path}")
    allow = [("Allow", ", ".join(route.allowed_methods()))]
    if request.method == "OPTIONS":
        return Response(204, allow)
    handler = route.handlers.get("GET" if request.method == "HEAD" else request.method)
    if handler is None:
        # RFC 9110 §15.5.6: a 405 MUST carry Allow with the methods the target supports.
        return text_response(405, f"{request.method} is not allowed on {request.path}", allow)
    return handler(request, settings, rest)
