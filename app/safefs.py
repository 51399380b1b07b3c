"""The symlink-safe walk: every file-system operation on a served path starts from a
descriptor of the root and goes down one component at a time, so nothing a local user
does to the tree while a request runs (a folder swapped for a symlink, atomically, in a
tight loop) can make the request read, write, list or delete outside the root.

Why: checking a resolved path and then using the path string again (check, then use)
races with whoever changes the tree in between; `O_NOFOLLOW` protects only the last
component. nginx does the same walk with `openat()` for `disable_symlinks`.

How: a `Walk` holds a stack of folder descriptors, the root at the bottom. Each folder is
opened with `os.open(name, O_RDONLY | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, dir_fd=parent)`,
and the operation itself uses `dir_fd=` (stat, open, unlink, rename, mkdir, rmdir,
utime) or the folder's descriptor (`os.scandir(fd)`). Nothing is ever looked up by a
path string under the root.

The symlink rule: a symlink is followed only when its target, walked the same way from
the descriptors we hold, stays inside the root. A relative target is walked from the
link's folder (`..` pops our own stack, never asks the file system, and popping past the
root is "outside"); an absolute target must begin with the root's path (as given or
resolved) and is walked from the root descriptor. At most `MAX_SYMLINKS` links per
lookup (Linux's limit), more is a loop. A link that leads outside is `Refused` (400), never
followed, whatever it pointed to a moment before. Listings and archives leave symlinks
out (they show what is in the folder, not what links point to); a request may name a
link that stays inside. Writes and deletes act on the link itself (a PUT replaces the
link, a DELETE removes it), never on what it points to, after the same check.

The state folder (`state.STATE_DIR_NAME`) is refused as a component at every depth, on
the way down and inside a link's target, so no request reads, writes or lists it, even
with --show-hidden; `entries()` and `tree()` leave it out.

What it does not cover: a folder moved out of the root (rename by a local user with write
access outside too) while a request holds its descriptor, and hard links to outside
files (Linux's `fs.protected_hardlinks` stops those for files the user does not own).

The API (roots are `Path`s, names are sequences of decoded segments, already checked by
`paths.py` for "", ".", "..", "/" and NUL):

- reading: `stat()`, `open_file()`, `open_folder()`, `entries()`, `tree()`,
  `open_entry()`;
- writing: `write_atomically()`, `create_file()`, `open_for_append()`, `mkdir()`,
  `rmdir()`, `unlink()`, `remove()`, `rename()`, `utime()`, `copy_tree()`,
  `remove_tree()`;
- the building block for anything else: `located()` (a folder descriptor and a name in
  it) and `Walk`.

Errors are the file system's own `OSError`s (FileNotFoundError, NotADirectoryError,
IsADirectoryError, PermissionError, ENOSPC...) for the caller to turn into a status, and
`Refused` (an `errors.HTTPError`: a status and a one-line reason) for names the walk will
not go through.
"""

from __future__ import annotations

import errno
import functools
import os
import stat as stat_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.errors import HTTPError
from app.partial_uploads import temporary_prefix
from app.state import STATE_DIR_NAME, is_state_name

# Each folder on the way: never through a symlink, only a folder, not inherited by a child.
DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
# A file to read: O_NONBLOCK so that a FIFO planted in the tree cannot block the thread
# in open() (it is then refused as not a regular file; regular files ignore the flag).
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# A new file: O_EXCL, so never one that exists, nor a symlink planted there.
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# An existing file to add to (a resumable upload), never through a symlink.
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# Linux's MAXSYMLINKS: more links than this in one lookup is a loop (ELOOP).
MAX_SYMLINKS = 40

OUTSIDE = "file name leads outside the served directory"
LOOP = "file name cannot be resolved (symlink loop?)"
STATE = f"{STATE_DIR_NAME} is the server's state folder and is never served"


class Refused(HTTPError):
    """A name the walk will not go through: an `HTTPError` with its `status` and one-line
    `reason`, so every handler's caller answers it as it answers its own refusals."""


@functools.lru_cache(maxsize=8)
def root_prefixes(root: Path) -> tuple[str, ...]:
    """The spellings of the root an absolute symlink target may start with: the path
    as given (made absolute) and with its own symlinks resolved (computed once)."""
    return tuple(dict.fromkeys((os.path.abspath(root), str(root.resolve()))))


