"""The file-system operations of WebDAV, in one place: look at, enumerate, copy, move and
delete resources under --directory.

`webdav.py` decides what a request means; this module does it to the disk and nothing
else, so that when every file-system call goes through the symlink-safe walk
(`safefs.py`) only these functions change. Symlinks are never followed nor copied: like
the listing, WebDAV shows regular files and folders only. The state folder
(`state.is_state_name`) and uploads still being written (`files.is_upload_in_progress`)
are never enumerated, copied or deleted by a request.

Copies are written like uploads (`files.write_atomically`: a temporary name, then one
rename), so a reader never sees half a file; a copy keeps the source's modification time,
as `cp -p` does, so a sync client does not take it for a changed file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from app.storage import is_upload_in_progress, write_atomically
from app.listing import is_utf8
from app.state import is_state_name

COPY_PIECE = 1024 * 1024


def lstat_or_none(path: Path) -> os.stat_result | None:
    """The status of a file or folder, None when nothing (or a symlink, which we never
    follow) is there."""
    try:
        status = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
        return None
    return status


def is_enumerated(name: str, show_hidden: bool) -> bool:
    """Whether a folder's entry is shown to PROPFIND Depth 1 (the listing's rule): dot
    files only with --show-hidden, never the state folder nor an upload in progress."""
    if is_state_name(name) or is_upload_in_progress(name) or not is_utf8(name):
        return False
    return show_hidden or not name.startswith(".")


def entries(folder: Path, show_hidden: bool) -> Iterator[tuple[str, os.stat_result]]:
    """(name, status) of the files and folders in `folder`, lazily (a folder of 100,000
    entries is never held in memory), in the order the file system gives them."""
    with os.scandir(folder) as scan:
        for item in scan:
            if not is_enumerated(item.name, show_hidden):
                continue
            try:
                status = item.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            if stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode):
                yield item.name, status


def all_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry a COPY or DELETE of `folder` acts on: hidden files included (they are
    the user's), uploads in progress and the state folder not."""
    with os.scandir(folder) as scan:
        for item in scan:
            if not (is_state_name(item.name) or is_upload_in_progress(item.name)):
                yield item


# ---------------------------------------------------------------------------------------
# Changes
# ---------------------------------------------------------------------------------------

Failure = tuple[Path, OSError]


def make_folder(path: Path) -> None:
    path.mkdir()


def set_mtime(path: Path, seconds: float) -> None:
    """Set the modification time (Win32LastModifiedTime, X-OC-Mtime); access time kept."""
    status = path.lstat()
    os.utime(path, ns=(status.st_atime_ns, int(seconds * 1_000_000_000)), follow_symlinks=False)


def copy_file(source: Path, destination: Path) -> None:
    """Copy a file's bytes atomically into `destination`, with the source's mtime."""
    with open(source, "rb") as file:
        status = os.fstat(file.fileno())
        write_atomically(destination, iter(lambda: file.read(COPY_PIECE), b""))
    os.utime(destination, ns=(status.st_atime_ns, status.st_mtime_ns))


def copy_tree(source: Path, destination: Path, recursive: bool, failures: list[Failure]) -> None:
    """Copy folder `source` to the new folder `destination` (its members too when
    `recursive`); what cannot be copied is added to `failures` and the rest goes on."""
    try:
        destination.mkdir()
    except OSError as error:
        failures.append((destination, error))
        return
    if recursive:
        for item in all_entries(source):
            target = destination / item.name
            try:
                if item.is_dir(follow_symlinks=False):
                    copy_tree(Path(item.path), target, True, failures)
                elif item.is_file(follow_symlinks=False):
                    copy_file(Path(item.path), target)
            except OSError as error:
                failures.append((target, error))
    mtime = source.stat().st_mtime_ns
    os.utime(destination, ns=(mtime, mtime))


def rename(source: Path, destination: Path) -> None:
    """MOVE within the served folder: one rename(2), whatever the source holds."""
    os.rename(source, destination)


def remove(path: Path, failures: list[Failure]) -> bool:
    """Delete a file, or a folder and everything it holds (RFC 4918 §9.6.1); what cannot
    be deleted goes to `failures`. True when `path` is gone."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            path.unlink()
            return True
    except FileNotFoundError:
        return True
    except OSError as error:
        failures.append((path, error))
        return False
    try:
        members = list(all_entries(path))
    except OSError as error:
        failures.append((path, error))
        return False
    whole = all([remove(Path(item.path), failures) for item in members])
    if not whole:
        return False  # a member is still there: the folder cannot go, and is not a failure of its own
    try:
        path.rmdir()
    except OSError as error:
        if error.errno != errno.ENOTEMPTY:  # an upload in progress still in it: it stays
            failures.append((path, error))
        return False
    return True
