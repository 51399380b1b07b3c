"""The HTML of a folder listing: the page, its table, its forms, its style and script.

`listing.py` decides what is listed and in which order; this module only writes it out.
The page works whole without JavaScript: the column heads are links (`?sort=&order=`),
the filter is a GET form (`?filter=`), uploads, new folders and deletes are plain HTML
forms posted to the folder's URL, and a delete asks first through a `<details>` that
opens on a second button. With JavaScript the same controls upload one file per request
with a progress bar (XMLHttpRequest), take dropped files and folders, filter as you
type, and use `MKCOL` and `DELETE` after a `confirm()`. Every name is escaped for HTML
and every link percent-encoded in full.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

SORT_KEYS = ("name", "size", "modified")
COLUMN_LABELS = {"name": "Name", "size": "Size", "modified": "Modified (UTC)"}


@dataclass(frozen=True)
class View:
    """How the client asked to see the folder: `?sort=`, `?order=`, `?filter=`."""

    sort: str = "name"  # one of SORT_KEYS
    order: str = "asc"  # "asc" or "desc"
    filter: str = ""  # a case-insensitive part of the names to show; "" shows all


@dataclass(frozen=True)
class Entry:
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
    share: bool = False  # a "Share" link on each entry (share links: sharelinks.py)


def human_size(size: int) -> str:
    """Bytes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
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


def delete_control(page: Page, entry: Entry) -> str:
    """A delete that asks first: the summary opens a second button that posts
    `delete=NAME` (JavaScript asks with confirm() and sends DELETE instead)."""
    # Percent-encoded (as in the entry's URL; `uploads.form_action` decodes it): a browser
    # turns the CR and LF of a form value into CRLF, so a raw `a\nx` would come back as
    # `a\r\nx`, another file.
    name = html.escape(quote(entry.name))
    url = html.escape(page.folder_url + entry_href(entry))
    return (
        f'<td class="actions"><details class="delete" data-url="{url}" data-name="{html.escape(display_name(entry))}">'
        f'<summary>Delete<span class="visually-hidden"> {html.escape(display_name(entry))}</span></summary>'
        f'<form method="post" action="{html.escape(page.folder_url)}">'
        f'<input type="hidden" name="delete" value="{name}">'
        f'<button type="submit" class="danger">Delete {html.escape(display_name(entry))} for good</button>'
        f"</form></details></td>"
    )


def share_link(page: Page, name: str) -> str:
    """A link to the form that makes a share link for `name` in this folder."""
    path = unquote(page.folder_url[len(page.root_url) :]) + name
    href = "/shares/?" + urlencode({"path": path}, quote_via=quote)
    return f'<a class="share" href="{html.escape(href)}">Share<span class="visually-hidden"> {html.escape(name)}</span></a>'


def has_actions(page: Page) -> bool:
    return page.manager or page.share


def entry_row(page: Page, entry: Entry) -> str:
    label = html.escape(display_name(entry))
    size = "" if entry.is_dir else html.escape(human_size(entry.size))
    size_title = "" if entry.is_dir else f' title="{entry.size} bytes"'
    actions = ""
    if has_actions(page):
        share = share_link(page, entry.name) + " " if page.share else ""
        delete = delete_control(page, entry) if page.manager else '<td class="actions"></td>'
        actions = delete.replace('<td class="actions">', f'<td class="actions">{share}', 1)
    return (
        f'<tr data-name="{label}"><td><a href="{html.escape(entry_href(entry))}">{label}</a>{hash_link(entry)}</td>'
        f'<td class="size"{size_title}>{size}</td><td>{utc(entry.modified_ns, "%Y-%m-%d %H:%M")}</td>'
        f"{actions}</tr>"
    )


def hash_link(entry: Entry) -> str:
    if entry.is_dir:
        return ""
    return f' <a class="hash" href="{html.escape(hash_href(entry))}" title="SHA-256 of this file">sha256</a>'


def table_body(page: Page, entries: list[Entry], view: View, has_parent: bool) -> str:
    rows = []
    if has_parent:
        actions = "<td></td>" if has_actions(page) else ""
        rows.append(f'<tr class="parent"><td><a href="../">../</a></td><td class="size"></td><td></td>{actions}</tr>')
    rows.extend(entry_row(page, entry) for entry in entries)
    if not entries:
        why = f"No name contains “{html.escape(view.filter)}”." if view.filter else "This folder is empty."
        rows.append(f'<tr class="none"><td colspan="4">{why}</td></tr>')
    return "\n".join(rows)


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


def listing_page(page: Page, entries: list[Entry], view: View, has_parent: bool) -> bytes:
    """The whole page, as UTF-8."""
    title = html.escape(unquote(page.folder_url))
    heads = "".join(column_head(key, view) for key in SORT_KEYS)
    if has_actions(page):
        heads += '<th class="actions"><span class="visually-hidden">Actions</span></th>'
    return f"""<!doctype html>
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
<table>
<thead><tr>{heads}</tr></thead>
<tbody id="entries">
{table_body(page, entries, view, has_parent)}
</tbody>
</table>
</main>
<script>{SCRIPT}</script>
</body>
</html>
""".encode("utf-8")


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
table { border-collapse: collapse; width: 100%; margin-top: .8rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; }
th a { color: inherit; }
td.size, th.size { text-align: right; font-variant-numeric: tabular-nums; }
td.actions { text-align: right; width: 1%; white-space: nowrap; }
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
details.delete summary { color: var(--bad); list-style: none; }
details.delete form { display: inline; margin-left: .4rem; }
tr.none td { color: var(--muted); }
a.hash { font-size: .8em; color: var(--muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""

SCRIPT = r"""
"use strict";
const main = document.querySelector("main"), folder = main.dataset.folder;
const $ = (id) => document.getElementById(id);
const say = (text, ok) => { const s = $("status"); if (s) { s.textContent = text; s.className = ok ? "ok" : "bad"; } };

// Swap in the table of the listing at `url` (after a change, or a new filter).
async function refresh(url = location.href) {
  const answer = await fetch(url, { headers: { Accept: "text/html" } });
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  $("entries").replaceWith(page.getElementById("entries"));
}

// Filter as you type: the server filters, so the page shows what ?filter= would.
const box = $("filter");
let typing;
box.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const url = new URL(location.href);
    if (box.value) url.searchParams.set("filter", box.value); else url.searchParams.delete("filter");
    history.replaceState(null, "", url);
    refresh(url);
  }, 150);
});

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

function deleteQuestion(name, count) {
  if (!name.endsWith("/") || !count) return `Delete ${name}?`;
  return `Delete ${name} and the ${count} ${count === 1 ? "entry" : "entries"} in it?`;
}

// Delete: confirm() (a folder's question says how many entries go with it), then DELETE
// on the entry's URL (folders end with "/").
main.addEventListener("click", async (event) => {
  const details = event.target.closest("details.delete");
  if (!details || !event.target.closest("summary")) return;
  event.preventDefault();
  const name = details.dataset.name;
  const count = name.endsWith("/") ? await entriesIn(details.dataset.url) : 0;
  if (!confirm(deleteQuestion(name, count))) return;
  const answer = await fetch(details.dataset.url, { method: "DELETE" });
  say(answer.ok ? `deleted ${details.dataset.name}` : `${answer.status} ${(await answer.text()).trim()}`, answer.ok);
  await refresh();
});
"""
