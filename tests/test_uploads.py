"""Uploads and deletes on `/files/{name}`: create/replace statuses, atomic streaming to
disk, folders, size limit (with 100-continue), full disk, permissions, preconditions."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import pytest
import requests

from tests.conftest import RawClient


def leftovers(folder: Path) -> list[str]:
    """Temporary upload files still on disk."""
    return [path.name for path in folder.rglob("*.part")]


def test_put_creates_with_201_and_location_then_replaces_with_204(server, server_directory):
    url = server.url + "/files/put-me.txt"
    created = requests.put(url, data=b"first")
    assert created.status_code == 201
    assert created.headers["Location"] == "/files/put-me.txt"
    assert (server_directory / "put-me.txt").read_bytes() == b"first"
    replaced = requests.put(url, data=b"second")
    assert replaced.status_code == 204
    assert "Location" not in replaced.headers
    assert (server_directory / "put-me.txt").read_bytes() == b"second"


def test_post_creates_and_replaces_like_put(server, server_directory):
    url = server.url + "/files/post-me.txt"
    assert requests.post(url, data=b"1").status_code == 201
    assert requests.post(url, data=b"22").status_code == 204
    assert (server_directory / "post-me.txt").read_bytes() == b"22"


def test_location_is_percent_encoded(server, server_directory):
    response = requests.put(server.url + "/files/a%20b%23%C3%A9.txt", data=b"x")
    assert response.status_code == 201
    assert response.headers["Location"] == "/files/a%20b%23%C3%A9.txt"
    assert (server_directory / "a b#é.txt").read_bytes() == b"x"


def test_nested_names_create_their_folders(server, server_directory):
    response = requests.put(server.url + "/files/deep/er/file.txt", data=b"nested")
    assert response.status_code == 201
    assert (server_directory / "deep" / "er" / "file.txt").read_bytes() == b"nested"


def test_a_file_in_the_way_of_a_folder_is_409(server, server_directory):
    (server_directory / "plain").write_bytes(b"")
    assert requests.put(server.url + "/files/plain/inside.txt", data=b"x").status_code == 409


def test_put_on_a_folder_is_409(server, server_directory):
    (server_directory / "put-on-folder").mkdir()
    assert requests.put(server.url + "/files/put-on-folder", data=b"x").status_code == 409


def test_chunked_upload_streams_to_disk(server, server_directory):
    pieces = (bytes([n]) * 70_000 for n in range(20))
    response = requests.put(server.url + "/files/chunked.bin", data=pieces)
    assert response.status_code == 201
    assert (server_directory / "chunked.bin").read_bytes() == b"".join(bytes([n]) * 70_000 for n in range(20))
    assert leftovers(server_directory) == []


def test_delete_removes_the_file_with_204(server, server_directory):
    (server_directory / "doomed.txt").write_bytes(b"x")
    response = requests.delete(server.url + "/files/doomed.txt")
    assert response.status_code == 204
    assert not (server_directory / "doomed.txt").exists()
    assert requests.delete(server.url + "/files/doomed.txt").status_code == 404


def test_delete_of_a_folder_with_entries_is_409(server, server_directory):
    (server_directory / "keep-folder").mkdir()
    (server_directory / "keep-folder" / "inside.txt").write_bytes(b"x")
    response = requests.delete(server.url + "/files/keep-folder")
    assert (response.status_code, response.text) == (409, "folder keep-folder is not empty (1 entry); delete them first\n")
    assert (server_directory / "keep-folder" / "inside.txt").is_file()


# --- preconditions on writes ---------------------------------------------------------


def test_if_match_guards_a_replace(server, server_directory):
    url = server.url + "/files/guarded.txt"
    requests.put(url, data=b"v1")
    etag = requests.get(url).headers["ETag"]
    assert requests.put(url, data=b"v2", headers={"If-Match": '"stale"'}).status_code == 412
    assert (server_directory / "guarded.txt").read_bytes() == b"v1"
    assert requests.put(url, data=b"v2", headers={"If-Match": etag}).status_code == 204
    assert (server_directory / "guarded.txt").read_bytes() == b"v2"


def test_if_none_match_star_only_creates(server, server_directory):
    url = server.url + "/files/create-only.txt"
    assert requests.put(url, data=b"v1", headers={"If-None-Match": "*"}).status_code == 201
    assert requests.put(url, data=b"v2", headers={"If-None-Match": "*"}).status_code == 412
    assert (server_directory / "create-only.txt").read_bytes() == b"v1"


def test_if_match_star_needs_an_existing_file(server, server_directory):
    response = requests.put(server.url + "/files/not-there.txt", data=b"x", headers={"If-Match": "*"})
    assert response.status_code == 412
    assert not (server_directory / "not-there.txt").exists()


def test_if_unmodified_since_guards_writes_and_deletes(server, server_directory):
    url = server.url + "/files/dated.txt"
    requests.put(url, data=b"v1")
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert requests.put(url, data=b"v2", headers={"If-Unmodified-Since": old}).status_code == 412
    assert requests.delete(url, headers={"If-Unmodified-Since": old}).status_code == 412
    assert (server_directory / "dated.txt").read_bytes() == b"v1"
    assert requests.delete(url, headers={"If-Match": '"stale"'}).status_code == 412


# --- size limit ----------------------------------------------------------------------


@pytest.fixture
def limited(start_server, tmp_path):
    return start_server("--directory", str(tmp_path), "--max-upload", "1000"), tmp_path


def test_upload_over_max_upload_is_413_and_nothing_is_stored(limited):
    process, folder = limited
    response = requests.put(process.url + "/files/big.bin", data=b"x" * 1001)
    assert response.status_code == 413
    assert list(folder.iterdir()) == []
    assert requests.put(process.url + "/files/ok.bin", data=b"x" * 1000).status_code == 201


def test_413_goes_out_instead_of_100_continue(limited):
    process, folder = limited
    with RawClient(process.port) as client:
        client.send(
            b"PUT /files/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
        )
        response = client.read_response()
        assert response.status_line == b"HTTP/1.1 413 Content Too Large"
        assert response.body == b"request body larger than 1000 bytes\n"
        assert response.header("Connection") == "close"
        assert client.is_closed_by_server()
    assert list(folder.iterdir()) == []


def test_100_continue_within_the_limit_stores_the_file(limited):
    process, folder = limited
    with RawClient(process.port) as client:
        client.send(b"PUT /files/small.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert client.read_response().status_line == b"HTTP/1.1 100 Continue"
        client.send(b"hello")
        assert client.read_response().status == 201
    assert (folder / "small.bin").read_bytes() == b"hello"


def test_chunked_upload_over_the_limit_is_413_with_the_temporary_file_removed(limited):
    process, folder = limited
    (folder / "kept.bin").write_bytes(b"old")
    with RawClient(process.port) as client:
        chunk = b"x" * 600
        client.send(b"PUT /files/kept.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        client.send(b"258\r\n" + chunk + b"\r\n" + b"258\r\n" + chunk + b"\r\n0\r\n\r\n")
        assert client.read_response().status == 413
    assert (folder / "kept.bin").read_bytes() == b"old"
    assert [path.name for path in folder.iterdir()] == ["kept.bin"]


# --- full disk and permissions -------------------------------------------------------


def limit_file_size() -> None:
    """Runs in the server's process before it starts: files may not grow past 64 KiB.
    A write past it fails with EFBIG (the process ignores SIGXFSZ, which would kill it),
    the same path through the code as ENOSPC on a full disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_full_disk_is_507_with_the_temporary_file_removed(start_server, tmp_path):
    process = start_server("--directory", str(tmp_path), preexec_fn=limit_file_size)
    (tmp_path / "kept.bin").write_bytes(b"old")
    response = requests.put(process.url + "/files/kept.bin", data=b"x" * 300_000)
    assert response.status_code == 507
    assert response.text == "not enough storage to save kept.bin\n"
    assert (tmp_path / "kept.bin").read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["kept.bin"]
    # The server is still there and still stores what fits.
    assert requests.put(process.url + "/files/small.bin", data=b"ok").status_code == 201


