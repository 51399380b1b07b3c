"""Who may do what, where: the one question every way into `--directory` asks.

Every route that touches a served path calls `require(request, settings, path, right)`
before it reads, lists, writes or deletes anything: GET of a file, the listings, archives,
`?hash=`, PUT, POST, the forms, MKCOL, DELETE, the WebDAV methods and tus uploads. No
route keeps a copy of the rule.

The rights, one letter each:

- `r` read a file's bytes (GET, HEAD, an archive's members, `?hash=`, COPY's source);
- `l` list a folder (the listings, PROPFIND Depth 1);
- `w` write: create or replace a file, make a folder, set properties, lock;
- `d` delete (DELETE, MOVE's source).

Today the answer is the write policy alone (`policy.write_refusal()`): writing and
deleting are refused with 403 and its one-line reason when this server refuses writes,
reading and listing are open. Passwords are checked before the route (`admission.py`).
"""

from __future__ import annotations

from app.errors import HTTPError
from app.policy import write_refusal
from app.request import Request
from app.settings import Settings

RIGHTS = frozenset("rlwd")


def require(request: Request, settings: Settings, path: str, right: str) -> None:
    """Return when `request` may use `right` on `path` (relative to --directory, "" for
    the folder itself, decoded, with "/" between components); else raise the HTTPError
    that refuses it."""
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}")
    if right in "wd" and (refusal := write_refusal(settings)) is not None:
        raise HTTPError(403, refusal)
