"""WebDAV class 2 (RFC 4918 §6, §7, §9.10, §9.11): LOCK, UNLOCK and the lock rule of
every write. docs/webdav.md ("Locks") says which rule lives in which function.

It owns:

- the locks: rows of the `dav_locks` table of the state database (`state.py`), so every
  `--workers` process, every instance on the same `--state-dir` and a restarted server
  see the same ones. A lock past its timeout is ignored by every read and purged by the
  next LOCK. A plain launch that never locks never creates the database
  (`may_hold_locks`);
- `lock_resource()` (LOCK: a new lock, a refresh, an empty file for an unmapped URL)
  and `unlock_resource()` (UNLOCK), the routes' handlers; the disk through `safefs`;
- `check_write(request, settings, paths, removes=())`: what every method that writes
  calls before it changes anything: the If header (`ifheader.py`) evaluated, 412 when
  false; 423 when what it changes is locked and the request did not submit the token;
- `drop_locks(settings, path)`: DELETE and MOVE forget the locks of what they removed;
- `lock_properties(settings)`: the locks in force, read once per PROPFIND, and the
  `lockdiscovery` value of each resource (`supportedlock` is `davprops.SUPPORTED_LOCK`).

A path here is what `permissions.require()` takes: decoded, relative to `--directory`,
"/" between components, no trailing "/", "" for the folder itself.
"""

from __future__ import annotations

import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from app import safefs
from app.auth import basic_credentials
from app.conditional import etag_for
from app.davxml import (
    DAV, XML_TYPE, Element, escape, href_for, multistatus, parse_body, serialize_inner, status_response_xml,
)
from app.errors import HTTPError
from app.fields import Headers, list_elements
from app.framing import Response, text_response
from app.ifheader import UNMAPPED, Production, ResourceState, if_holds, parse_if, submitted_tokens
from app.paths import checked_path
from app.permissions import require
from app.request import Request
from app.settings import Settings
from app.state import DATABASE_NAME, STATE_DIR_NAME, StateDatabase, is_state_name, state_directory, state_for

if TYPE_CHECKING:
    import sqlite3

# The WebDAV namespace of URLs: `/files/NAME` is the resource NAME under --directory.
PREFIX = "/files/"

SCHEMA = """
CREATE TABLE IF NOT EXISTS dav_locks (
    token TEXT PRIMARY KEY,        -- urn:uuid:..., the lock token (RFC 4918 §6.5)
    root TEXT NOT NULL,            -- the locked resource, a path as above (§6.1 lock root)
    collection INTEGER NOT NULL,   -- 1 when the root is a folder (its URL ends with "/")
    depth TEXT NOT NULL CHECK (depth IN ('0', 'infinity')),
    scope TEXT NOT NULL CHECK (scope IN ('exclusive', 'shared')),
    owner TEXT,                    -- the content of the LOCK's DAV:owner, as XML; NULL: none
    principal TEXT NOT NULL,       -- the user who locked it, '' without passwords (§6.4)
    timeout INTEGER NOT NULL,      -- seconds granted by the last LOCK or refresh
    expires REAL NOT NULL          -- when it lapses, Unix time
);
CREATE INDEX IF NOT EXISTS dav_locks_root ON dav_locks (root);
"""
COLUMNS = "token, root, collection, depth, scope, owner, principal, timeout, expires"


class Lock(NamedTuple):
    token: str
    root: str
    collection: int
    depth: str  # "0" or "infinity"
    scope: str  # "exclusive" or "shared"
    owner: str | None
    principal: str
    timeout: int
    expires: float


class LockRequest(NamedTuple):
    """What a LOCK with a body asks for (§9.10.1, §14.11 lockinfo)."""

    scope: str
    depth: str
    owner: str | None
    timeout: int


