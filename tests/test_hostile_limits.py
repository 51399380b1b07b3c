"""Limits and slow clients: oversized requests, slowloris, idle and stalled connections,
too many connections. Each case: exact bytes sent, status expected, and the server still
answering afterwards. Timeouts are shortened with launch options to keep the suite fast;
no test asserts how long anything took."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, RawClient, wait_until

H = b"Host: localhost\r\n"


def request_line_of(length: int) -> bytes:
    """`GET /echo/aaa... HTTP/1.1` exactly `length` bytes long (CRLF not counted)."""
    return b"GET /echo/" + b"a" * (length - len(b"GET /echo/ HTTP/1.1")) + b" HTTP/1.1"


def fields(count: int, size: int = 10) -> bytes:
    return b"".join(b"X-%d: %s\r\n" % (i, b"v" * size) for i in range(count))


# --- Default limits (the shared server) ----------------------------------------------------

LIMIT_CASES: list[tuple[str, bytes, int]] = [
    # Request line: 8 KiB allowed, one byte more is 414 URI Too Long.
    ("request-line-at-limit", request_line_of(8192) + b"\r\n" + H + b"\r\n", 200),
    ("request-line-over-limit", request_line_of(8193) + b"\r\n" + H + b"\r\n", 414),
    # ... refused before its end arrives.
    ("unfinished-request-line-over-limit", b"GET /" + b"a" * 9000, 414),
    # Header section: 100 fields allowed (Host + 99), 101 is 431.
    ("100-fields", b"GET / HTTP/1.1\r\n" + H + fields(99) + b"\r\n", 200),
    ("101-fields", b"GET / HTTP/1.1\r\n" + H + fields(100) + b"\r\n", 431),
    # 64 KiB of header section at most, complete or not.
    ("header-section-over-64k", b"GET / HTTP/1.1\r\n" + H + fields(60, 1200) + b"\r\n", 431),
    ("unfinished-header-section-over-64k", b"GET / HTTP/1.1\r\n" + H + fields(60, 1200), 431),
    # Bodies held in memory (/echo): 1 MiB; refused from Content-Length alone.
    ("echo-body-over-1mib", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 1048577\r\n\r\n", 413),
    # Uploads: 10 GiB; refused before any byte is stored, and before 100 Continue.
    ("upload-over-10gib", b"POST /files/big HTTP/1.1\r\n" + H + b"Content-Length: 10737418241\r\n\r\n", 413),
    (
        "upload-over-10gib-expect-continue",
        b"POST /files/big HTTP/1.1\r\n" + H + b"Content-Length: 10737418241\r\nExpect: 100-continue\r\n\r\n",
        413,
    ),
    ("chunked-upload-over-10gib", b"POST /files/big HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n280000001\r\n", 413),
]


@pytest.mark.parametrize("sent, status", [case[1:] for case in LIMIT_CASES], ids=[case[0] for case in LIMIT_CASES])
def test_default_limits(server, server_directory, sent: bytes, status: int) -> None:
    with server.connect() as client:
        client.send(sent)
        response = client.read_response()  # the first response: never a 100 Continue
        assert response.status == status, response.raw
        if status in (413, 414, 431):  # refusals close the connection
            assert response.header("Connection") == "close"
            assert client.is_closed_by_server(within=5)
    assert not (server_directory / "big").exists()
    assert not list(server_directory.glob(".big.*"))
    server.assert_answers()


def test_echo_body_of_exactly_1mib_is_accepted(server) -> None:
    body = b"x" * 1048576
    with server.connect() as client:
        response = client.exchange(b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 1048576\r\n\r\n" + body)
    assert response.status == 200 and response.body.endswith(body)


# --- Limits set by launch options ----------------------------------------------------------


@pytest.fixture
def small_limits(start_server, tmp_path):
    return start_server(
        "--directory", str(tmp_path),
        "--max-request-line", "100", "--max-header-fields", "5", "--max-header-bytes", "1000",
        "--max-body", "10", "--max-upload", "20",
    )


OPTION_CASES: list[tuple[str, bytes, int]] = [
    ("request-line-100", request_line_of(100) + b"\r\n" + H + b"\r\n", 200),
    ("request-line-101", request_line_of(101) + b"\r\n" + H + b"\r\n", 414),
    ("5-fields", b"GET / HTTP/1.1\r\n" + H + fields(4) + b"\r\n", 200),
    ("6-fields", b"GET / HTTP/1.1\r\n" + H + fields(5) + b"\r\n", 431),
    ("header-bytes-over-1000", b"GET / HTTP/1.1\r\n" + H + fields(3, 400) + b"\r\n", 431),
    ("body-10", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\n0123456789", 200),
    ("body-11", b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 11\r\n\r\n0123456789a", 413),
    ("chunked-body-11", b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n", 413),
    ("upload-20", b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 20\r\n\r\n" + b"u" * 20, 201),
    ("upload-21", b"POST /files/f HTTP/1.1\r\n" + H + b"Content-Length: 21\r\n\r\n" + b"u" * 21, 413),
    ("chunked-upload-21", b"POST /files/f HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n14\r\n" + b"u" * 20 + b"\r\n1\r\nu\r\n0\r\n\r\n", 413),
]


@pytest.mark.parametrize("sent, status", [case[1:] for case in OPTION_CASES], ids=[case[0] for case in OPTION_CASES])
def test_limits_from_launch_options(small_limits, tmp_path, sent: bytes, status: int) -> None:
    with small_limits.connect() as client:
        response = client.exchange(sent)
    assert response.status == status, response.raw
    if status == 413:
        assert not (tmp_path / "f").exists()
    assert not list(tmp_path.glob(".f.*"))  # no temporary file left, whatever happened
    small_limits.assert_answers()


@pytest.mark.parametrize("request_line", [b"POST /files/f HTTP/1.1", b"GET /echo HTTP/1.1"])
def test_413_reaches_a_client_still_sending_its_body(small_limits, tmp_path, request_line: bytes) -> None:
    """The client sends a large body without waiting; the server answers 413 at once and,
    before closing, reads on for a moment: closing with unread bytes would send RST,
    which can destroy the 413 before the client reads it (RFC 9112 §9.6)."""
    body = b"b" * (4 * 1024 * 1024)
    with small_limits.connect(timeout=10) as client:
        def send_everything() -> None:
            try:
                client.send(request_line + b"\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            except OSError:
                pass  # the server closed after answering: expected

        sender = threading.Thread(target=send_everything)
        sender.start()
        response = client.read_response()
        sender.join(timeout=10)
    assert response.status == 413
    assert not (tmp_path / "f").exists()
    small_limits.assert_answers()


@pytest.mark.parametrize(
    "option", ["--max-connections", "--backlog", "--max-request-line", "--max-header-bytes",
               "--max-header-fields", "--max-body", "--header-timeout",
               "--idle-timeout", "--body-timeout", "--write-timeout"],
)
@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_limit_options_refuse_nonsense(option: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", option, value], cwd=ROOT, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 2
    assert option in result.stderr


# --- Slow and idle clients -----------------------------------------------------------------


@pytest.fixture
def short_timeouts(start_server, tmp_path):
    return start_server(
        "--directory", str(tmp_path), "--header-timeout", "3", "--idle-timeout", "1", "--body-timeout", "1"
    )


def nothing_received_yet(client: RawClient) -> bool:
    client.sock.setblocking(False)
    try:
        return client.sock.recv(1) == b"" and False
    except BlockingIOError:
        return True
    finally:
        client.sock.setblocking(True)


def test_slowloris_gets_408_and_others_are_served_meanwhile(short_timeouts) -> None:
    slow_clients = [short_timeouts.connect() for _ in range(50)]
    for client in slow_clients:
        client.send(b"GET / HTTP/1.1\r\nHost: loc")
    # While all of them hold their half-sent heads, a normal client is served.
    with short_timeouts.connect() as client:
        response = client.exchange(b"GET /echo/meanwhile HTTP/1.1\r\n" + H + b"\r\n")
    assert response.body == b"meanwhile"
    assert all(nothing_received_yet(client) for client in slow_clients)
    for client in slow_clients:
        client.sock.settimeout(10)
        response = client.read_response()
        assert response.status == 408
        assert response.header("Connection") == "close"
        assert client.is_closed_by_server(within=5)
        client.close()
    short_timeouts.assert_answers()


def test_trickling_slowloris_gets_408(short_timeouts) -> None:
    """One byte at a time keeps every single recv() short; the header timeout still runs
    from the first byte, so the head must be complete within it."""
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
    with short_timeouts.connect(timeout=10) as client:
        for byte in head:
            try:
                client.send(bytes([byte]))
            except OSError:
                break  # the server gave up on us: what we want
            time.sleep(0.05)  # 200 bytes: 10 s, far beyond the 3 s header timeout
            if not nothing_received_yet(client):
                break
        response = client.read_response()
    assert response.status == 408
    short_timeouts.assert_answers()


def test_idle_keep_alive_connection_is_closed_silently(short_timeouts) -> None:
    with short_timeouts.connect(timeout=10) as client:
        assert client.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n").status == 200
        assert client.read_until_closed() == b""  # closed, and nothing sent: no 408
    short_timeouts.assert_answers()


def test_idle_connection_that_never_sends_is_closed(short_timeouts) -> None:
    with short_timeouts.connect(timeout=10) as client:
        assert client.read_until_closed() == b""


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc",
        b"GET /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\na\r\nabc",
        b"POST /files/stalled HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc",
        b"POST /files/stalled HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["echo-content-length", "echo-chunked", "upload-content-length", "upload-chunked"],
)
def test_stalled_body_is_dropped(short_timeouts, tmp_path, sent: bytes) -> None:
    with short_timeouts.connect(timeout=10) as client:
        client.send(sent)
        with short_timeouts.connect() as other:  # served while the body stalls
            assert other.exchange(b"GET /echo/ok HTTP/1.1\r\n" + H + b"\r\n").body == b"ok"
        response = client.read_response()
        assert response.status == 408
        assert client.is_closed_by_server(within=5)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file
    short_timeouts.assert_answers()


# --- Too many connections ------------------------------------------------------------------


def start_upload(client: RawClient, name: str) -> None:
    """Leave a request in progress on `client`: the server has read the head and waits for
    the body (its `100 Continue` proves it), which `finish_upload` sends."""
    head = f"PUT /files/{name} HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
    assert client.exchange(head.encode() + H + b"\r\n").status == 100


def finish_upload(client: RawClient) -> int:
    return client.exchange(b"12345").status


def test_connections_beyond_the_maximum_get_503_when_every_one_is_busy(start_server, tmp_path) -> None:
    server = start_server("--max-connections", "3", "--directory", str(tmp_path))
    clients = [server.connect() for _ in range(3)]
    for index, client in enumerate(clients):  # each has its thread and a request in progress
        assert client.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n").status == 200
        start_upload(client, f"busy{index}")
    with server.connect() as extra:
        refused = extra.read_response()
        assert refused.status_line == b"HTTP/1.1 503 Service Unavailable"
        assert refused.header("Retry-After") == "1"
        assert refused.header("Connection") == "close"
        assert b"too many connections" in refused.body
        assert extra.is_closed_by_server(within=5)
    for client in clients:  # none of the busy ones was cut off: each finishes its request
        assert finish_upload(client) == 201
    clients.pop().close()

    def a_new_connection_is_served() -> bool:
        with server.connect() as client:
            client.send(b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
            return client.read_response().status == 200

    assert wait_until(a_new_connection_is_served)
    for client in clients:
        client.close()
    assert "refusing new ones with 503" in server.log


def served_again(client: RawClient) -> bool:
    """Whether the connection still answers; if not, it was closed without a byte of a
    response (an evicted connection is closed cleanly, never in the middle of one)."""
    try:
        return client.exchange(b"GET /echo/b HTTP/1.1\r\n" + H + b"\r\n").body == b"b"
    except ConnectionError:  # EOF, or a reset as our request reached a closed socket
        assert client.buffer == b""
        return False


def test_at_the_maximum_idle_connections_make_room(start_server, tmp_path) -> None:
    server = start_server("--max-connections", "20", "--crowded-idle-timeout", "60", "--directory", str(tmp_path))
    clients = [server.connect() for _ in range(20)]
    for client in clients:
        assert client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"\r\n").body == b"a"
    busy = clients.pop(0)
    start_upload(busy, "busy")  # a request in progress
    extras = [server.connect() for _ in range(3)]
    for extra in extras:  # each new client is served, and stays: idle ones made room
        assert extra.exchange(b"GET /echo/new HTTP/1.1\r\n" + H + b"\r\n").body == b"new"
    assert finish_upload(busy) == 201  # the busy one was never touched
    assert (tmp_path / "busy").read_bytes() == b"12345"
    # Exactly three idle ones were closed (the idlest: those whose threads began waiting
    # first), the others are still served.
    assert sum(not served_again(client) for client in clients) == 3
    for client in [busy, *clients, *extras]:
        client.close()
    assert "refusing new ones with 503" not in server.log


def test_when_crowded_idle_connections_time_out_sooner(start_server) -> None:
    server = start_server("--max-connections", "4", "--crowded-idle-timeout", "0.5")
    clients = [server.connect() for _ in range(3)]  # 3 of 4 slots: over half taken
    for round in range(2):  # the second time, each goes idle with all three open
        for client in clients:
            assert client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"\r\n").body == b"a"
    for client in clients:  # closed after 0.5 s idle, not the idle timeout of 15 s
        assert client.is_closed_by_server(within=5)
    with server.connect() as alone:  # 1 of 4: not crowded, the usual idle timeout
        assert alone.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"\r\n").body == b"a"
        assert not alone.is_closed_by_server(within=1.5)
