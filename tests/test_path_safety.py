"""Path safety: no request reads or writes outside `--www` / `--directory`, however the
path is spelled. A secret file sits next to each root; every attack tries to reach it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RawClient, ServerProcess

SECRET = b"TOP SECRET"


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    base = tmp_path_factory.mktemp("safety")
    (base / "secret").write_bytes(SECRET)
    for root in ("www", "files"):
        (base / root).mkdir()
        (base / root / "inside.txt").write_bytes(b"inside")
        (base / root / "sub").mkdir()
        # Symlinks that point out of the root, to a file and to a folder.
        os.symlink(base / "secret", base / root / "link-to-secret")
        os.symlink(base, base / root / "link-to-parent")
        # A symlink that stays inside is fine.
        os.symlink(base / root / "inside.txt", base / root / "link-inside")
    process = ServerProcess("--www", str(base / "www"), "--directory", str(base / "files"))
    yield process, base
    process.stop()


def get(process: ServerProcess, target: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n"
    with RawClient(process.port) as client:
        response = client.exchange(head.encode() + body)
    return response.status, response.body


ATTACKS = [
    "../secret",
    "sub/../../secret",
    "%2e%2e/secret",
    "%2E%2E/secret",
    ".%2e/secret",
    "%2e%2e%2fsecret",
    "..%2fsecret",
    "..%2Fsecret",
    "%252e%252e/secret",
    "%252e%252e%252fsecret",
    "..%252fsecret",
    "..%5csecret",
    "..\\secret",
    "sub\\..\\..\\secret",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "//etc/passwd",
    "inside.txt%00.png",
    "link-to-secret",
    "link-to-parent/secret",
    "./inside.txt",
]


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("prefix", ["/files/", "/"])
def test_reads_never_leave_the_root(roots, prefix, attack):
    process, _ = roots
    status, body = get(process, prefix + attack)
    assert SECRET not in body
    assert status in (400, 404), (status, body)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_writes_never_leave_the_directory(roots, method, attack):
    process, base = roots
    before = sorted(path.name for path in base.iterdir())
    status, _ = get(process, "/files/" + attack, method, b"overwritten")
    assert status in (400, 404, 405), status
    assert (base / "secret").read_bytes() == SECRET
    assert sorted(path.name for path in base.iterdir()) == before


@pytest.mark.parametrize("prefix", ["/files/", "/"])
def test_symlink_inside_the_root_is_served(roots, prefix):
    process, _ = roots
    assert get(process, prefix + "link-inside") == (200, b"inside")


def test_listing_leaves_out_symlinks(roots):
    process, _ = roots
    status, body = get(process, "/files/")
    assert status == 200
    assert b"inside.txt" in body
    assert b"link-to-secret" not in body


def test_refusal_says_why(roots):
    process, _ = roots
    assert get(process, "/files/..%2fsecret") == (
        400,
        b"file name must not contain an encoded '/' or '\\' (%2F, %5C)\n",
    )
    assert get(process, "/files/%252e%252e/secret") == (400, b"file name is percent-encoded twice\n")
    assert get(process, "/files/link-to-secret") == (400, b"file name leads outside the served directory\n")