class ConditionError(HTTPError):
    """A refusal with an RFC 4918 §16 precondition code, e.g. 423 `lock-token-submitted`
    naming the roots of the locks in the way; the answer is the XML `<D:error>` body
    (`response()`), its one-line reason in `<D:responsedescription>`. Made again as
    `type(error)(status, reason, headers)` (as uploads.py does to add to the reason), it
    has no condition and answers the plain one-line text."""

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]] | None = None,
        *, condition: str = "", hrefs: Iterable[str] = (), failed: str = "",
    ) -> None:
        super().__init__(status, reason, headers)
        self.condition = condition
        self.hrefs = list(hrefs)
        # The Request-URI, when only members below it are in the way: a 207 then (§9.10.9).
        self.failed = failed

    def response(self) -> Response:
        if not self.condition:
            return text_response(self.status, self.reason, self.headers)
        if self.failed:  # each member in the way with its status, then the folder's 424
            members = [status_response_xml(href, 423, self.condition) for href in self.hrefs]
            return multistatus([*members, status_response_xml(self.failed, 424)])
        inner = "".join(href_for(href) for href in self.hrefs)
        condition = f"<D:{self.condition}>{inner}</D:{self.condition}>" if inner else f"<D:{self.condition}/>"
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<D:error xmlns:D="DAV:">{condition}'
            f"<D:responsedescription>{escape(self.reason)}</D:responsedescription></D:error>\n"
        )
        return Response(self.status, [XML_TYPE], body.encode("utf-8"))


# ---------------------------------------------------------------------------------------
# The header fields of LOCK and UNLOCK
# ---------------------------------------------------------------------------------------

# RFC 4918 §10.7:  TimeOut = "Timeout" ":" 1#TimeType
#                  TimeType = ("Second-" DAVTimeOutVal | "Infinite")
#                  DAVTimeOutVal = 1*DIGIT   ; "MUST NOT be greater than 2^32-1"
# ABNF strings are case-insensitive (RFC 5234 §2.3).
TIME_TYPE_RE = re.compile(r"(?i:second-([0-9]{1,10})|infinite)")
MAX_TIMEOUT_VALUE = 2**32 - 1


def parse_timeout(values: list[str], cap: int) -> int:
    """The seconds a lock is granted: the first TimeType, the client's preferred one
    (§10.7), at most `cap` (the server chooses: §6.6); `Infinite` or no Timeout field:
    `cap`. `ValueError` for a value outside the grammar."""
    elements = list_elements(values, TIME_TYPE_RE)
    if not elements or elements[0].group(1) is None:
        return cap
    seconds = int(elements[0].group(1))
    if seconds > MAX_TIMEOUT_VALUE:
        raise ValueError(f"Second-{seconds} is over 2^32-1")
    return max(1, min(cap, seconds))


def parse_lock_depth(value: str | None) -> str:
    """§9.10.3: a LOCK's Depth is 0 or infinity, infinity when absent; `ValueError` else
    (Depth: 1 included: "a Depth header of value 1 MUST NOT be used" on LOCK)."""
    if value is None:
        return "infinity"
    depth = value.strip(" \t").lower()
    if depth not in ("0", "infinity"):
        raise ValueError(f"Depth {value!r} is not 0 or infinity")
    return depth


# §10.5: Lock-Token = "Lock-Token" ":" Coded-URL ;  §10.1: Coded-URL = "<" absolute-URI ">"
LOCK_TOKEN_RE = re.compile(r"[ \t]*<([A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20\x7f<>]*)>[ \t]*")


def parse_lock_token(value: str | None) -> str:
    """The token of UNLOCK's Lock-Token field; `ValueError` when absent or malformed."""
    match = LOCK_TOKEN_RE.fullmatch(value or "")
    if match is None:
        raise ValueError("UNLOCK needs a Lock-Token: <token> header (RFC 4918 §9.11)")
    return match.group(1)


def if_productions(headers: Headers) -> tuple[Production, ...] | None:
    """The parsed If header (None when absent); 400 with the reason when malformed. Its
    field lines, if several, are one header value (the productions simply follow)."""
    values = headers.get_all("if")
    if not values:
        return None
    try:
        return parse_if(" ".join(values))
    except ValueError as error:
        raise HTTPError(400, f"If header: {error}") from None


