"""Routes and handlers: what the server answers to each request.

The connection (`connection.py`) calls `dispatch(request, settings)` once per request.
`dispatch` answers what no handler needs to see (an unknown method, an unknown path, a
method the path does not allow, OPTIONS), then looks the path up in `ROUTES` and calls the
route's handler for the method. A handler is a plain function

    handler(request, settings, subpath) -> Response

where `subpath` is the part of the path after the route's prefix, still percent-encoded.
A handler refuses a request by raising `HTTPError(status, reason)`, which `dispatch`
turns into a one-line text answer. Handlers never touch the socket: they read the body
through `request.body` and return a `Response`. HEAD is answered by the GET handler; the
connection leaves the body out.

A path no route claims belongs to the static site (`--www`), served by `static_site`.
Everything that touches the disk is in `files.py` (and `listing.py` for folders). A POST
to a folder URL (`/files/` or `/files/sub/`) is a form, answered by `uploads.py`
(multipart uploads, mkdir and delete actions); `?download=zip` on a folder URL is an
archive (`archive.py`).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, unquote_to_bytes

from app.archive import archive_response, download_format
from app.auth import hide_credentials
from app.compression import VARY_ACCEPT_ENCODING, accepts_gzip, gzip_compress
from app.conditional import check_write_preconditions
from app.errors import HTTPError, ProtocolError
from app.files import content_type_for, precompressed_files, respond_with_file
from app.framing import Response, text_response
from app.listing import files_listing, site_listing
from app.paths import checked_path, writable_path
from app.request import Request
from app.safefs import ServedPath
from app.settings import Settings
from app.storage import make_directory, remove_path, store_upload
from app import tus
from app.digest import digest_response, requested_algorithm
from app.uploads import is_form_upload, post_to_folder

Handler = Callable[[Request, Settings, str], Response]

# Answers computed from the request itself: no cache may keep or reuse them, nor guess a
# lifetime for them (RFC 9111 §5.2.2.5, §4.2.2).
NO_STORE = ("Cache-Control", "no-store")


# ---------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------


def index_page(request: Request, settings: Settings, subpath: str) -> Response:
    """`/`: the static site's index.html, or an empty 200 when there is no site."""
    if settings.www is None:
        return Response(200)
    return static_site(request, settings, "")


def echo_text(request: Request, settings: Settings, subpath: str) -> Response:
    """`/echo/{text}`: the text, percent-decoded, gzipped when the client accepts it."""
    if "%" in subpath:
        text = unquote_to_bytes(subpath)
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "echo text is not valid UTF-8 once percent-decoded") from None
    else:  # nothing to decode: the target is ASCII (request.COMMON_HEAD_RE), so UTF-8
        text = subpath.encode("ascii")
    # Echo always varies with Accept-Encoding, whatever its length (RFC 9110 §12.5.5).
    headers = [("Content-Type", "text/plain"), VARY_ACCEPT_ENCODING, NO_STORE]
    # text/plain of any length compresses (`compression.compressible`): only the client decides.
    if "accept-encoding" in request.headers.index and accepts_gzip(request.headers):
        text = gzip_compress(text)
        headers.append(("Content-Encoding", "gzip"))
    return Response(200, headers, text)


def echo_request(request: Request, settings: Settings, subpath: str) -> Response:
    """`/echo`: the request exactly as received (the password hidden, `auth.py`), then
    one `name: value` line for each query parameter."""
    body = hide_credentials(request.raw_head, settings) + request.body.read_all(settings.limits.max_body)
    parameters = parse_qsl(request.query, keep_blank_values=True)
    lines = "".join(f"{name}: {value}\n" for name, value in parameters)
    return Response(200, [("Content-Type", "text/plain"), NO_STORE], body + lines.encode("utf-8"))


def user_agent(request: Request, settings: Settings, subpath: str) -> Response:
    value = request.headers.get("user-agent", "")
    return Response(200, [("Content-Type", "text/plain"), NO_STORE], value.encode("latin-1"))


