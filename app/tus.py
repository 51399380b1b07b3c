"""Resumable uploads: the tus protocol 1.0.0 (https://tus.io/protocols/resumable-upload),
core and the extensions creation, creation-with-upload, creation-defer-length,
termination, expiration and checksum. Where its files and records live, and why a byte
acknowledged is never lost, is `tusstore.py`; docs/uploads.md tells the whole story.

- The upload endpoint is any folder URL of `/files/`: a `POST` carrying `Tus-Resumable`
  creates an upload there (a POST without it is today's form, `uploads.py`). The file's
  name comes from `Upload-Metadata` (`filename`, or `name`) and passes the same checks as
  every other upload (`uploads.target_path`: 400 for `..`, an absolute name, ...).
- Each upload's URL is `/files/.http-server-state/tus/ID`: under the state folder's name,
  which no file can have (`state.is_state_name`), so it never clashes with a served file.
- `HEAD` answers the offset, `PATCH` appends at it (409 when the client's offset is not
  the upload's), `DELETE` terminates, `OPTIONS` on `/files/` says what we support.
- Every tus request asks `permissions.require(..., "w")` on the target's name, and the
  limits of other uploads apply: `--max-upload` against Upload-Length before any byte
  (413), `--min-body-rate` while a PATCH arrives, `--max-pending-uploads` (503).
"""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

from app import tusstore
from app.dates import http_date
from app.errors import HTTPError
from app.fields import Headers
from app.framing import Response
from app.paths import writable_folder
from app.permissions import require
from app.request import Request
from app.settings import Settings
from app.state import STATE_DIR_NAME, is_state_name
from app.tusstore import Upload, UploadBusy
from app.uploads import target_path

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"
# The checksum extension's algorithms and their digest sizes in bytes.
CHECKSUM_ALGORITHMS = {"sha1": 20, "sha256": 32, "md5": 16}
OFFSET_STREAM = "application/offset+octet-stream"
# Upload URLs are /files/ + UPLOAD_PREFIX + ID.
UPLOAD_PREFIX = STATE_DIR_NAME + "/tus/"
UPLOAD_PREFIX_LENGTH = len(UPLOAD_PREFIX)
UPLOAD_METHODS = "DELETE, HEAD, OPTIONS, PATCH"
# tus §Headers: Upload-Offset and Upload-Length are non-negative integers (digits only:
# no sign, no spaces); 18 digits keep them within a 64-bit file offset.
NUMBER_RE = re.compile(r"[0-9]{1,18}")
# Upload-Metadata keys: no spaces nor commas (tus §Upload-Metadata), printable ASCII.
METADATA_KEY_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
# Most bytes of Upload-Metadata we accept; it is kept in the record and answered by HEAD.
MAX_METADATA = 4096
RESUMABLE = ("Tus-Resumable", TUS_VERSION)
NO_STORE = ("Cache-Control", "no-store")


# ---------------------------------------------------------------------------------------
# Header parsers (pure; tests/test_units_tus.py)
# ---------------------------------------------------------------------------------------


def parse_number(value: str, name: str) -> int:
    """A non-negative integer header (Upload-Offset, Upload-Length); ValueError else."""
    if not NUMBER_RE.fullmatch(value):
        raise ValueError(f"{name} must be a non-negative whole number, not {value[:40]!r}")
    return int(value)


def parse_metadata(value: str) -> dict[str, bytes | None]:
    """Upload-Metadata: `key base64,key base64,key` (a key alone has no value). Keys are
    unique; values are strict base64 (RFC 4648 §4, padding required)."""
    if len(value) > MAX_METADATA:
        raise ValueError(f"Upload-Metadata longer than {MAX_METADATA} bytes")
    pairs: dict[str, bytes | None] = {}
    for item in value.split(",") if value.strip() else []:
        key, _, encoded = item.strip().partition(" ")
        if not METADATA_KEY_RE.fullmatch(key) or " " in encoded.strip():
            raise ValueError(f"Upload-Metadata pair {item.strip()[:40]!r} is not `key base64`")
        if key in pairs:
            raise ValueError(f"Upload-Metadata key {key!r} given twice")
        pairs[key] = decode_base64(encoded.strip(), f"Upload-Metadata value of {key!r}") if encoded.strip() else None
    return pairs


