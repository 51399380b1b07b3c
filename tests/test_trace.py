"""`--trace` on the real server: what it writes on stderr for each kind of exchange, the
reasons connections close, redaction, body previews, colour, and concurrent connections
whose lines never mix within an exchange.

Timings and client ports change from run to run; `shape()` replaces them with `T` and `P`,
and everything else is compared exactly.
"""

from __future__ import annotations

import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app import trace
from app.server import Server
from app.settings import Settings
from tests.conftest import BANNER_RE, ROOT, ServerProcess, wait_until

H = b"Host: localhost\r\n"


def shape(log: str) -> list[str]:
    """The trace's lines with the timings and client ports replaced."""
    log = re.sub(r"\d+\.\d\d ms", "T ms", log)
    log = re.sub(r"port \d+ opened", "port P opened", log)
    return log.splitlines()


def closed(server: ServerProcess, count: int = 1) -> list[str]:
    """The trace once `count` connections have closed."""
    assert wait_until(lambda: server.log.count(" closed after ") >= count), server.log
    return shape(server.log)


@pytest.fixture
def traced(start_server, tmp_path: Path) -> ServerProcess:
    (tmp_path / "hello.txt").write_bytes(b"Hello, World!")
    return start_server("--trace", "-q", "--directory", str(tmp_path))


