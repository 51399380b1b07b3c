"""HTTPS end to end: the real server with a certificate from a test CA (trustme), talked
to with `requests` (verify=CA), `curl --cacert` and raw `ssl` sockets.

What must work the same over TLS as over plain TCP: GET, ranges, gzip, uploads with
100-continue, keep-alive, pipelining, limits, every timeout, the hostile framing table,
graceful shutdown and --workers. What is TLS's own: the handshake in the connection's
thread under --tls-handshake-timeout (a silent client blocks nobody), plain HTTP sent to
the HTTPS port and TLS sent to the plain port (a 400 that says so, never a traceback),
files sent through a fixed buffer (memory stays flat), and the start-up errors for a bad
certificate, key or password.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import trustme
from cryptography.hazmat.primitives import serialization

from app import tls
from app.request import TLS_ON_PLAIN_PORT
from app.settings import Settings
from tests.conftest import ROOT, RawClient, ServerProcess, raw_request, wait_until
from tests.test_big_files import peak_rss_kib
from tests.test_hostile_framing import REFUSED

H = b"Host: localhost\r\n"
MiB = 1024 * 1024
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Certificates:
    """PEM files made by a test CA: the server's certificate and key (also encrypted, and
    the password file), the CA clients trust, and a certificate of another key."""

    folder: Path

    def __getattr__(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def options(self) -> tuple[str, ...]:
        return ("--tls-cert", str(self.cert), "--tls-key", str(self.key))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "key.pem"))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = serialization.BestAvailableEncryption(PASSWORD.encode())
    (folder / "encrypted.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encrypted)
    )
    (folder / "password.pem").write_text(PASSWORD + "\n")
    (folder / "wrong-password.pem").write_text("not the password\n")
    ca.issue_cert("localhost").cert_chain_pems[0].write_to_path(str(folder / "other-cert.pem"))
    (folder / "junk.pem").write_text("not a certificate\n")
    return Certificates(folder)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("https-served")
    (folder / "hello.txt").write_bytes(b"Hello, World!")
    (folder / "big.bin").write_bytes(os.urandom(20 * MiB))
    return folder


@pytest.fixture(scope="module")
def https(certificates: Certificates, shared: Path) -> Iterator[ServerProcess]:
    """The HTTPS server most tests share."""
    process = ServerProcess("-v", "--directory", str(shared), "--max-body", "4096", *certificates.options())
    process.url = f"https://localhost:{process.port}"
    yield process
    process.stop()


class TLSClient(RawClient):
    """RawClient over TLS: exact bytes out, responses parsed by hand, the CA trusted. An
    end of the connection without TLS's close_notify alert is an error (`ssl.SSLEOFError`)."""

    def __init__(self, port: int, ca: Path, timeout: float = 5.0, alpn: list[str] | None = None) -> None:
        super().__init__(port, timeout)
        context = ssl.create_default_context(cafile=str(ca))
        if alpn:
            context.set_alpn_protocols(alpn)
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost", suppress_ragged_eofs=False)


