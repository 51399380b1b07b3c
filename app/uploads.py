"""Forms posted to a folder URL of `/files/` (`POST /files/` or `POST /files/sub/`):
file uploads as `multipart/form-data` (what `curl -F` and an HTML form with
`enctype=multipart/form-data` send), and the folder actions of the listing's forms as
`application/x-www-form-urlencoded` (`mkdir=NAME`, `delete=NAME`).

It owns: reading the form (`MultipartReader`, from `multipart.py`), storing each file
part through the same atomic path as PUT (`storage.store_upload`, `write_atomically`),
with the path safety and the write policy of every other write (`paths.writable_path`),
and the answer: 201 with what was stored (HTML, JSON or plain text), or 303 back to
the folder after a form action.

Choices, as documented in docs/file-sharing.md:
- Each file is stored when its part is complete. If the upload fails half-way (a bad
  part, the client gone, the limit passed), the part being written is removed (it was
  only ever a temporary file) and the parts already complete stay: the error's reason
  says how many. A folder upload cut off half-way keeps what arrived, as with scp.
- An existing file of the same name is replaced, as by PUT without preconditions;
  with `If-None-Match: *` (as for PUT) an existing name is refused with 412 instead.
- A file name may hold folders (`dir/sub/a.txt`, sent by browsers for a folder picked
  with `webkitdirectory`): they are created. A name that is absolute or holds `..` is
  refused with 400, never cleaned up into some other name.
- `--max-upload` applies to the whole request body, so to the sum of the files.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from app.davlocks import check_write
from app.errors import HTTPError
from app.framing import Response, text_response
from app.multipart import Event, MultipartError, MultipartReader, PartStart, boundary_from
from app.negotiation import media_range_weights
from app.paths import writable_folder, writable_path
from app.permissions import allows, require
from app.request import Request
from app.safefs import ServedPath
from app.settings import Limits, Settings
from app.storage import make_directory, remove_path, store_upload

# A reason stays one short line: a folder upload stopped at file 900 names the first few.
MAX_NAMES_IN_REASON = 5


@dataclass
class Stored:
    """One thing a form created: a file (with its size) or a folder (size None)."""

    name: str  # relative to the folder posted to, "/"-separated; folders end with "/"
    url: str
    size: int | None


def post_to_folder(request: Request, settings: Settings, subpath: str) -> Response:
    """`POST` to a folder URL: a multipart upload or a url-encoded folder action."""
    folder = writable_folder(settings, subpath)
    # Uploads are refused before the body is read (each file and action then asks for
    # its own path); a form action asks for the right it needs (w or d) on its target.
    place = unquote(subpath.removesuffix("/"))
    deletes = not is_form_upload(request) and allows(request, settings, place, "d")
    require(request, settings, place, "d" if deletes else "w")
    if not folder.is_dir():
        raise HTTPError(404, f"no folder at {request.path}")
    if is_form_upload(request):
        return form_upload(request, settings, subpath)
    if media_type(request) == "application/x-www-form-urlencoded":
        return form_action(request, settings, subpath)
    raise HTTPError(
        415,
        "POST to a folder takes multipart/form-data (files) or application/x-www-form-urlencoded "
        "(mkdir=NAME or delete=NAME)",
        [("Accept-Post", "multipart/form-data, application/x-www-form-urlencoded")],
    )


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lowercased (RFC 9110 §8.3.1)."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def is_form_upload(request: Request) -> bool:
    return media_type(request) == "multipart/form-data"


# ---------------------------------------------------------------------------------------
# multipart/form-data: files, and `mkdir`
# ---------------------------------------------------------------------------------------


def form_upload(request: Request, settings: Settings, subpath: str) -> Response:
    """Store every file part of the form in the folder (`mkdir` fields create folders);
    201 with the list of what was stored."""
    try:
        boundary = boundary_from(request.headers.get("content-type", ""))
    except MultipartError as error:
        raise HTTPError(400, str(error)) from None
    request.body.check_limit()
    reader = MultipartReader(boundary, request.body)
    # RFC 9110 §13.1.2: `If-None-Match: *` asks that no current file be replaced.
    replace = request.headers.get("if-none-match", "").strip() != "*"
    stored: list[Stored] = []
    check_write(request, settings, [unquote(subpath).removesuffix("/")])  # new members: RFC 4918 §7.4
    try:
        while (event := reader.next_event()) is not Event.END_OF_BODY:
            assert isinstance(event, PartStart), event  # the grammar allows nothing else here
            if event.disposition.filename:  # a locked file needs its token (RFC 4918 §7.5)
                check_write(request, settings, [unquote(subpath) + event.disposition.filename])
            stored.extend(store_part(request, reader, event, settings, subpath, replace))
    except MultipartError as error:
        raise HTTPError(400, str(error) + kept(stored)) from None
    except HTTPError as error:  # a ProtocolError (413, 408) stays one: the connection closes
        raise type(error)(error.status, error.reason + kept(stored), error.headers) from None
    if not stored:
        raise HTTPError(400, "the form holds no file (a part with a filename) and no mkdir field")
    return stored_response(request, subpath, stored)


def kept(stored: list[Stored]) -> str:
    """What an error's reason adds when earlier parts of the same form were stored."""
    if not stored:
        return ""
    names = ", ".join(item.name for item in stored[:MAX_NAMES_IN_REASON])
    more = len(stored) - MAX_NAMES_IN_REASON
    return f" (stored before it, and kept: {names}" + (f" and {more} more)" if more > 0 else ")")