def decode_base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError(f"{what} is not base64") from None


def parse_checksum(value: str) -> tuple[str, bytes]:
    """Upload-Checksum: `algorithm base64-digest` (tus §checksum). An algorithm we do not
    support, or a digest of the wrong size, is a ValueError (answered 400)."""
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        supported = ",".join(CHECKSUM_ALGORITHMS)
        raise ValueError(f"Upload-Checksum algorithm {algorithm[:20]!r} is not supported (we support {supported})")
    digest = decode_base64(encoded.strip(), "Upload-Checksum's digest")
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]:
        raise ValueError(f"Upload-Checksum's {algorithm} digest has {len(digest)} bytes, not {CHECKSUM_ALGORITHMS[algorithm]}")
    return algorithm, digest


def file_name(metadata: dict[str, bytes | None]) -> str:
    """The file's name from the metadata (`filename`, as tus-js-client and Uppy send, or
    `name`), as UTF-8 text."""
    raw = metadata.get("filename") or metadata.get("name")
    if not raw:
        raise ValueError("Upload-Metadata must carry the file's name: `filename BASE64`")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the filename in Upload-Metadata is not UTF-8") from None


def creation_length(headers: Headers) -> int | None:
    """Upload-Length, or None for `Upload-Defer-Length: 1` (creation-defer-length);
    exactly one of the two."""
    length, defer = headers.get("upload-length"), headers.get("upload-defer-length")
    if (length is None) == (defer is None):
        raise ValueError("a tus creation carries either Upload-Length or Upload-Defer-Length: 1")
    if defer is not None:
        if defer.strip() != "1":
            raise ValueError("Upload-Defer-Length must be 1")
        return None
    return parse_number(length.strip(), "Upload-Length")


def checked(parse: Callable[..., object], *arguments: object) -> object:
    """A parser's result, its ValueError answered 400 with its reason."""
    try:
        return parse(*arguments)
    except ValueError as error:
        raise HTTPError(400, str(error)) from None


# ---------------------------------------------------------------------------------------
# What every tus request shares
# ---------------------------------------------------------------------------------------


def is_tus_request(request: Request) -> bool:
    return request.headers.get("tus-resumable") is not None


def is_upload_url(subpath: str) -> bool:
    return subpath.startswith(UPLOAD_PREFIX)


def tus_answer(handler: Callable[[Request, Settings, str], Response]) -> Callable[[Request, Settings, str], Response]:
    """Checks Tus-Resumable (tus §Tus-Resumable: 412 with Tus-Version for a version we do
    not speak) and puts Tus-Resumable on every answer, refusals included."""

    @functools.wraps(handler)
    def answer(request: Request, settings: Settings, subpath: str) -> Response:
        try:
            if request.headers.get("tus-resumable", "").strip() != TUS_VERSION:
                raise HTTPError(412, f"this server speaks tus {TUS_VERSION} (Tus-Resumable)", [("Tus-Version", TUS_VERSION)])
            if settings.directory is None:
                raise HTTPError(404, "file serving is off: start the server with --directory DIR")
            response = handler(request, settings, subpath)
        except HTTPError as error:
            error.headers.append(RESUMABLE)
            raise
        response.headers.append(RESUMABLE)
        return response

    return answer


def options_headers(settings: Settings) -> list[tuple[str, str]]:
    """What OPTIONS on /files/ adds: the tus capabilities (tus §OPTIONS)."""
    if settings.directory is None:
        return []
    return [
        ("Tus-Resumable", TUS_VERSION),
        ("Tus-Version", TUS_VERSION),
        ("Tus-Extension", EXTENSIONS),
        ("Tus-Max-Size", str(settings.limits.max_upload)),
        ("Tus-Checksum-Algorithm", ",".join(CHECKSUM_ALGORITHMS)),
    ]


