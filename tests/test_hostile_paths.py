"""Path safety: no request target reads or writes outside `--directory`, and nothing in a
target can split a response. Each case: the exact request line, the status expected."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ServerProcess

H = b"Host: localhost\r\n"
SECRET = b"the secret outside the served directory\n"


@pytest.fixture(scope="module")
def traps(tmp_path_factory):
    """A served directory with a secret beside it, a symlink out of it and a symlink loop
    (its own, so that the shared server's directory stays clean)."""
    served = tmp_path_factory.mktemp("traps") / "served"
    served.mkdir()
    (served.parent / "secret.txt").write_bytes(SECRET)
    os.symlink(served.parent, served / "link-out")
    os.symlink(served / "loop", served / "loop")
    return served


@pytest.fixture(scope="module")
def server(traps):
    process = ServerProcess("--directory", str(traps))
    yield process
    process.stop()


GET_CASES: list[tuple[str, bytes, int]] = [
    ("dot-dot", b"/files/../secret.txt", 400),
    ("encoded-dot-dot", b"/files/%2e%2e/secret.txt", 400),
    ("encoded-dot-dot-upper", b"/files/%2E%2E%2Fsecret.txt", 400),
    ("encoded-slash", b"/files/..%2fsecret.txt", 400),
    ("backslash", b"/files/..%5csecret.txt", 400),
    ("nul", b"/files/secret.txt%00", 400),
    ("absolute-path", b"/files//etc/passwd", 400),
    ("encoded-absolute-path", b"/files/%2fetc%2fpasswd", 400),
    ("dot-segment", b"/files/./secret.txt", 400),
    ("trailing-dot-dot", b"/files/%2e%2e", 400),
    ("not-utf-8", b"/files/%ff", 400),
    ("name-over-255-bytes", b"/files/" + b"n" * 256, 400),
    ("symlink-out", b"/files/link-out/secret.txt", 400),
    ("symlink-loop", b"/files/loop", 400),
    # Decoded once, "%2e%2e" is still encoded: refused rather than guessed at.
    ("double-encoded", b"/files/%252e%252e/secret.txt", 400),
    ("absolute-form-dot-dot", b"http://localhost/files/../secret.txt", 400),
]


@pytest.mark.parametrize("target, status", [case[1:] for case in GET_CASES], ids=[case[0] for case in GET_CASES])
def test_get_never_leaves_the_directory(server, traps, target: bytes, status: int) -> None:
    with server.connect() as client:
        response = client.exchange(b"GET " + target + b" HTTP/1.1\r\n" + H + b"\r\n")
    assert response.status == status, response.raw
    assert SECRET not in response.body
    server.assert_answers()


POST_CASES: list[tuple[str, bytes]] = [
    ("dot-dot", b"/files/../escaped.txt"),
    ("encoded-slash", b"/files/..%2fescaped.txt"),
    ("symlink-out", b"/files/link-out/escaped.txt"),
    ("backslash", b"/files/..%5cescaped.txt"),
]


@pytest.mark.parametrize("target", [case[1] for case in POST_CASES], ids=[case[0] for case in POST_CASES])
def test_post_never_writes_outside_the_directory(server, traps, target: bytes) -> None:
    with server.connect() as client:
        response = client.exchange(b"POST " + target + b" HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nbad")
    assert response.status == 400
    assert not (traps.parent / "escaped.txt").exists()
    assert not list(traps.parent.glob("*escaped*"))
    server.assert_answers()


def test_encoded_crlf_cannot_split_the_response(server) -> None:
    with server.connect() as client:
        response = client.exchange(b"GET /echo/a%0d%0aSet-Cookie:%20x=1%0d%0a%0d%0a HTTP/1.1\r\n" + H + b"\r\n")
    assert response.status == 200
    assert response.body == b"a\r\nSet-Cookie: x=1\r\n\r\n"  # in the body, where it is data
    assert response.header("Set-Cookie") is None
    server.assert_answers()
