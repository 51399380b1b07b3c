"""The state folder under --directory (`.http-server-state`, app/state.py) is never reachable
by a request, even with --show-hidden: not read, not written, not listed, not archived, not
reached through a symlink to it. The descriptor walk (app/safefs.py) refuses it at every
depth with 403 and its one-line reason."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from app.state import DATABASE_NAME, STATE_DIR_NAME

REASON = f"{STATE_DIR_NAME} is the server's state folder and is never served\n"


@pytest.fixture
def served(start_server, tmp_path: Path):
    state = tmp_path / STATE_DIR_NAME
    state.mkdir()
    (state / DATABASE_NAME).write_bytes(b"SQLITE-STATE")
    (tmp_path / "sub").mkdir()
    os.symlink(state, tmp_path / "sub" / "to-state")
    os.symlink(f"../{STATE_DIR_NAME}/{DATABASE_NAME}", tmp_path / "sub" / "to-database")
    (tmp_path / "visible.txt").write_bytes(b"visible")
    return start_server("--directory", str(tmp_path), "--show-hidden"), tmp_path


# (method, path under /files/, body)
REQUESTS = [
    ("GET", f"{STATE_DIR_NAME}/{DATABASE_NAME}", None),
    ("GET", f"{STATE_DIR_NAME}/", None),
    ("GET", f"{STATE_DIR_NAME}/?download=zip", None),
    ("GET", f"sub/to-state/{DATABASE_NAME}", None),
    ("GET", "sub/to-database", None),
    ("PUT", f"{STATE_DIR_NAME}/{DATABASE_NAME}", b"overwritten"),
    ("PUT", f"{STATE_DIR_NAME}/new.txt", b"new"),
    ("POST", f"sub/to-state/{DATABASE_NAME}", b"overwritten"),
    ("DELETE", f"{STATE_DIR_NAME}/{DATABASE_NAME}", None),
    ("DELETE", f"{STATE_DIR_NAME}/", None),
    ("MKCOL", f"{STATE_DIR_NAME}/made/", None),
]


@pytest.mark.parametrize("method, path, body", REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS])
def test_no_request_reaches_the_state_folder(served, method: str, path: str, body: bytes | None) -> None:
    server, root = served
    response = requests.request(method, server.url + "/files/" + path, data=body)
    assert (response.status_code, response.text) == (403, REASON)
    assert os.listdir(root / STATE_DIR_NAME) == [DATABASE_NAME]
    assert (root / STATE_DIR_NAME / DATABASE_NAME).read_bytes() == b"SQLITE-STATE"


def test_forms_cannot_reach_it(served) -> None:
    server, root = served
    upload = requests.post(server.url + "/files/", files={"file": (f"{STATE_DIR_NAME}/x.txt", b"x")})
    delete = requests.post(server.url + "/files/", data={"delete": f"{STATE_DIR_NAME}/{DATABASE_NAME}"})
    mkdir = requests.post(server.url + "/files/", data={"mkdir": f"{STATE_DIR_NAME}/made"})
    assert [r.status_code for r in (upload, delete, mkdir)] == [403, 403, 403]
    assert os.listdir(root / STATE_DIR_NAME) == [DATABASE_NAME]


def test_listings_and_archives_leave_it_out_even_with_show_hidden(served) -> None:
    server, _ = served
    listing = requests.get(server.url + "/files/", headers={"Accept": "text/plain"}).text
    assert listing == "sub/\nvisible.txt\n"
    zipped = zipfile.ZipFile(io.BytesIO(requests.get(server.url + "/files/?download=zip").content))
    assert not [name for name in zipped.namelist() if STATE_DIR_NAME in name]
    tarred = tarfile.open(fileobj=io.BytesIO(requests.get(server.url + "/files/?download=tar.gz").content))
    assert not [name for name in tarred.getnames() if STATE_DIR_NAME in name]
    assert b"SQLITE-STATE" not in requests.get(server.url + "/files/?download=zip").content