def check_name(settings: Settings, upload: Upload) -> None:
    """The target's name passes again the checks of every upload (the write policy may
    have changed); the file-system calls themselves walk it safely (`safefs.py`)."""
    target_path(settings, "", upload.target)


def existing(request: Request, settings: Settings, subpath: str) -> Upload:
    """The upload an upload URL names, which this request may write; 404 when there is
    none (never created, terminated, or completed), 410 once it has expired."""
    upload_id = subpath[len(UPLOAD_PREFIX) :]
    found = tusstore.find(settings, upload_id) if tusstore.UPLOAD_ID_RE.fullmatch(upload_id) else None
    if found is None:
        raise HTTPError(404, "no upload at this URL: never created, terminated, or complete")
    require(request, settings, found.target, "w")
    if found.expires < time.time():
        tusstore.purge_expired(settings)
        raise HTTPError(410, f"this upload expired at {http_date(found.expires)} (--upload-expiry)")
    return found


def upload_headers(upload: Upload) -> list[tuple[str, str]]:
    return [("Upload-Offset", str(upload.recorded)), ("Upload-Expires", http_date(upload.expires))]


# ---------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------


@tus_answer
def create(request: Request, settings: Settings, subpath: str) -> Response:
    """POST to a folder URL (creation, creation-defer-length, creation-with-upload): 201
    with the upload's URL in Location."""
    length = checked(creation_length, request.headers)
    if length is not None and length > settings.limits.max_upload:
        raise HTTPError(413, f"Upload-Length {length} is larger than the limit of {settings.limits.max_upload} bytes")
    metadata_value = request.headers.get("upload-metadata", "")
    name = checked(file_name, checked(parse_metadata, metadata_value))
    checksum = checksum_of(request)
    with_body = request.body.declared_length != 0  # creation-with-upload: the first bytes
    if with_body:
        check_stream_type(request)
    if not writable_folder(settings, subpath).is_dir():
        raise HTTPError(404, f"no folder at {request.path}")
    target_path(settings, subpath, name)  # 400 for `..`, an absolute name, ... as every upload
    relative = unquote(subpath) + name
    if any(is_state_name(segment) for segment in relative.split("/")):
        raise HTTPError(400, f"file name {name!r} refused: {STATE_DIR_NAME} is the server's state folder")
    require(request, settings, relative, "w")
    if tusstore.is_folder(settings.directory, relative.split("/")):
        raise HTTPError(409, f"{name} is a folder")
    make_room(settings)
    expires = time.time() + settings.upload_expiry
    upload = Upload(tusstore.new_upload_id(), str(tusstore.root_of(settings)), relative, length, 0, metadata_value, expires)
    storage_call(tusstore.create_partial, settings.directory, upload, name=name)
    tusstore.insert(settings, upload)
    headers = [("Location", "/files/" + UPLOAD_PREFIX + upload.id), ("Upload-Expires", http_date(expires))]
    if with_body:
        upload = write_at(request, settings, upload, 0, checksum)
        headers.append(("Upload-Offset", str(upload.recorded)))
    elif length == 0:
        complete(settings, upload)
    return Response(201, headers)


@tus_answer
def head(request: Request, settings: Settings, subpath: str) -> Response:
    """HEAD of an upload URL: its offset and length (tus §HEAD), never cached."""
    if request.method != "HEAD":
        raise HTTPError(405, "an upload URL answers HEAD, PATCH and DELETE", [("Allow", UPLOAD_METHODS)])
    upload = existing(request, settings, subpath)
    size = tusstore.file_size(settings.directory, upload)
    if size is None and upload.recorded != upload.length:
        tusstore.forget(settings, upload.id)
        raise HTTPError(410, "this upload's partial file is gone (removed from the folder)")
    upload.recorded = tusstore.true_offset(upload.recorded, upload.recorded if size is None else size)
    headers = [*upload_headers(upload), NO_STORE]
    headers.append(("Upload-Length", str(upload.length)) if upload.length is not None else ("Upload-Defer-Length", "1"))
    if upload.metadata:
        headers.append(("Upload-Metadata", upload.metadata))
    return Response(200, headers)


