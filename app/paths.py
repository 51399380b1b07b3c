"""Safe paths: from a percent-encoded name in a URL to a path under a root folder.
`resolve_under` decodes once and refuses whatever could step out of the root (encoded
separators, double encoding, `..`, absolute names, NUL) and gives a `safefs.ServedPath`,
whose every use walks from the root's descriptor (a symlink leading out is refused there);
`checked_path` turns its refusal into a 400, and `writable_path` / `writable_folder`
add the write policy (403). Every path that reaches the disk comes from here."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from app.errors import HTTPError
from app.policy import write_refusal
from app.safefs import ServedPath
from app.settings import Settings

# A percent-encoded "/" or "\\" would become a separator only after decoding: the client
# meant it as part of one name, and a filter that looks at the raw path misses it.
ENCODED_SEPARATOR_RE = re.compile(r"%(2f|5c)", re.IGNORECASE)
# An escape of ".", "/", "\\" or NUL left after decoding once means the name was encoded
# twice (`%252e%252e` → `%2e%2e`): a second decoder further on would make it `..`. Other
# escapes are left alone, so a file may be called `100%cool.txt`.
DOUBLE_ENCODED_RE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


def resolve_under(root: Path, encoded_name: str) -> ServedPath:
    """The name a percent-encoded, relative name refers to under `root`, or `ValueError`
    saying why the name is refused. Every name that touches the disk goes through here.

    Decodes exactly once, then refuses anything that could step out: encoded separators
    (`%2F`, `%5C`), names encoded twice (`%252e`), absolute names, empty, `.` or `..`
    segments, backslashes, NUL, a segment over NAME_MAX. Symlinks are the walk's: each use
    of the `ServedPath` walks from the root's descriptor (`safefs.py`), and a link that
    leads outside is refused then, at the moment of use, not checked once before it."""
    if ENCODED_SEPARATOR_RE.search(encoded_name):
        raise ValueError("file name must not contain an encoded '/' or '\\' (%2F, %5C)")
    try:
        name = unquote(encoded_name, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("file name is not valid UTF-8 once percent-decoded") from None
    if not name:
        raise ValueError("missing file name")
    if "\0" in name or "\\" in name:
        raise ValueError("file name must not contain NUL or backslash")
    if DOUBLE_ENCODED_RE.search(name):
        raise ValueError("file name is percent-encoded twice")
    if name.startswith("/"):
        raise ValueError("file name must be relative, not absolute")
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError("file name must not contain empty, '.' or '..' segments")
    # NAME_MAX on Linux, macOS and Windows: longer names make every file call fail.
    if any(len(segment.encode("utf-8")) > MAX_NAME_BYTES for segment in segments):
        raise ValueError(f"file name longer than {MAX_NAME_BYTES} bytes")
    return ServedPath(root, tuple(segments))


MAX_NAME_BYTES = 255


def checked_path(root: Path, encoded_name: str) -> ServedPath:
    """`resolve_under()`, refusing a bad name with 400 and its reason."""
    try:
        return resolve_under(root, encoded_name)
    except ValueError as error:
        raise HTTPError(400, str(error)) from None


def writable_path(settings: Settings, encoded_name: str) -> ServedPath:
    """The path of `/files/{encoded_name}` for a request that changes it; 403 with the
    write policy's reason (`policy.write_refusal`) when this server refuses writes."""
    check_writes_allowed(settings)
    return checked_path(settings.directory, encoded_name)


def writable_folder(settings: Settings, encoded_folder: str) -> ServedPath:
    """The folder of a folder URL `/files/{encoded_folder}` ("" or ending in "/"), for a
    request that writes into it (`writable_path()`; "" is `--directory` itself)."""
    name = encoded_folder.removesuffix("/")
    if name:
        return writable_path(settings, name)
    check_writes_allowed(settings)
    return ServedPath(settings.directory, ())


def check_writes_allowed(settings: Settings) -> None:
    """403 with the write policy's one-line reason when this server refuses writes."""
    refusal = write_refusal(settings)
    if refusal is not None:
        raise HTTPError(403, refusal)
