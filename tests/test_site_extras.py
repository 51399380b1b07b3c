"""The static site's extras: `--spa`, a `404.html` page, and precompressed `.br`/`.gz`
files beside the originals (with and without Accept-Encoding, and never for ranges)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerProcess

INDEX = b"<!doctype html><title>app</title><div id=app></div>"
NOT_FOUND = b"<!doctype html><h1>Nothing here</h1>"
SCRIPT = b"console.log('the original');\n" * 20
SCRIPT_BR = b"brotli bytes, sent as they are"  # never decoded by the server
SCRIPT_GZ = gzip.compress(SCRIPT, mtime=0)
WASM = b"\0asm" + b"\1" * 100
WASM_BR = b"wasm in brotli"


def raw_get(process: ServerProcess, path: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET with exactly these headers (requests would add Accept-Encoding); the fields
    but Date (tests/test_date.py)."""
    lines = "".join(f"{header}\r\n" for header in headers)
    with process.connect() as client:
        response = client.exchange(f"GET {path} HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode())
    return response.status, {name.lower(): value for name, value in response.undated_headers}, response.body


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_bytes(INDEX)
    (root / "404.html").write_bytes(NOT_FOUND)
    (root / "assets").mkdir()
    (root / "assets" / "app.js").write_bytes(SCRIPT)
    (root / "assets" / "app.js.br").write_bytes(SCRIPT_BR)
    (root / "assets" / "app.js.gz").write_bytes(SCRIPT_GZ)
    (root / "assets" / "only-gz.css").write_bytes(b"body{}" * 10)
    (root / "assets" / "only-gz.css.gz").write_bytes(gzip.compress(b"body{}" * 10, mtime=0))
    (root / "assets" / "data.wasm").write_bytes(WASM)
    (root / "assets" / "data.wasm.br").write_bytes(WASM_BR)
    (root / "assets" / "escape.txt").write_bytes(b"inside")
    outside = tmp_path_factory.mktemp("outside") / "secret.br"
    outside.write_bytes(b"outside the site")
    os.symlink(outside, root / "assets" / "escape.txt.br")
    return root


@pytest.fixture(scope="module")
def site(www: Path):
    process = ServerProcess("--www", str(www))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def spa(www: Path):
    process = ServerProcess("--www", str(www), "--spa")
    yield process
    process.stop()


# ---------------------------------------------------------------------------------------
# --spa and 404.html
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/settings", "/users/42/edit", "/missing.js", "/assets/nothing/", "/assets/app.js/x"])
def test_spa_answers_index_html_for_any_path_without_a_file(spa, path):
    status, headers, body = raw_get(spa, path)
    assert (status, body) == (200, INDEX)
    assert headers["content-type"] == "text/html; charset=utf-8"


def test_spa_still_serves_files_folders_and_refusals(spa):
    assert raw_get(spa, "/assets/app.js")[2] == SCRIPT
    assert raw_get(spa, "/assets")[0] == 301
    assert raw_get(spa, "/assets/")[0] == 200  # the folder's listing
    assert raw_get(spa, "/%2e%2e/etc/passwd")[0] == 400
    assert raw_get(spa, "/echo/abc")[2] == b"abc"


def test_spa_without_an_index_html_is_a_404(start_server, tmp_path):
    process = start_server("--www", str(tmp_path), "--spa")
    assert raw_get(process, "/route") == (
        404,
        {"content-type": "text/plain; charset=utf-8", "content-length": "18"},
        b"nothing at /route\n",
    )


@pytest.mark.parametrize("path", ["/nowhere", "/assets/nothing.js", "/index.html/"])
def test_a_404_html_is_the_body_of_every_404_of_the_site(site, path):
    status, headers, body = raw_get(site, path)
    assert (status, body) == (404, NOT_FOUND)
    assert headers["content-type"] == "text/html; charset=utf-8"


def test_404_html_leaves_other_refusals_and_head_alone(site):
    assert raw_get(site, "/%2e%2e/x") == (
        400,
        {"content-type": "text/plain; charset=utf-8", "content-length": "55"},
        b"file name must not contain empty, '.' or '..' segments\n",
    )
    with site.connect() as client:
        response = client.exchange(b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", head_request=True)
    assert response.status == 404 and response.header("Content-Length") == str(len(NOT_FOUND))


def test_without_404_html_a_404_stays_one_line(start_server, tmp_path):
    process = start_server("--www", str(tmp_path))
    assert raw_get(process, "/nowhere")[2] == b"nothing at /nowhere\n"


# ---------------------------------------------------------------------------------------
# Precompressed files
# ---------------------------------------------------------------------------------------

PRECOMPRESSED = [
    # (path, Accept-Encoding or None, status, Content-Encoding, body)
    ("/assets/app.js", "br, gzip", 200, "br", SCRIPT_BR),
    ("/assets/app.js", "gzip, deflate, br, zstd", 200, "br", SCRIPT_BR),
    ("/assets/app.js", "gzip", 200, "gzip", SCRIPT_GZ),
    ("/assets/app.js", "br;q=0, gzip", 200, "gzip", SCRIPT_GZ),
    ("/assets/app.js", "*", 200, "br", SCRIPT_BR),
    ("/assets/app.js", "identity", 200, None, SCRIPT),
    ("/assets/app.js", None, 200, None, SCRIPT),
    ("/assets/only-gz.css", "br, gzip", 200, "gzip", gzip.compress(b"body{}" * 10, mtime=0)),
    ("/assets/data.wasm", "br", 200, "br", WASM_BR),
    ("/assets/data.wasm", "gzip", 200, None, WASM),  # not a type gzipped on the fly
    ("/assets/escape.txt", "br", 200, None, b"inside"),  # a sidecar leading out is none
]


@pytest.mark.parametrize("path, accept_encoding, status, coding, body", PRECOMPRESSED)
def test_precompressed_files_are_sent_as_they_are(site, path, accept_encoding, status, coding, body):
    headers = [f"Accept-Encoding: {accept_encoding}"] if accept_encoding else []
    got_status, got_headers, got_body = raw_get(site, path, *headers)
    assert (got_status, got_headers.get("content-encoding"), got_body) == (status, coding, body)
    if path != "/assets/escape.txt":
        assert got_headers["vary"] == "Accept-Encoding"


def test_each_coding_has_its_own_tag_and_revalidates(site):
    tags = {}
    for coding in ("br", "gzip", "identity"):
        tags[coding] = raw_get(site, "/assets/app.js", f"Accept-Encoding: {coding}")[1]["etag"]
    assert len(set(tags.values())) == 3
    assert tags["br"].endswith('-br"') and tags["gzip"].endswith('-gzip"')
    status, headers, _ = raw_get(site, "/assets/app.js", "Accept-Encoding: br", f"If-None-Match: {tags['br']}")
    assert (status, headers["etag"]) == (304, tags["br"])
    assert raw_get(site, "/assets/app.js", "Accept-Encoding: gzip", f"If-None-Match: {tags['br']}")[0] == 200


@pytest.mark.parametrize("accept_encoding", ["br", "gzip", "br, gzip"])
def test_a_range_is_always_of_the_original_bytes(site, accept_encoding):
    status, headers, body = raw_get(site, "/assets/app.js", f"Accept-Encoding: {accept_encoding}", "Range: bytes=0-6")
    assert (status, body) == (206, SCRIPT[:7])
    assert "content-encoding" not in headers
    assert headers["content-range"] == f"bytes 0-6/{len(SCRIPT)}"


def test_requests_decodes_the_gzip_file(site):
    response = requests.get(site.url + "/assets/app.js", headers={"Accept-Encoding": "gzip"})
    assert response.content == SCRIPT and response.headers["Content-Encoding"] == "gzip"
