"""WebDAV class 1 (RFC 4918) on `/files/`: OPTIONS, PROPFIND, PROPPATCH, COPY, MOVE,
DELETE and MKCOL, dispatched from `handlers.ROUTES` like every other method.

What each method means lives here; the XML both ways is `davxml.py`, the properties
`davprops.py`, the request fields `davheaders.py`, the disk `davfs.py`. Every method reads
its target through `locate()` (a safe path, never the state folder) and asks
`permissions.require()` for every path it touches before it changes anything:

    PROPFIND  r (Depth 0) or l (a folder's Depth 1)      COPY  source r, destination w
    PROPPATCH, MKCOL, PUT  w                              MOVE  source d, destination w
    DELETE    d

Class 2 (LOCK, UNLOCK, the If header, 423) is `davlocks.py`'s. Every method that writes
(PUT and POST to a file included, `handlers.put_file`) calls `check_write()` with the
paths it is about to change, after the permission and before any change; and PROPFIND
asks `lock_discovery()` for the `lockdiscovery` property. Those two functions are the
only join points: until davlocks.py lands, nothing is locked.

Where each RFC 4918 rule is: §9.1 Depth/infinity and allprop/propname/prop →
`propfind`, `propfind_query`, `describe`; §9.2 all-or-nothing PROPPATCH → `proppatch`,
`patch_results`; §9.3 MKCOL → `mkcol`; §9.6.1 DELETE of a collection → `delete`; §9.8,
§9.9 COPY/MOVE with Overwrite and Depth → `transfer`, `clear_destination`; §10
fields → `davheaders.py`; §14.16 multistatus → `davxml.multistatus`.
"""

from __future__ import annotations

import errno
import functools
import stat
from collections.abc import Callable, Iterator
from itertools import chain
from urllib.parse import quote, unquote

from app import davfs, davlocks, davprops, safefs
from app.davheaders import destination_subpath, parse_depth, parse_oc_mtime, parse_overwrite
from app.davprops import Context, Resource
from app.davxml import DAV, Element, Name, element_xml, empty_element, error_response, multistatus, parse_body
from app.davxml import response_xml, serialize_inner, status_response_xml
from app.conditional import check_write_preconditions
from app.dates import parse_http_date
from app.errors import HTTPError
from app.framing import Response
from app.paths import checked_path
from app.request import Request
from app.permissions import member_rule, require, shows
from app.settings import Settings

Handler = Callable[[Request, Settings, str], Response]

# Every method a /files/ URL answers (the Allow of OPTIONS and of a 405), class 2 included.
ALLOW = "COPY, DELETE, GET, HEAD, LOCK, MKCOL, MOVE, OPTIONS, PATCH, POST, PROPFIND, PROPPATCH, PUT, UNLOCK"
# RFC 4918 §10.1: the compliance classes; MS-Author-Via tells Microsoft's clients (Office,
# the Windows mini-redirector) to author through WebDAV rather than FrontPage extensions.
DAV_FIELDS = [("DAV", "1, 2"), ("MS-Author-Via", "DAV")]
# Microsoft's properties that Windows Explorer sets on every file it writes; a failure
# there fails the copy. Win32LastModifiedTime sets the file's mtime; the others are kept
# as dead properties.
MS_NAMESPACE = "urn:schemas-microsoft-com:"
WIN32_MTIME = (MS_NAMESPACE, "Win32LastModifiedTime")


# ---------------------------------------------------------------------------------------
# Join points with class 2 (davlocks.py)
# ---------------------------------------------------------------------------------------


def check_write(request: Request, settings: Settings, paths: list[str]) -> None:
    """Raise 423 (or 412 for a failed If header) when the request may not change
    `paths` (decoded, under --directory, "" the root) because of locks, RFC 4918 §7, §10.4.
    Called by every method that writes, before it changes anything."""
    davlocks.check_write(request, settings, paths)


def lock_discovery(settings: Settings, resource: Resource) -> str:
    """The content of `lockdiscovery` (RFC 4918 §15.8): the active locks on `resource`
    (a PROPFIND of many reads them once: `davlocks.lock_properties`)."""
    return davlocks.lock_properties(settings).lockdiscovery(resource.path)