def absolute_target_parts(root: Path, target: str) -> list[str]:
    """The components of an absolute symlink target below the root; `Refused` when it
    does not start with the root's path."""
    for prefix in root_prefixes(root):
        if prefix == "/":
            return target.split("/")
        if target == prefix or target.startswith(prefix + "/"):
            return target[len(prefix) :].split("/")
    raise Refused(400, OUTSIDE)


class Walk:
    """A stack of open folder descriptors from the root down (`fd` is the top one). Use
    it as a context manager: every descriptor it opened is closed on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
        self.links = 0

    def __enter__(self) -> Walk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    @property
    def fd(self) -> int:
        return self.fds[-1]

    def down(self, segments: Iterable[str], create: bool = False) -> None:
        """Enter each folder of `segments` in turn (creating missing ones if `create`)."""
        for segment in segments:
            self.enter(segment, create)

    def enter(self, name: str, create: bool = False) -> None:
        """Step into the folder `name` of the top folder, following a symlink there
        when it stays inside the root. `..` pops the stack; past the root is outside."""
        if name in ("", "."):
            return
        if name == "..":
            if len(self.fds) == 1:
                raise Refused(400, OUTSIDE)
            os.close(self.fds.pop())
            return
        check_segment(name)
        while True:
            try:
                self.fds.append(os.open(name, DIR_FLAGS, dir_fd=self.fd))
                return
            except FileNotFoundError:
                if not create:
                    raise
                self.make_folder(name)
            except OSError as error:
                if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                self.through_link(name)
                return

    def make_folder(self, name: str) -> None:
        """mkdir for `enter(create=True)`; one made by another request meanwhile is fine."""
        try:
            os.mkdir(name, 0o755, dir_fd=self.fd)
        except FileExistsError:
            pass

    def through_link(self, name: str) -> None:
        """`name` is not a folder: a symlink is followed (`follow`), else
        NotADirectoryError (a file is in the way)."""
        target = self.read_link(name)
        if target is None:
            raise NotADirectoryError(errno.ENOTDIR, "a file is in the way", name)
        self.follow(target, whole=True)

    def read_link(self, name: str) -> str | None:
        """The target of the symlink `name` in the top folder, None if it is not one."""
        try:
            return os.readlink(name, dir_fd=self.fd)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return None
            raise

    def follow(self, target: str, whole: bool) -> str:
        """Walk a symlink's target from the link's folder (or the root, if absolute).
        `whole`: enter every component; else all but the last, which is returned
        ("." when the target ends at a folder: the top one)."""
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise Refused(400, LOOP)
        if target.startswith("/"):
            parts = absolute_target_parts(self.root, target)
            while len(self.fds) > 1:
                os.close(self.fds.pop())
        else:
            parts = target.split("/")
        last = "." if whole else parts.pop()
        self.down(parts)
        if last in ("", ".", ".."):
            self.enter(last)
            return "."
        check_segment(last)
        return last

    def leaf(self, name: str) -> str:
        """The name in the top folder that `name` ends at once symlinks inside the root
        are followed ("." for the top folder itself); it may not exist."""
        check_segment(name)
        while (target := self.read_link(name)) is not None:
            name = self.follow(target, whole=False)
        return name


def check_segment(name: str) -> None:
    """A component the walk may go through: the state folder is never one."""
    if is_state_name(name):
        raise Refused(403, STATE)


@contextmanager
def located(
    root: Path, segments: Sequence[str], follow: bool = True, create: bool = False
) -> Iterator[tuple[int, str]]:
    """`(dir_fd, name)`: a descriptor of the folder that holds `segments` under `root`
    and the name in it, both valid inside the `with`. `follow`: a symlink at the end is
    followed (inside the root only); else it is checked the same way (`Refused` if it
    leads outside) and the link itself is named. `create`: missing folders on the way
    are made. `()` names the root itself (`name` "."). The walk's own descriptors are
    closed on exit."""
    with Walk(root) as walk:
        if not segments:
            yield walk.fd, "."
            return
        walk.down(segments[:-1], create)
        name = segments[-1]
        if follow:
            name = walk.leaf(name)
        elif walk.read_link(name) is not None:
            check_link(root, segments)
        else:
            check_segment(name)
        yield walk.fd, name


def check_link(root: Path, segments: Sequence[str]) -> None:
    """`Refused` when the symlink at `segments` leads outside the root or loops."""
    with Walk(root) as walk:
        walk.down(segments[:-1])
        walk.leaf(segments[-1])


@dataclass(frozen=True)
class ServedPath:
    """A checked name under a root (`paths.resolve_under` makes them): every use walks it
    anew from the root's descriptor. It has a few of `Path`'s methods, each one walk, and
    no `__fspath__` on purpose: a path string under the root is never used."""

    root: Path
    segments: tuple[str, ...]

    @property
    def name(self) -> str:
        """The last segment ("" for the root itself)."""
        return self.segments[-1] if self.segments else ""

    def stat(self) -> os.stat_result:
        return stat(self.root, self.segments)

    def lstat(self) -> os.stat_result:
        return stat(self.root, self.segments, follow=False)

    def is_dir(self) -> bool:
        """As `Path.is_dir`: False when it cannot be looked at (`Refused` goes up)."""
        return self.is_kind(stat_module.S_ISDIR)

    def is_file(self) -> bool:
        return self.is_kind(stat_module.S_ISREG)

    def exists(self) -> bool:
        return self.is_kind(lambda mode: True)

    def is_kind(self, test: Callable[[int], bool]) -> bool:
        try:
            return test(self.stat().st_mode)
        except OSError:
            return False

    def child(self, name: str) -> ServedPath:
        return ServedPath(self.root, (*self.segments, name))

    def open_file(self) -> int:
        """`open_file()`: a descriptor of the regular file, for reading."""
        return open_file(self.root, self.segments)

    def read_bytes(self) -> bytes:
        with open(self.open_file(), "rb") as file:
            return file.read()


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def stat(root: Path, segments: Sequence[str], follow: bool = True) -> os.stat_result:
    """The status of `segments` (of what a symlink inside the root points to, unless
    `follow` is False)."""
    with located(root, segments, follow) as (folder, name):
        return os.stat(name, dir_fd=folder, follow_symlinks=False)


def open_file(root: Path, segments: Sequence[str]) -> int:
    """A descriptor of the regular file `segments`, open for reading (the caller closes
    it). IsADirectoryError for a folder or anything that is not a regular file."""
    for _ in range(MAX_SYMLINKS):
        with located(root, segments) as (folder, name):
            try:
                descriptor = os.open(name, READ_FLAGS, dir_fd=folder)
                break
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                # Made a symlink since `located` looked: look again.
    else:
        raise Refused(400, LOOP)
    try:
        if not stat_module.S_ISREG(os.fstat(descriptor).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", segments[-1] if segments else "")
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


@contextmanager
def open_folder(root: Path, segments: Sequence[str]) -> Iterator[int]:
    """A descriptor of the folder `segments` (`()`: the root), valid inside the `with`."""
    with Walk(root) as walk:
        walk.down(segments)
        yield walk.fd


@dataclass(frozen=True)
class Entry:
    """One entry of a folder: its name and its lstat (a file or a folder, never a link)."""

    name: str
    status: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.status.st_mode)


def folder_entries(folder: int) -> list[Entry]:
    """The regular files and folders in the folder descriptor `folder`, in no order:
    symlinks, other kinds and the state folder left out (`os.scandir(fd)`; each entry's
    status from `fstatat` in that folder, never through a link)."""
    found = []
    with os.scandir(folder) as scan:
        for item in scan:
            if item.is_symlink() or is_state_name(item.name):
                continue
            try:
                status = item.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            if stat_module.S_ISDIR(status.st_mode) or stat_module.S_ISREG(status.st_mode):
                found.append(Entry(item.name, status))
    return found


def entries(root: Path, segments: Sequence[str]) -> list[Entry]:
    """The entries of the folder `segments` (`folder_entries`)."""
    with open_folder(root, segments) as folder:
        return folder_entries(folder)


@dataclass(frozen=True)
class TreeEntry:
    """One entry met by `tree()`: its `/`-separated path below the top (folders end in
    "/"), its lstat, and where it is (`folder` descriptor, `name`), valid until the next."""

    path: str
    status: os.stat_result
    folder: int
    name: str

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.status.st_mode)


def tree(folder: int, keep: Callable[[str], bool] = lambda name: True, prefix: str = "") -> Iterator[TreeEntry]:
    """Every folder and regular file below the folder descriptor `folder`, folders before
    their contents, each level in name order, for which `keep(name)` is true. Subfolders
    are opened by descriptor with O_NOFOLLOW: a folder swapped for a symlink meanwhile is
    left out, never followed. Open a file with `open_entry(entry)`."""
    for item in sorted(folder_entries(folder), key=lambda item: item.name):
        if not keep(item.name):
            continue
        if not item.is_dir:
            yield TreeEntry(prefix + item.name, item.status, folder, item.name)
            continue
        yield TreeEntry(prefix + item.name + "/", item.status, folder, item.name)
        try:
            inner = os.open(item.name, DIR_FLAGS, dir_fd=folder)
        except OSError:
            continue  # gone, or swapped for a link, since the listing
        try:
            yield from tree(inner, keep, prefix + item.name + "/")
        finally:
            os.close(inner)


def open_entry(entry: TreeEntry) -> int:
    """A descriptor of the regular file `entry` (from `tree`), for reading. ELOOP if it
    became a symlink since the listing, IsADirectoryError if it is no longer a file."""
    descriptor = os.open(entry.name, READ_FLAGS, dir_fd=entry.folder)
    if not stat_module.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IsADirectoryError(errno.EISDIR, "not a regular file", entry.name)
    return descriptor


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def temporary_name(name: str) -> str:
    """A hidden name beside `name` for a file being written (`partial_uploads.py`): this host
    and process, 48 random bits, `.part` (`os.urandom`: no `secrets`, which loads
    OpenSSL at start-up, docs/performance.md)."""
    return f"{temporary_prefix(name)}{os.urandom(6).hex()}.part"


def write_all(descriptor: int, data: bytes | memoryview) -> None:
    """os.write() until the whole of `data` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def write_atomically(root: Path, segments: Sequence[str], chunks: Iterable[bytes], create: bool = True) -> None:
    """Write `chunks` to `segments` so readers see the old file or the whole new one:
    streamed into a temporary file in the same folder descriptor, fsynced, renamed over
    the target in that folder (atomic), then the folder fsynced. On any failure (full
    disk, client gone, limit passed) the temporary file is removed and the target is
    untouched. `create`: missing folders on the way are made. A symlink at the target is
    replaced, never written through."""
    with located(root, segments, follow=False, create=create) as (folder, name):
        temporary = temporary_name(name)
        descriptor = os.open(temporary, CREATE_FLAGS, 0o644, dir_fd=folder)
        try:
            try:
                for chunk in chunks:
                    write_all(descriptor, chunk)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            os.unlink(temporary, dir_fd=folder)
            raise
        os.fsync(folder)