def get_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`GET /files/{name}`: the file's bytes from `--directory`, always as
    `application/octet-stream`, with validators and ranges. `GET /files/` (or a
    subfolder, `/files/sub/`) lists the folder, as JSON for `Accept: application/json`."""
    if settings.directory is None:
        raise HTTPError(404, "file serving is off: start the server with --directory DIR")
    if subpath == "" or subpath.endswith("/"):
        kind = download_format(request.query)
        if kind is not None:
            return archive_response(request, settings, subpath, kind)
        return files_listing(request, settings, subpath)
    # A resumable upload's URL (`tus.py`), told apart by a slice, not a call: a GET of a
    # file pays nothing for it (the per-request budget, docs/performance.md).
    if subpath[: tus.UPLOAD_PREFIX_LENGTH] == tus.UPLOAD_PREFIX:
        return tus.head(request, settings, subpath)
    if "hash" in request.query:
        algorithm = checked_algorithm(request.query)
        if algorithm is not None:
            return digest_response(request, settings, subpath, algorithm)
    path = checked_path(settings.directory, subpath)
    name = unquote(subpath)
    return respond_with_file(request, settings, path, "application/octet-stream", name, f"no file named {name}")


def checked_algorithm(query: str) -> str | None:
    """`?hash=` of a file URL (`digest.py`), 400 for an algorithm we do not offer."""
    try:
        return requested_algorithm(query)
    except ValueError as error:
        raise HTTPError(400, str(error)) from None


def post_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`POST /files/{name}`: the body becomes the file (as PUT); `POST /files/` or
    `/files/sub/` (a folder URL) is a form: files to store or a folder action, or with
    `Tus-Resumable` the creation of a resumable upload (`tus.py`)."""
    if tus.is_tus_request(request):
        if not (subpath == "" or subpath.endswith("/")):
            raise HTTPError(404, "a tus upload is created by a POST to a folder URL, e.g. POST /files/")
        return tus.create(request, settings, subpath)
    if subpath == "" or subpath.endswith("/"):
        return post_to_folder(request, settings, subpath)
    if is_form_upload(request):
        # Stored as it is, the file would hold the form's envelope: never what was meant.
        raise HTTPError(400, f"multipart/form-data goes to a folder URL, e.g. POST {request.path.rsplit('/', 1)[0]}/")
    return put_file(request, settings, subpath)


def put_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`POST` or `PUT /files/{name}`: create or replace the file with the body, streamed
    to disk and renamed into place (`write_atomically`). 201 with Location when new, 204
    when replaced; folders in the name are created."""
    path = writable_path(settings, subpath)
    name = unquote(subpath)
    # Everything that can refuse the upload is checked before the body is read: with
    # `Expect: 100-continue` the client then never sends it (RFC 9110 §10.1.1).
    request.body.check_limit()
    try:
        current = path.stat()
    except FileNotFoundError:
        current = None
    except NotADirectoryError:
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise HTTPError(409, f"{name} is a folder")
    check_write_preconditions(request, current, name)
    store_upload(path, request.body, name)
    if current is not None:
        return Response(204)
    return Response(201, [("Location", "/files/" + quote(name))])


def delete_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`DELETE /files/{name}`: remove the file, or the folder if it is empty; 204. A
    folder that still holds entries is 409, with their number (nothing is removed
    recursively: one request never deletes a whole tree by surprise)."""
    if tus.is_upload_url(subpath):
        return tus.terminate(request, settings, subpath)
    path = writable_path(settings, subpath.removesuffix("/"))
    name = unquote(subpath)
    try:
        current = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no file or folder named {name}") from None
    if subpath.endswith("/") and not path.is_dir():
        raise HTTPError(404, f"no folder named {name}")  # the name of a file, with a "/"
    check_write_preconditions(request, current, name)
    remove_path(path, name)
    return Response(204)