def resource_removed(settings: Settings, path: str) -> None:
    """`path` and everything under it are gone: so are their dead properties (and, for
    davlocks.py, their locks)."""
    davprops.forget(settings, path)
    davlocks.drop_locks(settings, path)


def walked(handler: Handler) -> Handler:
    """A handler for which the tree changing under the request (something removed, a
    folder swapped for a file or a symlink between our look and our change: the walk
    then finds no folder where it goes down) is a 409, never a 500."""

    @functools.wraps(handler)
    def answer(request: Request, settings: Settings, subpath: str) -> Response:
        try:
            return handler(request, settings, subpath)
        except (FileNotFoundError, NotADirectoryError):
            raise HTTPError(409, f"/files/{unquote(subpath)} changed while the request ran; try again") from None

    return answer


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------


def locate(request: Request, settings: Settings, subpath: str, right: str | None) -> str:
    """The decoded name of `/files/{subpath}` under --directory ("" for the root), after
    `permissions.require(right)` (None: the caller asks later): 400 for a name
    `paths.checked_path` refuses (the walk refuses the state folder: 403). The permission comes before
    anything is looked at, so a server that refuses writes says so (403) whatever is there."""
    name = subpath.removesuffix("/")
    decoded = unquote(name)
    if settings.directory is None:
        if right is not None:
            require(request, settings, decoded, right)
        raise HTTPError(404, "file serving is off: start the server with --directory DIR")
    if name:
        checked_path(settings.directory, name)  # the name's rules (400 and its reason)
    if right is not None:
        require(request, settings, decoded, right)
    return decoded


def segments(name: str) -> tuple[str, ...]:
    """A decoded name under --directory as the walk's segments (`()` is the root)."""
    return tuple(name.split("/")) if name else ()


def url_of(path: str, is_dir: bool) -> str:
    """The decoded URL path of a resource; a folder's ends with "/"."""
    if not path:
        return "/files/"
    return f"/files/{path}/" if is_dir else f"/files/{path}"


def existing(request: Request, settings: Settings, subpath: str, right: str | None) -> Resource:
    """The resource at `/files/{subpath}` (`locate`), 404 when nothing is there (or a
    file is named with a trailing "/")."""
    name = locate(request, settings, subpath, right)
    status = davfs.lstat_or_none(settings.directory, segments(name))
    if status is None:
        raise HTTPError(404, f"no file or folder named {unquote(subpath) or '/'}")
    resource = davprops.resource_at(name, status)
    if not resource.is_dir and subpath.endswith("/"):
        raise HTTPError(404, f"no folder named {unquote(subpath)}")
    return resource


# ---------------------------------------------------------------------------------------
# OPTIONS
# ---------------------------------------------------------------------------------------


def options(request: Request, settings: Settings, subpath: str) -> Response:
    """OPTIONS on a /files/ URL: 200 (old Windows clients want 200, not 204) with the
    compliance classes and every method; without --directory, the plain answer."""
    if settings.directory is None:
        return Response(204, [("Allow", ALLOW)])
    return Response(200, [("Allow", ALLOW), *DAV_FIELDS])


def root_options(request: Request, settings: Settings, subpath: str) -> Response:
    """OPTIONS / : Windows asks the root first whether the server speaks WebDAV. With
    --directory it is told so; without (the challenge), the answer is the plain 204."""
    if settings.directory is None:
        return Response(204, [("Allow", "GET, HEAD, OPTIONS")])
    return Response(200, [("Allow", ALLOW), *DAV_FIELDS])


# ---------------------------------------------------------------------------------------
# PROPFIND (§9.1)
# ---------------------------------------------------------------------------------------

Query = tuple[str, list[Name]]  # ("allprop", included names) / ("propname", []) / ("prop", names)


