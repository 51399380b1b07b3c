"""Who may do what, where: the one question every way into `--directory` asks.

Every route that touches a served path calls `require(request, settings, path, right)`
before it reads, lists, writes or deletes anything: GET of a file, the listings, archives,
`?hash=`, PUT, POST, the forms, MKCOL, DELETE, the WebDAV methods and tus uploads. No
route keeps a copy of the rule. (`allows()` is the same answer as a bool, and
`rights_at()` all the letters at once, for what is left out rather than refused: the
entries of a listing, the folders of an archive.)

The rights, one letter each:

- `r` read a file's bytes (GET, HEAD, an archive's members, `?hash=`, COPY's source);
- `l` list a folder (the listings, PROPFIND Depth 1);
- `w` write: create or replace a file, make a folder, set properties, lock;
- `d` delete (DELETE, MOVE's source, replacing a file that exists).

Who asks: `request.user`, the user who logged in with HTTP Basic (`auth.py`, before the
route), None for an anonymous request; or `request.grant`, a share link (`sharelinks.py`),
which grants its rights on its path and below, and nothing anywhere else.

The answer, in order:

1. writing and deleting are refused with 403 and the write policy's one-line reason
   when this server refuses writes (`policy.write_refusal()`): no rule overrides
   `--read-only` or a LAN server without `--allow-writes`;
2. the rights at the path: a share link's; else the access rules' (`accessrules.py`:
   `--allow`, `--access-file`, the deepest ruled folder wins); else, with no rule, the
   server's behaviour without rules: everything for whoever passed the password check,
   reads only for anonymous requests under `--auth-writes-only`. With symlinks, a path
   has the rights of both where it is named and where it leads (a link in /team to a file
   in /private is read with /private's rule too);
3. refused: 401 with the challenge for an anonymous request on a server with passwords
   (so a browser asks for a user and logs in); else 404, as for a missing name, for a
   read or list when the user may not list the parent folder (names do not leak); else
   403 with a one-line reason.

A folder ruled `w` without `l` is a drop box: files go in, and its listing shows nothing
(the upload form only): what others dropped stays unseen.

`--access-file` is read at start and again on SIGHUP (`reload_access_file()`, from
`hangup.py`); a file that does not parse keeps the rules in force and logs why.
"""

from __future__ import annotations

from collections.abc import Callable

import functools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.accessrules import RuleTable, read_rules_file
from app.auth import challenge_field
from app.errors import HTTPError
from app.request import Request
from app.policy import write_refusal

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("app")

RIGHTS = frozenset("rlwd")

# The routes whose handlers call require() on every path, so that with access rules an
# anonymous request goes on to them (and gets its 401 there, path by path) instead of
# being stopped at the gate. WebDAV and tus add their prefixes here when they are not
# under /files/.
RULED_PREFIXES: tuple[str, ...] = ("/files/",)

VERBS = {"r": "read", "l": "list", "w": "write to", "d": "delete"}


@dataclass(frozen=True)
class Grant:
    """What a share link lets its holder do: `rights` on `path` and below."""

    path: str  # relative to --directory, decoded, "" for the whole of it
    rights: str  # letters of "rlwd"
    link_id: str  # the link's short id (never the token), for reasons and logs


# ---------------------------------------------------------------------------------------
# The rules in force: --allow, and --access-file (reloaded on SIGHUP)
# ---------------------------------------------------------------------------------------

# Access file path -> its rules as last read successfully. Replaced whole on a reload,
# so a request sees the old table or the new one, never half of each.
_file_rules: dict[str, tuple] = {}


def has_rules(settings: Settings) -> bool:
    return bool(settings.allow) or settings.access_file is not None


@functools.lru_cache(maxsize=8)
def _table(allow: tuple, file_rules: tuple) -> RuleTable:
    return RuleTable((*allow, *file_rules))


def rule_table(settings: Settings) -> RuleTable:
    """The rules in force: the command line's, then the access file's."""
    file_rules = ()
    if settings.access_file is not None:
        key = str(settings.access_file)
        if key not in _file_rules:
            _file_rules[key] = read_rules_file(settings.access_file)
        file_rules = _file_rules[key]
    return _table(settings.allow, file_rules)


def reload_access_file(settings: Settings) -> None:
    """Read `--access-file` again (SIGHUP). On an error the rules in force stay."""
    if settings.access_file is None:
        return
    try:
        rules = read_rules_file(settings.access_file)
    except (OSError, ValueError) as error:
        log.warning("access file not reloaded, the previous rules stay: %s", error)
        return
    _file_rules[str(settings.access_file)] = rules
    log.info("access file %s reloaded: %d rule(s)", settings.access_file, len(rules))


