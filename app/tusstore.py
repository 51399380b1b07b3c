"""Resumable (tus) uploads at rest: the partial file on disk and its record in the state
database. The protocol (headers, statuses) is `tus.py`; this module owns every file-system
call and every SQL statement of an upload, so the rules below live in one place.

- The partial file sits beside its target, under a hidden name that no listing, archive
  or PROPFIND shows (`partial_uploads.TUS_PARTIAL_NAME_RE`, `storage.is_upload_in_progress`):

      .NAME.tus-ID.part

  so the final rename is one `rename(2)` within one folder, atomic as for every upload.
- Its record (`tus_uploads`) holds `recorded`: the bytes fsynced AND acknowledged. The
  order of a PATCH is write, `fsync`, commit the new offset (SQLite, synchronous=FULL),
  then the 204. So after a crash at any point the file holds at least `recorded` bytes,
  and bytes past it were never acknowledged: the true offset is
  `min(recorded, file size)` (`true_offset`), and the next PATCH truncates to it before
  writing, so a garbage tail never counts and an acknowledged byte is never lost.
- One PATCH at a time per upload: the writer holds `flock(LOCK_EX | LOCK_NB)` on the
  partial file (works across `--workers` processes); a second one gets 423.
- An upload whose `expires` has passed is abandoned: its file and record are removed
  (`purge_expired`, at each creation; and at start `partial_uploads.remove_leftovers` removes
  partial files not written for longer than `--upload-expiry`).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import stat as stat_module
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app import safefs

from app.errors import HTTPError
from app.settings import Settings
from app.state import StateDatabase, state_for

SCHEMA = """
CREATE TABLE IF NOT EXISTS tus_uploads (
    id TEXT PRIMARY KEY,        -- 32 hex digits, the last part of the upload's URL
    directory TEXT NOT NULL,    -- the --directory it belongs to (resolved)
    target TEXT NOT NULL,       -- the file's name under it, decoded, "/"-separated
    length INTEGER,             -- Upload-Length; NULL while deferred
    recorded INTEGER NOT NULL,  -- bytes fsynced and acknowledged
    metadata TEXT NOT NULL,     -- Upload-Metadata as received ("" when none)
    expires REAL NOT NULL       -- Unix time after which the upload is abandoned
);
"""

UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
# Purging expired uploads is bounded per creation, so one request never walks thousands.
PURGE_BATCH = 50
T = TypeVar("T")


class UploadBusy(Exception):
    """Another request holds the upload's lock (a PATCH in flight)."""


@dataclass
class Upload:
    id: str
    directory: str
    target: str
    length: int | None
    recorded: int
    metadata: str
    expires: float

    @property
    def partial_name(self) -> str:
        return partial_name(self.target.rsplit("/", 1)[-1], self.id)

    @property
    def target_segments(self) -> list[str]:
        return self.target.split("/")

    @property
    def partial_segments(self) -> list[str]:
        """The partial file, beside the target in the same folder."""
        return [*self.target_segments[:-1], self.partial_name]


def partial_name(name: str, upload_id: str) -> str:
    """The partial file's name for target file `name`: cut to 100 bytes of UTF-8 (never
    inside a character) so that it stays within NAME_MAX."""
    short = name.encode("utf-8")[:100].decode("utf-8", errors="ignore") or "_"
    return f".{short}.tus-{upload_id}.part"


def new_upload_id() -> str:
    """128 random bits: the URL is the capability to write the upload, not guessable."""
    return os.urandom(16).hex()


# ---------------------------------------------------------------------------------------
# The record (state.py)
# ---------------------------------------------------------------------------------------


def database(settings: Settings) -> StateDatabase:
    state = state_for(settings)
    state.declare("tus_uploads", SCHEMA)
    return state


def find(settings: Settings, upload_id: str) -> Upload | None:
    rows = database(settings).query("SELECT * FROM tus_uploads WHERE id = ?", (upload_id,))
    if not rows or rows[0][1] != str(root_of(settings)):
        return None
    return Upload(*rows[0])


def root_of(settings: Settings) -> Path:
    return settings.directory.resolve()


def insert(settings: Settings, upload: Upload) -> None:
    with database(settings).transaction() as connection:
        connection.execute(
            "INSERT INTO tus_uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
            (upload.id, upload.directory, upload.target, upload.length, upload.recorded,
             upload.metadata, upload.expires),
        )


def record(settings: Settings, upload: Upload) -> None:
    """Commit the upload's offset, length and expiry: durable when this returns."""
    with database(settings).transaction() as connection:
        connection.execute(
            "UPDATE tus_uploads SET length = ?, recorded = ?, expires = ? WHERE id = ?",
            (upload.length, upload.recorded, upload.expires, upload.id),
        )


