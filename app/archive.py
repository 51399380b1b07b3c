"""A folder of `--directory` as one download: `GET /files/sub/?download=zip` or
`?download=tar.gz` (and `/files/` itself).

It owns: which entries go in (`archive_entries`: what the listing shows, walked by
descriptors from the root's (`safefs.tree`) without following symlinks, so nothing
outside the root gets in, even with the tree changing under it, and no dot files, among them
the `.NAME.*.part` files of uploads in progress, nor names that are not UTF-8, nor names
with a backslash, which Windows extractors take for a separator (APPNOTE 4.4.17.1 wants
"/"): `a\\..\\..\\evil.txt` would land outside the extraction folder), the two writers (`zip_pieces`,
`tar_gz_pieces`), the `Content-Disposition` header (`attachment`, RFC 6266), and the
response (`archive_response`).

Both writers are generators: the archive is built while it is sent, one piece of one
file at a time, so memory stays flat for a folder of any size, and the connection sends
it as a `StreamBody` (chunked, or close-delimited for HTTP/1.0; see `http.py`). Since
generators are lazy, a HEAD, or a client that leaves half-way, stops the work there.

- zip: `zipfile` writes to a stream that cannot seek (it then puts each entry's sizes
  and CRC in a data descriptor after its data). Entries are stored, not deflated: a
  1 GiB folder goes out at disk speed, and most big files (media, archives) do not
  compress anyway. Use tar.gz for compression.
- tar.gz: each header from `tarfile.TarInfo.tobuf()` (POSIX pax format, UTF-8 names),
  the data in 512-byte blocks, two zero blocks at the end (POSIX ustar), and all of it
  through one `zlib` gzip stream (RFC 1952). `tarfile.open(mode="w|gz")` would do the
  same but copies each file whole inside `addfile()`, with no point to hand out pieces.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import zlib
from collections.abc import Generator, Iterator
from urllib.parse import parse_qs, quote

from app import safefs
from app.errors import HTTPError
from app.framing import Response, StreamBody
from app.paths import checked_path
from app.request import Request
from app.safefs import ServedPath, TreeEntry
from app.settings import Settings

# What a writer reads from a file at a time (and so about the size of each piece sent).
READ_SIZE = 256 * 1024

def archive_entries(folder: int, prefix: str) -> Iterator[TreeEntry]:
    """The folders and regular files under the folder descriptor `folder`, folders before
    their contents, in name order, by descriptors (`safefs.tree`: each subfolder opened
    O_NOFOLLOW from its parent's descriptor), their `path` relative to `folder`. Symlinks
    are never followed nor included, nor the state folder; dot files, names that are not
    UTF-8 and names with a backslash are left out (`archived_name`)."""
    return safefs.tree(folder, archived_name)


def archived_name(name: str) -> bool:
    """Whether an entry of this name goes in an archive: not a dot file (as in the
    listing), valid UTF-8, no backslash (a separator to Windows extractors)."""
    return not name.startswith(".") and valid_utf8(name) and "\\" not in name


def valid_utf8(name: str) -> bool:
    """Whether a name read from the disk was valid UTF-8 (Python keeps other bytes as
    lone surrogates): an archive stores names as UTF-8, so such a name cannot go in."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def file_pieces(entry: TreeEntry) -> Iterator[bytes]:
    """Exactly the entry's size in bytes, read in pieces. The file is opened from its
    folder's descriptor with O_NOFOLLOW (`safefs.open_entry`): a file swapped for a
    symlink since the walk is refused, not followed. A file that shrank since its header
    was written cannot be archived honestly: OSError (the connection then ends without
    finishing the body)."""
    with open(safefs.open_entry(entry), "rb") as file:
        remaining = entry.status.st_size
        while remaining > 0:
            piece = file.read(min(READ_SIZE, remaining))
            if not piece:
                raise OSError(f"{entry.name} shrank while it was being archived")
            remaining -= len(piece)
            yield piece


# ---------------------------------------------------------------------------------------
# zip
# ---------------------------------------------------------------------------------------


class Pipe:
    """A write-only file for `zipfile`: it collects what is written until `take()`.
    (No `tell()` and no `seek()`: zipfile then writes for a stream.)"""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


def zip_pieces(folder: ServedPath, top: str) -> Iterator[bytes]:
    """A zip archive of `folder`, its entries under `top/`, piece by piece."""
    # Imported here, when a download asks for it: zipfile and tarfile (with bz2 and lzma)
    # are ~2 MiB of RSS that every launch would carry otherwise (docs/performance.md).
    import zipfile

    pipe = Pipe()
    with safefs.open_folder(folder.root, folder.segments) as descriptor, zipfile.ZipFile(
        pipe, "w", zipfile.ZIP_STORED, allowZip64=True  # type: ignore[arg-type]
    ) as archive:
        for item in archive_entries(descriptor, top + "/"):
            entry = zip_entry(top + "/" + item.path, item.status)
            if item.is_dir:
                archive.writestr(entry, b"")
            else:
                with archive.open(entry, "w") as target:
                    for piece in file_pieces(item):
                        target.write(piece)
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()  # the central directory, written by close()


def zip_entry(name: str, info: os.stat_result):  # -> zipfile.ZipInfo
    """What `zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)` makes, from
    the lstat the walk already has (the path string is never looked up again)."""
    import zipfile  # loaded by zip_pieces(), the caller

    date_time = time.localtime(info.st_mtime)[:6]
    if date_time[0] < 1980:  # the years a zip's DOS date can hold (strict_timestamps=False)
        date_time = (1980, 1, 1, 0, 0, 0)
    elif date_time[0] > 2107:
        date_time = (2107, 12, 31, 23, 59, 59)
    entry = zipfile.ZipInfo(name, date_time)
    entry.external_attr = (info.st_mode & 0xFFFF) << 16
    if stat.S_ISDIR(info.st_mode):
        entry.file_size = 0
        entry.external_attr |= 0x10  # MS-DOS directory flag
    else:
        entry.file_size = info.st_size  # decides zip64 before the data is written
    return entry


# ---------------------------------------------------------------------------------------
# tar.gz
# ---------------------------------------------------------------------------------------


def tar_header(name: str, info: os.stat_result) -> bytes:
    """A pax header block for one entry (owner left out: it means nothing elsewhere)."""
    import tarfile  # loaded by tar_gz_pieces(), the caller (see zip_pieces() for why late)

    entry = tarfile.TarInfo(name.removesuffix("/"))
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = int(info.st_mtime)
    if stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
    else:
        entry.size = info.st_size
    return entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_gz_pieces(folder: ServedPath, top: str) -> Iterator[bytes]:
    """A gzipped tar archive of `folder`, its entries under `top/`, piece by piece."""
    import tarfile  # when a download asks for it (see zip_pieces())

    # wbits 31: a zlib stream with the gzip header and trailer (RFC 1952).
    gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
    written = 0
    with safefs.open_folder(folder.root, folder.segments) as descriptor:
        for item in archive_entries(descriptor, top + "/"):
            header = tar_header(top + "/" + item.path, item.status)
            written += len(header)
            yield gzip.compress(header)
            if not item.is_dir:
                for piece in file_pieces(item):
                    yield gzip.compress(piece)
                padding = -item.status.st_size % tarfile.BLOCKSIZE  # data fills whole 512-byte blocks
                written += item.status.st_size + padding
                yield gzip.compress(tarfile.NUL * padding)
    # The end of the archive: two zero blocks, then zeros to a whole record (as tarfile).
    end = 2 * tarfile.BLOCKSIZE
    end += -(written + end) % tarfile.RECORDSIZE
    yield gzip.compress(tarfile.NUL * end) + gzip.flush()


def gathered(pieces: Generator[bytes, None, None], size: int = READ_SIZE) -> Iterator[bytes]:
    """The same bytes in pieces of at least `size` (but the last): a folder of many small
    files makes many small pieces (a header, a few bytes of gzip), and each piece sent
    costs a chunk header and a system call."""
    waiting: list[bytes] = []
    count = 0
    with contextlib.closing(pieces):  # stopped early (a client gone): the writer stops too
        for piece in pieces:
            waiting.append(piece)
            count += len(piece)
            if count >= size:
                yield b"".join(waiting)
                waiting.clear()
                count = 0
    yield b"".join(waiting)


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------

# ?download= value: (writer, file name extension, Content-Type)
ARCHIVE_FORMATS = {
    "zip": (zip_pieces, ".zip", "application/zip"),
    "tar.gz": (tar_gz_pieces, ".tar.gz", "application/gzip"),  # RFC 6713
}


def download_format(query: str) -> str | None:
    """The archive format a folder URL's query asks for (`download=zip`), or None when
    it asks for none (the listing); 400 for one we do not make."""
    values = parse_qs(query, keep_blank_values=True).get("download")
    if values is None:
        return None
    if len(values) != 1 or values[0] not in ARCHIVE_FORMATS:
        raise HTTPError(400, "download must be one of: " + ", ".join(ARCHIVE_FORMATS))
    return values[0]


# RFC 8187 §3.2.1:  attr-char = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "."
#                               / "^" / "_" / "`" / "|" / "~"   (the rest percent-encoded)
ATTR_CHARS = "!#$&+-.^_`|~"


def attachment(filename: str) -> str:
    """`Content-Disposition: attachment` with the file name (RFC 6266 §4.1): an ASCII
    `filename` every client reads (anything else, quotes, backslashes and `%`, which
    some browsers decode, replaced by `_`), and `filename*=UTF-8''...` (§4.3, which clients prefer) when that lost
    something."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe=ATTR_CHARS)
    return value


def archive_response(request: Request, settings: Settings, subpath: str, kind: str) -> Response:
    """The folder `/files/{subpath}` as an archive of `kind` (a key of ARCHIVE_FORMATS). Like the
    listing, it shows what is in a folder, so `--no-listing` turns it off."""
    if not settings.listing:
        raise HTTPError(404, "folder downloads are off (--no-listing)")
    root = settings.directory
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else ServedPath(root, ())
    if not folder.is_dir():
        raise HTTPError(404, f"no folder at {request.path}")
    top = folder.name or root.resolve().name or "files"  # the root of the file system has no name
    writer, extension, content_type = ARCHIVE_FORMATS[kind]
    headers = [
        ("Content-Type", content_type),
        ("Content-Disposition", attachment(top + extension)),
        ("Cache-Control", "no-store"),  # built anew on each request; no validator
    ]
    return Response(200, headers, StreamBody(gathered(writer(folder, top))))
