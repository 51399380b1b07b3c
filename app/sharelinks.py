"""Share links: an unguessable URL that lets whoever holds it read one file or folder of
`--directory` (or only drop files into a folder) until it expires or is revoked.

    /s/TOKEN            the shared file, or (a folder) a redirect to /s/TOKEN/
    /s/TOKEN/           the shared folder's listing; /s/TOKEN/sub/name below it

It owns the links' records (table `share_links` in the state database, `state.py`), the
token, expiry and revocation, the link's own password, and the route `/s/` which hands
the request to the ordinary file handlers with `request.grant` set: from there on
`permissions.require()` answers every path with the link's rights (`r` for a file, `rl`
for a folder, `w` alone for an upload-only folder), nothing outside its path, and the
route refuses any method the link was not made for.

- The token is 192 random bits from the OS (`os.urandom`), 32 URL-safe characters. The
  database keeps its SHA-256 only: a copy of the database opens no link. A link is
  named everywhere else by its id, the first 12 hex digits of that digest: in the
  access log and `--trace` (`hide_tokens()`), in `python3 -m app shares`, in reasons.
- Expired or revoked: 410 Gone with a one-line reason (the record is kept for 30 days,
  so that the answer says so rather than 404). An unknown token: 404. At most
  `--max-share-links` records are kept (`make_room`): ended links make room first.
- A password (optional) is asked with HTTP Basic, any user name, realm "share link";
  its hash is kept (`passwords.make_hash`), and wrong passwords count toward the
  lock-out like wrong logins (`lockout.py`).
- Every request through a link adds one to its use count.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from app.errors import HTTPError
from app.permissions import Grant
from app.request import Request

if TYPE_CHECKING:
    from app.settings import Settings

SHARE_PREFIX = "/s/"
TOKEN_BYTES = 24  # 192 bits (the issue asks for at least 128)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
# A token inside a request line, a URL in a page, a Location: replaced by the link's id.
TOKEN_IN_TEXT_RE = re.compile(r"/s/([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")
SHARE_REALM = "share link"

SCHEMA = """
CREATE TABLE IF NOT EXISTS share_links (
    id TEXT PRIMARY KEY,          -- the first 12 hex digits of digest: what logs show
    digest TEXT UNIQUE NOT NULL,  -- SHA-256 of the token, hex; the token is not kept
    path TEXT NOT NULL,           -- relative to --directory, decoded, '' for all of it
    folder INTEGER NOT NULL,      -- 1: a folder, 0: a file
    upload_only INTEGER NOT NULL, -- 1: files may be dropped in, nothing read or listed
    password TEXT,                -- passwords.make_hash() of the link's password, or NULL
    creator TEXT,                 -- the user who made it (NULL: anonymous or the command line)
    created REAL NOT NULL,        -- Unix time
    expires REAL,                 -- Unix time; NULL: never
    revoked REAL,                 -- Unix time; NULL: in force
    uses INTEGER NOT NULL DEFAULT 0
);
"""

COLUMNS = "id, path, folder, upload_only, password, creator, created, expires, revoked, uses"

# The clock of expiry: a unit test replaces it to freeze time.
clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Link:
    id: str
    path: str
    folder: bool
    upload_only: bool
    password: str | None
    creator: str | None
    created: float
    expires: float | None
    revoked: float | None
    uses: int

    @property
    def rights(self) -> str:
        if self.upload_only:
            return "w"
        return "rl" if self.folder else "r"

    def state(self, now: float) -> str:
        """"active", "expired" or "revoked"."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


def new_token() -> str:
    return base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES)).decode("ascii")


def token_digest(token: str) -> str:
    # hashlib here, not at the top: a plain launch never maps libcrypto (docs/performance.md).
    import hashlib

    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_id(token: str) -> str:
    return token_digest(token)[:12]


def hide_tokens(text: str) -> str:
    """`text` with each share token after `/s/` replaced by `[link ID]` (logs, --trace)."""
    if SHARE_PREFIX not in text:
        return text
    return TOKEN_IN_TEXT_RE.sub(lambda match: f"/s/[link {link_id(match.group(1))}]", text)


# ---------------------------------------------------------------------------------------
# Expiry: "2d", "12h", "30m", "1w", a UTC date or date and time, or "never"
# ---------------------------------------------------------------------------------------

UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_RE = re.compile(r"([0-9]{1,6})([mhdw])")