def lock_request(info: Element, headers: Headers, settings: Settings) -> LockRequest:
    """The scope, depth, owner and timeout a LOCK body and its fields ask for; 400 for
    a Depth or Timeout outside their grammar, 422 for a lockinfo we cannot grant."""
    if info.name != (DAV, "lockinfo"):
        raise HTTPError(422, "a LOCK body is a DAV:lockinfo element (RFC 4918 §14.11)")
    scope = only_child(info, "lockscope", ("exclusive", "shared"))
    only_child(info, "locktype", ("write",))
    owner = info.find((DAV, "owner"))
    try:
        depth = parse_lock_depth(headers.get("depth"))
        timeout = parse_timeout(headers.get_all("timeout"), settings.timeouts.max_lock_timeout)
    except ValueError as error:
        raise HTTPError(400, f"LOCK: {error}") from None
    return LockRequest(scope, depth, None if owner is None else serialize_inner(owner), timeout)


def only_child(info: Element, name: str, allowed: tuple[str, ...]) -> str:
    """The local name of the one DAV: element inside lockinfo's `name`, one of `allowed`
    (§14.13 lockscope: exclusive or shared; §14.15 locktype: write, the only one)."""
    holder = info.find((DAV, name))
    inside = holder.elements() if holder is not None else []
    if len(inside) != 1 or inside[0].name[0] != DAV or inside[0].name[1] not in allowed:
        raise HTTPError(422, f"lockinfo needs a DAV:{name} holding one of {', '.join(allowed)}")
    return inside[0].name[1]


# ---------------------------------------------------------------------------------------
# Paths, scopes and the resources on disk
# ---------------------------------------------------------------------------------------


def resource_path(url_path: str) -> str | None:
    """The path of a URL's path under /files/ (decoded, no trailing "/"), or None when
    the URL is not one of ours."""
    if url_path + "/" == PREFIX:
        return ""
    if not url_path.startswith(PREFIX):
        return None
    return unquote(url_path[len(PREFIX) :], errors="strict").strip("/")


