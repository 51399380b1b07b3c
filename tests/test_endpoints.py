"""Every endpoint against the real server, with requests and with exact bytes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerProcess, raw_request, wait_until

# (bytes in, exact bytes out) on a keep-alive connection
EXACT_EXCHANGES = [
    (
        b"GET /echo/abc HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 3\r\n\r\nabc",
    ),
    (
        b"GET /echo/h%C3%A9llo%20w%C3%B6rld HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 13\r\n\r\n"
        + "héllo wörld".encode(),
    ),
    (
        b"GET /echo/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        b"GET /user-agent HTTP/1.1\r\nHost: localhost\r\nUser-Agent: foobar/1.2.3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: 12\r\n\r\nfoobar/1.2.3",
    ),
    (
        b"GET /user-agent HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        b"HEAD /echo/abc HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\nContent-Length: 3\r\n\r\n",
    ),
    (
        b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n"
        b"nothing at /nowhere\n",
    ),
    (
        b"POST /echo/abc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Allow: GET, HEAD, OPTIONS\r\nContent-Length: 33\r\n\r\nPOST is not allowed on /echo/abc\n",
    ),
    (
        b"BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 31\r\n\r\n"
        b"method BREW is not implemented\n",
    ),
    (
        b"OPTIONS /files/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nAllow: DELETE, GET, HEAD, MKCOL, OPTIONS, PATCH, POST, PUT\r\n"
        b"Tus-Resumable: 1.0.0\r\nTus-Version: 1.0.0\r\n"
        b"Tus-Extension: creation,creation-with-upload,creation-defer-length,termination,expiration,checksum\r\n"
        b"Tus-Max-Size: 10737418240\r\nTus-Checksum-Algorithm: sha1,sha256,md5\r\n\r\n",
    ),
]


@pytest.mark.parametrize("request_bytes, response_bytes", EXACT_EXCHANGES, ids=[r[0].split(b"\r\n")[0].decode() for r in EXACT_EXCHANGES])
def test_exact_exchange(server: ServerProcess, request_bytes: bytes, response_bytes: bytes) -> None:
    with server.connect() as client:
        response = client.exchange(request_bytes, head_request=request_bytes.startswith(b"HEAD"))
        assert response.raw == response_bytes
        # and the connection is still usable
        assert client.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_root_has_no_date_and_no_server_header(server: ServerProcess) -> None:
    response = requests.get(server.url + "/")
    assert response.status_code == 200
    assert "Date" not in response.headers and "Server" not in response.headers


def test_date_header_on_request(start_server) -> None:
    dated = start_server("--date")
    response = requests.get(dated.url + "/")
    assert response.headers["Date"].endswith(" GMT")
    # IMF-fixdate, e.g. "Sun, 22 Nov 2026 10:00:00 GMT" (RFC 9110 section 5.6.7)
    assert len(response.headers["Date"]) == 29


def test_echo_request_reflects_the_raw_request(server: ServerProcess) -> None:
    sent = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Odd:  spaced  \r\n\r\n"
    with server.connect() as client:
        response = client.exchange(sent)
    assert response.status == 200
    assert response.header("Content-Type") == "text/plain"
    assert response.body == sent


def test_echo_request_lists_query_parameters(server: ServerProcess) -> None:
    response = requests.get(server.url + "/echo?name=Alice&age=30&city=New%20York")
    assert response.status_code == 200
    assert response.content.startswith(b"GET /echo?name=Alice&age=30&city=New%20York HTTP/1.1\r\n")
    assert response.content.endswith(b"\r\n\r\nname: Alice\nage: 30\ncity: New York\n")


def test_echo_request_includes_the_body(server: ServerProcess) -> None:
    response = requests.post(server.url + "/echo", data=b"payload")
    assert response.status_code == 405  # /echo answers GET only...
    with server.connect() as client:  # ...but a GET may carry a body, and it is reflected
        sent = b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload"
        assert client.exchange(sent).body == sent


def test_echo_text_must_be_utf8(server: ServerProcess) -> None:
    response = requests.get(server.url + "/echo/%ff")
    assert response.status_code == 400
    assert response.text == "echo text is not valid UTF-8 once percent-decoded\n"


@pytest.mark.parametrize(
    "accept_encoding, compressed",
    [
        ("gzip", True),
        ("invalid-encoding-1, gzip, invalid-encoding-2", True),
        ("GZip;q=0.8", True),
        ("*", True),
        ("invalid-encoding", False),
        ("gzip;q=0", False),
        ("*;q=0", False),
        ("identity", False),
    ],
)
def test_echo_gzip_negotiation(server: ServerProcess, accept_encoding: str, compressed: bool) -> None:
    with server.connect() as client:
        response = client.exchange(
            b"GET /echo/hello-gzip HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n" % accept_encoding.encode()
        )
    assert response.status == 200
    assert response.header("Vary") == "Accept-Encoding"
    assert response.header("Content-Type") == "text/plain"
    assert response.header("Content-Length") == str(len(response.body))
    if compressed:
        assert response.header("Content-Encoding") == "gzip"
        assert response.body[:2] == b"\x1f\x8b"  # real gzip framing (RFC 1952)
        assert gzip.decompress(response.body) == b"hello-gzip"
    else:
        assert response.header("Content-Encoding") is None
        assert response.body == b"hello-gzip"


@pytest.mark.parametrize("size", [0, 1, 511, 512, 1024, 4000, 7000])
def test_echo_gzip_round_trips_at_any_size(server: ServerProcess, size: int) -> None:
    # Real gzip that decompresses to the text, with no timestamp inside (bytes 4-7 of
    # the header are zero), so identical input gives identical output.
    text = (b"abcdefghij" * 1000)[:size]
    with server.connect() as client:
        response = client.exchange(
            b"GET /echo/%s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n" % text
        )
    assert response.status == 200
    assert response.header("Content-Encoding") == "gzip"
    assert response.body[:4] == b"\x1f\x8b\x08\x00" and response.body[4:8] == b"\x00\x00\x00\x00"
    assert gzip.decompress(response.body) == text


def test_head_matches_get_on_every_get_route(server: ServerProcess, server_directory: Path) -> None:
    (server_directory / "head.txt").write_bytes(b"12345")
    # (`/echo` is left out: it reflects the request line, which differs between the two)
    for path in ["/", "/echo/abc", "/user-agent", "/files/head.txt"]:
        get = requests.get(server.url + path, headers={"Accept-Encoding": "identity"})
        head = requests.head(server.url + path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["Content-Length"] == get.headers["Content-Length"]
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type")


def test_get_file(server: ServerProcess, server_directory: Path) -> None:
    content = bytes(range(256)) * 100
    (server_directory / "binary.bin").write_bytes(content)
    response = requests.get(server.url + "/files/binary.bin")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == content


@pytest.mark.parametrize("name", ["missing.txt", "a-folder"])
def test_get_missing_file_or_directory_is_404(server: ServerProcess, server_directory: Path, name: str) -> None:
    (server_directory / "a-folder").mkdir(exist_ok=True)
    response = requests.get(server.url + "/files/" + name)
    assert response.status_code == 404
    assert response.text.count("\n") == 1


def test_files_without_directory(start_server) -> None:
    plain = start_server()
    get = requests.get(plain.url + "/files/anything")
    assert get.status_code == 404
    assert "--directory" in get.text
    post = requests.post(plain.url + "/files/anything", data=b"x")
    assert post.status_code == 403
    assert post.text == "uploads are off: start the server with --directory DIR to enable them\n"


def test_post_file_creates_it(server: ServerProcess, server_directory: Path) -> None:
    response = requests.post(server.url + "/files/created.txt", data=b"new content")
    assert response.status_code == 201
    assert (server_directory / "created.txt").read_bytes() == b"new content"
    assert requests.get(server.url + "/files/created.txt").content == b"new content"


def test_post_file_chunked(server: ServerProcess, server_directory: Path) -> None:
    response = requests.post(server.url + "/files/chunked.txt", data=iter([b"one ", b"two ", b"three"]))
    assert response.status_code == 201
    assert (server_directory / "chunked.txt").read_bytes() == b"one two three"


def test_upload_cut_off_mid_body_leaves_no_file_and_the_old_one_intact(
    server: ServerProcess, server_directory: Path
) -> None:
    target = server_directory / "precious.txt"
    target.write_bytes(b"old content")
    fresh = server_directory / "fresh.txt"
    for name in ["precious.txt", "fresh.txt"]:
        client = server.connect()
        client.send(b"POST /files/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial" % name.encode())
        # The server is writing the body to its temporary file; now the client vanishes.
        assert wait_until(lambda: any(p.name.startswith(f".{name}.") for p in server_directory.iterdir()))
        client.close()
        # The server notices the close and removes its temporary file.
        assert wait_until(lambda: not [p for p in server_directory.iterdir() if p.name.endswith(".part")])
    assert target.read_bytes() == b"old content"
    assert not fresh.exists()


def test_file_names_that_leave_the_directory_are_refused(server: ServerProcess, server_directory: Path) -> None:
    secret = server_directory.parent / "secret.txt"
    secret.write_text("top secret")
    for target in [b"/files/../secret.txt", b"/files/%2e%2e/secret.txt", b"/files/..%2fsecret.txt", b"/files/a%5c..%5csecret.txt"]:
        response = raw_request(server.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target)
        assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n"), target
        assert b"top secret" not in response
    response = requests.post(server.url + "/files/..%2fescaped.txt", data=b"x")
    assert response.status_code == 400
    assert not (server_directory.parent / "escaped.txt").exists()


def test_post_into_a_missing_folder_creates_it(server: ServerProcess, server_directory: Path) -> None:
    # Issue 3: nested names create their folders under --directory.
    response = requests.post(server.url + "/files/no-such-folder/x.txt", data=b"x")
    assert response.status_code == 201
    assert (server_directory / "no-such-folder" / "x.txt").read_bytes() == b"x"


def test_options_asterisk_lists_every_method(server: ServerProcess) -> None:
    with server.connect() as client:
        response = client.exchange(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 204
    assert response.header("Allow") == "DELETE, GET, HEAD, MKCOL, OPTIONS, PATCH, POST, PUT"


def test_absolute_form_target_is_routed_by_its_path(server: ServerProcess) -> None:
    with server.connect() as client:
        response = client.exchange(b"GET http://localhost/echo/abs HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert (response.status, response.body) == (200, b"abs")


def test_upload_writes_no_temporary_files_behind(server: ServerProcess, server_directory: Path) -> None:
    for index in range(5):
        assert requests.post(server.url + f"/files/many-{index}", data=os.urandom(1000)).status_code == 201
    assert not [p for p in server_directory.iterdir() if p.name.endswith(".part")]
