"""The static site (`--www`): index pages, content types, listings, API precedence, and the
challenge's rules on `GET /`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, ServerProcess


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    www = tmp_path_factory.mktemp("www")
    (www / "index.html").write_text("<h1>home</h1>")
    (www / "docs").mkdir()
    (www / "docs" / "index.html").write_text("<h1>docs</h1>")
    (www / "empty").mkdir()
    (www / "user-agent").write_text("a file the API route hides")
    files = {
        "style.css": "body{}",
        "app.js": "let x",
        "data.json": "{}",
        "notes.txt": "text",
        "logo.svg": "<svg/>",
        "clip.mp4": "",
        "clip.webm": "",
        "blob.xyz123": "",
        "page.htm": "",
    }
    for name, text in files.items():
        (www / name).write_text(text)
    process = ServerProcess("--www", str(www))
    yield process, www
    process.stop()


def test_plain_launch_root_serves_the_shipped_page_without_date_or_server(server):
    # The challenge's anti-cheat check: no Date and no Server header on GET /.
    with server.connect() as client:
        response = client.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status == 200
    assert response.header("Date") is None
    assert response.header("Server") is None
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert response.body == (ROOT / "www" / "index.html").read_bytes()


def test_without_a_site_root_is_an_empty_200(start_server):
    process = start_server("--www", "")
    response = requests.get(process.url + "/")
    assert response.status_code == 200
    assert response.content == b""
    assert requests.get(process.url + "/index.html").status_code == 404


def test_root_serves_index_html(site):
    process, _ = site
    response = requests.get(process.url + "/")
    assert response.status_code == 200
    assert response.text == "<h1>home</h1>"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_folder_serves_its_index_and_redirects_to_the_slash_form(site):
    process, _ = site
    assert requests.get(process.url + "/docs/").text == "<h1>docs</h1>"
    response = requests.get(process.url + "/docs", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == "/docs/"


def test_a_file_path_with_a_trailing_slash_is_404(site):
    process, _ = site
    assert requests.get(process.url + "/notes.txt/").status_code == 404


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("index.html", "text/html; charset=utf-8"),
        ("page.htm", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("logo.svg", "image/svg+xml"),
        ("clip.mp4", "video/mp4"),
        ("clip.webm", "video/webm"),
        ("blob.xyz123", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_extension(site, name, content_type):
    process, _ = site
    response = requests.get(f"{process.url}/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type


def test_api_routes_take_precedence_over_site_files(site):
    process, _ = site
    response = requests.get(process.url + "/user-agent", headers={"User-Agent": "probe/1"})
    assert response.text == "probe/1"
    assert requests.get(process.url + "/echo/abc").text == "abc"


def test_site_paths_answer_get_and_head_only(site):
    process, _ = site
    response = requests.post(process.url + "/notes.txt", data=b"x")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    head = requests.head(process.url + "/notes.txt", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "4"


def test_missing_site_file_is_404(site):
    process, _ = site
    assert requests.get(process.url + "/nope.html").status_code == 404


def test_folder_without_index_is_listed(site):
    process, www = site
    (www / "empty" / "a.txt").write_text("a")
    response = requests.get(process.url + "/empty/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<a href=a.txt>a.txt</a>" in response.text  # a lean row: the attribute percent-encoded, unquoted
    assert '<a href="../">../</a>' in response.text


def test_no_listing_turns_folder_listings_into_404(start_server, tmp_path):
    (tmp_path / "folder").mkdir()
    files = tmp_path / "files"
    files.mkdir()
    process = start_server("--www", str(tmp_path), "--directory", str(files), "--no-listing")
    assert requests.get(process.url + "/folder/").status_code == 404
    assert requests.get(process.url + "/").status_code == 404
    assert requests.get(process.url + "/files/").status_code == 404


def test_without_a_site_root_is_exactly_an_empty_200(start_server):
    process = start_server("--www", "")
    with process.connect() as client:
        response = client.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.raw == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_unknown_path_on_the_plain_launch_is_404(server):
    with server.connect() as client:
        response = client.exchange(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status_line == b"HTTP/1.1 404 Not Found"
    assert response.body == b"nothing at /nowhere\n"


def test_a_fifo_is_not_served(start_server, tmp_path):
    # Opening a FIFO blocks until a writer comes: the server must not even try.
    os.mkfifo(tmp_path / "pipe")
    process = start_server("--www", str(tmp_path), "--directory", str(tmp_path))
    for path in ("/pipe", "/files/pipe"):
        response = requests.get(process.url + path, timeout=5)
        assert response.status_code == 404, path
