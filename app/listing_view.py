"""The HTML of a folder listing: the page, its table, its forms, its style and script.

`listing.py` decides what is listed and in which order; this module only writes it out.
The page works whole without JavaScript: the column heads are links (`?sort=&order=`),
the filter is a GET form (`?filter=`), uploads and new folders are plain HTML forms
posted to the folder's URL, and deleting is one form around the table: a checkbox in
each row, one "Delete selected" button (two steps: check, then press). With JavaScript
the same controls upload one file per request with a progress bar (XMLHttpRequest),
take dropped files and folders, filter the rows in the page as you type, and use
`MKCOL` and `DELETE` after a `confirm()`. Every name is escaped for HTML and every link
percent-encoded in full. A row is lean (no per-row form, no per-row attributes beyond
the link and the checkbox): a folder of 20,000 entries is ~2 MB of HTML, and streams
out in pieces (`listing_pieces`).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote, urlencode

SORT_KEYS = ("name", "size", "modified")
COLUMN_LABELS = {"name": "Name", "size": "Size", "modified": "Modified (UTC)"}


@dataclass(frozen=True)
class View:
    """How the client asked to see the folder: `?sort=`, `?order=`, `?filter=`."""

    sort: str = "name"  # one of SORT_KEYS
    order: str = "asc"  # "asc" or "desc"
    filter: str = ""  # a case-insensitive part of the names to show; "" shows all


class Entry(NamedTuple):
    """One listed entry: a tuple, as a folder may hold hundreds of thousands (made
    and read at C speed, 72 bytes each besides its name)."""

    name: str
    is_dir: bool
    size: int  # 0 for a folder
    modified_ns: int  # st_mtime_ns


@dataclass(frozen=True)
class Page:
    """Where the listed folder is and what the page offers besides the table."""

    folder_url: str  # percent-encoded, ends with "/", e.g. "/files/sub%20folder/"
    root_url: str  # the first breadcrumb: "/files/" or "/"
    downloads: bool  # links to ?download=zip and ?download=tar.gz
    manager: bool  # upload, new folder and delete controls (writes are allowed)
    share: bool = False  # "Share selected" and "Share this folder" (share links: sharelinks.py)


def human_size(size: int) -> str:
    """Bytes as people read them, in three figures at most, with `ls -h`'s units (K is
    1,024 bytes, M 1,024 K, ...): `512 B`, `1.5K`, `15K`, `3.2G`."""
    if size < 1024:
        return f"{size} B"
    for unit in "KMGT":
        size /= 1024
        if size < 1023.5 or unit == "T":
            return f"{size:.0f}{unit}" if size >= 9.95 else f"{size:.1f}{unit}"
    raise AssertionError("unreachable")


def utc(modified_ns: int, time_format: str) -> str:
    """A time in UTC, e.g. `utc(t, "%Y-%m-%d %H:%M")`."""
    return time.strftime(time_format, time.gmtime(modified_ns // 1_000_000_000))


def display_name(entry: Entry) -> str:
    return entry.name + ("/" if entry.is_dir else "")


def entry_href(entry: Entry) -> str:
    """The entry's link relative to the folder's URL, every reserved character encoded."""
    return quote(entry.name, safe="") + ("/" if entry.is_dir else "")


def hash_href(entry: Entry) -> str:
    """The link that answers the file's SHA-256, computed only when followed (`digest.py`)."""
    return entry_href(entry) + "?hash=sha256"


def view_query(view: View, **changes: str) -> str:
    """`?sort=...&order=...` (and `&filter=` when filtering) for this view with changes."""
    fields = {"sort": view.sort, "order": view.order, "filter": view.filter, **changes}
    return "?" + urlencode({key: value for key, value in fields.items() if value}, quote_via=quote)


# ---------------------------------------------------------------------------------------
# Parts of the page
# ---------------------------------------------------------------------------------------