def store_part(
    request: Request, reader: MultipartReader, part: PartStart, settings: Settings, subpath: str, replace: bool
) -> list[Stored]:
    """One part: a file is stored, a `mkdir` field makes a folder, other fields (a
    submit button) are read and dropped. An empty file part with an empty file name
    is what a browser sends for a file input left empty: skipped."""
    filename = part.disposition.filename
    if filename is None:
        value = field_value(reader)
        if part.disposition.name == "mkdir" and value:
            return [create_folder(request, settings, subpath, value)]
        return []
    if filename == "":
        if any(reader.part_data()):
            raise HTTPError(400, f"a file part (field {part.disposition.name}) has an empty file name")
        return []
    return [store_file(request, reader, settings, subpath, filename, replace)]


def field_value(reader: MultipartReader) -> str:
    """The text of a form field that is not a file, held whole (at most Limits.max_form_field)."""
    value = bytearray()
    for piece in reader.part_data():
        value += piece
        if len(value) > Limits.max_form_field:
            raise HTTPError(413, f"a form field larger than {Limits.max_form_field} bytes")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "a form field is not valid UTF-8") from None


def target_path(
    request: Request, settings: Settings, subpath: str, name: str, right: str = "w", encoded: str | None = None
) -> ServedPath:
    """Where `name` (decoded, maybe `dir/a.txt`) goes in folder `/files/{subpath}`: every
    segment checked by `writable_path`, the reason naming the refused name; then `right`
    on it asked of `permissions.require()`. `encoded`: the name as the client
    percent-encoded it, checked as a URL's path is."""
    if name.startswith("/"):
        raise HTTPError(400, f"file name {name!r} is absolute; names must be relative to the folder")
    if encoded is None:
        # Encoded for `resolve_under`, which decodes once; "\\" stays as it is, so that
        # it is refused as a backslash, not as an encoded separator.
        encoded = quote(name, safe="/\\")
    try:
        path = writable_path(settings, subpath + encoded.removesuffix("/"))
    except HTTPError as error:
        if error.status != 400:
            raise
        raise HTTPError(400, f"file name {name!r} refused: {error.reason}") from None
    require(request, settings, unquote(subpath) + name.removesuffix("/"), right)
    return path


def store_file(
    request: Request, reader: MultipartReader, settings: Settings, subpath: str, filename: str, replace: bool
) -> Stored:
    """Stream one file part to disk through `write_atomically`: on any failure while it
    arrives, its temporary file is removed and nothing of it is left. An existing file
    is replaced (which needs the right to delete it), unless `replace` is False (412)."""
    path = target_path(request, settings, subpath, filename)
    if path.is_dir():
        raise HTTPError(409, f"{filename} is a folder")
    if not replace and path.exists():
        raise HTTPError(412, f"{filename} exists already (If-None-Match: *)")
    if path.exists():
        require(request, settings, unquote(subpath) + filename, "d")
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for piece in reader.part_data():
            size += len(piece)
            yield piece

    store_upload(path, counted(), filename)
    return Stored(filename, "/files/" + subpath + quote(filename, safe="/"), size)


def create_folder(request: Request, settings: Settings, subpath: str, name: str) -> Stored:
    """`mkdir=NAME`: make the folder (and its parents); 409 if a file or folder is there."""
    path = target_path(request, settings, subpath, name.removesuffix("/"))
    if not make_directory(path, name, parents=True):
        raise HTTPError(409, f"{name} exists already")
    folder = name.removesuffix("/") + "/"
    return Stored(folder, "/files/" + subpath + quote(folder, safe="/"), None)


# ---------------------------------------------------------------------------------------
# The answer: HTML for a browser, JSON on request, plain text for curl
# ---------------------------------------------------------------------------------------


def preferred_format(request: Request) -> str:
    """"json" if Accept (RFC 9110 §12.5.1) prefers application/json, "html" if it
    prefers text/html (a browser), else "text" (curl and scripts send `*/*`)."""
    weights = media_range_weights(request.headers)
    as_json, as_html = weights.get("application/json", 0), weights.get("text/html", 0)
    if as_json > 0 and as_json >= as_html:
        return "json"
    return "html" if as_html > 0 else "text"


