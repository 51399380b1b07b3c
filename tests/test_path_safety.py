"""Path safety: no request reads or writes outside `--www` / `--directory`, however the
path is spelled, and nothing in a target can split a response.

A secret file sits next to both roots, and each root holds symlinks out of it (to the
secret, to its parent folder), a symlink loop and a symlink that stays inside. Every
spelling in NAMES is sent as exact bytes, under `/files/` and under the site's `/`, and
for reading and writing; the answer is always `400` with the one-line reason of the
table, the secret is never in the body, nothing changes beside the roots, and the server
goes on answering."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

SECRET = b"the secret outside the served directories\n"

DOT_SEGMENTS = b"file name must not contain empty, '.' or '..' segments"
ENCODED_SEPARATOR = b"file name must not contain an encoded '/' or '\\' (%2F, %5C)"
ENCODED_TWICE = b"file name is percent-encoded twice"
NUL_OR_BACKSLASH = b"file name must not contain NUL or backslash"
ABSOLUTE = b"file name must be relative, not absolute"
OUTSIDE = b"file name leads outside the served directory"

# (id, the name after the prefix, exactly as sent; the reason of the 400).
NAMES: list[tuple[str, bytes, bytes]] = [
    ("dot-dot", b"../secret", DOT_SEGMENTS),
    ("dot-dot-after-a-folder", b"sub/../../secret", DOT_SEGMENTS),
    ("encoded-dot-dot", b"%2e%2e/secret", DOT_SEGMENTS),
    ("encoded-dot-dot-upper", b"%2E%2E/secret", DOT_SEGMENTS),
    ("half-encoded-dot-dot", b".%2e/secret", DOT_SEGMENTS),
    ("trailing-dot-dot", b"%2e%2e", DOT_SEGMENTS),
    ("dot-segment", b"./inside.txt", DOT_SEGMENTS),
    ("dot-segment-to-secret", b"./secret", DOT_SEGMENTS),
    ("encoded-dot-dot-and-slash", b"%2e%2e%2fsecret", ENCODED_SEPARATOR),
    ("encoded-dot-dot-and-slash-upper", b"%2E%2E%2Fsecret", ENCODED_SEPARATOR),
    ("encoded-slash", b"..%2fsecret", ENCODED_SEPARATOR),
    ("encoded-slash-upper", b"..%2Fsecret", ENCODED_SEPARATOR),
    ("encoded-backslash", b"..%5csecret", ENCODED_SEPARATOR),
    ("encoded-absolute-path", b"%2fetc%2fpasswd", ENCODED_SEPARATOR),
    # Decoded once, "%2e%2e" is still encoded: refused rather than guessed at.
    ("double-encoded", b"%252e%252e/secret", ENCODED_TWICE),
    ("double-encoded-slash", b"%252e%252e%252fsecret", ENCODED_TWICE),
    ("double-encoded-slash-only", b"..%252fsecret", ENCODED_TWICE),
    ("backslash", b"..\\secret", NUL_OR_BACKSLASH),
    ("backslashes-after-a-folder", b"sub\\..\\..\\secret", NUL_OR_BACKSLASH),
    ("nul-before-an-extension", b"inside.txt%00.png", NUL_OR_BACKSLASH),
    ("nul-at-the-end", b"secret%00", NUL_OR_BACKSLASH),
    ("absolute-path", b"/etc/passwd", ABSOLUTE),
    ("absolute-path-two-slashes", b"//etc/passwd", ABSOLUTE),
    ("not-utf-8", b"%ff", b"file name is not valid UTF-8 once percent-decoded"),
    ("name-over-255-bytes", b"n" * 256, b"file name longer than 255 bytes"),
    ("symlink-to-the-secret", b"link-to-secret", OUTSIDE),
    ("symlink-to-the-parent", b"link-to-parent/secret", OUTSIDE),
    ("symlink-loop", b"loop", b"file name cannot be resolved (symlink loop?)"),
]
IDS = [case[0] for case in NAMES]
CASES = [case[1:] for case in NAMES]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that holds the secret and the two roots, `www/` and `files/`."""
    base = tmp_path_factory.mktemp("safety")
    (base / "secret").write_bytes(SECRET)
    for root in (base / "www", base / "files"):
        (root / "sub").mkdir(parents=True)
        (root / "inside.txt").write_bytes(b"inside")
        os.symlink(base / "secret", root / "link-to-secret")
        os.symlink(base, root / "link-to-parent")
        os.symlink(root / "loop", root / "loop")
        os.symlink(root / "inside.txt", root / "link-inside")  # stays inside: fine
    return base


