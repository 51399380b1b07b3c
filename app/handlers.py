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
from app.permissions import require
from app.request import Request
from app.settings import Settings
from app.sharelinks import SHARE_PREFIX, share_request
from app.sharepages import SHARES_PAGE, shares_action, shares_page
from app.storage import store_upload
from app import davlocks, tus, webdav
from app.safefs import ServedPath
from app.webdav import ALLOW
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


def get_file(request: Request, settings: Settings, subpath: str, root_url: str = "/files/") -> Response:
    """`GET /files/{name}`: the file's bytes from `--directory`, always as
    `application/octet-stream`, with validators and ranges. `GET /files/` (or a
    subfolder, `/files/sub/`) lists the folder, as JSON for `Accept: application/json`.
    (`root_url`: where the listing's breadcrumbs start, a share link's root.)"""
    if settings.directory is None:
        raise HTTPError(404, "file serving is off: start the server with --directory DIR")
    if subpath == "" or subpath.endswith("/"):
        kind = download_format(request.query)
        if kind is not None:
            return archive_response(request, settings, subpath, kind)
        return files_listing(request, settings, subpath, root_url)
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
    require(request, settings, name, "r")
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
    when replaced; a POST creates the folders in the name, a PUT answers 409 without them;
    `X-OC-Mtime` sets the file's modification time (`webdav.after_put`)."""
    path = writable_path(settings, subpath)
    name = unquote(subpath)
    require(request, settings, name, "w")
    # Everything that can refuse the upload is checked before the body is read: with
    # `Expect: 100-continue` the client then never sends it (RFC 9110 §10.1.1).
    request.body.check_limit()
    mtime = webdav.put_mtime(request) if "x-oc-mtime" in request.headers else None
    try:
        current = path.stat()
    except FileNotFoundError:
        current = None
    except NotADirectoryError:
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise HTTPError(409, f"{name} is a folder")
    if current is not None:
        require(request, settings, name, "d")  # replacing destroys what was there
    check_write_preconditions(request, current, name)
    webdav.check_write(request, settings, [name])
    # RFC 4918 §9.7.1: a PUT never creates the folders above it, 409 (a POST still does).
    store_upload(path, request.body, name, parents=request.method != "PUT")
    extra = webdav.after_put(settings, name, mtime) if mtime is not None else []
    if current is not None:
        return Response(204, extra)
    return Response(201, [("Location", "/files/" + quote(name)), *extra])


def patch_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`PATCH` of a resumable upload's URL (`tus.py`); no other file takes PATCH."""
    if not tus.is_upload_url(subpath):
        raise HTTPError(
            405, "PATCH applies to tus upload URLs only (create one with a tus POST to a folder)", [("Allow", ALLOW)]
        )
    return tus.patch(request, settings, subpath)


def delete_file(request: Request, settings: Settings, subpath: str) -> Response:
    """`DELETE /files/...`: a resumable upload's URL ends that upload (tus termination);
    any other removes the file, or the folder with all it holds (`webdav.delete`)."""
    if tus.is_upload_url(subpath):
        return tus.terminate(request, settings, subpath)
    return webdav.METHODS["DELETE"](request, settings, subpath)


def files_options(request: Request, settings: Settings, subpath: str) -> Response:
    """`OPTIONS /files/...`: every method and the WebDAV classes (`webdav.options`), and
    what resumable uploads support (tus 1.0.0, OPTIONS)."""
    response = webdav.options(request, settings, subpath)
    response.headers.extend(tus.options_headers(settings))
    return response


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


def shared_get(request: Request, settings: Settings, subpath: str) -> Response:
    """`GET /s/TOKEN...`: a file or folder through a share link (`sharelinks.py`)."""
    return share_request(request, settings, subpath, get_file)


def shared_upload(request: Request, settings: Settings, subpath: str) -> Response:
    """`POST`/`PUT /s/TOKEN/...`: files dropped through an upload-only share link."""
    handler = put_file if request.method == "PUT" else post_file
    return share_request(request, settings, subpath, lambda r, s, p, root: handler(r, s, p))


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
        "PATCH": patch_file,
        **webdav.METHODS,  # OPTIONS, PROPFIND, PROPPATCH, MKCOL, DELETE, COPY, MOVE
        **davlocks.METHODS,  # LOCK, UNLOCK
        "DELETE": delete_file,
        "OPTIONS": files_options,
    },
)

ROUTES: tuple[Route, ...] = (
    Route("/", {"GET": index_page, "OPTIONS": webdav.root_options}),
    Route("/echo", {"GET": echo_request}),
    Route("/echo/", {"GET": echo_text}),
    Route("/user-agent", {"GET": user_agent}),
    FILES_ROUTE,
)

# Share links and their pages (sharelinks.py, sharepages.py): routes that exist only with
# --directory (without it their paths stay the static site's, so a plain launch answers as
# before), looked at after ROUTES by a slice comparison, which costs the requests of
# every other route no call (the per-request budget, docs/performance.md).
DIRECTORY_ROUTES: tuple[tuple[Route, int], ...] = (
    (Route(SHARE_PREFIX, {"GET": shared_get, "POST": shared_upload, "PUT": shared_upload}), len(SHARE_PREFIX)),
    (Route(SHARES_PAGE, {"GET": shares_page, "POST": shares_action}), len(SHARES_PAGE)),
)

# Paths no route above claims are files of the static site (`--www`), GET and HEAD only.
STATIC_SITE = Route("/", {"GET": static_site})

# Every method some route answers, plus HEAD and OPTIONS which `dispatch` answers for all.
IMPLEMENTED_METHODS = frozenset(
    {"HEAD", "OPTIONS"}.union(*(route.handlers for route in ROUTES), *(route.handlers for route, _ in DIRECTORY_ROUTES))
)


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


def other_route(path: str, settings: Settings) -> tuple[Route, str]:
    """The route of a path no route of ROUTES claims: share links' (with --directory),
    else the static site's; 404 without --www."""
    if settings.directory is not None:
        for route, size in DIRECTORY_ROUTES:
            if path[:size] == route.path:
                return route, path[size:]
    if settings.www is None:
        raise HTTPError(404, f"nothing at {path}")
    return STATIC_SITE, path[1:]


def find_route(path: str, settings: Settings) -> tuple[Route, str]:
    """The route for a path and the subpath it leaves for the handler (`Route.match`
    over ROUTES, in order, as `dispatch` does it inline)."""
    for route in ROUTES:
        subpath = route.match(path)
        if subpath is not None:
            return route, subpath
    return other_route(path, settings)


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
            for route, size in DIRECTORY_ROUTES if settings.directory is not None else ():
                if path[:size] == route.path:  # share links (inline: the budget)
                    subpath = path[size:]
                    break
            else:
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
    except davlocks.ConditionError as error:  # RFC 4918 §16: its XML body (423, 409)
        return error.response()
    except HTTPError as error:
        return text_response(error.status, error.reason, error.headers)
