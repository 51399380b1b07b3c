"""Folder listings: HTML with escaped names and working links, JSON for `/files/`."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests

STRANGE_NAMES = ["with space.txt", "hash#tag.txt", "question?.txt", "per%cent.txt", "héllo wörld.txt", "<b>&'\".txt", "日本.txt"]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}  # link text -> href
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs)["href"]

    def handle_data(self, data):
        if self._href is not None:
            self.links[data] = self._href
            self._href = None


@pytest.fixture
def listed(start_server, tmp_path):
    folder = tmp_path / "files"
    (folder / "sub folder").mkdir(parents=True)
    for number, name in enumerate(STRANGE_NAMES):
        (folder / name).write_bytes(name.encode())
        os.utime(folder / name, (1_700_000_000 + number, 1_700_000_000 + number))
    (folder / "sub folder" / "inner.txt").write_bytes(b"inner")
    (folder / ".hidden").write_bytes(b"")
    (folder / ".upload.part").write_bytes(b"")
    return start_server("--directory", str(folder), "--www", str(folder)), folder


@pytest.mark.parametrize("base", ["/files/", "/"])
def test_every_listed_link_fetches_its_file(listed, base):
    process, folder = listed
    page_url = process.url + base
    response = requests.get(page_url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    parser = Links()
    parser.feed(response.text)
    for name in STRANGE_NAMES:
        href = parser.links[name]
        assert requests.get(urljoin(page_url, href)).content == name.encode(), name
    inner = requests.get(urljoin(urljoin(page_url, parser.links["sub folder/"]), "inner.txt"))
    assert inner.content == b"inner"


def test_names_are_escaped_in_html(listed):
    process, _ = listed
    text = requests.get(process.url + "/files/").text
    assert "<b>&'\".txt" not in text
    assert "&lt;b&gt;&amp;'\".txt" in text  # text, not an attribute: quotes need no escape


def test_listing_shows_sizes_and_times_and_hides_dot_files(listed):
    process, _ = listed
    text = requests.get(process.url + "/files/").text
    assert "<td>14 B<td>2023-11-14 22:13" in text
    parser = Links()
    parser.feed(text)
    assert not any(name.startswith(".") for name in parser.links)


def test_files_listing_as_json(listed):
    process, folder = listed
    response = requests.get(process.url + "/files/", headers={"Accept": "application/json"})
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    entries = response.json()
    assert entries[0]["name"] == "sub folder/"
    by_name = {entry["name"]: entry for entry in entries}
    assert set(by_name) == {"sub folder/", *STRANGE_NAMES}
    assert by_name["with space.txt"] == {
        "name": "with space.txt", "size": 14, "modified": "2023-11-14T22:13:20Z", "hash": "with%20space.txt?hash=sha256"
    }


def test_html_is_preferred_unless_json_weighs_more(listed):
    process, _ = listed
    accept = "text/html;q=0.9, application/json;q=0.5"
    assert requests.get(process.url + "/files/", headers={"Accept": accept}).headers["Content-Type"].startswith("text/html")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert requests.get(process.url + "/files/", headers={"Accept": browser}).headers["Content-Type"].startswith("text/html")


def test_subfolder_listing_under_files(listed):
    process, _ = listed
    response = requests.get(process.url + "/files/sub%20folder/", headers={"Accept": "application/json"})
    assert [entry["name"] for entry in response.json()] == ["inner.txt"]


def test_a_file_is_not_a_folder(listed):
    process, _ = listed
    assert requests.get(process.url + "/files/with%20space.txt/").status_code == 404