def make_folder(request: Request, settings: Settings, subpath: str) -> Response:
    """`MKCOL /files/{name}/` (RFC 4918 §9.3): create one folder; 201. 405 when something
    exists there already, 409 when its parent folder does not exist (MKCOL creates one
    level only), 415 when the request has a body (§9.3: we define none)."""
    name = unquote(subpath.removesuffix("/"))
    if not name:
        raise HTTPError(405, "/files/ exists already", [("Allow", FOLDER_METHODS)])
    path = writable_path(settings, subpath.removesuffix("/"))
    if request.body.declared_length != 0:  # a Content-Length over 0, or chunked
        raise HTTPError(415, "MKCOL takes no request body")
    if not make_directory(path, name, parents=False):
        raise HTTPError(405, f"{name} exists already", [("Allow", FOLDER_METHODS)])
    return Response(201, [("Location", "/files/" + quote(name) + "/")])


def patch_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`PATCH` of a resumable upload's URL (`tus.py`); no other file takes PATCH."""
    if not tus.is_upload_url(subpath):
        raise HTTPError(405, "PATCH applies to tus upload URLs only (create one with a tus POST to a folder)", [("Allow", "DELETE, GET, HEAD, MKCOL, OPTIONS, POST, PUT")])
    return tus.patch(request, settings, subpath)


def files_options(request: Request, settings: Settings, subpath: str) -> Response:
    """`OPTIONS /files/...`: the methods, and what resumable uploads support (tus §OPTIONS)."""
    allow = ("Allow", ", ".join(FILES_ROUTE.allowed_methods()))
    return Response(204, [allow, *tus.options_headers(settings)])


def static_site(request: Request, settings: Settings, subpath: str) -> Response:
    """Any path no API route claims: a file of the static site under `--www`, or what
    the site answers for a path it lacks (`site_not_found`)."""
    if settings.www is None:
        raise HTTPError(404, f"nothing at {request.path}")
    try:
        return site_file(request, settings, subpath)
    except HTTPError as error:
        if error.status != 404:
            raise
        return site_not_found(request, settings, error)


def site_file(request: Request, settings: Settings, subpath: str) -> Response:
    """A file of the site, or its `.br`/`.gz` beside it; a folder answers its
    index.html, else a listing (unless `--no-listing`)."""
    missing = f"nothing at {request.path}"
    name = subpath.removesuffix("/")
    path = checked_path(settings.www, name) if name else ServedPath(settings.www, ())
    if path.is_dir():
        if not request.path.endswith("/"):
            # Relative links in the folder's page resolve against its URL, which must
            # end with "/" for them to land inside the folder.
            return Response(301, [("Location", request.path + "/")])
        name = f"{name}/index.html" if name else "index.html"
        path = checked_path(settings.www, name)
        if not path.is_file():
            return site_listing(request, settings, subpath)
    elif subpath.endswith("/"):
        raise HTTPError(404, missing)
    precompressed = precompressed_files(settings.www, name)
    return respond_with_file(request, settings, path, content_type_for(path), unquote(name), missing, precompressed)


def site_not_found(request: Request, settings: Settings, error: HTTPError) -> Response:
    """With `--spa`, the site's index.html (200: the app routes in the browser); else
    the 404, its body the site's `404.html` when there is one."""
    if settings.spa:
        index = ServedPath(settings.www, ("index.html",))
        if index.is_file():
            return respond_with_file(request, settings, index, content_type_for(index), "index.html", error.reason)
    page = ServedPath(settings.www, ("404.html",))
    if not page.is_file():
        raise error
    return Response(404, [("Content-Type", "text/html; charset=utf-8")], page.read_bytes())


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    path: str  # a full path, or a prefix when it ends with "/" (not the root)
    handlers: dict[str, Handler]

    def match(self, path: str) -> str | None:
        """The subpath of `path` after this route's prefix ("" for an exact match), or
        None if the route does not match."""
        if self.path != "/" and self.path.endswith("/"):
            return path[len(self.path) :] if path.startswith(self.path) else None
        return "" if path == self.path else None

    def allowed_methods(self) -> list[str]:
        methods = set(self.handlers) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)