def breadcrumbs(page: Page) -> str:
    """The folder's path with a link on each folder above it, the current one last."""
    links = [f'<a href="{html.escape(page.root_url)}">{html.escape(page.root_url)}</a>']
    url = page.root_url
    for segment in page.folder_url[len(page.root_url) :].split("/")[:-1]:
        url += segment + "/"
        links.append(f'<a href="{html.escape(url)}">{html.escape(unquote(segment))}/</a>')
    return "".join(links)


def column_head(key: str, view: View) -> str:
    """A column head linking to the listing sorted by its column; the current sort
    column shows its order and links to the other order."""
    label = COLUMN_LABELS[key]
    css = ' class="size"' if key == "size" else ""
    if key != view.sort:
        href = html.escape(view_query(view, sort=key, order="asc"))
        return f'<th{css}><a href="{href}" title="sort by {key}">{label}</a></th>'
    ascending = view.order == "asc"
    href = html.escape(view_query(view, order="desc" if ascending else "asc"))
    arrow, aria = ("▲", "ascending") if ascending else ("▼", "descending")
    flip = "descending" if ascending else "ascending"
    return (
        f'<th{css} aria-sort="{aria}"><a href="{href}" title="sort by {key}, {flip}">'
        f'{label} <span class="arrow">{arrow}</span></a></th>'
    )


# A name made only of these characters is its own percent-encoding and needs no HTML
# escape: the row is written without calling `quote()` and `html.escape()` for it.
PLAIN_NAME_RE = re.compile(r"[A-Za-z0-9_.~-]+")
# Rows are joined and handed on this many at a time: pieces of a few KiB.
ROWS_PER_PIECE = 128


def share_link(page: Page, name: str) -> str:
    """A link to the form that makes a share link for `name` in this folder."""
    path = unquote(page.folder_url[len(page.root_url) :]) + name
    href = "/shares/?" + urlencode({"path": path}, quote_via=quote)
    return f'<a class="share" href="{html.escape(href)}">Share<span class="visually-hidden"> {html.escape(name)}</span></a>'


def has_selection(page: Page) -> bool:
    """Whether rows carry a checkbox: something can be done to the checked entries."""
    return page.manager or page.share


