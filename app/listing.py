"""Folder listings: the entries of a folder as an HTML page or JSON.

`/files/` (and its subfolders) and the static site's folders without an index.html are
answered by `listing_response()`. Entries are read with `os.scandir`; dot files (among
them the `.NAME.*.part` files of uploads in progress) and symlinks are left out.
"""

from __future__ import annotations

import html
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from app.files import CACHE_CONTROL, checked_path
from app.http import Headers, HTTPError, Request, Response, media_range_weights
from app.settings import Settings


@dataclass
class Entry:
    name: str
    is_dir: bool
    size: int
    modified: float


def list_folder(folder: Path) -> list[Entry]:
    """The visible entries of a folder, folders first, then by name. Dot files are left
    out (among them the `.name.part` files of uploads in progress); entries that are
    neither regular files nor folders, and symlinks, are left out too."""
    entries = []
    with os.scandir(folder) as scan:
        for item in scan:
            if item.name.startswith(".") or item.is_symlink():
                continue
            try:
                info = item.stat()
            except OSError:
                continue  # removed while we looked
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                is_dir = stat.S_ISDIR(info.st_mode)
                entries.append(Entry(item.name, is_dir, 0 if is_dir else info.st_size, info.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name))
    return entries


def utc(timestamp: float, time_format: str) -> str:
    """A time in UTC, e.g. `utc(t, "%Y-%m-%d %H:%M")`."""
    return time.strftime(time_format, time.gmtime(timestamp))


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


LISTING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d2330; }}
h1 {{ font-size: 1.4rem; font-weight: 600; word-break: break-all; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e6ec; }}
th {{ color: #5a6275; font-weight: 500; }}
td.size, th.size {{ text-align: right; font-variant-numeric: tabular-nums; }}
a {{ color: #1a56db; text-decoration: none; }} a:hover, a:focus {{ text-decoration: underline; }}
</style>
</head>
<body>
<h1>Index of {title}</h1>
<table>
<thead><tr><th>Name</th><th class="size">Size</th><th>Modified (UTC)</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def listing_html(title: str, entries: list[Entry], has_parent: bool) -> bytes:
    """An HTML listing. Every name is escaped for HTML and its link percent-encoded in
    full (spaces, `#`, `?`, `%` and non-ASCII included), relative to the folder's URL."""
    rows = []
    if has_parent:
        rows.append('<tr><td><a href="../">../</a></td><td class="size"></td><td></td></tr>')
    for entry in entries:
        href = quote(entry.name, safe="") + ("/" if entry.is_dir else "")
        label = html.escape(entry.name + ("/" if entry.is_dir else ""))
        size = "" if entry.is_dir else html.escape(human_size(entry.size))
        modified = utc(entry.modified, "%Y-%m-%d %H:%M")
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{label}</a></td>'
            f'<td class="size" title="{entry.size} bytes">{size}</td><td>{modified}</td></tr>'
        )
    page = LISTING_PAGE.format(title=html.escape(title), rows="\n".join(rows))
    return page.encode("utf-8")


def listing_json(entries: list[Entry]) -> bytes:
    """A JSON array of {name, size, modified}; folder names end with "/"."""
    items = [
        {"name": entry.name + ("/" if entry.is_dir else ""), "size": entry.size, "modified": utc(entry.modified, "%Y-%m-%dT%H:%M:%SZ")}
        for entry in entries
    ]
    return json.dumps(items, ensure_ascii=False).encode("utf-8")


def wants_json(headers: Headers) -> bool:
    """Whether Accept (RFC 9110 §12.5.1) prefers application/json to text/html."""
    weights = media_range_weights(headers)
    json_weight = weights.get("application/json", 0)
    return json_weight > 0 and json_weight >= weights.get("text/html", 0)


def listing_response(
    request: Request, settings: Settings, root: Path, subpath: str, url_prefix: str, offer_json: bool
) -> Response:
    """The listing of folder `subpath` (percent-encoded, "" or ending in "/") under `root`,
    whose URL is `url_prefix + subpath`; as JSON too when `offer_json` and the client
    prefers it."""
    if not settings.listing:
        raise HTTPError(404, "folder listings are off (--no-listing)")
    folder = checked_path(root, subpath.removesuffix("/")) if subpath else root.resolve()
    if not folder.is_dir():
        raise HTTPError(404, f"no folder at {request.path}")
    entries = list_folder(folder)
    headers = [CACHE_CONTROL]
    if offer_json:
        headers.append(("Vary", "Accept"))
        if wants_json(request.headers):
            return Response(200, [("Content-Type", "application/json"), *headers], listing_json(entries))
    page = listing_html(url_prefix + unquote(subpath), entries, has_parent=bool(subpath))
    return Response(200, [("Content-Type", "text/html; charset=utf-8"), *headers], page)
