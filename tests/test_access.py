"""Who may do what, end to end against the real server: the write policy over loopback and
every-address listeners (connecting to 127.0.0.1: test traffic stays on this machine),
Basic passwords, the lock-out, secrets kept out of logs, CORS, `-H`, `--server-header`,
`--lan`'s banner, and the start-up refusals of bad options."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app.cors import EXPOSED
from app.netaddr import share_urls
from tests.conftest import ROOT, RawClient, ServerProcess, wait_until

PASSWORD = "correct horse: battery staple"  # a colon and spaces, as real passwords have


def banner_lines(server: ServerProcess, count: int) -> list[str]:
    """The `count` lines the server printed after its first one."""
    return [server.process.stdout.readline().rstrip("\n") for _ in range(count)]


def authorization(user: str, password: str, encoding: str = "utf-8") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode("ascii")


def request_bytes(method: str, path: str, *fields: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n" + "".join(f"{field}\r\n" for field in fields)
    if body or method in ("PUT", "POST"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def exchange(server: ServerProcess, method: str, path: str, *fields: str, body: bytes = b""):
    with server.connect() as client:
        return exchange_on(client, method, path, *fields, body=body)


def exchange_on(client: RawClient, method: str, path: str, *fields: str, body: bytes = b""):
    return client.exchange(request_bytes(method, path, *fields, body=body), head_request=method == "HEAD")


# ---------------------------------------------------------------------------------------
# The write policy
# ---------------------------------------------------------------------------------------

OFF_BEYOND = "writes are off: the server listens on {host}, beyond this machine; start it with --allow-writes to let clients change files"
OFF_READ_ONLY = "writes are off: the server was started with --read-only"


@pytest.mark.parametrize(
    "options, refusal",
    [
        ((), None),  # the default, localhost: as the challenge expects
        (("--host", "127.0.0.1"), None),
        (("--host", "0.0.0.0"), OFF_BEYOND.format(host="0.0.0.0")),
        (("--host", "::"), OFF_BEYOND.format(host="::")),
        (("--lan",), OFF_BEYOND.format(host="::")),
        (("--host", "0.0.0.0", "--allow-writes"), None),
        (("--host", "::", "--allow-writes"), None),
        (("--read-only",), OFF_READ_ONLY),
        (("--host", "::", "--read-only"), OFF_READ_ONLY),
    ],
)
def test_write_policy(start_server, tmp_path: Path, options: tuple[str, ...], refusal: str | None) -> None:
    (tmp_path / "kept.txt").write_bytes(b"kept")
    server = start_server("--directory", str(tmp_path), *options)
    share = len(share_urls("::", 1)) if "--lan" in options or "::" in options else 0
    share = len(share_urls("0.0.0.0", 1)) if "0.0.0.0" in options else share
    writes = banner_lines(server, share + 1)[-1]
    assert exchange(server, "GET", "/files/kept.txt").body == b"kept"  # reading is always open
    answers = [
        exchange(server, "PUT", "/files/new.txt", body=b"new"),
        exchange(server, "POST", "/files/kept.txt", body=b"changed"),
        exchange(server, "DELETE", "/files/kept.txt"),
    ]
    if refusal is None:
        assert writes.startswith(f"Writes: on, POST/PUT/DELETE /files/ change {tmp_path} (")
        assert [answer.status for answer in answers] == [201, 204, 204]
        assert not (tmp_path / "kept.txt").exists()
    else:
        assert writes == "Writes: off (" + refusal.split(": ", 1)[1] + ")"
        assert [(answer.status, answer.body) for answer in answers] == [(403, refusal.encode() + b"\n")] * 3
        assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.txt"]
        assert (tmp_path / "kept.txt").read_bytes() == b"kept"


@pytest.mark.parametrize(
    "options, message",
    [
        (("--read-only", "--allow-writes"), "--read-only and --allow-writes contradict each other"),
        (("--auth-writes-only",), "--auth-writes-only needs --auth USER:PASSWORD or --auth-file FILE"),
        (("--cors", "--cors", "https://a.example"), "--cors: give either * (any origin) or the origins to allow, not both"),
        (("--cors", "https://a.example/app"), "argument --cors: 'https://a.example/app' is not * or an origin like https://example.com:8443 (no path)"),
        (("-H", "X-A: a\r\nX-B: b"), "argument -H/--header: the value of X-A must be visible ASCII, spaces and tabs, and not empty"),
        (("-H", "Bad Name: x"), "argument -H/--header: 'Bad Name: x' is not 'Name: value' with a name made of letters, digits and !#$%&'*+-.^_`|~"),
        (("--header", "Content-Length: 0"), "argument -H/--header: Content-Length is set by the server itself"),
        (("--auth", "alice"), "argument --auth: expected USER:PASSWORD, both non-empty"),
    ],
)
def test_contradictions_and_bad_values_stop_the_start(options: tuple[str, ...], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "--port", "0", *options], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"your_program.sh: error: {message}"


# ---------------------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------------------

CHALLENGE = 'Basic realm="files", charset="UTF-8"'
LOG_IN = b"log in: this server needs a user name and password\n"
WRONG = b"wrong user name or password\n"
MALFORMED = b"the Authorization header is not Basic base64(user:password) in UTF-8\n"

# (Authorization fields sent, status, body): fewer than 10 failures, so no lock-out.
AUTH_TABLE = [
    ((), 401, LOG_IN),
    ((authorization("alice", PASSWORD),), 200, b"abc"),
    ((authorization("alice", PASSWORD).replace("Basic", "basic"),), 200, b"abc"),
    ((authorization("bjørn", "pässwörd"),), 200, b"abc"),
    ((authorization("mallory", PASSWORD),), 401, WRONG),
    ((authorization("alice", "correct horse"),), 401, WRONG),
    ((authorization("bjørn", "pässwörd", "latin-1"),), 401, MALFORMED),
    (("Basic " + base64.b64encode(b"alice").decode(),), 401, MALFORMED),
    (("Basic not*base64",), 401, MALFORMED),
    (("Bearer abc.def",), 401, MALFORMED),
    ((authorization("alice", PASSWORD), authorization("alice", PASSWORD)), 401, MALFORMED),
]


def test_passwords(start_server) -> None:
    server = start_server("--auth", f"alice:{PASSWORD}", "--auth", "bjørn:pässwörd")
    for fields, status, body in AUTH_TABLE:
        response = exchange(server, "GET", "/echo/abc", *(f"Authorization: {value}" for value in fields))
        assert (response.status, response.body) == (status, body), fields
        assert response.header("WWW-Authenticate") == (CHALLENGE if status == 401 else None)


def test_echo_hides_the_password_from_pages_that_may_read_it(start_server) -> None:
    server = start_server("--auth", f"alice:{PASSWORD}", "--cors", "http://page.example")
    value = authorization("alice", PASSWORD)
    response = exchange(server, "GET", "/echo", "Origin: http://page.example", f"Authorization: {value}")
    assert response.body == (
        b"GET /echo HTTP/1.1\r\nHost: localhost\r\nOrigin: http://page.example\r\nAuthorization: [hidden]\r\n\r\n"
    )


@pytest.mark.parametrize("scheme", [(), ("--pbkdf2",)])
def test_auth_file_with_a_hash_from_the_documented_command(start_server, tmp_path: Path, scheme: tuple[str, ...]) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "app.auth", "hash", "carol", *scheme],
        cwd=ROOT, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=True,
    )
    assert PASSWORD not in made.stdout
    users = tmp_path / "users.txt"
    users.write_text("# made by python3 -m app.auth hash carol\n\n" + made.stdout)
    server = start_server("--auth-file", str(users))
    assert banner_lines(server, 2)[-1] == "Passwords: 1 user(s), required for every request (HTTP Basic)"
    for _ in range(2):  # the second time from the cache of verified credentials
        assert exchange(server, "GET", "/echo/ok", f"Authorization: {authorization('carol', PASSWORD)}").status == 200
    assert exchange(server, "GET", "/echo/ok", f"Authorization: {authorization('carol', 'nope')}").status == 401


def test_a_bad_auth_file_stops_the_start_without_showing_its_lines(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice:scrypt$16384$8$1$c2FsdA==$aGFzaA==\nbob:hunter2\n")
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "--port", "0", "--auth-file", str(users)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"your_program.sh: error: argument --auth-file: {users} line 2: "
        "not a scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash hash"
    )
    assert "hunter2" not in result.stderr


def test_auth_writes_only(start_server, tmp_path: Path) -> None:
    server = start_server("--directory", str(tmp_path), "--auth", f"alice:{PASSWORD}", "--auth-writes-only")
    good = f"Authorization: {authorization('alice', PASSWORD)}"
    bad = f"Authorization: {authorization('alice', 'guess')}"
    table = [
        (("PUT", "/files/a.txt"), (), 401),
        (("PUT", "/files/a.txt"), (bad,), 401),
        (("PUT", "/files/a.txt"), (good,), 201),
        (("GET", "/files/a.txt"), (), 200),
        (("HEAD", "/files/a.txt"), (), 200),
        (("GET", "/files/"), (), 200),
        (("OPTIONS", "/files/a.txt"), (), 204),
        (("POST", "/files/a.txt"), (), 401),
        (("DELETE", "/files/a.txt"), (), 401),
        (("DELETE", "/files/a.txt"), (good,), 204),
    ]
    for (method, path), fields, status in table:
        assert exchange(server, method, path, *fields, body=b"x" if method in ("PUT", "POST") else b"").status == status, (method, fields)


def test_lock_out_after_ten_failures_then_its_end(start_server, tmp_path: Path) -> None:
    server = start_server(
        "--directory", str(tmp_path), "--auth", f"alice:{PASSWORD}", "--auth-writes-only", "--auth-lockout", "1"
    )
    good = f"Authorization: {authorization('alice', PASSWORD)}"
    bad = f"Authorization: {authorization('alice', 'guess')}"
    for _ in range(20):  # no credentials is not an attempt: a browser asks first
        assert exchange(server, "PUT", "/files/a.txt").status == 401
    for _ in range(5):  # successful logins never count
        assert exchange(server, "PUT", "/files/a.txt", good, body=b"x").status in (201, 204)
    assert [exchange(server, "PUT", "/files/a.txt", bad).status for _ in range(10)] == [401] * 10
    locked = exchange(server, "PUT", "/files/a.txt", bad)
    assert locked.status == 429
    assert locked.header("Retry-After") == "1"
    assert locked.body == b"too many failed logins from your address; try again in 1 seconds\n"
    # The right password is refused too while it lasts: else the 429 would tell a guesser
    # which guess was right. Reads, which need no password here, are not refused.
    assert exchange(server, "PUT", "/files/a.txt", good, body=b"y").status == 429
    assert exchange(server, "GET", "/files/a.txt").status == 200
    assert wait_until(lambda: exchange(server, "PUT", "/files/a.txt", good, body=b"z").status == 204, timeout=5)
    assert (tmp_path / "a.txt").read_bytes() == b"z"


def test_no_secret_in_logs_or_answers(start_server, tmp_path: Path) -> None:
    server = start_server("-v", "--directory", str(tmp_path), "--auth", f"alice:{PASSWORD}", "--auth-lockout", "60")
    values = [authorization("alice", PASSWORD), authorization("alice", PASSWORD + "x"), "Basic " + "A" * 30]
    for value in values:
        for path in ("/echo/abc", "/files/nothing", "/files/%2e%2e/etc/passwd"):
            exchange(server, "GET", path, f"Authorization: {value}")
        exchange(server, "PUT", "/files/a.txt", f"Authorization: {value}", body=b"x")
    for _ in range(10):
        answer = exchange(server, "GET", "/", f"Authorization: {values[1]}")
    assert answer.status == 429
    with server.connect() as client:  # a refusal of the parser, with the password in the head
        client.send(request_bytes("GET", "/", f"Authorization: {values[0]}", "Bad Field Line"))
        assert client.read_response().status == 400
    server.stop()
    secrets = [PASSWORD, *(value.split()[1] for value in values)]
    assert [secret for secret in secrets if secret in server.log] == []
    assert "Traceback" not in server.log


# ---------------------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------------------

PREFLIGHT = (
    "Origin: http://page.example:8000",
    "Access-Control-Request-Method: PUT",
    "Access-Control-Request-Headers: authorization, content-type",
)


def test_cors_any_origin(start_server) -> None:
    server = start_server("--cors")
    preflight = exchange(server, "OPTIONS", "/files/a.txt", *PREFLIGHT)
    assert preflight.status == 204
    assert preflight.headers == [
        ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, MKCOL, OPTIONS, PATCH"),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers"),
        ("Access-Control-Allow-Headers", "authorization, content-type"),
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", EXPOSED),
    ]
    for fields in [(), ("Origin: http://page.example:8000",)]:
        response = exchange(server, "GET", "/echo/abc", *fields)
        assert response.header("Access-Control-Allow-Origin") == "*"
        assert response.header("Vary") == "Accept-Encoding"  # * is the same for every origin
        assert response.header("Access-Control-Allow-Credentials") is None
    assert exchange(server, "GET", "/nothing/here").header("Access-Control-Allow-Origin") == "*"  # errors too


def test_cors_named_origins_with_passwords(start_server) -> None:
    server = start_server("--cors", "http://page.example:8000", "--cors", "https://other.example", "--auth", "alice:pw")
    preflight = exchange(server, "OPTIONS", "/echo/abc", *PREFLIGHT)  # no credentials: not asked
    assert preflight.status == 204
    assert preflight.header("Access-Control-Allow-Origin") == "http://page.example:8000"
    assert preflight.header("Access-Control-Allow-Credentials") == "true"
    assert preflight.header("Vary") == "Access-Control-Request-Method, Access-Control-Request-Headers, Origin"
    actual = exchange(server, "GET", "/echo/abc", "Origin: http://page.example:8000", f"Authorization: {authorization('alice', 'pw')}")
    assert actual.status == 200
    assert actual.header("Access-Control-Allow-Origin") == "http://page.example:8000"
    assert actual.header("Access-Control-Allow-Credentials") == "true"
    assert actual.header("Vary") == "Accept-Encoding, Origin"
    # An origin not named: no CORS fields (the browser then hides the answer), and the
    # preflight gets the plain OPTIONS answer, behind the password like any request.
    refused = exchange(server, "GET", "/echo/abc", "Origin: http://evil.example", f"Authorization: {authorization('alice', 'pw')}")
    assert refused.header("Access-Control-Allow-Origin") is None
    assert refused.header("Vary") == "Accept-Encoding, Origin"
    refused_preflight = exchange(server, "OPTIONS", "/echo/abc", "Origin: http://evil.example", *PREFLIGHT[1:])
    assert refused_preflight.status == 401
    assert refused_preflight.header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    "requested, allowed",
    [
        (("Access-Control-Request-Headers: x-a,x-b",), "x-a, x-b"),
        (("Access-Control-Request-Headers: x-a , , x-b\t",), "x-a, x-b"),
        (("Access-Control-Request-Headers: x-a", "Access-Control-Request-Headers: x-b"), "x-a, x-b"),
        (("Access-Control-Request-Headers: x-a, bad header",), None),  # not a list of tokens
        (("Access-Control-Request-Headers: ",), None),
        ((), None),
    ],
)
def test_preflight_allows_the_headers_asked_for(start_server, requested: tuple[str, ...], allowed: str | None) -> None:
    server = start_server("--cors")
    preflight = exchange(server, "OPTIONS", "/echo/a", "Origin: http://a.example", "Access-Control-Request-Method: GET", *requested)
    assert preflight.status == 204
    assert preflight.header("Access-Control-Allow-Headers") == allowed


def test_plain_options_is_unchanged_by_cors(start_server) -> None:
    server = start_server("--cors")
    response = exchange(server, "OPTIONS", "/echo/abc")
    assert response.status == 204
    assert response.header("Allow") == "GET, HEAD, OPTIONS"


# ---------------------------------------------------------------------------------------
# Added headers, and a plain launch without them
# ---------------------------------------------------------------------------------------


def test_added_headers_on_every_response(start_server, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    server = start_server(
        "--directory", str(tmp_path), "-H", "X-Frame-Options: DENY", "--header", "Cache-Control: no-store",
        "-H", "Link: </a>; rel=preload", "-H", "Link: </b>; rel=preload", "--server-header",
    )
    added = [
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
        ("Link", "</a>; rel=preload"),
        ("Link", "</b>; rel=preload"),
        ("Server", "SimplePythonServer/1.0"),
    ]
    for method, path in [("GET", "/echo/abc"), ("GET", "/files/a.txt"), ("GET", "/missing"), ("HEAD", "/")]:
        response = exchange(server, method, path)
        assert [field for field in response.headers if field[0] in ("X-Frame-Options", "Cache-Control", "Link", "Server")] == added
    with server.connect() as client:  # a refusal of the parser gets them too
        refused = client.exchange(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert refused.status == 400
    assert ("Server", "SimplePythonServer/1.0") in refused.headers


def test_added_headers_on_the_503_beyond_max_connections(start_server, tmp_path) -> None:
    server = start_server(
        "--max-connections", "1", "--directory", str(tmp_path), "-H", "X-Frame-Options: DENY", "--server-header"
    )
    with server.connect() as first:
        # A request in progress holds the one slot (an idle connection would make room):
        # its head read, as the 100 Continue shows, its body not sent yet.
        head = b"PUT /files/busy HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        assert first.exchange(head).status == 100
        with server.connect() as extra:
            refused = extra.read_response()
    assert refused.status == 503
    assert refused.headers[-4:-2] == [("X-Frame-Options", "DENY"), ("Server", "SimplePythonServer/1.0")]


def test_server_header_with_a_name(start_server) -> None:
    server = start_server("--server-header", "files/2 (lab)")
    assert exchange(server, "GET", "/echo/a").header("Server") == "files/2 (lab)"


def test_a_plain_launch_adds_nothing(server) -> None:
    response = exchange(server, "GET", "/echo/abc")
    assert response.raw == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\nCache-Control: no-store\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    )
    options = exchange(server, "OPTIONS", "/echo/abc", *PREFLIGHT)
    assert options.raw == b"HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n"


# ---------------------------------------------------------------------------------------
# --lan and the banner
# ---------------------------------------------------------------------------------------


def test_lan_banner_lists_addresses_that_answer(start_server) -> None:
    server = start_server("--lan", "--auth", "alice:pw")
    assert server.banner.startswith("Serving HTTP on :: port ")
    expected = share_urls("::", server.port)
    lines = banner_lines(server, len(expected) + 3)
    assert lines[: len(expected)] == [f"Share: {url}" for url in expected]
    assert lines[len(expected) :] == [
        "Writes: off (start the server with --directory DIR to enable them)",
        "Passwords: 1 user(s), required for every request (HTTP Basic)",
        "Warning: without HTTPS, passwords cross the network readable by anyone on the way; add --tls-cert and --tls-key",
    ]
    for url in ["http://127.0.0.1:%d/" % server.port, *expected]:  # this machine's own addresses
        assert requests.get(url + "echo/hi", auth=("alice", "pw"), timeout=5).text == "hi"


def test_no_share_lines_on_loopback(start_server) -> None:
    server = start_server("--host", "127.0.0.1", "--auth", "alice:pw")
    assert banner_lines(server, 2) == [
        "Writes: off (start the server with --directory DIR to enable them)",
        "Passwords: 1 user(s), required for every request (HTTP Basic)",
    ]
