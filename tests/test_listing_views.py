"""The listing as a user drives it, against the real server: sort links and orders
(folders first), the filter form, breadcrumbs, the plain-text format, ETag and 304,
--show-hidden (never uploads in progress), and what the page offers where."""

from __future__ import annotations

import os
import re
import socket
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import wait_until

T = 1_700_000_000


class Page(HTMLParser):
    """What a listing page holds: column head links, row names, forms, all links."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: dict[str, tuple[str, str | None]] = {}  # label -> (href, aria-sort)
        self.rows: list[str] = []  # the link text of each entry row, in order
        self.forms: list[dict[str, str | None]] = []
        self.inputs: list[dict[str, str | None]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._th_sort: str | None = None
        self._in_th = False
        self._href: str | None = None
        self._text = ""  # the text of the link being read
        self._in_tbody = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "th":
            self._in_th, self._th_sort = True, attributes.get("aria-sort")
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "form":
            self.forms.append(attributes)
        elif tag == "input":
            self.inputs.append(attributes)
        elif tag == "a":
            self._href = attributes["href"]

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "a" and self._href is not None:
            if self._in_tbody and self._href != "../":
                self.rows.append(self._text)
            if self._in_th:
                self.heads[self._text.strip()] = (self._href, self._th_sort)
            self.links.append((self._href, self._text))
            self._href, self._text = None, ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("listed")
    for name, size, age in (("b.txt", 300, 1), ("A.txt", 100, 3), ("c.txt", 200, 2)):
        (root / name).write_bytes(b"x" * size)
        os.utime(root / name, (T + age, T + age))
    for name, age in (("Beta", 4), ("alpha", 5)):
        (root / name).mkdir()
        os.utime(root / name, (T + age, T + age))
    (root / "alpha" / "deep").mkdir()
    (root / ".secret").write_bytes(b"s")
    (root / ".config").mkdir()
    (root / ".A.txt.h-1.0123456789ab.part").write_bytes(b"half")
    return root


@pytest.fixture(scope="module")
def listing(folder: Path):
    from tests.conftest import ServerProcess

    process = ServerProcess("--directory", str(folder), "--www", str(folder))
    yield process
    process.stop()


def plain(url: str, **headers: str) -> list[str]:
    response = requests.get(url, headers={"Accept": "text/plain", **headers})
    assert response.status_code == 200, response.text
    return response.text.splitlines()


ORDERS = [
    ("", ["alpha/", "Beta/", "A.txt", "b.txt", "c.txt"]),
    ("?sort=name&order=desc", ["Beta/", "alpha/", "c.txt", "b.txt", "A.txt"]),
    ("?sort=size", ["alpha/", "Beta/", "A.txt", "c.txt", "b.txt"]),
    ("?sort=size&order=desc", ["Beta/", "alpha/", "b.txt", "c.txt", "A.txt"]),
    ("?sort=modified&order=asc", ["Beta/", "alpha/", "b.txt", "c.txt", "A.txt"]),
    ("?sort=modified&order=desc", ["alpha/", "Beta/", "A.txt", "c.txt", "b.txt"]),
    ("?filter=a", ["alpha/", "Beta/", "A.txt"]),
    ("?filter=.TXT&sort=size&order=desc", ["b.txt", "c.txt", "A.txt"]),
    ("?filter=nothing-like-it", []),
]


@pytest.mark.parametrize("base", ["/files/", "/"])
@pytest.mark.parametrize("query, names", ORDERS)
def test_orders_and_filters_in_every_format(listing, base, query, names):
    assert plain(listing.url + base + query) == names
    assert parse(requests.get(listing.url + base + query).text).rows == names
    if base == "/files/":
        as_json = requests.get(listing.url + base + query, headers={"Accept": "application/json"}).json()
        assert [entry["name"] for entry in as_json] == names


HEADS = [
    # (query, {column label: (href, aria-sort)})
    (
        "",
        {
            "Name ▲": ("?sort=name&order=desc", "ascending"),
            "Size": ("?sort=size&order=asc", None),
            "Modified (UTC)": ("?sort=modified&order=asc", None),
        },
    ),
    (
        "?sort=size&order=desc&filter=a%20b",
        {
            "Name": ("?sort=name&order=asc&filter=a%20b", None),
            "Size ▼": ("?sort=size&order=asc&filter=a%20b", "descending"),
            "Modified (UTC)": ("?sort=modified&order=asc&filter=a%20b", None),
        },
    ),
]


@pytest.mark.parametrize("query, heads", HEADS)
def test_column_heads_link_to_the_orders_and_show_the_current_one(listing, query, heads):
    page = parse(requests.get(listing.url + "/files/" + query).text)
    assert page.heads == heads


def test_following_the_head_links_sorts_the_page(listing):
    url = listing.url + "/files/"
    page = parse(requests.get(url).text)
    size_url = urljoin(url, page.heads["Size"][0])
    assert parse(requests.get(size_url).text).rows == ["alpha/", "Beta/", "A.txt", "c.txt", "b.txt"]
    again = urljoin(size_url, parse(requests.get(size_url).text).heads["Size ▲"][0])
    assert parse(requests.get(again).text).rows == ["Beta/", "alpha/", "b.txt", "c.txt", "A.txt"]


def test_the_filter_is_a_get_form_that_keeps_the_order(listing):
    text = requests.get(listing.url + "/files/?sort=size&order=desc&filter=%3Cb%3E").text
    page = parse(text)
    form = next(form for form in page.forms if form.get("role") == "search")
    assert form["method"] == "get" and "action" not in form
    fields = {field["name"]: field["value"] for field in page.inputs if field.get("name") in ("filter", "sort", "order")}
    assert fields == {"filter": "<b>", "sort": "size", "order": "desc"}
    assert "No name contains “&lt;b&gt;”." in text


@pytest.mark.parametrize(
    "query, reason",
    [("?sort=date", "sort must be one of name, size, modified, not 'date'"), ("?order=up", "order must be asc or desc, not 'up'")],
)
def test_an_unknown_sort_or_order_is_400_with_the_reason(listing, query, reason):
    response = requests.get(listing.url + "/files/" + query)
    assert (response.status_code, response.text) == (400, reason + "\n")


def test_breadcrumbs_link_every_folder_above(listing):
    page = parse(requests.get(listing.url + "/files/alpha/deep/").text)
    assert page.links[:3] == [("/files/", "/files/"), ("/files/alpha/", "alpha/"), ("/files/alpha/deep/", "deep/")]


def test_the_plain_listing_exactly(listing):
    response = requests.get(listing.url + "/files/", headers={"Accept": "text/plain"})
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.content == b"alpha/\nBeta/\nA.txt\nb.txt\nc.txt\n"


def test_site_folders_offer_text_but_not_json(listing):
    response = requests.get(listing.url + "/alpha/", headers={"Accept": "application/json"})
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert plain(listing.url + "/alpha/") == ["deep/"]


def test_archive_links_and_the_file_manager_are_on_files_only(listing):
    files = parse(requests.get(listing.url + "/files/alpha/").text)
    assert ("?download=zip", "zip") in files.links and ("?download=tar.gz", "tar.gz") in files.links
    posts = [form for form in files.forms if form.get("method") == "post"]
    assert {form["action"] for form in posts} == {"/files/alpha/", "/files/alpha/?delete"}
    assert {form.get("enctype") for form in posts} == {"multipart/form-data", None}
    site = parse(requests.get(listing.url + "/alpha/").text)
    assert not any(href.startswith("?download=") for href, _ in site.links)
    assert not any(form.get("method") == "post" for form in site.forms)


def test_the_upload_forms_work_without_javascript(listing):
    page = parse(requests.get(listing.url + "/files/").text)
    files = [field for field in page.inputs if field.get("type") == "file"]
    assert [field["name"] for field in files] == ["file", "file"]
    assert all("multiple" in field for field in files)
    assert "webkitdirectory" in files[1]
    boxes = [field["name"] for field in page.inputs if field.get("type") == "checkbox"]
    assert boxes == ["alpha", "Beta", "A.txt", "b.txt", "c.txt"]
    assert any(field.get("name") == "mkdir" for field in page.inputs)


# ---------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------


def test_a_listing_revalidates_with_304(listing):
    url = listing.url + "/files/?sort=size"
    first = requests.get(url)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"L[0-9a-f]{24}"', etag)
    assert first.headers["Cache-Control"] == "no-cache"
    with listing.connect() as client:
        # requests sent Accept-Encoding: gzip, deflate: the tag is the gzipped listing's.
        request = f"GET /files/?sort=size HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: W/{etag}\r\n\r\n".encode()
        response = client.exchange(request)
    assert response.undated == (
        f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: no-cache\r\nVary: Accept, Accept-Encoding\r\n\r\n".encode()
    )
    assert requests.head(url, headers={"If-None-Match": etag}).status_code == 304


def test_the_tag_differs_for_each_view_and_format(listing):
    urls = ["/files/", "/files/?sort=size", "/files/?filter=a", "/"]
    tags = {requests.get(listing.url + url).headers["ETag"] for url in urls}
    tags.add(requests.get(listing.url + "/files/", headers={"Accept": "text/plain"}).headers["ETag"])
    tags.add(requests.get(listing.url + "/files/", headers={"Accept": "application/json"}).headers["ETag"])
    assert len(tags) == 6


def test_the_tag_changes_with_a_name_a_size_or_a_time(start_server, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one")
    process = start_server("--directory", str(tmp_path))
    url = process.url + "/files/"
    seen = [requests.get(url).headers["ETag"]]
    os.utime(tmp_path / "a.txt", (T, T))
    seen.append(requests.get(url).headers["ETag"])
    (tmp_path / "a.txt").write_bytes(b"three")
    os.utime(tmp_path / "a.txt", (T, T))
    seen.append(requests.get(url).headers["ETag"])
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    seen.append(requests.get(url).headers["ETag"])
    assert len(set(seen)) == 4
    response = requests.get(url, headers={"If-None-Match": seen[0]})
    assert response.status_code == 200 and "b.txt" in response.text


# ---------------------------------------------------------------------------------------
# Hidden files and uploads in progress
# ---------------------------------------------------------------------------------------


def test_dot_files_are_hidden_by_default(listing):
    assert ".secret" not in plain(listing.url + "/files/?filter=.")


def test_show_hidden_lists_dot_files_but_not_uploads_in_progress(start_server, folder):
    process = start_server("--directory", str(folder), "--show-hidden")
    assert plain(process.url + "/files/?filter=.") == [".config/", ".secret", "A.txt", "b.txt", "c.txt"]
    names = [entry["name"] for entry in requests.get(process.url + "/files/", headers={"Accept": "application/json"}).json()]
    assert ".secret" in names and not any(name.endswith(".part") for name in names)


def test_a_real_upload_in_progress_is_never_listed(start_server, tmp_path):
    process = start_server("--directory", str(tmp_path), "--show-hidden")
    with socket.create_connection(("127.0.0.1", process.port)) as upload:
        upload.sendall(b"PUT /files/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        assert wait_until(lambda: any(name.endswith(".part") for name in os.listdir(tmp_path)))
        assert plain(process.url + "/files/") == []
        upload.sendall(b"x" * 99000)
        upload.recv(100)
    assert wait_until(lambda: plain(process.url + "/files/") == ["big.bin"])


# ---------------------------------------------------------------------------------------
# Answers computed per request
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/echo/abc", "/echo", "/user-agent"])
def test_per_request_answers_are_never_stored(listing, path):
    response = requests.get(listing.url + path)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "text/plain"


def test_a_name_that_is_not_utf8_is_left_out_of_every_format(start_server, tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"ok")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as file:
        file.write(b"latin-1 name")
    process = start_server("--directory", str(tmp_path), "--www", str(tmp_path))
    for url in ("/files/", "/"):
        assert plain(process.url + url) == ["ok.txt"]
        assert parse(requests.get(process.url + url).text).rows == ["ok.txt"]
    assert requests.get(process.url + "/files/", headers={"Accept": "application/json"}).json()[0]["name"] == "ok.txt"


def test_no_file_manager_when_writes_are_refused(start_server, folder):
    process = start_server("--directory", str(folder), "--read-only")
    page = parse(requests.get(process.url + "/files/").text)
    assert not any(form.get("method") == "post" for form in page.forms)
    assert not any(field.get("type") == "file" for field in page.inputs)
    assert ("?download=zip", "zip") in page.links  # reading stays
    assert page.rows == ["alpha/", "Beta/", "A.txt", "b.txt", "c.txt"]