def table_rows(page: Page, entries: Iterable[Entry]) -> Iterator[str]:
    """The rows of the table, a piece of `ROWS_PER_PIECE` rows at a time. A row is lean
    (issue 20: ~100 bytes for a 14-character name): the name's link, its size, its time,
    and with the file manager or share links a checkbox of the one selection form (`selection_form`)
    named by the percent-encoded name, so every name (a CR or LF in it too) survives
    the form's round trip. The end tags of cells and rows are implied (HTML's optional
    tags), attribute values are percent-encoded, so never need quotes."""
    selects, plain = has_selection(page), PLAIN_NAME_RE.fullmatch
    minutes: dict[int, str] = {}  # "2026-12-07 23:35" by minute: one strftime per minute
    batch: list[str] = []
    for name, is_dir, size, modified_ns in entries:
        if plain(name):
            encoded = label = name
        else:
            encoded, label = quote(name, safe=""), html.escape(name, quote=False)
        when = minutes.get(minute := modified_ns // 60_000_000_000)
        if when is None:
            when = minutes[minute] = utc(modified_ns, "%Y-%m-%d %H:%M")
        cells = f"<a href={encoded}/>{label}/</a><td>" if is_dir else f"<a href={encoded}>{label}</a><td>{human_size(size)}"
        if selects:
            batch.append(f"<tr><td><input type=checkbox name={encoded}>{cells}<td>{when}")
        else:
            batch.append(f"<tr><td>{cells}<td>{when}")
        if len(batch) == ROWS_PER_PIECE:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def table_body(page: Page, entries: Iterable[Entry], view: View, has_parent: bool) -> Iterator[str]:
    """The `<tbody>`'s content: the parent row, the entries, or why there are none."""
    if has_parent:
        yield '<tr class="parent"><td><a href="../">../</a><td><td>'
    empty = True
    for rows in table_rows(page, entries):
        empty = False
        yield rows
    if empty:
        why = f"No name contains “{html.escape(view.filter)}”." if view.filter else "This folder is empty."
        yield f'<tr class="none"><td colspan="3">{why}'


def filter_form(view: View) -> str:
    """A GET form: works without JavaScript; the script filters as you type."""
    return (
        '<form class="filter" method="get" role="search">'
        '<label for="filter">Filter</label> '
        f'<input id="filter" type="search" name="filter" value="{html.escape(view.filter)}" '
        'placeholder="part of a name" autocomplete="off">'
        f'<input type="hidden" name="sort" value="{view.sort}">'
        f'<input type="hidden" name="order" value="{view.order}">'
        '<button type="submit">Filter</button></form>'
    )


def downloads(page: Page) -> str:
    if not page.downloads:
        return ""
    share = " · " + share_link(page, "").replace(">Share<", ">Share this folder<", 1) if page.share else ""
    return (
        '<p class="downloads">Download this folder: '
        f'<a href="?download=zip">zip</a> · <a href="?download=tar.gz">tar.gz</a>{share}</p>'
    )


def manager(page: Page) -> str:
    """Upload (files, or a folder), and a new folder: plain forms posted to the folder."""
    if not page.manager:
        return ""
    action = html.escape(page.folder_url)
    return f"""<section class="manager" aria-label="Change this folder">
<form id="upload-files" class="upload" method="post" enctype="multipart/form-data" action="{action}">
<label>Files <input type="file" name="file" multiple required></label>
<button type="submit">Upload files</button></form>
<form id="upload-folder" class="upload" method="post" enctype="multipart/form-data" action="{action}">
<label>A folder <input type="file" name="file" webkitdirectory multiple required></label>
<button type="submit">Upload folder</button></form>
<div id="drop" class="drop" tabindex="0" role="button" hidden>Drop files or folders here, or press to pick files</div>
<ul id="progress" aria-live="polite"></ul>
<form id="mkdir" method="post" action="{action}">
<label>New folder <input type="text" name="mkdir" required autocomplete="off"></label>
<button type="submit">Create</button></form>
<p id="status" role="status"></p>
</section>"""


def selection_form(page: Page) -> tuple[str, str]:
    """The start and end of the one form around the table whose checkboxes choose what
    to delete or share. "Delete selected" (file manager) posts to `?delete` on the folder
    (a url-encoded body of `NAME=on`, each NAME percent-encoded): it works without
    JavaScript; with it, the script asks with confirm() and sends DELETE for each.
    "Share selected" (`page.share`) asks `GET /shares/` with the checked names and
    `share-in=FOLDER` (`sharepages.shares_page` takes the one checked entry), with or
    without JavaScript (the whole form does that without the file manager). ("", "")
    when neither is on."""
    if not has_selection(page):
        return "", ""
    if page.manager:
        start = f'<form id="selection" method="post" action="{html.escape(page.folder_url)}?delete">'
    else:  # nothing here posts: only "Share selected", which asks GET /shares/
        start = '<form id="selection" method="get" action="/shares/">'
    buttons = '<button type="submit" class="danger">Delete selected</button>' if page.manager else ""
    if page.share:
        folder = html.escape(unquote(page.folder_url[len(page.root_url) :]))
        buttons += (
            f' <button type="submit" class="share" formmethod="get" formaction="/shares/" name="{SHARE_FIELD}"'
            f' value="{folder}">Share selected</button>'
        )
    return start, f'<p class="selection">{buttons}</p></form>'


# The share button's field: the folder the checked names are in (`sharepages.shares_page`).
SHARE_FIELD = "share-in"


def listing_page(page: Page, entries: Iterable[Entry], view: View, has_parent: bool) -> bytes:
    """The whole page, as UTF-8 (`listing_pieces` joined)."""
    return "".join(listing_pieces(page, entries, view, has_parent)).encode("utf-8")


def listing_pieces(page: Page, entries: Iterable[Entry], view: View, has_parent: bool) -> Iterator[str]:
    """The page in pieces of a few KiB: the head, the rows, the end; a folder of any
    size is written out without the whole page ever being in memory (nor its entries,
    when `entries` come from `listing_sort.SortedEntries`)."""
    title = html.escape(unquote(page.folder_url))
    heads = "".join(column_head(key, view) for key in SORT_KEYS)
    form_start, form_end = selection_form(page)
    if page.downloads:  # one line for the page, not a link in every row (a lean row)
        form_end += '\n<p class="note">A file\'s SHA-256: its link with <code>?hash=sha256</code> after it.</p>'

    yield f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Index of {title}</title>
<style>{STYLE}</style>
</head>
<body>
<main data-folder="{html.escape(page.folder_url)}">
<h1>Index of <span class="crumbs">{breadcrumbs(page)}</span></h1>
{downloads(page)}
{manager(page)}
{filter_form(view)}
{form_start}<table>
<thead><tr>{heads}</tr></thead>
<tbody id="entries">
"""
    yield from table_body(page, entries, view, has_parent)
    yield f"""
</tbody>
</table>
{form_end}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------
# Style and script (constants, inserted as they are)
# ---------------------------------------------------------------------------------------

STYLE = """
:root { --ink: #1d2330; --muted: #5a6275; --line: #e3e6ec; --page: #fff; --link: #1a56db;
        --bad: #b42318; --ok: #1c7c4a; --box: #f4f6fa; --focus: #f59e0b; }
@media (prefers-color-scheme: dark) {
  :root { --ink: #e6e9ef; --muted: #9aa3b5; --line: #2c3342; --page: #12161f; --link: #8ab4ff;
          --bad: #ff8a80; --ok: #6fdc9c; --box: #1b2130; }
}
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; padding: 0 1rem;
       color: var(--ink); background: var(--page); }
h1 { font-size: 1.4rem; font-weight: 600; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin-top: .8rem; table-layout: fixed; }
th.size { width: 6rem; } th:last-child { width: 10rem; }
td:first-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; }
th a { color: inherit; }
#entries td:nth-child(2), th.size { text-align: right; font-variant-numeric: tabular-nums; }
#entries input { margin: 0 .5rem 0 0; vertical-align: middle; }
a { color: var(--link); text-decoration: none; } a:hover, a:focus { text-decoration: underline; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
input, button { font: inherit; color: inherit; }
button, summary { cursor: pointer; }
.manager, .downloads { background: var(--box); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .9rem; }
.manager form { margin: .3rem 0; }
.filter { margin-top: 1rem; }
.drop { border: 2px dashed var(--muted); border-radius: 8px; padding: 1rem; text-align: center; color: var(--muted); margin: .4rem 0; }
.drop.over { border-color: var(--link); color: var(--link); }
#progress { list-style: none; padding: 0; margin: 0; }
#progress li { display: grid; grid-template-columns: 1fr 8rem 12rem; gap: .6rem; align-items: center; }
.ok { color: var(--ok); } .bad, button.danger { color: var(--bad); }
.selection { margin: .6rem 0; }
tr.none td { color: var(--muted); }
.note { color: var(--muted); font-size: .9em; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""

SCRIPT = r"""
"use strict";
const main = document.querySelector("main"), folder = main.dataset.folder;
const $ = (id) => document.getElementById(id);
const say = (text, ok) => { const s = $("status"); if (s) { s.textContent = text; s.className = ok ? "ok" : "bad"; } };

// Swap in the table of the listing, unfiltered (after a change), then filter it here.
async function refresh() {
  const url = new URL(location.href);
  url.searchParams.delete("filter");
  served = "";
  const answer = await fetch(url, { headers: { Accept: "text/html" } });
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  $("entries").replaceWith(page.getElementById("entries"));
  if (box.value) box.dispatchEvent(new Event("input"));
}

// An entry row's name: its link, percent-decoded ("/" after a folder's). Not the link's
// text: HTML reads a CR in a name as an LF.
const rowName = (row) => decodeURIComponent(row.cells[0].querySelector("a").getAttribute("href"));
const entryRows = () => [...$("entries").rows].filter((row) => !row.className);

// Filter as you type, in the page: one pass over the rows, once a frame however fast the
// keys come, each row's lower-case name computed once (kept on the row), and `hidden`
// changed only on the rows whose state changes (20,000 rows: a style change for those
// alone, then one layout). A page the server filtered already (?filter=) holds only its
// matches: a filter that is not narrower than that one asks the server again.
const box = $("filter");
let served = new URL(location.href).searchParams.get("filter") || "", frame = 0;
box.addEventListener("input", () => {
  const wanted = box.value.toLowerCase(), url = new URL(location.href);
  if (box.value) url.searchParams.set("filter", box.value); else url.searchParams.delete("filter");
  history.replaceState(null, "", url);
  if (!wanted.includes(served.toLowerCase())) { location.replace(url); return; }
  frame = frame || requestAnimationFrame(applyFilter);
});
function applyFilter() {
  frame = 0;
  const wanted = box.value.toLowerCase();
  for (const row of entryRows()) {
    if (row.filterKey === undefined) row.filterKey = rowName(row).toLowerCase();
    const hide = !row.filterKey.includes(wanted);
    if (row.hidden !== hide) row.hidden = hide;
  }
}

// One POST per file, multipart, the relative path as its file name; a bar for each.
function send(item) {
  const row = document.createElement("li"), bar = document.createElement("progress"), state = document.createElement("span");
  row.append(item.path, bar, state); bar.max = 100; bar.value = 0; $("progress").append(row);
  return new Promise((done) => {
    const request = new XMLHttpRequest(), form = new FormData();
    form.append("file", item.file, item.path);
    request.open("POST", folder);
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; };
    request.onload = () => {
      const ok = request.status === 201;
      if (ok) bar.value = 100;
      state.textContent = ok ? "done" : request.status + " " + request.responseText.trim();
      state.className = ok ? "ok" : "bad"; done(ok);
    };
    request.onerror = () => { state.textContent = "connection lost"; state.className = "bad"; done(false); };
    request.send(form);
  });
}