def parse_expiry(text: str, now: float) -> float | None:
    """When a link made at `now` expires (Unix time; None: never). A bare date means the
    end of that day in UTC (a link "until Friday" works all Friday). ValueError else."""
    text = text.strip()
    if text == "never":
        return None
    if match := DURATION_RE.fullmatch(text):
        seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        if seconds == 0:
            raise ValueError("an expiry of 0 would end the link at once")
        return now + seconds
    moment = utc_moment(text)
    if moment <= now:
        raise ValueError(f"{text} is in the past")
    return moment


def utc_moment(text: str) -> float:
    import calendar

    for layout, extra in (("%Y-%m-%d", 86400), ("%Y-%m-%dT%H:%M", 0), ("%Y-%m-%d %H:%M", 0)):
        try:
            return calendar.timegm(time.strptime(text, layout)) + extra
        except ValueError:
            continue
    raise ValueError(f"expiry {text!r} is not 30m, 12h, 2d, 1w, YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or never")


def utc_text(moment: float | None) -> str:
    if moment is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


# ---------------------------------------------------------------------------------------
# The records
# ---------------------------------------------------------------------------------------


def database(settings: Settings):  # -> state.StateDatabase
    from app.state import state_for

    state = state_for(settings)
    state.declare("share_links", SCHEMA)
    return state


def create_link(
    settings: Settings,
    path: str,
    expires: float | None,
    *,
    folder: bool,
    password: str | None = None,
    upload_only: bool = False,
    creator: str | None = None,
    now: float | None = None,
) -> tuple[str, Link]:
    """A new link to `path` (decoded, relative); returns (token, link). The token exists
    only in what this returns: the database keeps its digest."""
    if upload_only and not folder:
        raise ValueError("an upload-only link is for a folder (files are dropped into it)")
    from app.passwords import make_hash  # scrypt: only when a link has a password

    token = new_token()
    digest = token_digest(token)
    link = Link(digest[:12], path, folder, upload_only, make_hash(password) if password else None, creator,
                clock() if now is None else now, expires, None, 0)
    with database(settings).transaction() as connection:
        make_room(connection, settings.limits.max_share_links, link.created)
        connection.execute(
            f"INSERT INTO share_links ({COLUMNS}, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (link.id, link.path, int(folder), int(upload_only), link.password, creator, link.created, expires,
             None, 0, digest),
        )
    return token, link


# An ended link (expired or revoked) is kept this long to answer 410 rather than 404.
ENDED_KEPT_FOR = 30 * 86400
ENDED = "(revoked IS NOT NULL OR expires <= :now)"


def make_room(connection, most: int, now: float) -> None:  # connection: sqlite3.Connection
    """Before a link is added: forget links that ended over `ENDED_KEPT_FOR` ago, then, if
    `most` are still kept, the oldest ended ones; 507 if every one is in force."""
    connection.execute(
        "DELETE FROM share_links WHERE revoked < :old OR expires < :old", {"old": now - ENDED_KEPT_FOR}
    )
    (kept,) = connection.execute("SELECT COUNT(*) FROM share_links").fetchone()
    if kept < most:
        return
    connection.execute(
        f"DELETE FROM share_links WHERE id IN (SELECT id FROM share_links WHERE {ENDED} ORDER BY created LIMIT :n)",
        {"now": now, "n": kept - most + 1},
    )
    if connection.execute("SELECT COUNT(*) FROM share_links").fetchone()[0] >= most:
        raise HTTPError(507, f"{most} share links are in force, the most kept (--max-share-links): revoke one first")


def row_link(row: tuple) -> Link:
    link_id_, path, folder, upload_only, password, creator, created, expires, revoked, uses = row
    return Link(link_id_, path, bool(folder), bool(upload_only), password, creator, created, expires, revoked, uses)


def find_link(settings: Settings, token: str) -> Link | None:
    rows = database(settings).query(f"SELECT {COLUMNS} FROM share_links WHERE digest = ?", (token_digest(token),))
    return row_link(rows[0]) if rows else None


def all_links(settings: Settings, creator: str | None = None, everyone: bool = True) -> list[Link]:
    """Every link, newest first (or only those `creator` made, when not `everyone`)."""
    sql = f"SELECT {COLUMNS} FROM share_links"
    rows = database(settings).query(
        sql + (" ORDER BY created DESC" if everyone else " WHERE creator IS ? ORDER BY created DESC"),
        () if everyone else (creator,),
    )
    return [row_link(row) for row in rows]