@tus_answer
def patch(request: Request, settings: Settings, subpath: str) -> Response:
    """PATCH of an upload URL: the body appended at Upload-Offset (tus §PATCH); 204 with
    the new offset, once those bytes are on disk."""
    check_stream_type(request)
    offset = checked(parse_number, request.headers.get("upload-offset", "").strip(), "Upload-Offset")
    checksum = checksum_of(request)
    upload = existing(request, settings, subpath)
    upload = write_at(request, settings, upload, offset, checksum)
    return Response(204, upload_headers(upload))


@tus_answer
def terminate(request: Request, settings: Settings, subpath: str) -> Response:
    """DELETE of an upload URL (termination): its partial file and record go; 204."""
    upload = existing(request, settings, subpath)
    with locked(settings.directory, upload):
        tusstore.remove_partial(settings.directory, upload)
        tusstore.forget(settings, upload.id)
    return Response(204)


# ---------------------------------------------------------------------------------------
# Writing: one PATCH (or the body of a creation) at a time per upload
# ---------------------------------------------------------------------------------------


def check_stream_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != OFFSET_STREAM:
        raise HTTPError(415, f"a tus PATCH carries Content-Type: {OFFSET_STREAM}")


def checksum_of(request: Request) -> tuple[str, bytes] | None:
    value = request.headers.get("upload-checksum")
    return None if value is None else checked(parse_checksum, value)


def make_room(settings: Settings) -> None:
    """Purge abandoned uploads, then 503 when --max-pending-uploads are still pending."""
    tusstore.purge_expired(settings)
    count = tusstore.pending_count(settings)
    if count >= settings.max_pending_uploads:
        raise HTTPError(
            503,
            f"{count} resumable uploads are pending (--max-pending-uploads): finish or terminate one, "
            "or wait for one to expire",
            [("Retry-After", "60")],
        )


class locked:
    """The partial file open and locked by this request (`tusstore.open_locked`): 423
    while another request writes it, 410 when it is gone."""

    def __init__(self, root: Path, upload: Upload) -> None:
        self.root, self.upload = root, upload

    def __enter__(self) -> int:
        try:
            self.descriptor = tusstore.open_locked(self.root, self.upload)
        except UploadBusy:
            raise HTTPError(423, "another request is writing this upload; retry when it is done") from None
        except (FileNotFoundError, NotADirectoryError):
            raise HTTPError(410, "this upload's partial file is gone (removed from the folder)") from None
        return self.descriptor

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.descriptor)


def write_at(request: Request, settings: Settings, upload: Upload, offset: int, checksum: tuple[str, bytes] | None) -> Upload:
    """Append the body at `offset` under the upload's lock; the upload as recorded after."""
    check_name(settings, upload)
    with locked(settings.directory, upload) as descriptor:
        upload = tusstore.find(settings, upload.id)  # again, under the lock: the truth now
        if upload is None:
            raise HTTPError(404, "no upload at this URL: terminated or complete meanwhile")
        upload.recorded = tusstore.true_offset(upload.recorded, os.fstat(descriptor).st_size)
        if offset != upload.recorded:
            raise HTTPError(409, f"Upload-Offset {offset} is not the upload's offset, {upload.recorded}", [("Upload-Offset", str(upload.recorded))])
        room = room_for(request, settings, upload)
        receive(request, settings, descriptor, upload, room, checksum)
        if upload.recorded == upload.length:
            complete(settings, upload)
    return upload