@pytest.fixture(scope="module")
def server(base: Path) -> Iterator[ServerProcess]:
    process = ServerProcess("--www", str(base / "www"), "--directory", str(base / "files"))
    yield process
    process.stop()


def exchange(server: ServerProcess, method: bytes, target: bytes, body: bytes = b"") -> tuple[int, bytes]:
    head = method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body) if body else b"\r\n"
    with server.connect() as client:
        response = client.exchange(head + body)
    return response.status, response.body


def outside_the_roots(base: Path) -> list[tuple[str, bytes | None]]:
    """What lies beside the roots (names, and the bytes of files): must never change."""
    return sorted((path.name, path.read_bytes() if path.is_file() else None) for path in base.iterdir())


@pytest.mark.parametrize("prefix", [b"/files/", b"/"])
@pytest.mark.parametrize("name, reason", CASES, ids=IDS)
def test_reads_never_leave_the_root(server, prefix: bytes, name: bytes, reason: bytes) -> None:
    assert exchange(server, b"GET", prefix + name) == (400, reason + b"\n")
    server.assert_answers()


@pytest.mark.parametrize("method", [b"PUT", b"POST", b"DELETE"])
@pytest.mark.parametrize("name, reason", CASES, ids=IDS)
def test_writes_never_touch_the_secret(server, base, method: bytes, name: bytes, reason: bytes) -> None:
    before = outside_the_roots(base)
    assert exchange(server, method, b"/files/" + name, b"overwritten") == (400, reason + b"\n")
    assert outside_the_roots(base) == before
    assert (base / "secret").read_bytes() == SECRET


# Uploads that would create a new file beside the directory.
CREATE_CASES: list[tuple[str, bytes]] = [
    ("dot-dot", b"/files/../escaped.txt"),
    ("encoded-slash", b"/files/..%2fescaped.txt"),
    ("symlink-out", b"/files/link-to-parent/escaped.txt"),
    ("backslash", b"/files/..%5cescaped.txt"),
]


@pytest.mark.parametrize("target", [case[1] for case in CREATE_CASES], ids=[case[0] for case in CREATE_CASES])
def test_uploads_never_create_outside_the_directory(server, base, target: bytes) -> None:
    status, _ = exchange(server, b"POST", target, b"bad")
    assert status == 400
    assert not list(base.glob("*escaped*"))
    server.assert_answers()


def test_absolute_form_target_with_dot_dot_is_refused(server) -> None:
    assert exchange(server, b"GET", b"http://localhost/files/../secret") == (400, DOT_SEGMENTS + b"\n")


@pytest.mark.parametrize("prefix", [b"/files/", b"/"])
def test_symlink_inside_the_root_is_served(server, prefix: bytes) -> None:
    assert exchange(server, b"GET", prefix + b"link-inside") == (200, b"inside")


def test_listing_leaves_out_symlinks(server) -> None:
    status, body = exchange(server, b"GET", b"/files/")
    assert status == 200
    assert b"inside.txt" in body
    assert b"link-to-secret" not in body


def test_encoded_crlf_cannot_split_the_response(server) -> None:
    with server.connect() as client:
        response = client.exchange(
            b"GET /echo/a%0d%0aSet-Cookie:%20x=1%0d%0a%0d%0a HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
    assert response.status == 200
    assert response.body == b"a\r\nSet-Cookie: x=1\r\n\r\n"  # in the body, where it is data
    assert response.header("Set-Cookie") is None
    server.assert_answers()
