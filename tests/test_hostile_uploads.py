"""Upload safety: whatever goes wrong during `POST /files/{name}`, the old file stays whole,
no half-written file appears, and no temporary file is left behind."""

from __future__ import annotations

import resource
import socket
import struct
import threading
import time

import pytest

from tests.conftest import RawClient, wait_until

H = b"Host: localhost\r\n"
OLD = b"the old content\n"


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def upload_server(start_server, tmp_path):
    (tmp_path / "f").write_bytes(OLD)
    return start_server("--directory", str(tmp_path), "--body-timeout", "1")


def assert_only_the_old_file(directory) -> None:
    assert sorted(path.name for path in directory.iterdir()) == ["f"]
    assert (directory / "f").read_bytes() == OLD


CUT_OFF = [
    ("content-length-cut", b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 100000\r\n\r\n" + b"n" * 70000),
    ("chunked-cut-mid-chunk", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n20000\r\n" + b"n" * 70000),
    ("chunked-cut-before-last-chunk", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nnew\r\n"),
    ("chunked-cut-in-trailers", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nnew\r\n0\r\nX: y\r\n"),
]


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("sent", [case[1] for case in CUT_OFF], ids=[case[0] for case in CUT_OFF])
def test_upload_cut_off_leaves_the_old_file(upload_server, tmp_path, sent: bytes, how: str) -> None:
    sock = socket.create_connection(("127.0.0.1", upload_server.port), timeout=10)
    sock.sendall(sent)
    assert wait_until(lambda: any(path.name.endswith(".part") for path in tmp_path.iterdir()))
    if how == "reset":
        reset(sock)
    else:
        sock.close()
    assert wait_until(lambda: len(list(tmp_path.iterdir())) == 1)
    assert_only_the_old_file(tmp_path)
    upload_server.assert_answers()


REFUSED = [
    ("bad-chunk-size", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nnew\r\nzz\r\n", 400),
    ("chunk-without-crlf", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nnewX\r\n0\r\n\r\n", 400),
    ("bad-trailer", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nnew\r\n0\r\nX : y\r\n\r\n", 400),
    ("stalled", b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nnew", 408),
    ("name-too-long", b"POST /files/" + b"n" * 300 + b" HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew", 400),
    ("traversal", b"POST /files/..%2ff HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew", 400),
    ("file-in-the-way", b"POST /files/f/g HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew", 409),
]


@pytest.mark.parametrize("sent, status", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_upload_leaves_the_old_file(upload_server, tmp_path, sent: bytes, status: int) -> None:
    with upload_server.connect() as client:
        assert client.exchange(sent).status == status
    assert wait_until(lambda: len(list(tmp_path.iterdir())) == 1)
    assert_only_the_old_file(tmp_path)
    upload_server.assert_answers()


def test_upload_with_a_name_of_255_bytes_is_stored(upload_server, tmp_path) -> None:
    name = b"n" * 255
    with upload_server.connect() as client:
        assert client.exchange(b"POST /files/" + name + b" HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew").status == 201
        assert client.exchange(b"GET /files/" + name + b" HTTP/1.1\r\n" + H + b"\r\n").body == b"new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f", name.decode()]


def test_upload_onto_a_directory_is_409(upload_server, tmp_path) -> None:
    (tmp_path / "folder").mkdir()
    with upload_server.connect() as client:
        assert client.exchange(b"POST /files/folder HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew").status == 409
    assert (tmp_path / "folder").is_dir()
    upload_server.assert_answers()


def limit_file_size() -> None:
    """In the server process only: files can grow to 64 KiB. A larger write fails with
    EFBIG, as on a full disk (Python ignores SIGXFSZ, so the process is not killed)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_storage_full_answers_507_and_leaves_no_temporary_file(start_server, tmp_path) -> None:
    (tmp_path / "f").write_bytes(OLD)
    server = start_server("--directory", str(tmp_path), preexec_fn=limit_file_size)
    with server.connect() as client:
        response = client.exchange(b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 200000\r\n\r\n" + b"n" * 200000)
    assert response.status_line == b"HTTP/1.1 507 Insufficient Storage"
    assert response.body.startswith(b"not enough storage")
    assert_only_the_old_file(tmp_path)
    with server.connect() as client:  # a file that fits is still stored
        assert client.exchange(b"POST /files/g HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nnew").status == 201
    assert (tmp_path / "g").read_bytes() == b"new"
    server.assert_answers()
    assert "Traceback" not in server.log


def test_readers_never_see_a_half_written_file(upload_server, tmp_path) -> None:
    """While uploads replace a 1 MiB file again and again, every read gets one whole
    version of it."""
    versions = [bytes([letter]) * (1024 * 1024) for letter in b"AB"]
    (tmp_path / "f").write_bytes(versions[0])
    stop = threading.Event()
    reads: list[bytes] = []

    def reader() -> None:
        with RawClient(upload_server.port, timeout=30) as client:
            while not stop.is_set() or not reads:
                reads.append(client.exchange(b"GET /files/f HTTP/1.1\r\n" + H + b"\r\n").body)

    thread = threading.Thread(target=reader)
    thread.start()
    with RawClient(upload_server.port, timeout=30) as writer:
        for number in range(20):
            body = versions[number % 2]
            request = b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(body)
            assert writer.exchange(request + body).status in (201, 204)  # created, replaced
    stop.set()
    thread.join(timeout=30)
    assert reads and all(read in versions for read in reads)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f"]


# --- --min-body-rate: a body must keep coming at an average rate, not just keep trickling --

TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 55\r\n"
    b"Connection: close\r\n\r\nrequest body slower than 200 bytes/s (--min-body-rate)\n"
)


@pytest.fixture
def rate_server(start_server, tmp_path):
    """200 bytes/s after a 1 s grace; the stall timeout (30 s) never comes into play."""
    (tmp_path / "f").write_bytes(OLD)
    return start_server("--directory", str(tmp_path), "--min-body-rate", "200", "--body-rate-grace", "1")


def send_slowly(sock: socket.socket, pieces: list[bytes], every: float) -> None:
    """Send each piece `every` seconds apart; stop quietly once the server has closed."""
    for piece in pieces:
        time.sleep(every)
        try:
            sock.sendall(piece)
        except OSError:
            return


@pytest.mark.parametrize(
    "head",
    [
        b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 1000\r\n\r\n",
        b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_body_trickled_under_the_minimum_rate_is_cut_off(rate_server, tmp_path, head: bytes) -> None:
    """25 bytes/s, each piece well within the stall timeout: cut off with 408 once the
    grace period is over, and the partial upload is gone."""
    with rate_server.connect(timeout=10) as client:
        client.send(head + b"n" * 10)
        assert wait_until(lambda: any(path.name.endswith(".part") for path in tmp_path.iterdir()))
        trickle = threading.Thread(target=send_slowly, args=(client.sock, [b"n" * 5] * 40, 0.2), daemon=True)
        trickle.start()
        assert client.read_response().undated == TOO_SLOW
        assert client.is_closed_by_server(within=5)
    trickle.join(timeout=10)
    assert wait_until(lambda: len(list(tmp_path.iterdir())) == 1)
    assert_only_the_old_file(tmp_path)
    rate_server.assert_answers()


def test_body_that_stops_after_the_grace_period_gets_the_rate_reason(rate_server, tmp_path) -> None:
    """A body that stops coming is cut off when its average falls under the rate, long
    before the 30 s stall timeout: the reason says which limit it was."""
    with rate_server.connect(timeout=10) as client:
        assert client.exchange(b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 1000\r\n\r\n" + b"n" * 300).undated == TOO_SLOW
    assert wait_until(lambda: len(list(tmp_path.iterdir())) == 1)
    assert_only_the_old_file(tmp_path)


def test_steady_upload_above_the_minimum_rate_completes(rate_server, tmp_path) -> None:
    """5,000 bytes/s for 2.5 s, 25 times the minimum and well past the grace period."""
    pieces = [bytes([ord("a") + number % 26]) * 500 for number in range(25)]
    with rate_server.connect(timeout=10) as client:
        client.send(b"POST /files/g HTTP/1.1\r\n" + H + b"Content-Length: 12500\r\n\r\n")
        send_slowly(client.sock, pieces, 0.1)
        assert client.read_response().status == 201
    assert (tmp_path / "g").read_bytes() == b"".join(pieces)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f", "g"]