def start_program(*options: str) -> subprocess.CompletedProcess[str]:
    """The server as a user starts it, for options that must stop it at once."""
    return subprocess.run(
        [sys.executable, "-m", "app.main", "--port", "0", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


# --- The banner, requests, curl -------------------------------------------------------


def test_banner_prints_an_https_url(https: ServerProcess) -> None:
    assert https.banner == f"Serving HTTPS on localhost port {https.port} (https://localhost:{https.port}/) ...\n"


def test_requests_get_echo_gzip_and_range(https: ServerProcess, certificates: Certificates) -> None:
    ca = str(certificates.ca)
    assert requests.get(https.url + "/", verify=ca).status_code == 200
    echoed = requests.get(https.url + "/echo/abc", headers={"Accept-Encoding": "gzip"}, verify=ca, stream=True)
    assert echoed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(echoed.raw.read()) == b"abc"
    ranged = requests.get(https.url + "/files/hello.txt", headers={"Range": "bytes=7-11"}, verify=ca)
    assert (ranged.status_code, ranged.content) == (206, b"World")
    assert ranged.headers["Content-Range"] == "bytes 7-11/13"


def test_a_range_of_a_big_file_spans_many_buffers(https: ServerProcess, certificates: Certificates, shared: Path) -> None:
    start, end = 100_001, 300_000  # not aligned to the 64 KiB buffer
    ranged = requests.get(
        https.url + "/files/big.bin", headers={"Range": f"bytes={start}-{end}"}, verify=str(certificates.ca)
    )
    assert ranged.status_code == 206
    assert ranged.content == (shared / "big.bin").read_bytes()[start : end + 1]


def test_a_chunked_upload(https: ServerProcess, certificates: Certificates, shared: Path) -> None:
    with TLSClient(https.port, certificates.ca) as client:
        client.send(b"PUT /files/chunked.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n")
        client.send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        assert client.read_response().status == 201
    assert (shared / "chunked.txt").read_bytes() == b"hello world"


def test_alpn_offers_http_1_1_to_a_client_preferring_h2(https: ServerProcess, certificates: Certificates) -> None:
    with TLSClient(https.port, certificates.ca, alpn=["h2", "http/1.1"]) as client:
        assert client.sock.selected_alpn_protocol() == "http/1.1"
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_a_20_mb_download_keeps_memory_flat(https: ServerProcess, certificates: Certificates, shared: Path) -> None:
    before = peak_rss_kib(https.process.pid)
    response = requests.get(https.url + "/files/big.bin", verify=str(certificates.ca), stream=True)
    digest = hashlib.sha256()
    for piece in response.iter_content(MiB):
        digest.update(piece)
    assert digest.digest() == hashlib.sha256((shared / "big.bin").read_bytes()).digest()
    # Sent through one 64 KiB buffer: the 20 MB never sit in the server's memory.
    assert peak_rss_kib(https.process.pid) - before < 8 * 1024


# --- Keep-alive, pipelining, 100-continue, limits over raw TLS -------------------------


def test_keep_alive_serves_many_requests_after_one_handshake(https: ServerProcess, certificates: Certificates) -> None:
    handshakes = https.log.count("DEBUG TLS with")
    with requests.Session() as session:
        for text in ("one", "two", "three"):
            assert session.get(f"{https.url}/echo/{text}", verify=str(certificates.ca)).text == text
    assert wait_until(lambda: https.log.count("DEBUG TLS with") == handshakes + 1)


def test_pipelined_requests_are_answered_in_order(https: ServerProcess, certificates: Certificates) -> None:
    with TLSClient(https.port, certificates.ca) as client:
        client.send(b"".join(b"GET /echo/%d HTTP/1.1\r\n%s\r\n" % (number, H) for number in range(3)))
        assert [client.read_response().body for _ in range(3)] == [b"0", b"1", b"2"]
        assert client.exchange(b"GET /echo/again HTTP/1.1\r\n" + H + b"\r\n").body == b"again"


def test_connection_close_ends_with_close_notify(https: ServerProcess, certificates: Certificates) -> None:
    """RFC 9112 §9.8: the server sends TLS's closure alert before closing (the client
    raises SSLEOFError for an end without it)."""
    with TLSClient(https.port, certificates.ca) as client:
        answer = client.exchange(b"GET /echo/bye HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        assert (answer.body, answer.header("Connection")) == (b"bye", "close")
        assert client.read_until_closed() == b""


def test_100_continue_then_the_body(https: ServerProcess, certificates: Certificates, shared: Path) -> None:
    with TLSClient(https.port, certificates.ca) as client:
        client.send(b"PUT /files/continued.txt HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert client.read_response().status_line == b"HTTP/1.1 100 Continue"
        client.send(b"12345")
        assert client.read_response().status == 201
    assert (shared / "continued.txt").read_bytes() == b"12345"


@pytest.mark.parametrize(
    "sent, status",
    [
        (b"GET /echo HTTP/1.1\r\n" + H + b"Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ],
    ids=["413-body", "431-head", "414-line"],
)
def test_limits_refuse_and_close(https: ServerProcess, certificates: Certificates, sent: bytes, status: int) -> None:
    with TLSClient(https.port, certificates.ca) as client:
        client.send(sent)
        response = client.read_response()
        assert (response.status, response.header("Connection")) == (status, "close")
        assert client.is_closed_by_server(within=5)


@pytest.mark.parametrize("case, sent, status", REFUSED, ids=[case[0] for case in REFUSED])
def test_hostile_framing_is_refused_over_tls(https: ServerProcess, certificates: Certificates, case: str, sent: bytes, status: int) -> None:
    """The framing table of test_hostile_framing.py, once over TLS."""
    with TLSClient(https.port, certificates.ca) as client:
        client.send(sent)
        response = client.read_response()
        assert response.status == status, response.body
        assert response.header("Connection") == "close"
        assert client.is_closed_by_server(within=5)


# --- Plain HTTP on the HTTPS port, TLS on the plain port -------------------------------


def test_plain_http_to_the_https_port_gets_a_400_that_says_so(https: ServerProcess) -> None:
    answer = raw_request(https.port, b"GET /echo/plain HTTP/1.1\r\n" + H + b"\r\n")
    body = (tls.PLAIN_HTTP_REASON + "\n").encode()
    assert answer == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    assert wait_until(lambda: '"GET /echo/plain HTTP/1.1" 400' in https.log)
    assert "plain HTTP from 127.0.0.1 on the HTTPS port" in https.log
    assert "Traceback" not in https.log


def test_requests_over_http_to_the_https_port(https: ServerProcess) -> None:
    response = requests.get(f"http://localhost:{https.port}/files/hello.txt")
    assert response.status_code == 400
    assert response.text.startswith("this port speaks HTTPS")


def test_tls_to_the_plain_port_gets_a_400_that_says_so(server: ServerProcess, certificates: Certificates) -> None:
    with pytest.raises(ssl.SSLError):
        TLSClient(server.port, certificates.ca)
    with RawClient(server.port) as client:
        client.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")  # a ClientHello begins
        response = client.read_response()
        assert (response.status, response.body) == (400, (TLS_ON_PLAIN_PORT + "\n").encode())
        assert client.is_closed_by_server(within=5)
    assert wait_until(lambda: '"(TLS handshake on the plain HTTP port)" 400' in server.log)
    assert "Traceback" not in server.log
    server.assert_answers()


# --- Start-up: flags and files ---------------------------------------------------------


def test_an_encrypted_key_with_its_password_file(start_server, certificates: Certificates) -> None:
    process = start_server(
        "--tls-cert", str(certificates.cert), "--tls-key", str(certificates.encrypted),
        "--tls-password-file", str(certificates.password),
    )
    response = requests.get(f"https://localhost:{process.port}/echo/locked", verify=str(certificates.ca))
    assert response.text == "locked"


@pytest.mark.parametrize(
    "options, message",
    [
        (("--tls-key", "encrypted"), "--tls-key {encrypted} is encrypted: give its password with --tls-password-file FILE"),
        (("--tls-key", "encrypted", "--tls-password-file", "wrong-password"),
         "cannot decrypt --tls-key {encrypted}: wrong password in --tls-password-file"),
        (("--tls-key", "key", "--tls-cert", "other-cert"),
         "--tls-key {key} is not the private key of the certificate in --tls-cert {other-cert}"),
        (("--tls-key", "key", "--tls-cert", "junk"), "--tls-cert {junk} holds no PEM certificate"),
        (("--tls-key", "junk"), "--tls-key {junk} holds no PEM private key"),
        (("--tls-key", "cert"), "--tls-key {cert} holds no PEM private key"),
    ],
    ids=["encrypted-no-password", "wrong-password", "key-of-another-cert", "cert-not-pem", "key-not-pem", "key-is-a-cert"],
)
def test_a_bad_certificate_key_or_password_is_one_line_and_exit_1(certificates: Certificates, options: tuple[str, ...], message: str) -> None:
    files = {"--tls-cert": "cert"}
    files.update(dict(zip(options[::2], options[1::2])))
    arguments = [part for flag, name in files.items() for part in (flag, str(getattr(certificates, name)))]
    result = start_program(*arguments)
    expected = re.sub(r"\{([\w-]+)\}", lambda match: str(getattr(certificates, match.group(1))), message)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"cannot serve HTTPS: {expected}\n")
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize(
    "flags, message",
    [
        (("--tls-cert",), "--tls-cert needs --tls-key (the certificate's private key)"),
        (("--tls-key",), "--tls-key needs --tls-cert (the certificate of the key)"),
        (("--tls-password-file",), "--tls-password-file needs --tls-cert and --tls-key"),
    ],
)
def test_tls_flags_alone_are_a_usage_error(certificates: Certificates, flags: tuple[str, ...], message: str) -> None:
    result = start_program(*(part for flag in flags for part in (flag, str(certificates.cert))))
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ")
    assert result.stderr.endswith(f"your_program.sh: error: {message}\n")


def test_the_context_refuses_tls_below_1_2_and_offers_http_1_1(certificates: Certificates) -> None:
    context = tls.server_context(Settings(tls_cert=certificates.cert, tls_key=certificates.key))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.server_context(Settings()) is None


# --- Handshakes and timeouts -----------------------------------------------------------


def test_a_client_that_never_handshakes_blocks_nobody(start_server, certificates: Certificates) -> None:
    process = start_server("-v", "--tls-handshake-timeout", "60", *certificates.options())
    silent = socket.create_connection(("127.0.0.1", process.port))
    halfway = socket.create_connection(("127.0.0.1", process.port))
    halfway.sendall(b"\x16\x03\x01\x00\xa5")  # the start of a ClientHello, and no more
    try:
        with TLSClient(process.port, certificates.ca) as client:  # a 5 s timeout: less than 60
            assert client.exchange(b"GET /echo/served HTTP/1.1\r\n" + H + b"\r\n").body == b"served"
    finally:
        silent.close()
        halfway.close()
    assert wait_until(lambda: process.log.count("TLS handshake with 127.0.0.1 failed") == 2)


@pytest.fixture(scope="module")
def impatient(certificates: Certificates, shared: Path) -> Iterator[ServerProcess]:
    """An HTTPS server with every timeout at one second but the handshake's (a value of
    its own: each timeout must be the one in force when it fires)."""
    timeouts = ("--header-timeout", "--idle-timeout", "--body-timeout", "--write-timeout")
    options = [part for flag in timeouts for part in (flag, "1")]
    process = ServerProcess(
        "-v", "--directory", str(shared), *options, "--tls-handshake-timeout", "30", *certificates.options()
    )
    yield process
    process.stop()


def test_handshake_timeout_closes_a_silent_client(start_server, certificates: Certificates) -> None:
    process = start_server("-v", "--tls-handshake-timeout", "1", *certificates.options())
    with RawClient(process.port, timeout=10) as client:
        assert client.is_closed_by_server(within=10)
    assert wait_until(lambda: "connection closed" in process.log)
    assert "TLS handshake with 127.0.0.1 failed: timed out" in process.log
    assert process.log.count("DEBUG") == 3  # opened, the failed handshake, closed


def test_header_timeout_answers_408(impatient: ServerProcess, certificates: Certificates) -> None:
    with TLSClient(impatient.port, certificates.ca, timeout=10) as client:
        client.send(b"GET /echo/slow HTTP/1.1\r\n")
        response = client.read_response()
        assert (response.status, response.body) == (408, b"request headers not received in time\n")


def test_idle_timeout_closes_a_keep_alive_connection(impatient: ServerProcess, certificates: Certificates) -> None:
    with TLSClient(impatient.port, certificates.ca, timeout=10) as client:
        assert client.exchange(b"GET /echo/once HTTP/1.1\r\n" + H + b"\r\n").body == b"once"
        assert client.is_closed_by_server(within=10)


def test_body_timeout_answers_408(impatient: ServerProcess, certificates: Certificates, shared: Path) -> None:
    with TLSClient(impatient.port, certificates.ca, timeout=10) as client:
        client.send(b"PUT /files/stalled.txt HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc")
        response = client.read_response()
        assert (response.status, response.body) == (408, b"request body stalled\n")
    assert not (shared / "stalled.txt").exists()


def test_write_timeout_drops_a_client_that_stops_reading(impatient: ServerProcess, certificates: Certificates) -> None:
    with TLSClient(impatient.port, certificates.ca, timeout=10) as client:
        client.send(b"GET /files/big.bin HTTP/1.1\r\n" + H + b"\r\n")  # and never read the answer
        lost = "connection closed to 127.0.0.1: write timeout: the client accepted no byte for"
        assert wait_until(lambda: lost in impatient.log, timeout=15)
    assert "Traceback" not in impatient.log


# --- Shutdown, workers, the connection cap ---------------------------------------------


def test_shutdown_closes_idle_tls_connections(start_server, certificates: Certificates) -> None:
    """Idle: waiting for a request after one, and waiting for a handshake that never comes."""
    process = start_server(*certificates.options())
    with TLSClient(process.port, certificates.ca) as client, RawClient(process.port) as silent:
        assert client.exchange(b"GET /echo/idle HTTP/1.1\r\n" + H + b"\r\n").body == b"idle"
        time.sleep(0.2)  # let the connection's thread go back to waiting for a request
        code, stdout = process.stop()
        assert client.is_closed_by_server(within=5)
        assert silent.is_closed_by_server(within=5)
    assert (code, stdout.splitlines()[-1]) == (0, "Stopped: closed 2 idle connection(s), 0 finished in flight.")
    assert "Traceback" not in process.log


def test_workers_serve_https(start_server, certificates: Certificates) -> None:
    process = start_server("--workers", "2", *certificates.options())
    for _ in range(4):
        response = requests.get(f"https://localhost:{process.port}/echo/worker", verify=str(certificates.ca))
        assert response.text == "worker"


def test_beyond_max_connections_a_tls_client_is_closed(start_server, certificates: Certificates, tmp_path) -> None:
    process = start_server("--max-connections", "1", "--directory", str(tmp_path), *certificates.options())
    with TLSClient(process.port, certificates.ca) as first:
        # A request in progress: its head read (the 100 Continue proves it), no body yet.
        head = b"PUT /files/busy HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n" + H + b"\r\n"
        assert first.exchange(head).status == 100
        with pytest.raises((ssl.SSLError, ConnectionError)):
            TLSClient(process.port, certificates.ca)
        assert first.exchange(b"12345").status == 201  # the busy one was not touched
    assert wait_until(lambda: "refusing new ones" in process.log)


def closed_with_no_byte(client: TLSClient) -> bool:
    """Whether the server closed the connection within a second without sending a byte,
    with or without close_notify (when the read side is shut down under OpenSSL, it may
    no longer send the alert; the response before was whole, so a client takes this as
    the end of an idle connection, RFC 9112 §9.8)."""
    client.sock.settimeout(1)
    try:
        return client.sock.recv(1) == b""
    except ssl.SSLEOFError:
        return True
    except TimeoutError:
        return False


def test_at_max_connections_an_idle_tls_connection_makes_room(start_server, certificates: Certificates) -> None:
    process = start_server("--max-connections", "2", *certificates.options())
    with TLSClient(process.port, certificates.ca) as first, TLSClient(process.port, certificates.ca) as second:
        assert first.exchange(b"GET /echo/first HTTP/1.1\r\n" + H + b"\r\n").body == b"first"
        assert second.exchange(b"GET /echo/second HTTP/1.1\r\n" + H + b"\r\n").body == b"second"

        def third_is_served() -> bool:  # once their threads wait again, the idlest makes room
            try:
                with TLSClient(process.port, certificates.ca) as third:
                    return third.exchange(b"GET /echo/third HTTP/1.1\r\n" + H + b"\r\n").body == b"third"
            except (ssl.SSLError, ConnectionError):
                return False  # both still busy sending their answers: refused

        assert wait_until(third_is_served)
        # One of them was closed (first, unless its thread was slower to wait again than
        # second's on a busy machine); the other is still served.
        evicted, kept = (first, second) if closed_with_no_byte(first) else (second, first)
        assert closed_with_no_byte(evicted)
        kept.sock.settimeout(5)
        assert kept.exchange(b"GET /echo/still HTTP/1.1\r\n" + H + b"\r\n").body == b"still"


# --- --trace over TLS -----------------------------------------------------------------------


def test_trace_shows_the_handshake_and_a_file_sent_by_the_read_and_send_loop(
    start_server, certificates: Certificates, shared: Path
) -> None:
    process = start_server("--trace", "--directory", str(shared), *certificates.options())
    (shared / "traced.txt").write_bytes(b"over TLS\n")
    with TLSClient(process.port, certificates.ca) as client:
        response = client.exchange(b"GET /files/traced.txt HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    assert response.body == b"over TLS\n"
    assert wait_until(lambda: "a read-and-send loop (TLS)" in process.log)
    assert re.search(r"\* \[c\d+\] TLS handshake: TLSv1\.[23] \S+", process.log)
    assert "sendfile" not in process.log
