"""The file-system operations of WebDAV, in one place: look at, enumerate, copy, move and
delete resources under --directory, every one of them through the symlink-safe walk
(`safefs.py`: from a descriptor of the root, one component at a time, never a path
string under the root).

`webdav.py` decides what a request means; this module does it to the disk. A resource is
named by its segments under the root (`()` is the root). Symlinks are never enumerated,
copied or followed out of the root (a link inside the root may be named, as for GET);
a DELETE removes a link, never what it points to. The state folder is refused by the
walk at every depth; uploads still being written (`storage.is_upload_in_progress`) are
never enumerated, copied or deleted by a request.

Copies are written like uploads (a temporary name, then one rename, `safefs.copy_file`),
so a reader never sees half a file, and keep the source's modification time, as `cp -p`
does, so a sync client does not take a copy for a changed file. What could not be
copied or deleted is gathered as `Failure`s (the path under the root, whether it is a
folder, the error) for the 207.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple
from pathlib import Path

from app import safefs
from app.errors import HTTPError
from app.listing import is_utf8
from app.safefs import DIR_FLAGS
from app.state import is_state_name
from app.storage import is_upload_in_progress

Segments = Sequence[str]
Failure = tuple[str, bool, OSError]  # (path under the root, is a folder, the error)
# Whether the user may act on a member path (`permissions.member_rule`); None: on all.
Rule = Callable[[str], bool] | None


def lstat_or_none(root: Path, segments: Segments) -> os.stat_result | None:
    """The status of a file or folder (through a symlink that stays inside the root),
    None when there is nothing, or nothing but a file or a folder, there."""
    try:
        status = safefs.stat(root, segments)
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


def entries(root: Path, segments: Segments, show_hidden: bool) -> Iterator[tuple[str, os.stat_result]]:
    """(name, status) of the files and folders in a folder, lazily (a folder of 100,000
    entries is never held in memory), in the order the file system gives them."""
    with safefs.open_folder(root, segments) as folder:
        for entry in safefs.scan_entries(folder):
            if is_enumerated(entry.name, show_hidden):
                yield entry.name, entry.status


# ---------------------------------------------------------------------------------------
# Changes
# ---------------------------------------------------------------------------------------


def make_folder(root: Path, segments: Segments) -> None:
    safefs.mkdir(root, segments)


def set_mtime(root: Path, segments: Segments, seconds: float) -> None:
    """Set the modification time (Win32LastModifiedTime, X-OC-Mtime); access time kept."""
    status = safefs.stat(root, segments, follow=False)
    safefs.utime(root, segments, (status.st_atime_ns, int(seconds * 1_000_000_000)))


def rename(root: Path, source: Segments, target: Segments) -> None:
    """MOVE within the served folder: one rename(2), whatever the source holds."""
    safefs.rename(root, source, target)


def copy(
    root: Path, source: Segments, target: Segments, recursive: bool, failures: list[Failure], keep: Rule = None
) -> None:
    """Copy a file, or a folder (its members too when `recursive`), to `target`, which
    does not exist; what cannot be copied goes to `failures` and the rest goes on. A
    member whose source path `keep` refuses (the user may not read it) is left out."""
    with safefs.located(root, source) as (source_folder, source_name):
        with safefs.located(root, target, follow=False) as (target_folder, target_name):
            places = Places("/".join(target), "/".join(source), keep)
            copy_below(source_folder, source_name, target_folder, target_name, recursive, failures, places)


class Places(NamedTuple):
    """Where a copy is: the target's path (for failures), the source's (for `keep`)."""

    target: str
    source: str
    keep: Rule

    def child(self, name: str) -> Places:
        return Places(f"{self.target}/{name}", f"{self.source}/{name}", self.keep)


def copy_below(
    source_folder: int, source_name: str, target_folder: int, target_name: str,
    recursive: bool, failures: list[Failure], where: Places,
) -> None:
    status = os.stat(source_name, dir_fd=source_folder, follow_symlinks=False)
    if stat.S_ISREG(status.st_mode):
        safefs.copy_file(source_folder, source_name, target_folder, target_name)
    elif stat.S_ISDIR(status.st_mode):
        os.mkdir(target_name, 0o755, dir_fd=target_folder)
        if recursive:
            copy_members(source_folder, source_name, target_folder, target_name, failures, where)
    else:
        return  # a link or a special file: not copied
    os.utime(target_name, ns=(status.st_atime_ns, status.st_mtime_ns), dir_fd=target_folder, follow_symlinks=False)


def copy_members(
    source_folder: int, source_name: str, target_folder: int, target_name: str, failures: list[Failure], where: Places
) -> None:
    """Copy what a folder holds (no symlinks, no upload in progress) by descriptors."""
    inner_source = os.open(source_name, DIR_FLAGS, dir_fd=source_folder)
    try:
        inner_target = os.open(target_name, DIR_FLAGS, dir_fd=target_folder)
        try:
            for item in safefs.folder_entries(inner_source):
                inner = where.child(item.name)
                if is_upload_in_progress(item.name) or (where.keep is not None and not where.keep(inner.source)):
                    continue
                try:
                    copy_below(inner_source, item.name, inner_target, item.name, True, failures, inner)
                except OSError as error:
                    failures.append((inner.target, item.is_dir, error))
        finally:
            os.close(inner_target)
    finally:
        os.close(inner_source)


def remove(root: Path, segments: Segments, failures: list[Failure], keep: Rule = None) -> bool:
    """Delete a file (or a link), or a folder and everything it holds (RFC 4918 §9.6.1);
    what cannot be deleted goes to `failures`, a member `keep` refuses (the user may not
    delete it) too, as a 403. True when it is all gone."""
    if not segments:
        raise safefs.Refused(403, "the served directory itself cannot be deleted")
    try:
        with safefs.located(root, segments, follow=False) as (folder, name):
            return remove_below(folder, name, "/".join(segments), failures, keep)
    except (FileNotFoundError, NotADirectoryError):
        # A folder on the way went, or became a file or a link, since the request looked:
        # the name names nothing to delete now (never what a link leads to).
        raise HTTPError(404, f"no file or folder named {'/'.join(segments)}") from None


def remove_below(folder: int, name: str, where: str, failures: list[Failure], keep: Rule = None) -> bool:
    if keep is not None and not keep(where):
        try:  # a folder's href ends in /
            is_dir = stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return True  # gone meanwhile: nothing left to refuse
        failures.append((where, is_dir, PermissionError(errno.EACCES, "no right to delete", where)))
        return False
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=folder)
            return True
        inner = os.open(name, DIR_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        return True
    except OSError as error:
        failures.append((where, False, error))
        return False
    try:
        with os.scandir(inner) as scan:
            names = [item.name for item in scan if not (is_upload_in_progress(item.name) or is_state_name(item.name))]
        # Every member is tried, even after one fails (a list, not all()'s short cut).
        whole = all([remove_below(inner, member, f"{where}/{member}", failures, keep) for member in names])
    finally:
        os.close(inner)
    if not whole:
        return False  # a member is still there: its folder stays too, and is not named (§9.6.1)
    try:
        os.rmdir(name, dir_fd=folder)
    except OSError as error:
        failures.append((where, True, error))  # e.g. an upload in progress still in it
        return False
    return True