// Files above TUS_THRESHOLD go through tus 1.0.0 (tus.py) in TUS_CHUNK pieces, which fit
// under a proxy's body limit; the upload's URL is kept in localStorage under the file's
// name, size and modification time, so a dropped connection or a reload resumes it.
const TUS_THRESHOLD = 8 * 1024 * 1024, TUS_CHUNK = 4 * 1024 * 1024, TUS = { "Tus-Resumable": "1.0.0" };
const RETRIES = 6;
const base64 = (text) => btoa(Array.from(new TextEncoder().encode(text), (byte) => String.fromCharCode(byte)).join(""));
const tusKey = (item) => `tus ${folder}${item.path} ${item.file.size} ${item.file.lastModified}`;
const pause = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The offset the server holds for `url`; null when it no longer knows the upload.
async function tusOffset(url) {
  const answer = await fetch(url, { method: "HEAD", headers: TUS, cache: "no-store" });
  if (answer.status === 404 || answer.status === 410) return null;
  if (!answer.ok) throw new Error(`${answer.status} from HEAD`);
  return Number(answer.headers.get("Upload-Offset"));
}

async function tusCreate(item) {
  const metadata = `filename ${base64(item.path)}` + (item.file.type ? `,filetype ${base64(item.file.type)}` : "");
  const answer = await fetch(folder, { method: "POST", headers: { ...TUS, "Upload-Length": String(item.file.size), "Upload-Metadata": metadata } });
  if (answer.status !== 201) throw new Error(`${answer.status} ${(await answer.text()).trim()}`);
  return new URL(answer.headers.get("Location"), location.href).href;
}