FILES_ROUTE = Route(
    "/files/",
    {
        "GET": get_file,
        "POST": post_file,
        "PUT": put_file,
        "DELETE": delete_file,
        "MKCOL": make_folder,
        "PATCH": patch_file,
        "OPTIONS": files_options,
    },
)

ROUTES: tuple[Route, ...] = (
    Route("/", {"GET": index_page}),
    Route("/echo", {"GET": echo_request}),
    Route("/echo/", {"GET": echo_text}),
    Route("/user-agent", {"GET": user_agent}),
    FILES_ROUTE,
)

# The Allow of a 405 to MKCOL on a folder that exists: what a folder URL does answer.
FOLDER_METHODS = "DELETE, GET, HEAD, OPTIONS, POST"

# Paths no route above claims are files of the static site (`--www`), GET and HEAD only.
STATIC_SITE = Route("/", {"GET": static_site})

# Every method some route answers, plus HEAD and OPTIONS which `dispatch` answers for all.
IMPLEMENTED_METHODS = frozenset({"HEAD", "OPTIONS"}.union(*(route.handlers for route in ROUTES)))


RouteTable = tuple[tuple[str, bool, Route], ...]


def route_table(routes: tuple[Route, ...]) -> RouteTable:
    """The routes as plain tuples, in their order (the first route that matches wins):
    (path, whether it is a prefix, route). `dispatch` walks it without a call per route."""
    global _route_table
    table = tuple((route.path, route.path != "/" and route.path.endswith("/"), route) for route in routes)
    _route_table = (routes, table)
    return table


# ROUTES and its table; made anew when ROUTES is replaced (a test adds a route so).
_route_table: tuple[tuple[Route, ...], RouteTable] = ((), ())
route_table(ROUTES)


def find_route(path: str, settings: Settings) -> tuple[Route, str]:
    """The route for a path and the subpath it leaves for the handler (`Route.match`
    over ROUTES, in order, as `dispatch` does it inline)."""
    for route in ROUTES:
        subpath = route.match(path)
        if subpath is not None:
            return route, subpath
    if settings.www is None:
        raise HTTPError(404, f"nothing at {path}")
    return STATIC_SITE, path[1:]


def dispatch(request: Request, settings: Settings) -> Response:
    """The response to a request: what no handler needs to see is answered here, else
    the route's handler answers. A refusal (`HTTPError`) becomes a one-line text answer;
    a `ProtocolError` goes up to the connection, which answers it and closes. (Routing
    is written out here, not in `find_route`: one call for the common request.)"""
    method, path = request.method, request.path
    routes, table = _route_table
    if routes is not ROUTES:
        table = route_table(ROUTES)
    try:
        if method not in IMPLEMENTED_METHODS:
            # RFC 9110 §9.1: a method the server does not recognize or implement is 501.
            raise HTTPError(501, f"method {method} is not implemented")
        for route_path, is_prefix, route in table:
            if path == route_path:
                subpath = ""
                break
            if is_prefix and path.startswith(route_path):
                subpath = path[len(route_path) :]
                break
        else:
            if path == "*":  # `OPTIONS *` asks about the server as a whole (§9.3.7)
                return Response(204, [("Allow", ", ".join(sorted(IMPLEMENTED_METHODS)))])
            if settings.www is None:
                raise HTTPError(404, f"nothing at {path}")
            route, subpath = STATIC_SITE, path[1:]
        handler = route.handlers.get("GET" if method == "HEAD" else method)
        if handler is not None:
            return handler(request, settings, subpath)
        allow = [("Allow", ", ".join(route.allowed_methods()))]
        if method == "OPTIONS":
            return Response(204, allow)
        # RFC 9110 §15.5.6: a 405 MUST carry Allow with the methods the target supports.
        raise HTTPError(405, f"{method} is not allowed on {path}", allow)
    except ProtocolError:
        raise
    except HTTPError as error:
        return text_response(error.status, error.reason, error.headers)