def without_root_powers() -> tuple[str, ...]:
    """Root ignores file permissions; drop the capabilities that let it, so a read-only
    folder refuses the server as it would any user."""
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")


def test_permission_errors_are_403(start_server, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "locked").mkdir()
    (folder / "locked" / "kept.txt").write_bytes(b"old")
    (folder / "unreadable.txt").write_bytes(b"secret")
    os.chmod(folder / "unreadable.txt", 0o000)
    os.chmod(folder / "locked", 0o555)
    try:
        process = start_server("--directory", str(folder), wrapper=without_root_powers())
        assert requests.put(process.url + "/files/locked/new.txt", data=b"x").status_code == 403
        assert requests.put(process.url + "/files/locked/kept.txt", data=b"x").status_code == 403
        assert requests.delete(process.url + "/files/locked/kept.txt").status_code == 403
        response = requests.get(process.url + "/files/unreadable.txt")
        assert response.status_code == 403
        assert response.text == "permission denied reading unreadable.txt\n"
    finally:
        os.chmod(folder / "locked", 0o755)
    assert sorted(path.name for path in (folder / "locked").iterdir()) == ["kept.txt"]
    assert (folder / "locked" / "kept.txt").read_bytes() == b"old"


def test_uploads_without_directory_are_403(start_server):
    process = start_server()
    response = requests.put(process.url + "/files/x.txt", data=b"x")
    assert response.status_code == 403
    assert requests.delete(process.url + "/files/x.txt").status_code == 403