def test_a_simple_get(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.exchange(b"GET /echo/abc HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    assert closed(traced) == [
        "* [c1] connection from 127.0.0.1 port P opened",
        "* [c1] request 1 on this connection",
        r"> [c1] GET /echo/abc HTTP/1.1\r\n",
        r"> [c1] Host: localhost\r\n",
        r"> [c1] Connection: close\r\n",
        r"> [c1] \r\n",
        r"< [c1] HTTP/1.1 200 OK\r\n",
        r"< [c1] Content-Type: text/plain\r\n",
        r"< [c1] Vary: Accept-Encoding\r\n",
        r"< [c1] Cache-Control: no-store\r\n",
        r"< [c1] Content-Length: 3\r\n",
        r"< [c1] Connection: close\r\n",
        r"< [c1] \r\n",
        "* [c1] response body: 3 bytes, sent with the head in one sendall",
        "* [c1] first response byte after T ms, done after T ms",
        "* [c1] closed after 1 request(s) and T ms: the client asked to close (Connection: close)",
    ]


def test_a_keep_alive_pair_on_one_connection(traced: ServerProcess) -> None:
    with traced.connect() as client:
        assert client.exchange(b"GET /echo/one HTTP/1.1\r\n" + H + b"\r\n").body == b"one"
        assert client.exchange(b"GET /echo/two HTTP/1.1\r\n" + H + b"\r\n").body == b"two"
    lines = closed(traced)
    events = [line for line in lines if line.startswith("*")]
    assert events == [
        "* [c1] connection from 127.0.0.1 port P opened",
        "* [c1] request 1 on this connection",
        "* [c1] response body: 3 bytes, sent with the head in one sendall",
        "* [c1] first response byte after T ms, done after T ms",
        "* [c1] request 2 on this connection (reused: keep-alive)",
        "* [c1] response body: 3 bytes, sent with the head in one sendall",
        "* [c1] first response byte after T ms, done after T ms",
        "* [c1] closed after 2 request(s) and T ms: client closed the connection",
    ]
    assert r"> [c1] GET /echo/two HTTP/1.1\r\n" in lines


def test_a_pipelined_pair_in_order(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(b"GET /echo/first HTTP/1.1\r\n" + H + b"\r\nGET /echo/second HTTP/1.1\r\n" + H + b"\r\n")
        assert client.read_response().body == b"first"
        assert client.read_response().body == b"second"
    lines = closed(traced)
    requests = [line for line in lines if line.startswith("> [c1] GET")]
    assert requests == [r"> [c1] GET /echo/first HTTP/1.1\r\n", r"> [c1] GET /echo/second HTTP/1.1\r\n"]
    assert (
        "* [c1] request 2 on this connection (reused: keep-alive), pipelined: its bytes were already "
        "received with the previous request"
    ) in lines


def test_a_chunked_upload_with_100_continue(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(
            b"PUT /files/up.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        assert client.read_response().status == 100
        assert client.exchange(b"5\r\nhello\r\n0\r\n\r\n").status == 201
    lines = closed(traced)
    start = lines.index(r"> [c1] Expect: 100-continue\r\n")
    assert lines[start : start + 9] == [
        r"> [c1] Expect: 100-continue\r\n",
        r"> [c1] \r\n",
        "* [c1] 100 Continue sent after T ms: the client may send the body",
        r"< [c1] HTTP/1.1 100 Continue\r\n",
        r"< [c1] \r\n",
        r"< [c1] HTTP/1.1 201 Created\r\n",
        r"< [c1] Location: /files/up.txt\r\n",
        r"< [c1] Content-Length: 0\r\n",
        r"< [c1] \r\n",
    ]


def test_a_refused_request_and_its_reason(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(b"GET / HTTP/1.1\nHost: x\n\n")
        assert client.read_until_closed().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    lines = closed(traced)
    assert lines[1:5] == [
        "* [c1] request 1 on this connection",
        r"> [c1] GET / HTTP/1.1\n",
        r"> [c1] Host: x\n",
        r"> [c1] \n",
    ]
    assert r"< [c1] HTTP/1.1 400 Bad Request\r\n" in lines
    assert lines[-1] == (
        "* [c1] closed after 1 request(s) and T ms: refused with 400: bare LF in header section; "
        "lines must end with CRLF"
    )


def test_a_gzip_response(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.exchange(b"GET /echo/abc HTTP/1.1\r\n" + H + b"Accept-Encoding: gzip\r\n\r\n")
    lines = closed(traced)
    assert r"< [c1] Content-Encoding: gzip\r\n" in lines
    assert "* [c1] response body: 23 bytes, gzipped, sent with the head in one sendall" in lines


def test_a_range_sent_by_sendfile(traced: ServerProcess) -> None:
    with traced.connect() as client:
        assert client.exchange(b"GET /files/hello.txt HTTP/1.1\r\n" + H + b"Range: bytes=0-4\r\n\r\n").body == b"Hello"
    lines = closed(traced)
    assert r"< [c1] HTTP/1.1 206 Partial Content\r\n" in lines
    assert "* [c1] response body: 5 bytes, range bytes 0-4/13, sent after the head by sendfile" in lines


def test_a_head_request_has_no_body(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.exchange(b"HEAD /echo/abc HTTP/1.1\r\n" + H + b"\r\n", head_request=True)
    assert "* [c1] no response body (HEAD)" in closed(traced)


def test_an_idle_timeout(start_server) -> None:
    server = start_server("--trace", "-q", "--idle-timeout", "0.3")
    with server.connect() as client:
        client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"\r\n")
        assert client.is_closed_by_server(within=5)
    assert closed(server)[-1] == "* [c1] closed after 1 request(s) and T ms: idle timeout: no request for 0.3s"


def test_a_client_that_leaves_mid_head(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(b"GET /echo/a HTTP/1.1\r\nHo")
    assert closed(traced)[-1] == (
        "* [c1] closed after 0 request(s) and T ms: client disconnected: closed in the middle of the request headers"
    )


SECRET = "s3cr3t-value-42"


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"])
def test_secrets_are_redacted(traced: ServerProcess, name: str) -> None:
    with traced.connect() as client:
        client.exchange(f"GET /echo/a HTTP/1.1\r\nHost: x\r\n{name}: Bearer {SECRET}\r\n\r\n".encode())
    lines = closed(traced)
    assert rf"> [c1] {name}: [redacted, {len(SECRET) + 7} bytes]\r\n" in lines
    assert SECRET not in traced.log


def test_secrets_are_redacted_in_a_refused_head(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(f"GET /echo/a HTTP/1.1\r\nHost: x\r\nCookie : id={SECRET}\r\n\r\n".encode())
        assert client.read_until_closed().startswith(b"HTTP/1.1 400 ")
    closed(traced)
    assert SECRET not in traced.log


def test_trace_body_shows_text_and_binary(start_server, tmp_path: Path) -> None:
    server = start_server("--trace-body", "8", "-q", "--directory", str(tmp_path))
    with server.connect() as client:
        assert client.exchange(b"POST /files/t.txt HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\ntext\nmore.").status == 201
        client.exchange(b"GET /echo/abc HTTP/1.1\r\n" + H + b"Accept-Encoding: gzip\r\n\r\n")
    lines = closed(server)
    preview = lines.index("* [c1] request body, first 8 of 10 bytes:")
    assert lines[preview + 1 : preview + 3] == [r"> [c1]   text\n", "> [c1]   mor"]
    preview = lines.index("* [c1] response body, first 8 of 23 bytes:")
    assert lines[preview + 1] == "< [c1]   0000  1f 8b 08 00 00 00 00 00" + " " * 24 + "  |........|"


def test_no_trace_without_the_flag(start_server) -> None:
    server = start_server("-q")
    with server.connect() as client:
        client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    server.stop()
    assert server.log == ""


def test_no_colour_when_not_a_terminal(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    closed(traced)
    assert "\x1b" not in traced.log


def trace_on_a_terminal(environ: dict[str, str]) -> str:
    """Start a traced server whose stderr is a terminal (a pty), make one request, and
    return what the terminal received."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.main", "--port", "0", "--trace", "-q"],
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    try:
        port = int(BANNER_RE.search(process.stdout.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /echo/a HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
            while sock.recv(4096):
                pass
        received = b""
        while b" closed after " not in received and select.select([master], [], [], 5)[0]:
            received += os.read(master, 4096)
        return received.decode()
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(master)


def test_colour_on_a_terminal() -> None:
    environ = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    received = trace_on_a_terminal(environ)
    assert "\x1b[36m> [c1] GET /echo/a HTTP/1.1\\r\\n\x1b[0m" in received
    assert "\x1b[32m< [c1] HTTP/1.1 200 OK\\r\\n\x1b[0m" in received
    assert "\x1b[33m* [c1] request 1 on this connection\x1b[0m" in received


def test_no_colour_on_a_terminal_with_no_color() -> None:
    received = trace_on_a_terminal({**os.environ, "NO_COLOR": "1"})
    assert "> [c1] GET /echo/a HTTP/1.1" in received
    assert "\x1b" not in received


def test_concurrent_connections_never_interleave_within_an_exchange(traced: ServerProcess) -> None:
    clients, requests = 8, 10

    def talk(number: int) -> None:
        with traced.connect() as client:
            for turn in range(requests):
                body = client.exchange(b"GET /echo/%d-%d HTTP/1.1\r\n" % (number, turn) + H + b"\r\n").body
                assert body == b"%d-%d" % (number, turn)

    threads = [threading.Thread(target=talk, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = closed(traced, count=clients)
    exchanges, current = 0, None
    for line in lines:
        owner = line[2:].split("]")[0]
        if " request " in line and " on this connection" in line:
            assert current is None, line  # an exchange began inside another
            current, exchanges = owner, exchanges + 1
        elif current is not None:
            assert owner == current, line
            if "done after" in line:
                current = None
    assert exchanges == clients * requests


def test_an_http10_request_closes_and_says_why(traced: ServerProcess) -> None:
    with traced.connect() as client:
        client.send(b"GET /echo/old HTTP/1.0\r\n\r\n")
        assert client.read_until_closed().endswith(b"old")
    assert closed(traced)[-1] == (
        "* [c1] closed after 1 request(s) and T ms: HTTP/1.0 client without Connection: keep-alive"
    )


def trace_functions_called(settings: Settings) -> set[str]:
    """The functions of app/trace.py that run while an in-process server with `settings`
    answers three keep-alive requests (a profiler watches the connection's thread)."""
    called: set[str] = set()

    def watch(frame, event, arg) -> None:
        if event == "call" and frame.f_code.co_filename == trace.__file__:
            called.add(frame.f_code.co_name)

    server = Server(settings)
    threading.setprofile(watch)
    try:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            for _ in range(3):
                sock.sendall(b"GET /echo/hello HTTP/1.1\r\n" + H + b"\r\n")
                data = b""
                while not data.endswith(b"hello"):
                    data += sock.recv(4096)
        assert wait_until(lambda: not server.connections)
    finally:
        threading.setprofile(None)
        server.shutdown()
    return called


def test_with_trace_off_no_trace_code_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The hot path does no trace work: the plain Connection runs no trace function, while
    the traced one (the check that the watch works) runs its hooks."""
    assert trace_functions_called(Settings(port=0, www=None)) == set()
    assert {"receive_request", "build_response_head", "send", "close"} <= trace_functions_called(
        Settings(port=0, www=None, trace=True)
    )
    assert "request 3 on this connection" in capsys.readouterr().err


def test_a_write_timeout_shows_the_head_sent_and_the_reason(start_server, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"b" * 16 * 1024 * 1024)
    server = start_server("--trace", "-q", "--directory", str(tmp_path), "--write-timeout", "1")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"GET /files/big HTTP/1.1\r\n" + H + b"\r\n")  # and never read the answer
        lines = closed(server)
    finally:
        sock.close()
    assert r"< [c1] Content-Length: 16777216\r\n" in lines
    assert lines[-2:] == [
        "* [c1] the response was not completed",
        "* [c1] closed after 1 request(s) and T ms: write timeout: the client accepted no byte for 1s",
    ]


def test_with_workers_each_id_names_its_process(start_server) -> None:
    server = start_server("--trace", "-q", "--workers", "2")
    with server.connect() as client:
        client.exchange(b"GET /echo/a HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    lines = closed(server)
    assert re.fullmatch(r"\* \[\d+\.c1\] connection from 127\.0\.0\.1 port P opened", lines[0]), lines
