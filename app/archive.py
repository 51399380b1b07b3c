"""A folder of `--directory` as one download: `GET /files/sub/?download=zip` or
`?download=tar.gz` (and `/files/` itself).

It owns: which entries go in (`archive_entries`: what the listing shows, walked without
following symlinks, so nothing outside the root gets in, and no dot files, among them
the `.NAME.*.part` files of uploads in progress, nor names that are not UTF-8), the two writers (`zip_pieces`,
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
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote

from app.errors import HTTPError
from app.framing import Response, StreamBody
from app.paths import checked_path
from app.request import Request
from app.settings import Settings

# What a writer reads from a file at a time (and so about the size of each piece sent).
READ_SIZE = 256 * 1024

Entry = tuple[str, Path, os.stat_result]  # (name in the archive, path, its lstat)


def archive_entries(folder: Path, prefix: str) -> Iterator[Entry]:
    """The folders and regular files under `folder`, folders before their contents, in
    name order, named `prefix` + their relative path (`/`-separated, folders ending in
    `/`). Symlinks are never followed nor included, and dot files are left out, as in the
    listing."""
    with os.scandir(folder) as scan:
        items = sorted(scan, key=lambda item: item.name)
    for item in items:
        if item.name.startswith(".") or not valid_utf8(item.name):
            continue
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            continue  # removed while we looked
        path = Path(item.path)
        if stat.S_ISDIR(info.st_mode):
            yield prefix + item.name + "/", path, info
            yield from archive_entries(path, prefix + item.name + "/")
        elif stat.S_ISREG(info.st_mode):
            yield prefix + item.name, path, info


def valid_utf8(name: str) -> bool:
    """Whether a name read from the disk was valid UTF-8 (Python keeps other bytes as
    lone surrogates): an archive stores names as UTF-8, so such a name cannot go in."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def file_pieces(path: Path, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the file, read in pieces. The last path component is opened
    with O_NOFOLLOW: a file swapped for a symlink since the walk is refused, not followed.
    A file that shrank since its header was written cannot be archived honestly: OSError
    (the connection then ends without finishing the body)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(descriptor, "rb") as file:
        remaining = size
        while remaining > 0:
            piece = file.read(min(READ_SIZE, remaining))
            if not piece:
                raise OSError(f"{path.name} shrank while it was being archived")
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


def zip_pieces(folder: Path, top: str) -> Iterator[bytes]:
    """A zip archive of `folder`, its entries under `top/`, piece by piece."""
    # Imported here, when a download asks for it: zipfile and tarfile (with bz2 and lzma)
    # are ~2 MiB of RSS that every launch would carry otherwise (docs/performance.md).
    import zipfile

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:  # type: ignore[arg-type]
        for name, path, info in archive_entries(folder, top + "/"):
            entry = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
            if stat.S_ISDIR(info.st_mode):
                archive.writestr(entry, b"")
            else:
                entry.file_size = info.st_size  # decides zip64 before the data is written
                with archive.open(entry, "w") as target:
                    for piece in file_pieces(path, info.st_size):
                        target.write(piece)
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()  # the central directory, written by close()


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


def tar_gz_pieces(folder: Path, top: str) -> Iterator[bytes]:
    """A gzipped tar archive of `folder`, its entries under `top/`, piece by piece."""
    import tarfile  # when a download asks for it (see zip_pieces())

    # wbits 31: a zlib stream with the gzip header and trailer (RFC 1952).
    gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
    written = 0
    for name, path, info in archive_entries(folder, top + "/"):
        header = tar_header(name, info)
        written += len(header)
        yield gzip.compress(header)
        if stat.S_ISREG(info.st_mode):
            for piece in file_pieces(path, info.st_size):
                yield gzip.compress(piece)
            padding = -info.st_size % tarfile.BLOCKSIZE  # data fills whole 512-byte blocks
            written += info.st_size + padding
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
    root = settings.directory.resolve()
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else root
    if not folder.is_dir():
        raise HTTPError(404, f"no folder at {request.path}")
    top = folder.name or "files"  # the root of the file system has no name
    writer, extension, content_type = ARCHIVE_FORMATS[kind]
    headers = [
        ("Content-Type", content_type),
        ("Content-Disposition", attachment(top + extension)),
        ("Cache-Control", "no-store"),  # built anew on each request; no validator
    ]
    return Response(200, headers, StreamBody(gathered(writer(folder, top))))