def propfind_query(body: Element | None) -> Query:
    """What a PROPFIND body asks (§14.20): an empty body is allprop (§9.1)."""
    if body is None:
        return "allprop", []
    if body.name != (DAV, "propfind"):
        raise HTTPError(400, "a PROPFIND body must be a DAV:propfind element")
    for child in body.elements():
        if child.name == (DAV, "prop"):
            return "prop", [element.name for element in child.elements()]
        if child.name == (DAV, "propname"):
            return "propname", []
        if child.name == (DAV, "allprop"):
            include = body.find((DAV, "include"))
            return "allprop", [element.name for element in include.elements()] if include else []
    raise HTTPError(400, "a DAV:propfind holds DAV:prop, DAV:propname or DAV:allprop")


@walked
def propfind(request: Request, settings: Settings, subpath: str) -> Response:
    """PROPFIND Depth 0 or 1: a 207 with the properties asked for. Depth infinity (or no
    Depth, which means infinity) is refused: §9.1 lets a server, and a whole tree in one
    answer is a denial of service waiting to happen."""
    depth = parse_depth(request.headers.get("depth"), ("0", "1", "infinity"), "infinity")
    query = propfind_query(parse_body(request, settings))
    if depth == "infinity":
        return error_response(403, "propfind-finite-depth", "PROPFIND with Depth infinity is refused: use 0 or 1")
    target = existing(request, settings, subpath, None)
    require(request, settings, target.path, "l" if depth == "1" and target.is_dir else "r")
    locks = davlocks.lock_properties(settings)
    context = Context(davprops.quota_of(settings.directory), lambda r: locks.lockdiscovery(r.path))
    responses = [describe(settings, target, query, context, dead=True)]
    if depth == "0" or not target.is_dir:
        return multistatus(responses)
    return multistatus(chain(responses, members(request, settings, target, query, context)))


def members(request: Request, settings: Settings, target: Resource, query: Query, context: Context) -> Iterator[str]:
    """The `<D:response>` of each entry of a folder, made while the 207 goes out."""
    dead = davprops.has_dead_properties_below(settings, target.path)
    prefix = f"{target.path}/" if target.path else ""
    try:
        for name, status in davfs.entries(settings.directory, segments(target.path), settings.show_hidden):
            if not shows(request, settings, prefix + name):  # what this user may not see (permissions)
                continue
            yield describe(settings, davprops.resource_at(prefix + name, status), query, context, dead)
    except (FileNotFoundError, NotADirectoryError):
        return  # the folder went, or was swapped, while the 207 went out: it ends here


def describe(settings: Settings, resource: Resource, query: Query, context: Context, dead: bool) -> str:
    """One resource's `<D:response>` for a PROPFIND `query` (§9.1): found properties
    under 200, asked-for ones it lacks under 404."""
    kind, names = query
    dead_props = davprops.dead_properties(settings, resource.path) if dead else []
    if kind == "propname":
        found = [empty_element(name) for name in davprops.live_names(resource, context, allprop=False)]
        found += [empty_element(name) for name, _ in dead_props]
        return response_xml(resource.url, [(200, found)])
    values = dict(dead_props)
    found, missing = [], []
    if kind == "allprop":
        # The live properties of allprop in one piece (`allprop_xml`), the dead ones, then
        # what `include` adds beyond them (§9.1: e.g. the quota properties).
        found = [davprops.allprop_xml(resource, context)]
        found += [element_xml(name, value) for name, value in dead_props]
        names = [name for name in names if name in davprops.NOT_IN_ALLPROP or not (name in davprops.LIVE or name in values)]
    for name in names:
        xml = property_xml(name, resource, context, values)
        if xml is None:
            missing.append(empty_element(name))
        else:
            found.append(xml)
    return response_xml(resource.url, [(200, found), (404, missing)])


def property_xml(name: Name, resource: Resource, context: Context, dead: dict[Name, str]) -> str | None:
    """A live or dead property as XML, or None when the resource has no such property."""
    if davprops.is_protected(name):
        return davprops.live_value(name, resource, context)
    if name in dead:
        return element_xml(name, dead[name])
    return None


# ---------------------------------------------------------------------------------------
# PROPPATCH (§9.2)
# ---------------------------------------------------------------------------------------

Instruction = tuple[str, Element]  # ("set" or "remove", the property element)