def lock_url(lock: Lock) -> str:
    """The lock root's URL path, decoded (§14.12 lockroot), "/" after a folder's name."""
    if lock.root == "":
        return PREFIX
    return PREFIX + lock.root + ("/" if lock.collection else "")


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is strictly inside `folder` (any depth)."""
    return path != folder and (folder == "" or path.startswith(folder + "/"))


def parent_of(path: str) -> str | None:
    return None if path == "" else path.rpartition("/")[0]


def covers(lock: Lock, path: str) -> bool:
    """§6.1, §7.4: whether `path` is in the lock's scope: the lock root itself, or (Depth
    infinity) any resource inside it."""
    return lock.root == path or (lock.depth == "infinity" and is_inside(path, lock.root))


def check_name(settings: Settings, path: str) -> None:
    """400 for a name `paths.resolve_under` refuses, 404 for the state folder, which no
    request may reach (`state.is_state_name`)."""
    if any(is_state_name(part) for part in path.split("/")):
        raise HTTPError(404, f"no file or folder named {path}")
    if path:  # resolve_under decodes once: the path goes back to its encoded form first
        checked_path(settings.directory, quote(path))


def segments(path: str) -> list[str]:
    return path.split("/") if path else []


def resource_status(settings: Settings, path: str) -> os.stat_result | None:
    """The resource's stat, through the symlink-safe walk (`safefs`); None when the URL
    is unmapped (or names nothing the walk will reach)."""
    try:
        return safefs.stat(settings.directory, segments(path))
    except (OSError, ValueError):  # safefs.Refused is a ValueError
        return None


def resource_etags(settings: Settings, path: str) -> frozenset[str]:
    """The entity tags GET sends for the file (`conditional.etag_for`, plain or
    gzipped), as opaque-tags; none for an unmapped URL or a folder (no getetag)."""
    status = resource_status(settings, path)
    if status is None or not stat.S_ISREG(status.st_mode):
        return frozenset()
    return frozenset({etag_for(status), etag_for(status, "-gzip")})


def create_empty_file(settings: Settings, path: str) -> bool:
    """§7.3: a LOCK on an unmapped URL makes an empty resource. True when made here
    (201); False when something appeared there meanwhile (it is locked as it is)."""
    try:
        os.close(safefs.create_file(settings.directory, segments(path)))
    except FileExistsError:
        return False
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(409, f"the parent folder of {path} does not exist (RFC 4918 §9.10.4)") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied creating {path}") from None
    except safefs.Refused as refused:
        raise HTTPError(refused.status, str(refused)) from None
    return True


# ---------------------------------------------------------------------------------------
# The lock table
# ---------------------------------------------------------------------------------------


def lock_database(settings: Settings) -> StateDatabase:
    database = state_for(settings)
    database.declare("dav_locks", SCHEMA)
    return database


def may_hold_locks(settings: Settings) -> bool:
    """Whether a lock can exist: the state database exists (in memory: always). A
    server that never locked anything never opens, nor creates, the database. Asked by
    every write, so it costs one stat() and no path arithmetic (the file's name is found
    once per Settings; `tests/test_budget.py`)."""
    cached = _database_files.get(id(settings))
    if cached is None or cached[0] is not settings:
        folder = state_directory(settings)
        cached = _database_files[id(settings)] = (settings, None if folder is None else str(folder / DATABASE_NAME))
    if cached[1] is None:
        return True
    try:
        os.stat(cached[1])
    except OSError:
        return False
    return True


# The database file of each Settings seen (None: in memory), by id, the object kept to
# tell a new Settings at a reused id apart.
_database_files: dict[int, tuple[Settings, str | None]] = {}


def locks_in_force(settings: Settings) -> list[Lock]:
    """Every lock not yet expired (§6.6: a lapsed lock is gone). The table holds the
    locks of clients editing files right now, a handful: one read serves every check."""
    if not may_hold_locks(settings):
        return []
    rows = lock_database(settings).query(f"SELECT {COLUMNS} FROM dav_locks WHERE expires > ?", (time.time(),))
    return [Lock(*row) for row in rows]


def principal_of(request: Request, settings: Settings) -> str:
    """The user who sent the request ("" without passwords): §6.4's lock creator. The
    gate (`auth.py`) has checked the password of every request that writes."""
    if not settings.accounts:
        return ""
    credentials = basic_credentials(request.headers.get("authorization") or "")
    return credentials[0] if credentials else ""


# ---------------------------------------------------------------------------------------
# The rule of every write: the If header, then the locks (RFC 4918 §7, §10.4)
# ---------------------------------------------------------------------------------------


def check_write(request: Request, settings: Settings, paths: Iterable[str] = (), removes: Iterable[str] = ()) -> None:
    """Call before changing anything, with the paths the request is about to create,
    change, replace or remove (`write_kind` tells which from the method; `removes` names
    paths a POST form deletes). 400 for a malformed If header, 412 when it evaluates to
    false (§10.4.3), 423 `lock-token-submitted` when a lock protects one of the paths and
    the request did not submit a token of a lock rooted there (§7.5), or submitted another
    user's (§6.4). A path in the state folder is refused first (403, as the walk would):
    no lock question is ever asked of it, nor its database opened for it."""
    paths, removes = tuple(paths), tuple(removes)
    for path in (*paths, *removes):
        if STATE_DIR_NAME in path.split("/"):
            raise safefs.Refused(403, safefs.STATE)
    if not request.headers.get_all("if") and not may_hold_locks(settings):
        return  # the common case, kept cheap: no If header, and no lock can exist
    productions = if_productions(request.headers)
    locks = locks_in_force(settings)
    if productions is not None and not if_holds(productions, state_function(request, settings, locks)):
        raise HTTPError(412, f"the conditions of the If header do not hold for {request.path} (RFC 4918 §10.4)")
    if not locks:
        return
    kinds = [(path, write_kind(request, settings, path)) for path in paths] + [(path, "remove") for path in removes]
    needed = set().union(*(protecting_locks(locks, path, kind) for path, kind in kinds))
    usable = usable_tokens(request, settings, productions, locks)
    # Shared locks on one root: the token of any one of them will do (§6.2: each holder
    # may write); every root protecting a path needs one.
    missing = sorted({lock_url(lock) for lock in needed} - {lock_url(lock) for lock in needed if lock.token in usable})
    if missing:
        reason = f"{missing[0]} is locked: send its lock token in an If header"
        raise ConditionError(423, reason, condition="lock-token-submitted", hrefs=missing)


def write_kind(request: Request, settings: Settings, path: str) -> str:
    """What the request does to `path`: "remove" it (DELETE; MOVE, its source), "replace"
    it whole (COPY or MOVE onto an existing destination: §9.8.4, a DELETE first),
    "create" it (it does not exist yet), or "change" it (its content or properties)."""
    is_source = path == resource_path(request.path)
    if request.method == "DELETE" or (request.method == "MOVE" and is_source):
        return "remove"
    exists = resource_status(settings, path) is not None
    if request.method in ("COPY", "MOVE") and not is_source and exists:
        return "replace"
    return "change" if exists else "create"


def protecting_locks(locks: list[Lock], path: str, kind: str) -> set[Lock]:
    """The locks whose tokens a request must submit to `kind` `path`. §7.4: a lock
    protects the resources in its scope, and a lock on a folder (Depth 0 too) its list of
    members: creating or removing a member needs its token. §9.6.1, §9.9.2: removing or
    replacing a folder removes the locked resources inside it, which need theirs."""
    needed = {lock for lock in locks if covers(lock, path)}
    if kind in ("remove", "replace"):
        needed.update(lock for lock in locks if is_inside(lock.root, path))
    if kind in ("remove", "create"):
        needed.update(lock for lock in locks if lock.root == parent_of(path))
    return needed


def state_function(request: Request, settings: Settings, locks: list[Lock]) -> Callable[[str | None], ResourceState]:
    """`state_of(tag)` for `if_holds`: the lock tokens whose scope holds the resource a
    Resource-Tag names (None: the Request-URI) and its entity tags (§10.4.4). A tag is
    matched by its path (behind a proxy the host a client names may not be ours); a
    path outside /files/ names no resource of ours (UNMAPPED)."""

    def state_of(tag: str | None) -> ResourceState:
        try:
            path = resource_path(request.path if tag is None else urlsplit(tag).path)
        except (UnicodeDecodeError, ValueError):
            path = None
        if path is None:
            return UNMAPPED
        tokens = frozenset(lock.token for lock in locks if covers(lock, path))
        return ResourceState(tokens, resource_etags(settings, path))

    return state_of


def usable_tokens(
    request: Request, settings: Settings, productions: tuple[Production, ...] | None, locks: list[Lock]
) -> frozenset[str]:
    """The tokens the request submitted (§10.4.1: every state token in the If header)
    of locks its user created (§6.4: a lock is the creator's to use)."""
    if productions is None:
        return frozenset()
    principal = principal_of(request, settings)
    submitted = submitted_tokens(productions)
    return frozenset(lock.token for lock in locks if lock.token in submitted and lock.principal == principal)


def drop_locks(settings: Settings, path: str) -> None:
    """Forget the locks rooted at `path` or inside it: after a DELETE (§9.6: "MUST
    destroy locks rooted on the deleted resource"), a MOVE's source (§7.6: a lock does
    not move with its resource), and what a COPY or MOVE overwrote (§9.8.4, §9.9.3:
    overwriting is a DELETE first)."""
    if not may_hold_locks(settings):
        return
    pattern = like_pattern(path)
    with lock_database(settings).transaction() as database:
        database.execute("DELETE FROM dav_locks WHERE root = ? OR root LIKE ? ESCAPE '\\'", (path, pattern))


def like_pattern(folder: str) -> str:
    """A LIKE pattern matching the paths inside `folder` (its % _ \\ taken literally)."""
    escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}/%" if folder else "_%"


