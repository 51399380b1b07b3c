"""Validators, conditional requests (RFC 9110 §13), ranges (§14) and gzip of static files,
on `/files/` and the static site."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
import requests

from tests.conftest import RawClient, ServerProcess

CONTENT = bytes(range(256)) * 40  # 10240 bytes
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    base = tmp_path_factory.mktemp("caching")
    (base / "files").mkdir()
    (base / "www").mkdir()
    (base / "files" / "data.bin").write_bytes(CONTENT)
    os.utime(base / "files" / "data.bin", (MTIME, MTIME))
    (base / "files" / "empty.bin").write_bytes(b"")
    (base / "www" / "style.css").write_text("body { color: red; }\n" * 50)
    (base / "www" / "big.txt").write_bytes(b"x" * (1024 * 1024 + 1))
    (base / "www" / "photo.png").write_bytes(b"\x89PNG" + bytes(1000))
    process = ServerProcess("--www", str(base / "www"), "--directory", str(base / "files"))
    yield process, base
    process.stop()


def fetch(process: ServerProcess, path: str, **headers: str) -> requests.Response:
    return requests.get(process.url + path, headers={**IDENTITY, **headers})


# --- validators ----------------------------------------------------------------------


def test_file_carries_validators_and_cache_control(files):
    process, _ = files
    response = fetch(process, "/files/data.bin")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Last-Modified"] == LAST_MODIFIED
    assert response.headers["ETag"].startswith('"') and not response.headers["ETag"].startswith("W/")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Vary" not in response.headers  # octet-stream is never compressed


def test_etag_changes_when_the_file_changes(files):
    process, base = files
    path = base / "files" / "changing.bin"
    path.write_bytes(b"one")
    first = fetch(process, "/files/changing.bin").headers["ETag"]
    path.write_bytes(b"two!")
    assert fetch(process, "/files/changing.bin").headers["ETag"] != first


# --- conditional GET -----------------------------------------------------------------


def test_if_none_match_with_the_current_etag_is_304(files):
    process, _ = files
    etag = fetch(process, "/files/data.bin").headers["ETag"]
    for value in (etag, f'"other", {etag}', "W/" + etag, "*"):
        response = fetch(process, "/files/data.bin", **{"If-None-Match": value})
        assert response.status_code == 304, value
        assert response.content == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Last-Modified"] == LAST_MODIFIED
        assert response.headers["Cache-Control"] == "no-cache"


def test_if_none_match_with_another_etag_is_200(files):
    process, _ = files
    response = fetch(process, "/files/data.bin", **{"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert response.content == CONTENT


@pytest.mark.parametrize(
    "since, status",
    [
        (LAST_MODIFIED, 304),
        (formatdate(MTIME + 60, usegmt=True), 304),
        (formatdate(MTIME - 60, usegmt=True), 200),
        ("not a date", 200),
    ],
)
def test_if_modified_since(files, since, status):
    process, _ = files
    assert fetch(process, "/files/data.bin", **{"If-Modified-Since": since}).status_code == status


def test_if_none_match_wins_over_if_modified_since(files):
    # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    process, _ = files
    response = fetch(process, "/files/data.bin", **{"If-None-Match": '"stale"', "If-Modified-Since": LAST_MODIFIED})
    assert response.status_code == 200


def test_if_match_failing_on_get_is_412(files):
    process, _ = files
    assert fetch(process, "/files/data.bin", **{"If-Match": '"stale"'}).status_code == 412
    assert fetch(process, "/files/data.bin", **{"If-Unmodified-Since": formatdate(MTIME - 60, usegmt=True)}).status_code == 412


# --- ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "range_value, first, last",
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, 10239),
        ("bytes=-100", 10140, 10239),
        ("bytes=10000-99999", 10000, 10239),
        ("bytes=-99999", 0, 10239),
        ("BYTES=5-9", 5, 9),
        ("bytes=\t5-9 ", 5, 9),  # OWS around the list's one element
    ],
)
def test_single_range_is_206(files, range_value, first, last):
    process, _ = files
    response = fetch(process, "/files/data.bin", Range=range_value)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/10240"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.content == CONTENT[first : last + 1]


@pytest.mark.parametrize("range_value", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range_is_416(files, range_value):
    process, _ = files
    response = fetch(process, "/files/data.bin", Range=range_value)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */10240"


def test_any_range_of_an_empty_file_is_416(files):
    process, _ = files
    response = fetch(process, "/files/empty.bin", Range="bytes=0-")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize(
    "range_value",
    [
        "bytes=0-1,5-6",  # several ranges: the whole file (our documented choice)
        "items=0-1",  # unknown unit
        "bytes=5-1",  # last before first: invalid
        "bytes=abc",
        "bytes=-",
        "BYTES = 5 - 9",  # RFC 9110 §14.1.1: no whitespace inside a range-spec or around "="
    ],
)
def test_ranges_we_ignore_answer_the_whole_file(files, range_value):
    process, _ = files
    response = fetch(process, "/files/data.bin", Range=range_value)
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "Content-Range" not in response.headers


def test_if_range_with_current_validator_gives_the_range(files):
    process, _ = files
    etag = fetch(process, "/files/data.bin").headers["ETag"]
    for validator in (etag, LAST_MODIFIED):
        response = fetch(process, "/files/data.bin", Range="bytes=0-9", **{"If-Range": validator})
        assert response.status_code == 206, validator
        assert response.content == CONTENT[:10]


def test_if_range_with_stale_validator_gives_the_whole_file(files):
    process, _ = files
    etag = fetch(process, "/files/data.bin").headers["ETag"]
    for validator in ('"stale"', "W/" + etag, formatdate(MTIME - 60, usegmt=True)):
        response = fetch(process, "/files/data.bin", Range="bytes=0-9", **{"If-Range": validator})
        assert response.status_code == 200, validator
        assert response.content == CONTENT


def test_head_of_a_range_has_the_range_headers_and_no_body(files):
    process, _ = files
    response = requests.head(process.url + "/files/data.bin", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "10"
    assert response.content == b""


def test_static_site_files_have_ranges_too(files):
    process, base = files
    response = fetch(process, "/photo.png", Range="bytes=0-3")
    assert response.status_code == 206
    assert response.content == b"\x89PNG"


# --- gzip ----------------------------------------------------------------------------


def test_small_text_file_is_gzipped_when_accepted(files):
    process, base = files
    response = requests.get(process.url + "/style.css", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = response.raw.read()
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == (base / "www" / "style.css").read_bytes()
    assert response.headers["Content-Length"] == str(len(raw))
    assert response.headers["ETag"].endswith('-gzip"')


def test_small_text_file_is_plain_when_gzip_is_refused_but_still_varies(files):
    process, base = files
    response = fetch(process, "/style.css", **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.content == (base / "www" / "style.css").read_bytes()


def test_gzipped_representation_revalidates_with_its_own_etag(files):
    process, _ = files
    etag = requests.get(process.url + "/style.css", headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    response = requests.get(process.url + "/style.css", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["Vary"] == "Accept-Encoding"
    # The identity representation has another tag, so that one does not match it.
    assert fetch(process, "/style.css", **{"If-None-Match": etag}).status_code == 200


def test_text_file_above_the_gzip_bound_is_streamed_uncompressed(files):
    process, _ = files
    response = requests.get(process.url + "/big.txt", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert "Content-Encoding" not in response.headers
    assert "Vary" not in response.headers
    assert response.headers["Content-Length"] == str(1024 * 1024 + 1)
    response.close()


def test_binary_types_are_never_gzipped(files):
    process, _ = files
    for path in ("/photo.png", "/files/data.bin"):
        response = requests.get(process.url + path, headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in response.headers, path


def test_range_of_a_compressible_file_is_of_the_identity_bytes(files):
    process, base = files
    response = requests.get(process.url + "/style.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-3"})
    assert response.status_code == 206
    assert "Content-Encoding" not in response.headers
    assert response.content == b"body"


def test_files_route_keeps_octet_stream_and_no_gzip_whatever_the_extension(files):
    process, base = files
    (base / "files" / "notes.txt").write_text("plain text " * 100)
    response = requests.get(process.url + "/files/notes.txt", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Encoding" not in response.headers
    assert response.content == (base / "files" / "notes.txt").read_bytes()


def test_streamed_file_responses_keep_the_connection_in_step(files):
    # Exact bytes: a 206 streamed with sendfile, then another request on the same connection.
    process, _ = files
    with RawClient(process.port) as client:
        response = client.exchange(b"GET /files/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=256-259\r\n\r\n")
        etag = response.header("ETag")
        assert response.undated == (
            b"HTTP/1.1 206 Partial Content\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b"Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
            b"ETag: " + etag.encode() + b"\r\n"
            b"Cache-Control: no-cache\r\n"
            b"Accept-Ranges: bytes\r\n"
            b"Content-Range: bytes 256-259/10240\r\n"
            b"Content-Length: 4\r\n"
            b"\r\n"
            b"\x00\x01\x02\x03"
        )
        assert client.exchange(b"GET /files/data.bin HTTP/1.1\r\nHost: x\r\n\r\n").body == CONTENT
        assert client.exchange(b"GET /echo/next HTTP/1.1\r\nHost: x\r\n\r\n").body == b"next"