def revoke(settings: Settings, token_or_id: str, creator: str | None = None, anyone: bool = True) -> Link | None:
    """End a link, named by its token or its id; None when there is no such link (or,
    unless `anyone`, when `creator` did not make it). Revoked links stay, answered 410."""
    key = link_id(token_or_id) if TOKEN_RE.fullmatch(token_or_id) else token_or_id.lower()
    with database(settings).transaction() as connection:
        rows = connection.execute(f"SELECT {COLUMNS} FROM share_links WHERE id = ?", (key,)).fetchall()
        if not rows or not (anyone or row_link(rows[0]).creator == creator):
            return None
        connection.execute("UPDATE share_links SET revoked = COALESCE(revoked, ?) WHERE id = ?", (clock(), key))
    return row_link(rows[0])


def count_use(settings: Settings, link: Link) -> None:
    with database(settings).transaction() as connection:
        connection.execute("UPDATE share_links SET uses = uses + 1 WHERE id = ?", (link.id,))


# ---------------------------------------------------------------------------------------
# A request through a link
# ---------------------------------------------------------------------------------------

# Methods per kind of link: a read link reads, an upload-only link shows its drop page
# and takes files. Nothing else (no DELETE, no MKCOL) ever goes through a link.
READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("GET", "HEAD", "POST", "PUT")


def open_link(request: Request, settings: Settings, token: str) -> Link:
    """The link `token` names, in force, its password given; else the HTTPError: 404
    (no such link), 410 (expired, revoked), 401 (password), 405 (method)."""
    link = find_link(settings, token) if TOKEN_RE.fullmatch(token) else None
    if link is None:
        raise HTTPError(404, "no such share link")
    state = link.state(clock())
    if state == "revoked":
        raise HTTPError(410, f"share link {link.id} was revoked on {utc_text(link.revoked)}")
    if state == "expired":
        raise HTTPError(410, f"share link {link.id} expired on {utc_text(link.expires)}")
    methods = UPLOAD_METHODS if link.upload_only else READ_METHODS
    if request.method not in methods:
        raise HTTPError(405, f"this share link allows {', '.join(methods)} only", [("Allow", ", ".join(methods))])
    if link.password is not None:
        check_link_password(request, settings, link)
    count_use(settings, link)
    return link


# Passwords already checked, as keyed digests (a scrypt check takes ~50 ms; a folder's
# page and its files would take seconds).
_verified: set[bytes] = set()
_verified_key = os.urandom(32)


def check_link_password(request: Request, settings: Settings, link: Link) -> None:
    """401 with the challenge unless the request carries the link's password (any user
    name); 429 while the client is locked out (`lockout.py`, shared with logins)."""
    import hashlib  # here: a plain launch never maps libcrypto (docs/performance.md)
    import hmac

    from app.auth import basic_credentials, guard_for
    from app.passwords import verify_hash

    lockout = guard_for(settings).lockout
    wait = lockout.retry_after(request.client)
    if wait is not None:
        raise HTTPError(429, f"too many wrong passwords from your address; try again in {wait} seconds",
                        [("Retry-After", str(wait))])
    values = request.headers.get_all("authorization")
    credentials = basic_credentials(values[0]) if len(values) == 1 else None
    if credentials is not None:
        digest = hmac.new(_verified_key, f"{link.id}\0{credentials[1]}".encode(), hashlib.sha256).digest()
        if digest in _verified or verify_hash(link.password, credentials[1]):
            _verified.add(digest)
            return
        lockout.failed(request.client)
    challenge = ("WWW-Authenticate", f'Basic realm="{SHARE_REALM}", charset="UTF-8"')
    raise HTTPError(401, "this share link needs its password (any user name)", [challenge])


def target(link: Link, rest: str | None) -> str:
    """The percent-encoded path under --directory that `/s/TOKEN` + `rest` names (rest:
    None for no "/" after the token, else what follows the "/", still encoded)."""
    base = quote(link.path)
    if not link.folder:
        if rest is not None:
            raise HTTPError(404, "a link to a file has nothing below it")
        return base
    if rest is None:
        raise HTTPError(301, "a shared folder's URL ends with /")
    return (base + "/" if base else "") + rest


def share_request(request: Request, settings: Settings, subpath: str, handler: Callable) -> object:
    """`/s/TOKEN...`: open the link, then the file handler with the link's grant."""
    token, slash, rest = subpath.partition("/")
    link = open_link(request, settings, token)
    try:
        mapped = target(link, rest if slash else None)
    except HTTPError as error:
        if error.status != 301:
            raise
        raise HTTPError(301, error.reason, [("Location", request.path + "/")]) from None
    request.grant = Grant(link.path, link.rights, link.id)
    response = handler(request, settings, mapped, SHARE_PREFIX + token + "/")
    if not link.folder:  # else the browser would save the file under the token's name
        from app.archive import attachment

        response.headers.append(("Content-Disposition", attachment(link.path.rpartition("/")[2])))
    return response