# ---------------------------------------------------------------------------------------
# LOCK and UNLOCK
# ---------------------------------------------------------------------------------------


def lock_resource(request: Request, settings: Settings, subpath: str) -> Response:
    """`LOCK /files/NAME` (§9.10): with a lockinfo body, a new lock; without one, a
    refresh of the locks the If header names (§9.10.2)."""
    path = request_resource(request, settings)
    info = parse_body(request, settings)
    if info is None:
        return refresh_locks(request, settings, path)
    return new_lock(request, settings, path, lock_request(info, request.headers, settings))


def request_resource(request: Request, settings: Settings) -> str:
    """The Request-URI's path, its name checked (400) and the right to write it (403)."""
    if settings.directory is None:
        raise HTTPError(404, "file serving is off: start the server with --directory DIR")
    try:
        path = resource_path(request.path)
    except UnicodeDecodeError:
        raise HTTPError(400, "file name is not valid UTF-8 once percent-decoded") from None
    check_name(settings, path)
    require(request, settings, path, "w")
    return path


def new_lock(request: Request, settings: Settings, path: str, wanted: LockRequest) -> Response:
    """A new lock on `path`: 423 `no-conflicting-lock` when an exclusive lock is in the
    way (§6.1, §9.10.5), an empty file when the URL is unmapped (§7.3: 201), then 200
    or 201 with the lock's `lockdiscovery` and its token in `Lock-Token` (§9.10.1)."""
    current = resource_status(settings, path)
    if current is None and request.path.endswith("/"):
        raise HTTPError(409, f"no folder named {path}: make it with MKCOL before locking it")
    check_write(request, settings, [path] if current is None else [])
    collection = current is not None and stat.S_ISDIR(current.st_mode)
    lock = Lock(new_token(), path, int(collection), wanted.depth, wanted.scope, wanted.owner,
                principal_of(request, settings), wanted.timeout, time.time() + wanted.timeout)
    created = grant(settings, lock, create=current is None)
    return lockdiscovery_response(201 if created else 200, [lock], [("Lock-Token", f"<{lock.token}>")])