// One PATCH of `blob` at `offset`; resolves the new offset, rejects with the status (0:
// the connection was lost) and the server's reason.
function tusPatch(url, blob, offset, shown) {
  return new Promise((done, fail) => {
    const request = new XMLHttpRequest();
    request.open("PATCH", url);
    for (const [name, value] of Object.entries(TUS)) request.setRequestHeader(name, value);
    request.setRequestHeader("Upload-Offset", String(offset));
    request.setRequestHeader("Content-Type", "application/offset+octet-stream");
    request.upload.onprogress = (e) => shown(offset + e.loaded);
    request.onload = () => request.status === 204 ? done(Number(request.getResponseHeader("Upload-Offset")))
      : fail({ status: request.status, text: request.responseText.trim() });
    request.onerror = () => fail({ status: 0, text: "connection lost" });
    request.send(blob);
  });
}

// Find where to start: the stored upload if the server still has it, else a new one.
async function tusStart(item, key, state) {
  const url = localStorage.getItem(key);
  if (url) {
    const offset = await tusOffset(url);
    if (offset !== null) return { url, offset };
    localStorage.removeItem(key);
    state.dataset.note = "cannot resume: the server no longer had the earlier upload (expired or removed), so it started again";
    state.textContent = state.dataset.note;
  }
  const created = await tusCreate(item);
  localStorage.setItem(key, created);
  return { url: created, offset: 0 };
}