def forget(settings: Settings, upload_id: str) -> None:
    with database(settings).transaction() as connection:
        connection.execute("DELETE FROM tus_uploads WHERE id = ?", (upload_id,))


def pending_count(settings: Settings) -> int:
    """Uploads created and not complete (expired ones included until purged)."""
    rows = database(settings).query("SELECT count(*) FROM tus_uploads WHERE directory = ?", (str(root_of(settings)),))
    return int(rows[0][0])


def expired(settings: Settings, now: float) -> list[Upload]:
    rows: list[Any] = database(settings).query(
        "SELECT * FROM tus_uploads WHERE directory = ? AND expires < ? LIMIT ?",
        (str(root_of(settings)), now, PURGE_BATCH),
    )
    return [Upload(*row) for row in rows]


# ---------------------------------------------------------------------------------------
# The partial file: every call goes through the symlink-safe walk (`safefs.py`) from the
# root's descriptor, by segments, never by a path string under the root
# ---------------------------------------------------------------------------------------


def refusals_as_statuses(function: Callable[..., T]) -> Callable[..., T]:
    """A name the walk refuses (`safefs.Refused`: a symlink out, the state folder)
    becomes its status and reason."""

    @functools.wraps(function)
    def walked(*arguments: Any) -> T:
        try:
            return function(*arguments)
        except safefs.Refused as refusal:
            raise HTTPError(refusal.status, str(refusal)) from None

    return walked


@refusals_as_statuses
def is_folder(root: Path, segments: Sequence[str]) -> bool:
    try:
        return stat_module.S_ISDIR(safefs.stat(root, segments, follow=False).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


@refusals_as_statuses
def create_partial(root: Path, upload: Upload) -> None:
    """A new, empty partial file (and the target's missing folders), durable: the file
    and its folder entry are fsynced before the upload's record is committed."""
    with safefs.located(root, upload.partial_segments, follow=False, create=True) as (folder, name):
        descriptor = os.open(name, safefs.CREATE_FLAGS, 0o644, dir_fd=folder)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.fsync(folder)


@refusals_as_statuses
def open_locked(root: Path, upload: Upload) -> int:
    """The partial file open for writing, with this request's exclusive lock on it;
    FileNotFoundError when it is gone, UploadBusy when another request holds the lock."""
    descriptor = safefs.open_for_append(root, upload.partial_segments)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(descriptor)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise UploadBusy from None
        raise
    return descriptor


def true_offset(recorded: int, size: int) -> int:
    """What the upload really holds: the bytes acknowledged, unless the file is shorter
    (then only what it holds). Bytes beyond `recorded` were never acknowledged."""
    return max(0, min(recorded, size))


@refusals_as_statuses
def file_size(root: Path, upload: Upload) -> int | None:
    try:
        return safefs.stat(root, upload.partial_segments, follow=False).st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def append(descriptor: int, offset: int, pieces: Iterable[bytes], progress: list[int]) -> None:
    """Write `pieces` at `offset`, the file cut to `offset` first (a tail never
    acknowledged goes; the descriptor appends, so writes land at the end). `progress[0]`
    counts the bytes written so far, so a caller whose body fails half-way knows how
    much of it is on disk."""
    os.ftruncate(descriptor, offset)
    for piece in pieces:
        safefs.write_all(descriptor, piece)
        progress[0] += len(piece)


def settle(descriptor: int, size: int) -> None:
    """Cut the file to `size` and flush it to disk: after this, `size` bytes are durable."""
    os.ftruncate(descriptor, size)
    os.fsync(descriptor)


@refusals_as_statuses
def finish(root: Path, upload: Upload) -> None:
    """The complete upload becomes the file: one rename within one folder descriptor
    (atomic), then the folder flushed so that the rename survives a crash."""
    with safefs.located(root, upload.target_segments, follow=False) as (folder, name):
        os.replace(upload.partial_name, name, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)


@refusals_as_statuses
def remove_partial(root: Path, upload: Upload) -> None:
    try:
        safefs.unlink(root, upload.partial_segments)
    except (FileNotFoundError, NotADirectoryError):
        pass


def purge_expired(settings: Settings) -> int:
    """Remove up to PURGE_BATCH abandoned uploads (file and record). One whose lock is
    held (a PATCH in flight) is left."""
    removed, root = 0, settings.directory
    for upload in expired(settings, time.time()):
        try:
            descriptor = open_locked(root, upload)
        except UploadBusy:
            continue
        except (OSError, HTTPError):
            forget(settings, upload.id)  # the file is gone already, or its name is refused now
            removed += 1
            continue
        try:
            remove_partial(root, upload)
            forget(settings, upload.id)
            removed += 1
        finally:
            os.close(descriptor)
    return removed