def grant(settings: Settings, lock: Lock, create: bool) -> bool:
    """Store `lock` unless a lock in force conflicts, making the empty file first when
    `create`: one transaction, so two processes granting at once serialise and the
    second sees the first's lock (`BEGIN IMMEDIATE`). True when the file was made."""
    with lock_database(settings).transaction() as database:
        database.execute("DELETE FROM dav_locks WHERE expires <= ?", (time.time(),))
        refuse_conflicts([Lock(*row) for row in database.execute(f"SELECT {COLUMNS} FROM dav_locks")], lock)
        created = create and create_empty_file(settings, lock.root)
        database.execute(f"INSERT INTO dav_locks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", lock)
    return created


def refuse_conflicts(locks: list[Lock], wanted: Lock) -> None:
    """§6.1: an exclusive lock shares its scope with no other lock, a shared lock only
    with shared ones. Scopes overlap when one holds the other's root (§7.4: a Depth
    infinity lock on a folder conflicts with a lock inside it)."""
    conflicts = [
        lock for lock in locks
        if (covers(lock, wanted.root) or covers(wanted, lock.root)) and "exclusive" in (lock.scope, wanted.scope)
    ]  # fmt: skip
    if not conflicts:
        return
    in_the_way = sorted({lock_url(lock) for lock in conflicts})
    reason = f"{in_the_way[0]} is locked already (RFC 4918 §9.10.5)"
    if any(covers(lock, wanted.root) for lock in conflicts):  # the resource itself is locked
        raise ConditionError(423, reason, condition="no-conflicting-lock", hrefs=in_the_way)
    # §9.10.9: only members inside the folder are in the way: a 207 names each one (423)
    # and the folder asked for (424 Failed Dependency).
    raise ConditionError(207, reason, condition="no-conflicting-lock", hrefs=in_the_way, failed=lock_url(wanted))