def room_for(request: Request, settings: Settings, upload: Upload) -> int:
    """How many more bytes the upload takes: to its length (set now if it was deferred
    and the PATCH carries Upload-Length), or to --max-upload; 413 when the PATCH's
    Content-Length is larger, before any byte of it is read."""
    given = request.headers.get("upload-length")
    if given is not None:
        length = checked(parse_number, given.strip(), "Upload-Length")
        if upload.length is not None and length != upload.length:
            raise HTTPError(400, f"Upload-Length {length} differs from the upload's length, {upload.length}")
        if length < upload.recorded or length > settings.limits.max_upload:
            raise HTTPError(413 if length > upload.recorded else 400, f"Upload-Length {length} is out of range")
        upload.length = length
    limit = upload.length if upload.length is not None else settings.limits.max_upload
    room = limit - upload.recorded
    declared = request.body.declared_length
    if declared is not None and declared > room:
        raise HTTPError(413, f"a PATCH of {declared} bytes goes beyond the upload's end ({room} bytes left)")
    return room


class BeyondEnd(Exception):
    """A chunked PATCH body longer than the room the upload has left."""


def bounded(pieces: Iterator[bytes], room: int, hasher: object | None) -> Iterator[bytes]:
    """The body's pieces, fed to the checksum's hash; BeyondEnd past `room` bytes."""
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > room:
            raise BeyondEnd
        if hasher is not None:
            hasher.update(piece)
        yield piece


def receive(request: Request, settings: Settings, descriptor: int, upload: Upload, room: int, checksum: tuple[str, bytes] | None) -> None:
    """Stream the body into the file at upload.recorded, then make it durable and record
    it. A client gone half-way (or too slow, 408) keeps what arrived: it is fsynced and
    recorded before the error goes on. A checksum mismatch (460), a body past the end
    (413) or a checksummed body cut short keep nothing of this PATCH."""
    import hashlib  # here: loading OpenSSL's libcrypto is kept out of a plain start

    hasher = hashlib.new(checksum[0]) if checksum else None
    start, progress = upload.recorded, [0]
    try:
        tusstore.append(descriptor, start, bounded(iter(request.body), room, hasher), progress)
    except BeyondEnd:
        keep(settings, descriptor, upload, start)
        raise HTTPError(413, f"the PATCH body goes beyond the upload's end ({room} bytes left)") from None
    except BaseException as error:
        keep(settings, descriptor, upload, start if checksum else start + progress[0])
        if isinstance(error, OSError):
            raise storage_refusal(error, upload.target) from None
        raise
    if checksum and hasher.digest() != checksum[1]:
        keep(settings, descriptor, upload, start)
        raise HTTPError(460, f"the body does not match its {checksum[0]} Upload-Checksum; nothing of it was kept")
    keep(settings, descriptor, upload, start + progress[0])


def keep(settings: Settings, descriptor: int, upload: Upload, size: int) -> None:
    """`size` bytes made durable (fsync), then recorded (commit): in that order, so the
    record never claims a byte the disk may not hold."""
    tusstore.settle(descriptor, size)
    upload.recorded = size
    upload.expires = time.time() + settings.upload_expiry
    tusstore.record(settings, upload)


def complete(settings: Settings, upload: Upload) -> None:
    """The whole file is there: renamed into place (one rename), the record dropped."""
    storage_call(tusstore.finish, settings.directory, upload, name=upload.target)
    tusstore.forget(settings, upload.id)


def storage_call(function: Callable[..., None], *arguments: object, name: str) -> None:
    """A file-system step of an upload, its refusals answered as statuses."""
    try:
        function(*arguments)
    except OSError as error:
        raise storage_refusal(error, name) from None


def storage_refusal(error: OSError, name: str) -> HTTPError | OSError:
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return HTTPError(409, f"a file is in the way of the folders of {name}")
    if isinstance(error, IsADirectoryError):
        return HTTPError(409, f"{name} is a folder")
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return HTTPError(507, f"not enough storage to save {name}")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return HTTPError(403, f"permission denied writing {name}")
    return error