def create_file(root: Path, segments: Sequence[str], create: bool = False) -> int:
    """A descriptor of a new, empty file at `segments` (O_EXCL: FileExistsError if
    anything is there), open for writing; the caller closes it."""
    with located(root, segments, follow=False, create=create) as (folder, name):
        return os.open(name, CREATE_FLAGS, 0o644, dir_fd=folder)


def open_for_append(root: Path, segments: Sequence[str]) -> int:
    """A descriptor of the existing regular file `segments`, open for appending (never
    through a symlink: ELOOP); the caller closes it."""
    with located(root, segments, follow=False) as (folder, name):
        descriptor = os.open(name, APPEND_FLAGS, dir_fd=folder)
    if not stat_module.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IsADirectoryError(errno.EISDIR, "not a regular file", segments[-1])
    return descriptor


def mkdir(root: Path, segments: Sequence[str], parents: bool = False) -> None:
    """Create the folder `segments` (its missing parents too if `parents`).
    FileExistsError if anything is there, FileNotFoundError for a missing parent."""
    with located(root, segments, follow=False, create=parents) as (folder, name):
        os.mkdir(name, 0o755, dir_fd=folder)


def rmdir(root: Path, segments: Sequence[str]) -> None:
    """Remove the empty folder `segments` (OSError ENOTEMPTY if it is not)."""
    with located(root, segments, follow=False) as (folder, name):
        os.rmdir(name, dir_fd=folder)