def new_token() -> str:
    """A lock token: a random (version 4) UUID as a URN (§6.5 and appendix C: unique
    across all resources for all time). os.urandom, as `uuid.uuid4()` does."""
    data = bytearray(os.urandom(16))
    data[6] = data[6] & 0x0F | 0x40  # version 4
    data[8] = data[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = data.hex()
    return f"urn:uuid:{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def refresh_locks(request: Request, settings: Settings, path: str) -> Response:
    """§9.10.2: a LOCK without a body refreshes the locks of this user whose tokens the
    If header submits and whose scope holds the resource (§7.7), for the Timeout asked
    (capped); 412 when it names none. 200 with their `lockdiscovery`."""
    productions = if_productions(request.headers)
    if productions is None:
        raise HTTPError(400, "a LOCK without a body refreshes a lock: it needs an If header naming its token")
    try:
        timeout = parse_timeout(request.headers.get_all("timeout"), settings.timeouts.max_lock_timeout)
    except ValueError as error:
        raise HTTPError(400, f"LOCK: {error}") from None
    check_write(request, settings)
    tokens = usable_tokens(request, settings, productions, locks_in_force(settings))
    refreshed = refresh_rows(settings, path, tokens, timeout)
    if not refreshed:
        raise HTTPError(412, f"the If header names no lock of yours on {request.path} (RFC 4918 §9.10.2)")
    return lockdiscovery_response(200, refreshed, [])


def refresh_rows(settings: Settings, path: str, tokens: frozenset[str], timeout: int) -> list[Lock]:
    """Give the locks of `tokens` whose scope holds `path` `timeout` more seconds."""
    refreshed = []
    with lock_database(settings).transaction() as database:
        now = time.time()
        for token in sorted(tokens):
            found = lock_by_token(database, token, now)
            if found is not None and covers(found, path):
                update = "UPDATE dav_locks SET timeout = ?, expires = ? WHERE token = ?"
                database.execute(update, (timeout, now + timeout, token))
                refreshed.append(found._replace(timeout=timeout, expires=now + timeout))
    return refreshed


def lock_by_token(database: sqlite3.Connection, token: str, now: float) -> Lock | None:
    query = f"SELECT {COLUMNS} FROM dav_locks WHERE token = ? AND expires > ?"
    row = database.execute(query, (token, now)).fetchone()
    return None if row is None else Lock(*row)


def unlock_resource(request: Request, settings: Settings, subpath: str) -> Response:
    """`UNLOCK /files/NAME` (§9.11): remove the lock named by `Lock-Token`, from any
    resource in its scope; 204. 409 `lock-token-matches-request-uri` when no such lock
    holds this resource (§9.11.1), 403 for another user's lock (§6.4)."""
    path = request_resource(request, settings)
    try:
        token = parse_lock_token(request.headers.get("lock-token"))
    except ValueError as error:
        raise HTTPError(400, str(error)) from None
    check_write(request, settings)
    with lock_database(settings).transaction() as database:
        found = lock_by_token(database, token, time.time())
        if found is None or not covers(found, path):
            reason = f"no lock {token} on {request.path}"
            raise ConditionError(409, reason, condition="lock-token-matches-request-uri")
        if found.principal != principal_of(request, settings):
            raise HTTPError(403, f"the lock {token} belongs to another user")
        database.execute("DELETE FROM dav_locks WHERE token = ?", (token,))
    return Response(204)


# ---------------------------------------------------------------------------------------
# The lock properties (§15.8 lockdiscovery, §15.10 supportedlock)
# ---------------------------------------------------------------------------------------

def activelock_xml(lock: Lock, now: float) -> str:
    """One `<D:activelock>` (§14.1): type, scope, depth, owner, the time left, the
    token and the root."""
    owner = "" if lock.owner is None else f"<D:owner>{lock.owner}</D:owner>"
    left = max(0, math.ceil(lock.expires - now))
    return (
        f"<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{lock.scope}/></D:lockscope>"
        f"<D:depth>{lock.depth}</D:depth>{owner}<D:timeout>Second-{left}</D:timeout>"
        f"<D:locktoken><D:href>{escape(lock.token)}</D:href></D:locktoken>"
        f"<D:lockroot>{href_for(lock_url(lock))}</D:lockroot></D:activelock>"
    )


class LockProperties:
    """The locks in force at one moment, read once: a PROPFIND of a folder of 100,000
    entries asks `lockdiscovery(path)` of each without a query each."""

    def __init__(self, locks: list[Lock]) -> None:
        self.locks = locks
        self.now = time.time()

    def lockdiscovery(self, path: str) -> str:
        """The content of `<D:lockdiscovery>` for a path: the locks whose scope holds it."""
        if not self.locks:
            return ""
        return "".join(activelock_xml(lock, self.now) for lock in self.locks if covers(lock, path))


def lock_properties(settings: Settings) -> LockProperties:
    return LockProperties(locks_in_force(settings))


def lockdiscovery_response(status: int, locks: list[Lock], headers: list[tuple[str, str]]) -> Response:
    """§9.10.1: a LOCK's answer is the lockdiscovery property of the lock(s) concerned."""
    now = time.time()
    inner = "".join(activelock_xml(lock, now) for lock in locks)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<D:prop xmlns:D="DAV:"><D:lockdiscovery>{inner}</D:lockdiscovery></D:prop>\n'
    )
    return Response(status, [XML_TYPE, *headers], body.encode("utf-8"))


# The methods this module answers on /files/ (handlers.ROUTES).
METHODS = {"LOCK": lock_resource, "UNLOCK": unlock_resource}
