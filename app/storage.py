"""Atomic storage: what changes the disk. An upload is streamed into a hidden temporary
file beside its target and renamed over it when whole (`write_atomically`,
`temporary_path`, `store_upload`), so readers see the old file or the new one, never
part of it; folders are made (`make_directory`) and files or empty folders removed
(`remove_path`), the file system's refusals answered as statuses (403, 404, 409, 507)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from app.errors import HTTPError
from app.partial_uploads import TEMPORARY_NAME_RE, temporary_prefix

def write_atomically(path: Path, chunks: Iterable[bytes], make_folders: bool = False) -> None:
    """Write `chunks` to `path` so that readers see the old file or the whole new one,
    never part of it: stream them into a temporary file beside it (never holding the
    whole body in memory), flush it to disk, then rename it over the target (rename is
    atomic within a file system) and flush the folder, so the rename survives a crash too.
    If anything fails (a full disk, the client going away mid-body, a body over the
    limit), the temporary file is removed and `path` is untouched.
    """
    temporary = temporary_path(path)
    # O_EXCL: a new file, never one that exists (or a symlink planted there); created
    # with its final mode at once (what the umask allows of rw-r--r--), no chmod after.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        descriptor = os.open(temporary, flags, 0o644)
    except FileNotFoundError:
        if not make_folders:
            raise
        # With `make_folders`, the folders in the name are made when missing, and only
        # then: an upload into an existing folder costs no mkdir() and stat() (issue 20).
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, flags, 0o644)
    try:
        try:  # straight to the descriptor: the body comes in large chunks already
            for chunk in chunks:
                write_all(descriptor, chunk)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_all(descriptor: int, data: bytes | memoryview) -> None:
    """os.write() until the whole of `data` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def temporary_path(path: Path) -> Path:
    """Where an upload to `path` is written until it is whole: a hidden name beside it,
    ending in `.part`, that names this host and process (`partial_uploads.py`: no other process,
    here or on another host, can pick it, and a dead process's file can be told apart)
    plus 48 random bits; the target's name is cut short to stay within NAME_MAX.
    (`os.urandom(6).hex()` is what `secrets.token_hex(6)` does, without `secrets`, which
    loads hashlib and OpenSSL's libcrypto at start-up: docs/performance.md.)"""
    return path.with_name(f"{temporary_prefix(path.name)}{os.urandom(6).hex()}.part")


def is_upload_in_progress(name: str) -> bool:
    """Whether a file name is the temporary file of an upload still being written (the
    name `temporary_path` gives, `partial_uploads.TEMPORARY_NAME_RE`)."""
    return TEMPORARY_NAME_RE.fullmatch(name) is not None


def store_upload(path: Path, chunks: Iterable[bytes], name: str) -> None:
    """`write_atomically()` into `path`, creating its folders, with the file system's
    refusals answered as statuses (`name` is the file's name for the reasons)."""
    try:
        write_atomically(path, chunks, make_folders=True)
    except (FileExistsError, NotADirectoryError):
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    except IsADirectoryError:
        raise HTTPError(409, f"{name} is a folder") from None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise HTTPError(507, f"not enough storage to save {name}") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied writing {name}") from None
        raise


def make_directory(path: Path, name: str, parents: bool) -> bool:
    """Create the folder `path` (and its missing parents if `parents`); False when
    something exists there already. The file system's refusals become statuses."""
    try:
        path.mkdir(parents=parents)
    except FileExistsError:
        return False
    except FileNotFoundError:
        raise HTTPError(409, f"the parent folder of {name} does not exist") from None
    except NotADirectoryError:
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied creating {name}") from None
    return True


def remove_path(path: Path, name: str) -> None:
    """Remove a file, or a folder if it is empty; a folder with entries is 409 (never a
    recursive delete), as the file system's other refusals get their status."""
    try:
        if stat.S_ISDIR(path.lstat().st_mode):
            path.rmdir()
        else:
            path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no file or folder named {name}") from None
    except OSError as error:
        if error.errno == errno.ENOTEMPTY:
            count = sum(1 for _ in os.scandir(path))
            entries = "1 entry" if count == 1 else f"{count} entries"
            raise HTTPError(409, f"folder {name} is not empty ({entries}); delete them first") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied deleting {name}") from None
        raise