def patch_instructions(body: Element | None) -> list[Instruction]:
    """The set/remove instructions of a DAV:propertyupdate, in document order (§14.19)."""
    if body is None or body.name != (DAV, "propertyupdate"):
        raise HTTPError(400, "a PROPPATCH body must be a DAV:propertyupdate element")
    instructions = []
    for action in body.elements():
        if action.name not in ((DAV, "set"), (DAV, "remove")):
            raise HTTPError(400, "a DAV:propertyupdate holds only DAV:set and DAV:remove")
        prop = action.find((DAV, "prop"))
        if prop is None:
            raise HTTPError(400, f"DAV:{action.name[1]} without DAV:prop")
        instructions += [(action.name[1], element) for element in prop.elements()]
    if not instructions:
        raise HTTPError(400, "a DAV:propertyupdate that changes no property")
    return instructions


def patch_results(instructions: list[Instruction]) -> tuple[list[davprops.Change], float | None, dict[Name, int]]:
    """The dead-property changes, the mtime to set, and each property's status. §9.2:
    all or nothing, so one refusal (a protected property, a bad Win32 time) makes every
    other instruction 424 Failed Dependency and nothing is applied."""
    changes: list[davprops.Change] = []
    mtime, statuses = None, {}
    for action, element in instructions:
        name = element.name
        if name == WIN32_MTIME and action == "set":
            mtime = parse_http_date(element.text().strip())
            statuses[name] = 200 if mtime is not None else 409
        elif davprops.is_protected(name):
            statuses[name] = 403  # cannot-modify-protected-property (§16)
        else:
            changes.append((action, name, serialize_inner(element) if action == "set" else None))
            statuses[name] = 200
    if any(status != 200 for status in statuses.values()):
        statuses = {name: (status if status != 200 else 424) for name, status in statuses.items()}
    return changes, mtime, statuses


@walked
def proppatch(request: Request, settings: Settings, subpath: str) -> Response:
    """Set and remove dead properties, all or nothing; a 207 with each one's status."""
    target = existing(request, settings, subpath, "w")
    instructions = patch_instructions(parse_body(request, settings))
    check_write(request, settings, [target.path])
    changes, mtime, statuses = patch_results(instructions)
    if all(status == 200 for status in statuses.values()):
        davprops.apply_changes(settings, target.path, changes)
        if mtime is not None:
            davfs.set_mtime(settings.directory, segments(target.path), mtime)
    by_status: dict[int, list[str]] = {}
    for name, status in statuses.items():
        by_status.setdefault(status, []).append(empty_element(name))
    return multistatus([response_xml(target.url, sorted(by_status.items()))])


# ---------------------------------------------------------------------------------------
# MKCOL (§9.3) and DELETE (§9.6)
# ---------------------------------------------------------------------------------------


@walked
def mkcol(request: Request, settings: Settings, subpath: str) -> Response:
    """MKCOL: create one folder; 201. 405 when something exists there already (§9.3.1),
    409 when its parent does not exist (MKCOL makes one level), 415 with a body (§9.3:
    we define none)."""
    name = locate(request, settings, subpath, "w")
    if not name:
        raise HTTPError(405, "/files/ exists already", [("Allow", ALLOW)])
    if request.body.declared_length != 0:  # a Content-Length over 0, or chunked
        raise HTTPError(415, "MKCOL takes no request body")
    check_write(request, settings, [name])
    try:
        davfs.make_folder(settings.directory, segments(name))
    except FileExistsError:
        raise HTTPError(405, f"{name} exists already", [("Allow", ALLOW)]) from None
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(409, f"the parent folder of {name} does not exist") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied creating {name}") from None
    return Response(201, [("Location", "/files/" + quote(name) + "/")])


@walked
def delete(request: Request, settings: Settings, subpath: str) -> Response:
    """DELETE a file, or a folder with everything it holds (§9.6.1: a collection is
    deleted as if Depth infinity). 204 when all is gone; else a 207 naming each member
    that could not be deleted (its ancestors stay too, and are not named: §9.6.1)."""
    target = existing(request, settings, subpath, "d")
    if not target.path:
        raise HTTPError(403, "the shared folder itself cannot be deleted")
    check_write_preconditions(request, target.status, target.path)
    check_write(request, settings, [target.path])
    failures: list[davfs.Failure] = []
    if davfs.remove(settings.directory, segments(target.path), failures, member_rule(request, settings, "d")):
        resource_removed(settings, target.path)
        return Response(204)
    forget_missing(settings, target.path)
    if [failed for failed, _, _ in failures] == [target.path]:  # the target alone: its own status
        status = failure_status(failures[0][2])
        raise HTTPError(status, f"{FAILURE_WORDS[status]} deleting {target.path}")
    return failures_response(request, settings, failures)


