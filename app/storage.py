"""Atomic storage: what changes the disk, for a request. An upload is streamed into a
hidden temporary file beside its target and renamed over it when whole (`store_upload`,
through `safefs.write_atomically`: both in the folder's descriptor), so readers see the
old file or the new one, never part of it; folders are made (`make_directory`) and files
or empty folders removed (`remove_path`), every one of them through the descriptor walk
of `safefs.py`, the file system's refusals answered as statuses (403, 404, 409, 507)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from app import safefs
from app.errors import HTTPError
from app.partial_uploads import TEMPORARY_NAME_RE, TUS_PARTIAL_NAME_RE
from app.safefs import ServedPath, temporary_name


def temporary_path(path: Path) -> Path:
    """Where an upload to `path` would be written until whole (`safefs.temporary_name`):
    a hidden name beside it naming this host and process, 48 random bits, `.part`."""
    return path.with_name(temporary_name(path.name))


def is_upload_in_progress(name: str) -> bool:
    """Whether a file name is the temporary file of an upload still being written (the
    name `temporary_path` gives, `partial_uploads.TEMPORARY_NAME_RE`), or the partial file
    of a resumable upload (`partial_uploads.TUS_PARTIAL_NAME_RE`)."""
    return TEMPORARY_NAME_RE.fullmatch(name) is not None or TUS_PARTIAL_NAME_RE.fullmatch(name) is not None


def store_upload(path: ServedPath, chunks: Iterable[bytes], name: str, create: bool = True) -> None:
    """`safefs.write_atomically()` into `path`, creating its folders when `create` (a
    missing one is 409 otherwise, before a byte of the body is read): the temporary file
    and the rename both in the folder's descriptor, so a folder swapped for a symlink
    meanwhile cannot send a byte outside. The file system's refusals answered as statuses
    (`name` is the file's name for the reasons); on a full disk (ENOSPC, EDQUOT, EFBIG)
    507, with the temporary file removed and the previous version untouched."""
    try:
        safefs.write_atomically(path.root, path.segments, chunks, create=create)
    except FileNotFoundError:
        raise HTTPError(409, f"the parent folder of {name} does not exist") from None
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


def make_directory(path: ServedPath, name: str, parents: bool) -> bool:
    """Create the folder `path` (and its missing parents if `parents`); False when
    something exists there already. The file system's refusals become statuses."""
    try:
        safefs.mkdir(path.root, path.segments, parents=parents)
    except FileExistsError:
        return False
    except FileNotFoundError:
        raise HTTPError(409, f"the parent folder of {name} does not exist") from None
    except NotADirectoryError:
        raise HTTPError(409, f"a file is in the way of the folders of {name}") from None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise HTTPError(507, f"not enough storage to create {name}") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied creating {name}") from None
        raise
    return True


def remove_path(path: ServedPath, name: str) -> None:
    """Remove a file (a symlink: the link itself), or a folder if it is empty; a folder
    with entries is 409 (never a recursive delete), as the file system's other refusals
    get their status."""
    try:
        safefs.remove(path.root, path.segments)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404, f"no file or folder named {name}") from None
    except OSError as error:
        if error.errno == errno.ENOTEMPTY:
            raise HTTPError(409, f"folder {name} is not empty ({entry_count(path)}); delete them first") from None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HTTPError(403, f"permission denied deleting {name}") from None
        raise


def entry_count(path: ServedPath) -> str:
    """How many entries the folder holds, in words ("1 entry", "3 entries")."""
    try:
        with safefs.open_folder(path.root, path.segments) as folder, os.scandir(folder) as scan:
            count = sum(1 for _ in scan)
    except OSError:
        return "entries"
    return "1 entry" if count == 1 else f"{count} entries"
