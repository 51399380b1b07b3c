"""Connection behaviour against the real server, grouped as waitress groups its functional
tests: persistence, closing, pipelining, request bodies, expect-continue, refused requests."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerProcess, raw_request, undated

GET_ROOT = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class TestPersistence:
    def test_http11_keeps_the_connection_open(self, server: ServerProcess) -> None:
        with server.connect() as client:
            for text in [b"one", b"two", b"three"]:
                response = client.exchange(b"GET /echo/%s HTTP/1.1\r\nHost: x\r\n\r\n" % text)
                assert response.body == text
                assert response.header("Connection") is None

    def test_requests_session_reuses_one_connection(self, start_server) -> None:
        verbose = start_server("-v")
        with requests.Session() as session:
            for _ in range(6):
                assert session.get(verbose.url + "/echo/a").text == "a"
        verbose.stop()
        assert verbose.log.count("connection opened") == 1

    def test_http10_closes_by_default(self, server: ServerProcess) -> None:
        with server.connect() as client:
            response = client.exchange(b"GET /echo/old HTTP/1.0\r\n\r\n")
            assert response.body == b"old"
            assert response.header("Connection") == "close"
            assert client.is_closed_by_server()

    def test_http10_keep_alive_on_request(self, server: ServerProcess) -> None:
        with server.connect() as client:
            for _ in range(2):
                response = client.exchange(b"GET /echo/old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                assert response.header("Connection") == "keep-alive"
            assert not client.is_closed_by_server(within=0.2)


class TestClosing:
    @pytest.mark.parametrize("connection", [b"close", b"Close", b"keep-alive, close", b"CLOSE , upgrade"])
    def test_connection_close_is_honoured_at_once(self, server: ServerProcess, connection: bytes) -> None:
        with server.connect() as client:
            response = client.exchange(b"GET /echo/bye HTTP/1.1\r\nHost: x\r\nConnection: %s\r\n\r\n" % connection)
            assert response.body == b"bye"
            assert response.header("Connection") == "close"
            # The challenge's tester reads for EOF within milliseconds.
            assert client.is_closed_by_server(within=0.05)

    def test_close_after_a_keep_alive_exchange(self, server: ServerProcess) -> None:
        with server.connect() as client:
            assert client.exchange(GET_ROOT).status == 200
            response = client.exchange(b"GET /user-agent HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n")
            assert response.body == b"t"
            assert client.is_closed_by_server(within=0.05)


class TestPipelining:
    def test_requests_sent_together_are_answered_in_order(self, server: ServerProcess) -> None:
        pipeline = b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(10))
        with server.connect() as client:
            client.send(pipeline)
            assert [client.read_response().body for _ in range(10)] == [b"%d" % n for n in range(10)]

    def test_pipelined_upload_then_get(self, server: ServerProcess, server_directory: Path) -> None:
        pipeline = (
            b"POST /files/piped.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /files/piped.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /echo/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        with server.connect() as client:
            client.send(pipeline)
            assert client.read_response().status == 201
            assert client.read_response().body == b"hello"
            assert client.read_response().body == b"last"
            assert client.is_closed_by_server()

    def test_requests_arriving_one_byte_at_a_time(self, server: ServerProcess) -> None:
        with server.connect() as client:
            for byte in b"GET /echo/slow HTTP/1.1\r\nHost: x\r\n\r\n":
                client.send(bytes([byte]))
            assert client.read_response().body == b"slow"


class TestRequestBodies:
    def test_content_length_body_across_many_packets(self, server: ServerProcess, server_directory: Path) -> None:
        body = bytes(range(256)) * 4000  # ~1 MB: many recv() calls
        with server.connect() as client:
            client.send(b"POST /files/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
            for start in range(0, len(body), 7000):
                client.send(body[start : start + 7000])
            assert client.read_response().status == 201
        assert (server_directory / "big.bin").read_bytes() == body

    def test_chunked_body_with_trailers(self, server: ServerProcess, server_directory: Path) -> None:
        with server.connect() as client:
            response = client.exchange(
                b"POST /files/trailed.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Checksum: abc\r\n\r\n"
            )
            assert response.status == 201
            assert client.exchange(GET_ROOT).status == 200  # framing intact after the body
        assert (server_directory / "trailed.txt").read_bytes() == b"Wikipedia in \r\n\r\nchunks."

    def test_unread_small_body_is_drained_and_the_connection_kept(self, server: ServerProcess) -> None:
        with server.connect() as client:
            response = client.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            assert response.status == 200 and response.header("Connection") is None
            assert client.exchange(GET_ROOT).status == 200


class TestExpectContinue:
    def test_100_continue_comes_before_the_body_is_sent(self, server: ServerProcess, server_directory: Path) -> None:
        with server.connect() as client:
            client.send(
                b"POST /files/continued.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
            )
            interim = client.read_response()
            assert interim.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
            final = client.exchange(b"data")
            assert final.status == 201
        assert (server_directory / "continued.txt").read_bytes() == b"data"

    def test_requests_library_upload_with_expect(self, server: ServerProcess, server_directory: Path) -> None:
        response = requests.post(
            server.url + "/files/expected.txt", data=b"abc", headers={"Expect": "100-continue"}
        )
        assert response.status_code == 201
        assert (server_directory / "expected.txt").read_bytes() == b"abc"

    def test_a_refusal_goes_out_instead_of_100_continue(self, start_server) -> None:
        plain = start_server()  # no --directory: uploads are refused
        with plain.connect() as client:
            client.send(b"POST /files/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
            response = client.read_response()
            assert response.status == 403
            # the body was never asked for, so the connection cannot go on
            assert response.header("Connection") == "close"
            assert client.is_closed_by_server()


# (bytes sent, exact status line expected, exact one-line body expected)
REFUSED = [
    (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 Bad Request", b"missing Host header (required in HTTP/1.1)\n"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"HTTP/1.1 400 Bad Request", b"more than one Host header\n"),
    (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version Not Supported", b"HTTP version HTTP/3.0 is not supported\n"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", b"HTTP/1.1 400 Bad Request", b"whitespace between header field name and colon\n"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 HTTP Version Not Supported", b"HTTP version HTTP/2.0 is not supported\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", b"HTTP/1.1 400 Bad Request", b"obsolete line folding (obs-fold) in header section\n"),
    (
        b"GET /echo/x#top HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 400 Bad Request",
        b"'#' in request target: a URI fragment is never sent to the server\n",
    ),
    # A chunk-size line over Limits.max_chunk_line (4 KiB), whether the handler reads the
    # body (an upload) or ignores it (/echo/x): the 400 goes out instead of the answer.
    *[
        (
            b"%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=%s\r\nhello\r\n0\r\n\r\n" % (line, b"b" * 65536),
            b"HTTP/1.1 400 Bad Request",
            b"chunk-size line longer than 4096 bytes\n",
        )
        for line in (b"POST /files/x", b"GET /echo/x", b"GET /")
    ],
    (
        b"POST /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 400 Bad Request",
        b"both Content-Length and Transfer-Encoding present\n",
    ),
    (
        b"POST /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 400 Bad Request",
        b"more than one Content-Length header\n",
    ),
    (b"POST /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\n1a", b"HTTP/1.1 400 Bad Request", b"Content-Length must be plain digits\n"),
    (
        b"POST /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 501 Not Implemented",
        b"transfer coding gzip is not implemented\n",
    ),
    (
        b"POST /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnope\r\n",
        b"HTTP/1.1 400 Bad Request",
        b"invalid chunk size line in chunked body\n",
    ),
    (b"GET / HTTP/1.1\nHost: x\n\n", b"HTTP/1.1 400 Bad Request", b"bare LF in header section; lines must end with CRLF\n"),
    (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 Bad Request", b"malformed request line; expected: METHOD SP TARGET SP HTTP/1.1\n"),
]


@pytest.mark.parametrize("sent, status_line, body", REFUSED, ids=[case[2].decode().strip() for case in REFUSED])
def test_refused_request_is_answered_precisely_and_closed(
    server: ServerProcess, sent: bytes, status_line: bytes, body: bytes
) -> None:
    with server.connect() as client:
        response = client.exchange(sent)
        assert response.status_line == status_line
        assert response.header("Content-Type") == "text/plain; charset=utf-8"
        assert response.header("Connection") == "close"
        assert response.body == body
        assert client.is_closed_by_server()
    # and the server goes on
    assert requests.get(server.url + "/echo/alive").text == "alive"


# RFC 9110 §2.5: a higher minor version of HTTP/1 is processed as HTTP/1.1, and answered so.
NEWER_MINOR_VERSIONS = [
    (b"GET /echo/abc HTTP/1.2\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 3\r\n\r\nabc"),
    (
        b"GET /echo/abc HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    ),
    (
        b"GET / HTTP/1.2\r\n\r\n",  # HTTP/1.1 rules, so Host is required
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 43\r\n"
        b"Connection: close\r\n\r\nmissing Host header (required in HTTP/1.1)\n",
    ),
]


@pytest.mark.parametrize("sent, answer", NEWER_MINOR_VERSIONS, ids=["1.2", "1.9-close", "1.2-without-host"])
def test_a_newer_minor_version_is_served_as_http11(server: ServerProcess, sent: bytes, answer: bytes) -> None:
    with server.connect() as client:
        assert client.exchange(sent).undated == answer


def test_echo_body_over_the_memory_limit_is_413(server: ServerProcess) -> None:
    response = raw_request(server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert response.endswith(b"\r\n\r\nrequest body larger than 1048576 bytes\n")


class TestConcurrency:
    def test_many_clients_at_once(self, server: ServerProcess) -> None:
        barrier = threading.Barrier(20)
        results: list[bytes] = []

        def client(index: int) -> None:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                barrier.wait()
                sock.sendall(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % index)
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                results.append(undated(data))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(results) == sorted(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%d" % (len(str(i)), i)
            for i in range(20)
        )