def unlink(root: Path, segments: Sequence[str]) -> None:
    """Remove the file (or symlink: the link itself) `segments`."""
    with located(root, segments, follow=False) as (folder, name):
        os.unlink(name, dir_fd=folder)


def remove(root: Path, segments: Sequence[str]) -> None:
    """Remove a file or symlink, or a folder if it is empty (ENOTEMPTY if not)."""
    with located(root, segments, follow=False) as (folder, name):
        if stat_module.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            os.rmdir(name, dir_fd=folder)
        else:
            os.unlink(name, dir_fd=folder)


def rename(root: Path, source: Sequence[str], target: Sequence[str], replace: bool = True) -> bool:
    """Move `source` to `target` (both under `root`, the links themselves, not what they
    point to); True if something was at `target` and got replaced. With `replace`
    False, FileExistsError when something is there. Folders on the way must exist."""
    with located(root, source, follow=False) as (source_folder, source_name):
        with located(root, target, follow=False) as (target_folder, target_name):
            try:
                os.stat(target_name, dir_fd=target_folder, follow_symlinks=False)
                existed = True
            except FileNotFoundError:
                existed = False
            if existed and not replace:
                raise FileExistsError(errno.EEXIST, "exists already", target[-1])
            os.replace(source_name, target_name, src_dir_fd=source_folder, dst_dir_fd=target_folder)
            return existed


