"""WebDAV properties: the live ones computed from the file system, the dead ones in SQLite.

Live properties (RFC 4918 §15, RFC 4331 §3) are written by `LIVE`, one function per name,
from a `Resource` (its stat and URL): `getetag` is the very tag a GET of the file sends
(`files.etag_for`), `getcontenttype` what GET sends (`/files/` serves every file as
`application/octet-stream`). The quota properties come from `statvfs` of the served
folder, once per request, and like RFC 4331 §3 asks they stay out of `allprop`. Every
live property is protected: a PROPPATCH of one is 403 `cannot-modify-protected-property`.

Dead properties (anything a client sets with PROPPATCH) live in the state database
(`state.py`), table `dav_props`: one row per (resource, namespace, name), the value kept
as self-contained XML (`davxml.serialize_inner`). The resource is its path under
--directory, decoded, without a trailing "/" ("" is the folder itself). They are removed
with their resource (`forget`), follow a MOVE (`move`) and are copied by COPY (`copy`),
each change one transaction.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.davxml import DAV, Name, element_xml
from app.conditional import etag_for
from app.dates import http_date
from app.settings import Settings
from app.state import DATABASE_NAME, StateDatabase, state_directory, state_for

SCHEMA = """
CREATE TABLE IF NOT EXISTS dav_props (
    path TEXT NOT NULL,       -- under --directory, decoded, no trailing "/"; "" is the root
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,      -- the property's content as self-contained XML
    PRIMARY KEY (path, namespace, name)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Resource:
    path: str  # under --directory, decoded, no trailing "/"; "" for the root
    url: str  # decoded URL path, e.g. "/files/a b/" (folders end with "/")
    status: os.stat_result
    is_dir: bool

    @property
    def display_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def resource_at(path: str, status: os.stat_result) -> Resource:
    """The resource at `path` (decoded, under --directory) with its status."""
    is_dir = stat.S_ISDIR(status.st_mode)
    url = "/files/" if not path else (f"/files/{path}/" if is_dir else f"/files/{path}")
    return Resource(path, url, status, is_dir)


@dataclass(frozen=True)
class Quota:
    available: int
    used: int


def quota_of(folder: os.PathLike[str] | str) -> Quota:
    """RFC 4331 for the file system holding the served folder: what may still be
    written (as an unprivileged user) and what is in use."""
    info = os.statvfs(folder)
    return Quota(info.f_bavail * info.f_frsize, (info.f_blocks - info.f_bfree) * info.f_frsize)


# ---------------------------------------------------------------------------------------
# Live properties
# ---------------------------------------------------------------------------------------


def rfc3339(timestamp: float) -> str:
    """creationdate's format (RFC 4918 §15.1: RFC 3339 date-time), in UTC."""
    return rfc3339_of(time.gmtime(timestamp))


def rfc3339_of(t: time.struct_time) -> str:
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"


def http_date_of(t: time.struct_time) -> str:
    """`dates.http_date` of a time already split (one gmtime for two properties)."""
    return (
        f"{DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {MONTH_NAMES[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def creation_time(status: os.stat_result) -> float:
    """The birth time where the platform reports it, else the modification time (Linux's
    ctime is the last metadata change, not a creation)."""
    return getattr(status, "st_birthtime", status.st_mtime)


SUPPORTED_LOCK = "".join(
    f"<D:lockentry><D:lockscope><D:{scope}/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
    for scope in ("exclusive", "shared")
)

Live = Callable[[Resource, "Context"], str | None]  # the content XML, or None: not defined here


@dataclass
class Context:
    """What every property of one request shares: the quota, the lock discovery hook."""

    quota: Quota
    lock_discovery: Callable[[Resource], str]


LIVE: dict[Name, Live] = {
    (DAV, "resourcetype"): lambda r, c: "<D:collection/>" if r.is_dir else "",
    (DAV, "getcontentlength"): lambda r, c: None if r.is_dir else str(r.status.st_size),
    (DAV, "getcontenttype"): lambda r, c: None if r.is_dir else "application/octet-stream",
    (DAV, "getetag"): lambda r, c: None if r.is_dir else etag_for(r.status),
    (DAV, "getlastmodified"): lambda r, c: http_date(r.status.st_mtime),
    (DAV, "creationdate"): lambda r, c: rfc3339(creation_time(r.status)),
    (DAV, "displayname"): lambda r, c: escape_text(r.display_name),
    (DAV, "supportedlock"): lambda r, c: SUPPORTED_LOCK,
    (DAV, "lockdiscovery"): lambda r, c: c.lock_discovery(r),
    (DAV, "quota-available-bytes"): lambda r, c: str(c.quota.available),
    (DAV, "quota-used-bytes"): lambda r, c: str(c.quota.used),
}
# RFC 4331 §3: the quota properties SHOULD NOT be returned by allprop (they cost a
# statvfs and most clients never ask).
NOT_IN_ALLPROP = frozenset({(DAV, "quota-available-bytes"), (DAV, "quota-used-bytes")})


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def live_value(name: Name, resource: Resource, context: Context) -> str | None:
    """The XML of live property `name` on `resource`, or None if it has none."""
    compute = LIVE.get(name)
    if compute is None:
        return None
    content = compute(resource, context)
    return None if content is None else element_xml(name, content)


def live_names(resource: Resource, context: Context, allprop: bool) -> Iterable[Name]:
    """The live properties `resource` has (for allprop, without the quota ones)."""
    for name, compute in LIVE.items():
        if allprop and name in NOT_IN_ALLPROP:
            continue
        if compute(resource, context) is not None:
            yield name


def allprop_xml(resource: Resource, context: Context) -> str:
    """What `live_value` gives for every allprop name, in `LIVE`'s order, written in one
    go: the hot path of a folder's PROPFIND (each value computed once, one gmtime)."""
    status = resource.status
    modified = time.gmtime(status.st_mtime)
    created = modified if creation_time(status) == status.st_mtime else time.gmtime(creation_time(status))
    if resource.is_dir:
        head = "<D:resourcetype><D:collection/></D:resourcetype>"
    else:
        head = (
            f"<D:resourcetype/><D:getcontentlength>{status.st_size}</D:getcontentlength>"
            f"<D:getcontenttype>application/octet-stream</D:getcontenttype><D:getetag>{etag_for(status)}</D:getetag>"
        )
    locks = context.lock_discovery(resource)
    return (
        f"{head}<D:getlastmodified>{http_date_of(modified)}</D:getlastmodified>"
        f"<D:creationdate>{rfc3339_of(created)}</D:creationdate>"
        f"<D:displayname>{escape_text(resource.display_name)}</D:displayname>"
        f"<D:supportedlock>{SUPPORTED_LOCK}</D:supportedlock>"
        + (f"<D:lockdiscovery>{locks}</D:lockdiscovery>" if locks else "<D:lockdiscovery/>")
    )


def is_protected(name: Name) -> bool:
    """Live properties are computed, never set (RFC 4918 §16 cannot-modify-protected-property)."""
    return name in LIVE


# ---------------------------------------------------------------------------------------
# Dead properties (SQLite)
# ---------------------------------------------------------------------------------------


def database(settings: Settings) -> StateDatabase:
    db = state_for(settings)
    db.declare("dav_props", SCHEMA)
    return db


def subtree_bounds(path: str) -> tuple[str, str]:
    """The key range of the resources under `path` (not `path` itself): "p/" up to
    "p0", since "0" is the character after "/"; the root holds every other key."""
    if path == "":
        return "", "\U0010ffff"
    return path + "/", path + "0"


def readable(settings: Settings) -> bool:
    """Whether there can be dead properties to read: a read never creates the state
    folder (a --read-only server writes nothing under --directory)."""
    folder = state_directory(settings)
    return folder is None or state_for(settings).connection is not None or (folder / DATABASE_NAME).exists()


def dead_properties(settings: Settings, path: str) -> list[tuple[Name, str]]:
    """The dead properties of one resource: ((namespace, name), content XML)."""
    if not readable(settings):
        return []
    rows = database(settings).query("SELECT namespace, name, value FROM dav_props WHERE path = ?", (path,))
    return [((namespace, name), value) for namespace, name, value in rows]


def has_dead_properties_below(settings: Settings, path: str) -> bool:
    """Whether anything under folder `path` has a dead property (one indexed look-up, so
    a PROPFIND of a folder with none skips one query per entry)."""
    if not readable(settings):
        return False
    low, high = subtree_bounds(path)
    rows = database(settings).query("SELECT 1 FROM dav_props WHERE path > ? AND path < ? LIMIT 1", (low, high))
    return bool(rows) or (path == "" and bool(dead_properties(settings, "")))


Change = tuple[str, Name, str | None]  # ("set", name, value) or ("remove", name, None)


def apply_changes(settings: Settings, path: str, changes: list[Change]) -> None:
    """PROPPATCH's sets and removes on one resource, in order, in one transaction
    (RFC 4918 §9.2: all or nothing)."""
    with database(settings).transaction() as connection:
        for action, (namespace, name), value in changes:
            if action == "set":
                connection.execute(
                    "INSERT OR REPLACE INTO dav_props (path, namespace, name, value) VALUES (?, ?, ?, ?)",
                    (path, namespace, name, value),
                )
            else:
                connection.execute(
                    "DELETE FROM dav_props WHERE path = ? AND namespace = ? AND name = ?", (path, namespace, name)
                )


def forget(settings: Settings, path: str) -> None:
    """Remove the dead properties of `path` and of everything under it (DELETE)."""
    if not readable(settings):
        return  # no database yet: no property to change
    low, high = subtree_bounds(path)
    with database(settings).transaction() as connection:
        connection.execute("DELETE FROM dav_props WHERE path = ? OR (path >= ? AND path < ?)", (path, low, high))


def move(settings: Settings, source: str, destination: str) -> None:
    """The dead properties of `source` and its subtree now belong to `destination` (MOVE);
    whatever `destination` had is gone (it was overwritten)."""
    if not readable(settings):
        return  # no database yet: no property to change
    low, high = subtree_bounds(source)
    cut = len(source) + 1  # SQL substr() counts from 1
    with database(settings).transaction() as connection:
        drop_low, drop_high = subtree_bounds(destination)
        connection.execute(
            "DELETE FROM dav_props WHERE path = ? OR (path >= ? AND path < ?)", (destination, drop_low, drop_high)
        )
        connection.execute(
            "UPDATE dav_props SET path = ? || substr(path, ?) WHERE path = ? OR (path >= ? AND path < ?)",
            (destination, cut, source, low, high),
        )


def copy(settings: Settings, source: str, destination: str, subtree: bool) -> None:
    """Copy the dead properties of `source` (and with `subtree`, of everything under it)
    to `destination`, replacing whatever it had (COPY)."""
    if not readable(settings):
        return  # no database yet: no property to change
    low, high = subtree_bounds(source)
    cut = len(source) + 1
    with database(settings).transaction() as connection:
        drop_low, drop_high = subtree_bounds(destination)
        connection.execute(
            "DELETE FROM dav_props WHERE path = ? OR (path >= ? AND path < ?)", (destination, drop_low, drop_high)
        )
        below = "OR (path >= ? AND path < ?)" if subtree else "AND ? = ?"
        connection.execute(
            "INSERT INTO dav_props (path, namespace, name, value) "
            f"SELECT ? || substr(path, ?), namespace, name, value FROM dav_props WHERE path = ? {below}",
            (destination, cut, source, low, high) if subtree else (destination, cut, source, 0, 0),
        )