def stored_response(request: Request, subpath: str, stored: list[Stored]) -> Response:
    """201 listing what the form stored, in the format the client prefers."""
    folder_url = "/files/" + subpath
    headers = [("Vary", "Accept"), ("Cache-Control", "no-store")]
    kind = preferred_format(request)
    if kind == "json":
        items = [{"name": item.name, "size": item.size, "url": item.url} for item in stored]
        body = json.dumps({"folder": folder_url, "stored": items}, ensure_ascii=False)
        return Response(201, [("Content-Type", "application/json"), *headers], body.encode("utf-8"))
    if kind == "html":
        return Response(201, [("Content-Type", "text/html; charset=utf-8"), *headers], stored_html(folder_url, stored))
    lines = "".join(f"{item.url}" + ("\n" if item.size is None else f" {item.size} bytes\n") for item in stored)
    return Response(201, [("Content-Type", "text/plain; charset=utf-8"), *headers], lines.encode("utf-8"))


STORED_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stored in {folder}</title>
<style>body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }}
@media (prefers-color-scheme: dark) {{ body {{ background: #14171f; color: #e3e6ec; }} a {{ color: #8ab4ff; }} }}</style>
</head>
<body>
<h1>Stored in {folder}</h1>
<ul>
{items}
</ul>
<p><a href="{back}">Back to {folder}</a></p>
</body>
</html>
"""


def stored_html(folder_url: str, stored: list[Stored]) -> bytes:
    items = "\n".join(
        f'<li><a href="{html.escape(item.url)}">{html.escape(item.name)}</a>'
        + ("" if item.size is None else f" ({item.size} bytes)")
        + "</li>"
        for item in stored
    )
    folder = html.escape(unquote(folder_url))
    page = STORED_PAGE.format(folder=folder, items=items, back=html.escape(folder_url))
    return page.encode("utf-8")


# ---------------------------------------------------------------------------------------
# application/x-www-form-urlencoded: mkdir=NAME, delete=NAME
# ---------------------------------------------------------------------------------------


def form_action(request: Request, settings: Settings, subpath: str) -> Response:
    """One folder action from a form that works without JavaScript: `mkdir=NAME`
    creates a folder, `delete=NAME` deletes a file or an empty folder. 303 See Other back
    to the folder (RFC 9110 §15.4.4), so the browser shows the listing with a GET."""
    if request.query == "delete":
        return delete_selected(request, settings, subpath)
    action, name = action_field(request.body.read_all(Limits.max_form_field))
    if action == "mkdir":
        # RFC 4918 §7.4: a locked folder's members are locked too.
        check_write(request, settings, [unquote(subpath) + name.removesuffix("/")])
        create_folder(request, settings, subpath, name)
    else:
        # The name comes percent-encoded, as in the entry's URL: a browser normalises the
        # line breaks of a form value to CRLF (HTML, "converting a form data set"), so
        # `a\nx` sent as it is would arrive as `a\r\nx` and delete that file instead.
        decoded = unquote(name.removesuffix("/"))
        path = target_path(request, settings, subpath, decoded, "d", encoded=name)
        check_write(request, settings, removes=[unquote(subpath) + decoded])
        remove_path(path, unquote(name))
    folder_url = "/files/" + subpath
    return text_response(303, f"done; see {folder_url}", [("Location", folder_url)])


def delete_selected(request: Request, settings: Settings, subpath: str) -> Response:
    """`POST /files/sub/?delete`: the listing's selection form, a url-encoded body of
    `NAME=on` fields, NAME percent-encoded once more by the page (so a CR or LF in it
    survives the form, whose values and names browsers normalize): delete each, in order;
    the first that cannot be deleted stops the rest with its own status and reason. 303
    back to the folder. (Names, not positions: a folder changed since the page was shown
    can never make the form delete another entry.)"""
    try:
        names = [unquote(name, errors="strict") for name, _ in form_fields(request.body.read_all(MAX_SELECTION_BYTES))]
    except UnicodeDecodeError:
        raise HTTPError(400, "a selected name is not UTF-8 once percent-decoded") from None
    if not names:
        raise HTTPError(400, "nothing selected: check the entries to delete")
    for name in names:
        decoded = name.removesuffix("/")
        path = target_path(request, settings, subpath, decoded, "d")
        # RFC 4918 §7.4 / §9.6: a locked entry (or one in a locked folder) is not removed.
        check_write(request, settings, removes=[unquote(subpath) + decoded])
        remove_path(path, name)
    folder_url = "/files/" + subpath
    return text_response(303, f"deleted {len(names)}; see {folder_url}", [("Location", folder_url)])


# The selection form of a big folder: every name checked, percent-encoded, at most 64 KiB
# of form per 300 names or so; 4 MiB covers every entry of a folder of ~20,000.
MAX_SELECTION_BYTES = 4 * 1024 * 1024


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The fields of an url-encoded form body (ASCII only: a browser encodes the rest)."""
    try:
        return parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPError(400, "malformed application/x-www-form-urlencoded body") from None


def action_field(body: bytes) -> tuple[str, str]:
    """The one `mkdir=NAME` or `delete=NAME` field of an url-encoded form body."""
    fields = form_fields(body)
    if len(fields) != 1 or fields[0][0] not in ("mkdir", "delete"):
        raise HTTPError(400, "a folder form holds one field: mkdir=NAME or delete=NAME")
    action, name = fields[0]
    if not name:
        raise HTTPError(400, f"{action} needs a name")
    return action, name
