"""Temporary upload files: names that cannot collide, and removing those a dead process left.

An upload streams into a temporary file beside its target and is renamed over it when
whole (`safefs.write_atomically`). Several instances may share one upload folder (two
machines on a network file system, two processes during a rolling restart), so the
temporary name carries the host and the process that writes it, plus a random part:

    .NAME.HOST-PID.RANDOM.part

(the leading dot and the `.part` suffix keep it out of listings). A process killed in
the middle of an upload (SIGKILL, a power cut) leaves its file behind; at start,
`remove_leftovers()` deletes the ones written on this host by a process that no longer
exists, and never those of a live process or of another host (which may still be
writing them).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from pathlib import Path

log = logging.getLogger("app")

# The temporary name, whole: `.` NAME (its first 100 bytes) `.` HOST `-` PID `.`
# RANDOM (12 lowercase hex digits) `.part`. Listings hide every name it matches, even with
# --show-hidden (`storage.is_upload_in_progress`); a user's own `.notes.part` stays visible.
TEMPORARY_NAME_RE = re.compile(
    r"\.[^/]{1,100}\.(?P<host>[A-Za-z0-9-]{1,40})-(?P<pid>[0-9]+)\.[0-9a-f]{12}\.part", re.DOTALL
)
# A resumable (tus) upload's partial file beside its target: `.` NAME (at most 100 bytes
# of it) `.tus-` ID `.part` (`tusstore.py`). It outlives the process that wrote it (the
# client resumes after a restart), so it is removed only once abandoned: not written for
# longer than --upload-expiry.
TUS_PARTIAL_NAME_RE = re.compile(r"\.[^/]{1,100}\.tus-(?P<id>[0-9a-f]{32})\.part", re.DOTALL)


def host_name() -> str:
    """This machine's name as it appears in temporary names: letters, digits and dashes
    only (a dot would make the name ambiguous), at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


# The target's name in a temporary name is cut to this many BYTES: with the rest (at most
# 1 + 1 + 40 + 1 + 7 + 1 + 12 + 5 = 68 bytes) it stays within NAME_MAX, 255 bytes on Linux.
# Cut by characters, 80 × "€" (240 bytes) made a name of 308 bytes: ENAMETOOLONG, a 500.
NAME_BYTES_IN_TEMPORARY = 100


def temporary_prefix(name: str) -> str:
    """What comes before the random part of an upload's temporary name (`files.py`). The
    name is cut to its first `NAME_BYTES_IN_TEMPORARY` bytes, at a character boundary (a
    UTF-8 sequence cut in two is left out), so the whole stays within NAME_MAX."""
    return f".{cut_to_bytes(name, NAME_BYTES_IN_TEMPORARY)}.{process_tag()}."


# "HOST-PID" of this process, made once (not a uname() and a getpid() per upload, issue
# 20); a forked child makes its own. (A host renamed while the server runs keeps its old
# name in the temporary names: they are still told apart by the PID.)
_process_tag: str | None = None


def process_tag() -> str:
    global _process_tag
    if _process_tag is None:
        _process_tag = f"{host_name()}-{os.getpid()}"
    return _process_tag


def _forget_process_tag() -> None:
    global _process_tag
    _process_tag = None


os.register_at_fork(after_in_child=_forget_process_tag)


def cut_to_bytes(name: str, limit: int) -> str:
    """The longest start of `name` whose UTF-8 form has at most `limit` bytes (a name
    read from the disk keeps its undecodable bytes, as surrogates)."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= limit:
        return name
    return encoded[:limit].decode("utf-8", "ignore")


def remove_leftovers(directory: Path, tus_expiry: float | None = None) -> int:
    """Delete the temporary upload files under `directory` left by dead processes of
    this host, and the partial files of resumable uploads not written for `tus_expiry`
    seconds (abandoned); returns how many."""
    removed = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            if is_dead_leftover(name) or is_abandoned_partial(folder, name, tus_expiry):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except FileNotFoundError:
                    pass  # another instance starting at the same moment removed it
                except OSError as error:
                    log.warning("cannot remove the partial upload %s: %s", name, error.strerror)
    if removed:
        log.info("removed %d partial upload(s) left by stopped processes", removed)
    return removed


def is_dead_leftover(name: str) -> bool:
    match = TEMPORARY_NAME_RE.fullmatch(name)
    return match is not None and match["host"] == host_name() and not process_exists(int(match["pid"]))


def is_abandoned_partial(folder: str, name: str, expiry: float | None) -> bool:
    """A tus partial file last written longer than `expiry` seconds ago (its record in
    the state database expires with it, `tusstore.purge_expired`)."""
    if expiry is None or TUS_PARTIAL_NAME_RE.fullmatch(name) is None:
        return False
    try:
        return os.stat(os.path.join(folder, name), follow_symlinks=False).st_mtime < time.time() - expiry
    except OSError:
        return False


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
