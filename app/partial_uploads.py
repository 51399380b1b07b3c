"""Temporary upload files: names that cannot collide, and removing those a dead process left.

An upload streams into a temporary file beside its target and is renamed over it when
whole (`storage.write_atomically`). Several instances may share one upload folder (two
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
from pathlib import Path

log = logging.getLogger("app")

# The temporary name, whole: `.` NAME (its first 100 characters) `.` HOST `-` PID `.`
# RANDOM (12 lowercase hex digits) `.part`. Listings hide every name it matches, even with
# --show-hidden (`storage.is_upload_in_progress`); a user's own `.notes.part` stays visible.
TEMPORARY_NAME_RE = re.compile(
    r"\.[^/]{1,100}\.(?P<host>[A-Za-z0-9-]{1,40})-(?P<pid>[0-9]+)\.[0-9a-f]{12}\.part", re.DOTALL
)


def host_name() -> str:
    """This machine's name as it appears in temporary names: letters, digits and dashes
    only (a dot would make the name ambiguous), at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def temporary_prefix(name: str) -> str:
    """What comes before the random part of an upload's temporary name (`files.py`). The
    name is cut short so that the whole temporary name stays within NAME_MAX."""
    return f".{name[:100]}.{process_tag()}."


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


def remove_leftovers(directory: Path) -> int:
    """Delete the temporary upload files under `directory` left by dead processes of
    this host; returns how many."""
    removed = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            if is_dead_leftover(name):
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


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