async function sendResumable(item, bar, state) {
  const key = tusKey(item), size = item.file.size, shown = (at) => { bar.value = 100 * at / size; };
  let { url, offset } = await tusStart(item, key, state);
  for (let failures = 0; offset < size; ) {
    shown(offset);
    try {
      offset = await tusPatch(url, item.file.slice(offset, offset + TUS_CHUNK), offset, shown);
      failures = 0;
    } catch (error) {
      if (error.status !== 0 && error.status !== 409 && error.status !== 423) throw new Error(`${error.status} ${error.text}`);
      if (++failures > RETRIES) throw new Error("connection lost; what arrived is kept: pick the same file again to resume");
      state.textContent = `connection lost at ${Math.floor(100 * offset / size)} %, retrying…`;
      await pause(Math.min(1000 * 2 ** failures, 15000));
      offset = await tusOffset(url).catch(() => offset);
      if (offset === null) throw new Error("cannot resume: the server no longer has this upload (expired or removed)");
    }
  }
  localStorage.removeItem(key);
}

function resumable(item) {
  const row = document.createElement("li"), bar = document.createElement("progress"), state = document.createElement("span");
  row.append(item.path, bar, state); bar.max = 100; bar.value = 0; $("progress").append(row);
  return sendResumable(item, bar, state).then(
    () => { bar.value = 100; state.textContent = state.dataset.note ? `done (${state.dataset.note})` : "done"; state.className = "ok"; return true; },
    (error) => { state.textContent = error.message; state.className = "bad"; return false; });
}

async function upload(items) {
  let stored = 0;
  for (const item of items) stored += await (item.file.size > TUS_THRESHOLD ? resumable(item) : send(item));
  say(`${stored} of ${items.length} uploaded`, stored === items.length);
  await refresh();
}

for (const form of document.querySelectorAll("form.upload")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const files = [...form.querySelector("input[type=file]").files];
    upload(files.map((file) => ({ file, path: file.webkitRelativePath || file.name })));
    form.reset();
  });
}

// Dropped folders are walked through the entries API; plain files need no walk.
async function walk(entry, prefix, out) {
  if (entry.isFile) {
    out.push({ file: await new Promise((ok, no) => entry.file(ok, no)), path: prefix + entry.name });
    return;
  }
  const reader = entry.createReader();
  for (let batch; (batch = await new Promise((ok, no) => reader.readEntries(ok, no))).length; )
    for (const child of batch) await walk(child, prefix + entry.name + "/", out);
}