def forget_missing(settings: Settings, path: str) -> None:
    """After a partial delete: drop the dead properties of what did go."""
    if not davprops.readable(settings):
        return
    for (name,) in davprops.database(settings).query(
        "SELECT DISTINCT path FROM dav_props WHERE path = ? OR (path >= ? AND path < ?)",
        (path, *davprops.subtree_bounds(path)),
    ):
        if davfs.lstat_or_none(settings.directory, segments(name)) is None:
            davprops.forget(settings, name)


FAILURE_WORDS = {403: "permission denied", 507: "not enough storage", 423: "an upload in progress blocks", 500: "error"}


def failure_status(error: OSError) -> int:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 403
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return 507
    if error.errno == errno.ENOTEMPTY:
        return 423  # an upload still being written holds the folder
    return 500


def failures_response(request: Request, settings: Settings, failures: list[davfs.Failure]) -> Response:
    """A 207 naming each path that failed, with its status, as the user may see it."""
    return multistatus(
        status_response_xml(url_of(path, is_dir), failure_status(error))
        for path, is_dir, error in visible_failures(request, settings, failures)
    )


def visible_failures(request: Request, settings: Settings, failures: list[davfs.Failure]) -> list[davfs.Failure]:
    """Each failure named as the user may see it: a member an access rule hides from them
    (`shows`) is named by its nearest folder they can see, once, so that a 207 never tells
    a name their listing would not (§9.6.1 lets the server leave members out)."""
    named: dict[tuple[str, bool], OSError] = {}
    for path, is_dir, error in failures:
        while "/" in path and not shows(request, settings, path):
            path, is_dir = path.rpartition("/")[0], True
        named.setdefault((path, is_dir), error)
    return [(path, is_dir, error) for (path, is_dir), error in named.items()]


# ---------------------------------------------------------------------------------------
# COPY (§9.8) and MOVE (§9.9)
# ---------------------------------------------------------------------------------------


@walked
def copy(request: Request, settings: Settings, subpath: str) -> Response:
    return transfer(request, settings, subpath, move=False)


@walked
def move(request: Request, settings: Settings, subpath: str) -> Response:
    return transfer(request, settings, subpath, move=True)


def transfer(request: Request, settings: Settings, subpath: str, move: bool) -> Response:
    """COPY or MOVE to `Destination`: 201 when it is new, 204 when it replaced something;
    412 when it exists and `Overwrite: F`; 409 when its parent folder is missing; 403
    when source and destination are the same (or one holds the other)."""
    overwrite = parse_overwrite(request.headers.get("overwrite"))
    depth = parse_depth(request.headers.get("depth"), ("infinity",) if move else ("0", "infinity"), "infinity")
    where = destination_subpath(request.headers.get("destination"), request.headers.get("host"))
    source = existing(request, settings, subpath, "r")
    if move:  # a MOVE also removes the source (permissions.py: read and delete)
        require(request, settings, source.path, "d")
    destination = locate(request, settings, where, "w")
    check_destination(source.path, destination)
    check_write(request, settings, [source.path, destination] if move else [destination])
    parent = davfs.lstat_or_none(settings.directory, segments(destination)[:-1])
    if parent is None or not stat.S_ISDIR(parent.st_mode):
        raise HTTPError(409, f"the parent folder of {destination} does not exist")
    if move and source.is_dir:
        check_whole_tree(request, settings, source.path)
    replaced = clear_destination(request, settings, destination, overwrite)
    if isinstance(replaced, Response):
        return replaced
    failures: list[davfs.Failure] = []
    carry(settings, source, destination, move, depth == "infinity", failures, member_rule(request, settings, "r"))
    if failures:
        return failures_response(request, settings, failures)
    if replaced:
        return Response(204)
    return Response(201, [("Location", quote(url_of(destination, source.is_dir)))])


