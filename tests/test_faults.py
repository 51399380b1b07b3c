"""Faults: clients that vanish at every stage, and a handler that raises.

A client going away costs nothing but its reason in the debug "connection closed" line:
no traceback, no warning, no thread left behind, no file on disk. A handler exception is a 500, one traceback in the
log, and the server goes on.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable

import pytest

from app import handlers, server as server_module
from app.settings import Settings
from tests.conftest import RawClient, wait_until

H = b"Host: localhost\r\n"
BIG = 16 * 1024 * 1024


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def mid_headers(sock: socket.socket) -> None:
    sock.sendall(b"GET /echo/abc HTTP/1.1\r\nHost: loc")


def mid_body(sock: socket.socket) -> None:
    sock.sendall(b"POST /files/upload HTTP/1.1\r\n" + H + b"Content-Length: 100000\r\n\r\n" + b"x" * 5000)


def mid_chunked_body(sock: socket.socket) -> None:
    sock.sendall(b"POST /files/upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n1000\r\n" + b"x" * 100)


def mid_response(sock: socket.socket) -> None:
    sock.sendall(b"GET /files/big HTTP/1.1\r\n" + H + b"\r\n")
    assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")  # the response is on its way


STAGES: dict[str, Callable[[socket.socket], None]] = {
    "mid-headers": mid_headers,
    "mid-body": mid_body,
    "mid-chunked-body": mid_chunked_body,
    "mid-response": mid_response,
}


@pytest.fixture
def verbose_server(start_server, tmp_path):
    (tmp_path / "big").write_bytes(b"b" * BIG)
    server = start_server("-v", "--directory", str(tmp_path))
    assert wait_until(lambda: server.thread_count == 1)
    return server


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_client_vanishing_is_the_close_reason(verbose_server, tmp_path, stage: str, how: str) -> None:
    server = verbose_server
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a response cannot fit
    STAGES[stage](sock)
    assert wait_until(lambda: "connection opened" in server.log)
    if how == "reset":
        reset(sock)
    else:
        sock.close()
    assert wait_until(lambda: "connection closed" in server.log)
    assert wait_until(lambda: server.thread_count == 1)  # no thread left behind
    lines = server.log.splitlines()
    debug_lines = [line for line in lines if " DEBUG " in line]
    # opened, and closed with how the client went away
    assert len(debug_lines) == 2 == len(lines), lines
    assert "connection closed" in debug_lines[1]
    assert any(word in debug_lines[1] for word in ("disconnected", "reset", "closed the connection")), lines
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big"]  # no upload, no temp file
    server.assert_answers()


@pytest.mark.parametrize("stage", list(STAGES))
def test_client_vanishing_logs_nothing_at_info_level(start_server, tmp_path, stage: str) -> None:
    (tmp_path / "big").write_bytes(b"b" * BIG)
    server = start_server("--directory", str(tmp_path))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    STAGES[stage](sock)
    assert wait_until(lambda: server.thread_count == 2)
    reset(sock)
    assert wait_until(lambda: server.thread_count == 1)
    assert server.log == ""
    server.assert_answers()


# --- A handler that raises -----------------------------------------------------------------


def broken_handler(request, settings, rest):
    raise RuntimeError("the handler broke")


@pytest.fixture
def in_process_server(monkeypatch):
    """The server in this process, on a thread, with a route whose handler raises: there
    is no such route in production code, so the route table is patched for this test."""
    monkeypatch.setattr(handlers, "ROUTES", (handlers.Route("/broken", {"GET": broken_handler}), *handlers.ROUTES))
    server = server_module.Server(Settings(host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)
    threading.stack_size(0)  # Server() set it for the whole process


def test_handler_exception_answers_500_and_the_server_goes_on(in_process_server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="app")
    with RawClient(in_process_server.port) as client:
        response = client.exchange(b"GET /broken HTTP/1.1\r\n" + H + b"\r\n")
        assert response.status_line == b"HTTP/1.1 500 Internal Server Error"
        assert response.body == b"internal server error (the server log has the details)\n"
        # The same connection goes on: the failure was the handler's, not the framing's.
        assert client.exchange(b"GET /echo/after HTTP/1.1\r\n" + H + b"\r\n").body == b"after"
    with RawClient(in_process_server.port) as client:
        assert client.exchange(b"GET / HTTP/1.1\r\n" + H + b"\r\n").status == 200
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1
    assert "GET /broken HTTP/1.1" in tracebacks[0].getMessage()
    assert "the handler broke" in caplog.text


def test_client_that_stops_reading_is_dropped_after_the_write_timeout(start_server, tmp_path) -> None:
    (tmp_path / "big").write_bytes(b"b" * BIG)
    server = start_server("-v", "--directory", str(tmp_path), "--write-timeout", "1")
    assert wait_until(lambda: server.thread_count == 1)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /files/big HTTP/1.1\r\n" + H + b"\r\n")  # and never read the answer
    try:
        assert wait_until(lambda: "connection opened" in server.log)
        # The send blocks on a full socket buffer until the write timeout gives up on it.
        assert wait_until(lambda: "connection closed" in server.log, timeout=15)
        assert wait_until(lambda: server.thread_count == 1)
        assert "Traceback" not in server.log
        with server.connect() as other:  # served all along
            assert other.exchange(b"GET /echo/ok HTTP/1.1\r\n" + H + b"\r\n").body == b"ok"
    finally:
        sock.close()