def utime(root: Path, segments: Sequence[str], ns: tuple[int, int] | None = None) -> None:
    """Set the access and modification times of `segments` (now, if `ns` is None)."""
    with located(root, segments, follow=False) as (folder, name):
        if ns is None:
            os.utime(name, dir_fd=folder, follow_symlinks=False)
        else:
            os.utime(name, ns=ns, dir_fd=folder, follow_symlinks=False)


def remove_tree(root: Path, segments: Sequence[str]) -> None:
    """Remove `segments` and, for a folder, everything in it, by descriptors (a symlink
    inside is removed, never followed). The root itself cannot be removed."""
    if not segments:
        raise Refused(403, "the served directory itself cannot be removed")
    with located(root, segments, follow=False) as (folder, name):
        remove_below(folder, name)


def remove_below(folder: int, name: str) -> None:
    """Remove `name` in the folder descriptor `folder`, recursively for a folder."""
    try:
        os.unlink(name, dir_fd=folder)
        return
    except IsADirectoryError:
        pass
    except PermissionError:  # unlink() of a folder is EISDIR on Linux, EPERM elsewhere
        if not stat_module.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            raise
    inner = os.open(name, DIR_FLAGS, dir_fd=folder)
    try:
        with os.scandir(inner) as scan:
            names = [item.name for item in scan]
        for item in names:
            remove_below(inner, item)
    finally:
        os.close(inner)
    os.rmdir(name, dir_fd=folder)


def copy_tree(root: Path, source: Sequence[str], target: Sequence[str]) -> None:
    """Copy the file or folder `source` to `target` (which must not exist; its folder
    must), by descriptors: a file through a temporary file renamed into place, a folder
    recursively (symlinks and the state folder left out, never followed)."""
    with located(root, source) as (source_folder, source_name):
        with located(root, target, follow=False) as (target_folder, target_name):
            copy_below(source_folder, source_name, target_folder, target_name)


def copy_below(source_folder: int, source_name: str, target_folder: int, target_name: str) -> None:
    status = os.stat(source_name, dir_fd=source_folder, follow_symlinks=False)
    if stat_module.S_ISREG(status.st_mode):
        copy_file(source_folder, source_name, target_folder, target_name)
        return
    if not stat_module.S_ISDIR(status.st_mode):
        return  # a link or a special file: not copied
    os.mkdir(target_name, 0o755, dir_fd=target_folder)
    inner_source = os.open(source_name, DIR_FLAGS, dir_fd=source_folder)
    try:
        inner_target = os.open(target_name, DIR_FLAGS, dir_fd=target_folder)
        try:
            for item in folder_entries(inner_source):
                copy_below(inner_source, item.name, inner_target, item.name)
        finally:
            os.close(inner_target)
    finally:
        os.close(inner_source)


def copy_file(source_folder: int, source_name: str, target_folder: int, target_name: str) -> None:
    """Copy one regular file between folder descriptors, atomically at the target."""
    source = os.open(source_name, READ_FLAGS, dir_fd=source_folder)
    try:
        temporary = temporary_name(target_name)
        target = os.open(temporary, CREATE_FLAGS, 0o644, dir_fd=target_folder)
        try:
            try:
                while piece := os.read(source, 1 << 20):
                    write_all(target, piece)
            finally:
                os.close(target)
            os.replace(temporary, target_name, src_dir_fd=target_folder, dst_dir_fd=target_folder)
        except BaseException:
            os.unlink(temporary, dir_fd=target_folder)
            raise
    finally:
        os.close(source)