def check_destination(source: str, destination: str) -> None:
    """403 for a COPY or MOVE onto itself, into itself, or over a folder holding it."""
    if not source or not destination:
        raise HTTPError(403, "the shared folder itself cannot be copied, moved or replaced")
    if destination == source:
        raise HTTPError(403, "source and destination are the same")
    if destination.startswith(source + "/"):
        raise HTTPError(403, "the destination is inside the source")
    if source.startswith(destination + "/"):
        raise HTTPError(403, "the destination holds the source")


def clear_destination(request: Request, settings: Settings, name: str, overwrite: bool) -> bool | Response:
    """§9.8.4, §9.9.3: an existing destination is deleted first when Overwrite is T (True:
    something was replaced), refused with 412 when F; a 207 if it could not all go."""
    if davfs.lstat_or_none(settings.directory, segments(name)) is None:
        return False
    if not overwrite:
        raise HTTPError(412, f"{name} exists and Overwrite is F")
    failures: list[davfs.Failure] = []
    require(request, settings, name, "d")  # replacing destroys what was there
    if not davfs.remove(settings.directory, segments(name), failures, member_rule(request, settings, "d")):
        return failures_response(request, settings, failures)
    resource_removed(settings, name)
    return True


def check_whole_tree(request: Request, settings: Settings, path: str) -> None:
    """A MOVE of a folder takes everything in it where other rules may apply: 403 unless
    the user may read and delete every member (with no access rules, nothing to check)."""
    readable, deletable = member_rule(request, settings, "r"), member_rule(request, settings, "d")
    if readable is None or deletable is None:
        return
    with safefs.open_folder(settings.directory, segments(path)) as folder:
        for entry in safefs.tree(folder):
            member = f"{path}/{entry.path}".removesuffix("/")
            if not (readable(member) and deletable(member)):
                # A member the user cannot see is not named: their listing hides it.
                what = member if shows(request, settings, member) else "a member"
                raise HTTPError(403, f"{path} holds {what}, which you may not move")


def carry(
    settings: Settings, source: Resource, name: str, move: bool, infinity: bool, failures: list[davfs.Failure],
    readable: davfs.Rule = None,
) -> None:
    """Move (one rename, whatever a folder holds) or copy the bytes, then the dead
    properties with them."""
    try:
        if move:
            davfs.rename(settings.directory, segments(source.path), segments(name))
            davprops.move(settings, source.path, name)
            davlocks.drop_locks(settings, source.path)  # §7.6: a lock stays behind
            return
        davfs.copy(settings.directory, segments(source.path), segments(name), infinity, failures, readable)
    except OSError as error:
        failures.append((name, source.is_dir, error))
        return
    davprops.copy(settings, source.path, name, subtree=infinity)


# ---------------------------------------------------------------------------------------
# PUT's part (handlers.put_file): rclone's X-OC-Mtime
# ---------------------------------------------------------------------------------------


def put_mtime(request: Request) -> float | None:
    """`X-OC-Mtime` of a PUT (rclone with vendor=owncloud/nextcloud, the ownCloud
    clients): the modification time the file is to keep, read before the body (400 for
    a bad value)."""
    return parse_oc_mtime(request.headers.get("x-oc-mtime"))


def after_put(settings: Settings, name: str, mtime: float) -> list[tuple[str, str]]:
    """Set the stored file's mtime from X-OC-Mtime, so the next sync sees it unchanged;
    `X-OC-Mtime: accepted` in the answer is how those clients know it was kept."""
    davfs.set_mtime(settings.directory, segments(name), mtime)
    return [("X-OC-Mtime", "accepted")]


# The methods this module answers on /files/ (handlers.ROUTES adds GET, POST and PUT).
METHODS: dict[str, Handler] = {
    "OPTIONS": options,
    "PROPFIND": propfind,
    "PROPPATCH": proppatch,
    "MKCOL": mkcol,
    "DELETE": delete,
    "COPY": copy,
    "MOVE": move,
}