def rule_problems(settings: Settings) -> list[str]:
    """Rules that cannot work (refused at start): a user who cannot log in, or rules
    with no --directory to apply to."""
    if not has_rules(settings):
        return []
    if settings.directory is None:
        return ["--allow and --access-file apply to --directory: give it"]
    try:
        table = rule_table(settings)
    except (OSError, ValueError) as error:
        return [f"--access-file: {error}"]
    known = {account.user for account in settings.accounts}
    unknown = sorted(table.users - known)
    if unknown:
        return [f"access rules name user(s) {', '.join(unknown)} without a password (--auth or --auth-file)"]
    return []


# ---------------------------------------------------------------------------------------
# The question
# ---------------------------------------------------------------------------------------


def require(request: Request, settings: Settings, path: str, right: str) -> None:
    """Return when `request` may use `right` on `path` (relative to --directory, "" for
    the folder itself, decoded, with "/" between components); else raise the HTTPError
    that refuses it."""
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}")
    if right in "wd" and (refusal := write_refusal(settings)) is not None:
        raise HTTPError(403, refusal)
    if request.grant is None and not settings.allow and settings.access_file is None:
        return  # no rules, no link: the gate's password check was the whole answer
    if right not in rights_at(request, settings, path):
        raise refusal_for(request, settings, path, right)


def allows(request: Request, settings: Settings, path: str, right: str) -> bool:
    """Whether `require()` would let `right` through, without raising."""
    if right in "wd" and write_refusal(settings) is not None:
        return False
    return right in rights_at(request, settings, path)


def shows(request: Request, settings: Settings, path: str) -> bool:
    """Whether a listing of the folder above `path` (HTML, JSON, text, PROPFIND Depth 1)
    shows its entry: the user has some right on it (a drop box shows, so that one can go
    there to drop files); names the user has no right on stay unseen."""
    if request.grant is None and not has_rules(settings):
        return True
    wanted = "rlw" if write_refusal(settings) is None else "rl"
    return any(letter in wanted for letter in rights_at(request, settings, path))


def member_rule(request: Request, settings: Settings, right: str) -> Callable[[str], bool] | None:
    """For what acts on a whole tree (WebDAV's COPY, MOVE and DELETE of a folder): whether
    the user has `right` on each member path, or None when no rule can refuse one (no
    access rules, no share link), so a tree costs nothing more than before."""
    if request.grant is None and not has_rules(settings):
        return None
    return lambda path: allows(request, settings, path, right)


def decides_anonymous(request: Request, settings: Settings) -> bool:
    """Whether an anonymous request goes on to its route, which asks `require()` per path
    (access rules are set and the route is a ruled one), rather than being challenged at
    the gate as it is without rules."""
    return has_rules(settings) and request.path.startswith(RULED_PREFIXES)


def rights_at(request: Request, settings: Settings, path: str) -> str:
    """The letters of "rlwd" that `request` has at `path` (write policy aside)."""
    grant = request.grant
    if grant is None and not has_rules(settings):
        return "rlwd"  # the gate has already checked the password if one is needed
    real = real_path(settings, path)
    if grant is not None:
        return grant.rights if within(path, grant.path) and real is not None and within(real, grant.path) else ""
    rights = rule_rights(request, settings, path)
    if real is not None and real != path:
        rights = "".join(letter for letter in rights if letter in rule_rights(request, settings, real))
    return rights


def rule_rights(request: Request, settings: Settings, path: str) -> str:
    ruled = rule_table(settings).rights(request.user, path)
    if ruled is not None:
        return ruled
    if request.user is None and settings.accounts:
        return "rl" if settings.auth_writes_only else ""
    return "rlwd"


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (whole segments: "team2" is not in "team")."""
    return not folder or path == folder or path.startswith(folder + "/")


@functools.lru_cache(maxsize=8)
def real_root(directory: str) -> str:
    return os.path.realpath(directory)


def real_path(settings: Settings, path: str) -> str | None:
    """Where `path` leads once symlinks are followed, relative to --directory; None when
    that is outside it (the path code refuses such a path anyway)."""
    root = real_root(str(settings.directory))
    real = os.path.realpath(os.path.join(root, path)) if path else root
    if real == root:
        return ""
    if not real.startswith(root + os.sep):
        return None
    return real[len(root) + 1 :].replace(os.sep, "/")


def refusal_for(request: Request, settings: Settings, path: str, right: str) -> HTTPError:
    """The answer to a refused right: 401, 404 or 403 (see the module's docstring)."""
    grant = request.grant
    if grant is None and request.user is None and settings.accounts:
        return HTTPError(401, f"log in: /{path} needs a user name and password", [challenge_field(settings)])
    real = real_path(settings, path)
    parents = {path.rpartition("/")[0], (real or "").rpartition("/")[0]}  # named, and led to
    if right in "rl" and path and any("l" not in rights_at(request, settings, parent) for parent in parents):
        # The very words of a name that is not there (handlers.get_file, listing.py).
        return HTTPError(404, f"no file named {path}" if right == "r" else f"no folder at {request.path}")
    who = f"share link {grant.link_id}" if grant is not None else (request.user or "an anonymous user")
    return HTTPError(403, f"{who} may not {VERBS[right]} /{path}")