const drop = $("drop");
if (drop) {
  drop.hidden = false;
  // A drop that misses the zone must not navigate away from the page to the file.
  for (const type of ["dragover", "drop"]) document.addEventListener(type, (event) => event.preventDefault());
  const picker = Object.assign(document.createElement("input"), { type: "file", multiple: true, hidden: true });
  drop.append(picker);
  picker.addEventListener("change", () => { upload([...picker.files].map((file) => ({ file, path: file.name }))); picker.value = ""; });
  const pick = () => picker.click();
  drop.addEventListener("click", pick);
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(); } });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault(); drop.classList.remove("over");
    const files = [...event.dataTransfer.files];
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry());
    if (entries.length === 0 || entries.some((entry) => !entry)) {
      return upload(files.map((file) => ({ file, path: file.name })));
    }
    const items = [];
    for (const entry of entries) await walk(entry, "", items);
    upload(items);
  });
}

// A new folder with MKCOL (RFC 4918 §9.3).
const mkdir = $("mkdir");
if (mkdir) mkdir.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = mkdir.elements.mkdir.value;
  const answer = await fetch(folder + encodeURIComponent(name) + "/", { method: "MKCOL" });
  say(answer.ok ? `created ${name}/` : `${answer.status} ${(await answer.text()).trim()}`, answer.ok);
  if (answer.ok) { mkdir.reset(); await refresh(); }
});

// How many entries deleting a folder takes with it (RFC 4918 §9.6.1: everything in it),
// counted folder by folder with PROPFIND Depth 1 (what the listing shows), at most 1000.
async function entriesIn(url) {
  const ask = '<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>';
  let count = 0;
  const queue = [url];
  while (queue.length && count <= 1000) {
    const answer = await fetch(queue.shift(), { method: "PROPFIND", headers: { Depth: "1" }, body: ask });
    if (answer.status !== 207) return null;
    const xml = new DOMParser().parseFromString(await answer.text(), "application/xml");
    const members = [...xml.getElementsByTagNameNS("DAV:", "response")].slice(1);  // the first is the folder
    count += members.length;
    for (const member of members) {
      if (member.getElementsByTagNameNS("DAV:", "collection").length) {
        queue.push(member.getElementsByTagNameNS("DAV:", "href")[0].textContent);
      }
    }
  }
  return count > 1000 ? "more than 1000" : count;
}

// "c.txt", or for a folder with entries "full/ (and the 3 entries in it)".
async function deleteLabel(link) {
  const name = link.textContent;
  const count = name.endsWith("/") ? await entriesIn(folder + link.getAttribute("href")) : 0;
  if (!count) return name;
  return `${name} (and the ${count} ${count === 1 ? "entry" : "entries"} in it)`;
}

// Delete the checked entries: confirm() (a folder's part of the question says how many
// entries go with it), then DELETE on each one's URL (folders end with "/"). Without
// JavaScript the form posts the checked names instead. "Share selected" goes on to
// /shares/ as the form says, once exactly one entry is checked.
const selection = $("selection");
if (selection) selection.addEventListener("submit", async (event) => {
  const links = [...selection.querySelectorAll("#entries input:checked")].map((box) => box.nextElementSibling);
  if (event.submitter && event.submitter.classList.contains("share")) {
    if (links.length !== 1) { event.preventDefault(); say("check the one entry to share first", false); }
    return;
  }
  event.preventDefault();
  if (links.length === 0) return say("nothing selected: check the entries to delete first", false);
  const labels = [];
  for (const link of links) labels.push(await deleteLabel(link));
  if (!confirm(`Delete ${labels.join(", ")}?`)) return;
  const failed = [];
  for (const link of links) {
    const answer = await fetch(folder + link.getAttribute("href"), { method: "DELETE" });
    if (!answer.ok) failed.push(`${answer.status} ${(await answer.text()).trim()}`);
  }
  say(failed.length ? failed.join("; ") : `deleted ${links.map((link) => link.textContent).join(", ")}`, !failed.length);
  await refresh();
});
"""
