"""Unit tables for the pure parts of access control: the write policy, Basic credentials,
password hashes, the lock-out's clock, CORS origins, and the `-H` grammar."""

from __future__ import annotations

import argparse
import base64
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth import basic_credentials
from app.banner import writes_line
from app.cors import cors_origin
from app.extraheaders import add_vary, header_line, replace_fields
from app.lockout import Lockout
from app.netaddr import url
from app.passwords import Account, auth_option, hash_problem, make_hash, verify_hash
from app.policy import is_loopback, startup_errors, write_refusal
from app.settings import Settings


def b64(text: bytes) -> str:
    return base64.b64encode(text).decode("ascii")


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("fd00::2", False),
        ("myhost.local", False),  # a name could resolve to anything: not loopback
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "options, refusal",
    [
        ({}, None),
        ({"host": "127.0.0.1"}, None),
        ({"host": "::1"}, None),
        ({"host": "0.0.0.0"}, "writes are off: the server listens on 0.0.0.0, beyond this machine; start it with --allow-writes to let clients change files"),
        ({"host": "::"}, "writes are off: the server listens on ::, beyond this machine; start it with --allow-writes to let clients change files"),
        ({"host": "0.0.0.0", "allow_writes": True}, None),
        ({"host": "::", "allow_writes": True}, None),
        ({"read_only": True}, "writes are off: the server was started with --read-only"),
        ({"host": "::", "allow_writes": True, "read_only": True}, "writes are off: the server was started with --read-only"),
        ({"directory": None}, "uploads are off: start the server with --directory DIR to enable them"),
        ({"directory": None, "host": "::"}, "uploads are off: start the server with --directory DIR to enable them"),
    ],
)
def test_write_refusal(options: dict, refusal: str | None) -> None:
    settings = Settings(**{"directory": Path("/srv"), **options})
    assert write_refusal(settings) == refusal


@pytest.mark.parametrize(
    "options, line",
    [
        ({}, "Writes: on, POST/PUT/DELETE /files/ change /srv (--directory, listening on loopback only)"),
        ({"host": "::", "allow_writes": True}, "Writes: on, POST/PUT/DELETE /files/ change /srv (--allow-writes)"),
        ({"host": "::"}, "Writes: off (the server listens on ::, beyond this machine; start it with --allow-writes to let clients change files)"),
        ({"read_only": True}, "Writes: off (the server was started with --read-only)"),
    ],
)
def test_writes_line(options: dict, line: str) -> None:
    assert writes_line(Settings(**{"directory": Path("/srv"), **options})) == line


@pytest.mark.parametrize(
    "options, errors",
    [
        ({}, []),
        ({"read_only": True, "allow_writes": True}, ["--read-only and --allow-writes contradict each other"]),
        ({"auth_writes_only": True}, ["--auth-writes-only needs --auth USER:PASSWORD or --auth-file FILE"]),
        ({"auth_writes_only": True, "auth": (Account("a", "b"),)}, []),
        ({"lan": True}, []),
        ({"lan": True, "host": "0.0.0.0"}, ["--lan listens on every address: leave out --host"]),
        ({"cors": ("*", "https://a.example")}, ["--cors: give either * (any origin) or the origins to allow, not both"]),
    ],
)
def test_startup_errors(options: dict, errors: list[str]) -> None:
    assert startup_errors(Settings(**options)) == errors


@pytest.mark.parametrize(
    "value, credentials",
    [
        ("Basic " + b64(b"alice:s3cret"), ("alice", "s3cret")),
        ("basic " + b64(b"alice:s3cret"), ("alice", "s3cret")),  # the scheme is case-insensitive
        ("BASIC  " + b64(b"alice:s3cret"), ("alice", "s3cret")),  # 1*SP
        ("Basic " + b64(b"alice:pa:ss"), ("alice", "pa:ss")),  # split at the first colon
        ("Basic " + b64(b"alice:"), ("alice", "")),
        ("Basic " + b64(b":s3cret"), ("", "s3cret")),
        ("Basic " + b64("bjørn:pässwörd".encode()), ("bjørn", "pässwörd")),
        ("Basic " + b64(b"alice"), None),  # no colon
        ("Basic " + b64("bjørn:x".encode("latin-1")), None),  # not UTF-8
        ("Basic !!!!", None),  # not base64
        ("Basic YWxpY2U6czNjcmU", None),  # base64 without its padding (alice:s3cre)
        ("Basic YWxp Y2U6", None),
        ("Basic", None),
        ("Basic ", None),
        ("Bearer " + b64(b"alice:s3cret"), None),
        (b64(b"alice:s3cret"), None),
        ("", None),
    ],
)
def test_basic_credentials(value: str, credentials: tuple[str, str] | None) -> None:
    assert basic_credentials(value) == credentials


# Any text a UTF-8 client can send (no lone surrogates).
UTF8_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=300, deadline=None)
@given(UTF8_TEXT.filter(lambda user: ":" not in user), UTF8_TEXT)
def test_basic_credentials_round_trip(user: str, password: str) -> None:
    encoded = f"{user}:{password}".encode("utf-8")
    assert basic_credentials("Basic " + b64(encoded)) == (user, password)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=255)))
def test_basic_credentials_never_fails_on_any_header_value(value: str) -> None:
    result = basic_credentials(value)  # a header value is latin-1 text: any of it
    assert result is None or (isinstance(result, tuple) and len(result) == 2)


@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2_sha256"])
def test_hashes_verify_their_password_only(scheme: str) -> None:
    stored = make_hash("pässword", scheme)
    assert stored.startswith(scheme + "$")
    assert hash_problem(stored) is None
    assert verify_hash(stored, "pässword")
    assert not verify_hash(stored, "password")
    assert make_hash("pässword", scheme) != stored  # salted


@pytest.mark.parametrize(
    "stored, problem",
    [
        ("scrypt$16384$8$1$c2FsdA==$aGFzaA==", None),
        ("pbkdf2_sha256$1000$c2FsdA==$aGFzaA==", None),
        ("scrypt$1000$8$1$c2FsdA==$aGFzaA==", "scrypt needs N a power of 2 and r, p at least 1"),
        ("scrypt$16384$0$1$c2FsdA==$aGFzaA==", "scrypt needs N a power of 2 and r, p at least 1"),
        ("scrypt$1048576$8$1$c2FsdA==$aGFzaA==", "scrypt parameters need more than 256 MiB"),
        ("pbkdf2_sha256$0$c2FsdA==$aGFzaA==", "pbkdf2_sha256 needs 1 to 10000000 iterations"),
        ("pbkdf2_sha256$1000$c2FsdA$aGFzaA==", "its salt or hash is not base64"),
        ("s3cret", "not a scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash hash"),
        ("", "not a scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash hash"),
    ],
)
def test_hash_problem(stored: str, problem: str | None) -> None:
    assert hash_problem(stored) == problem


@pytest.mark.parametrize(
    "value, error",
    [
        ("alice", "expected USER:PASSWORD, both non-empty"),
        ("alice:", "expected USER:PASSWORD, both non-empty"),
        (":s3cret", "expected USER:PASSWORD, both non-empty"),
        ("", "expected USER:PASSWORD, both non-empty"),
        ("alice:s3cr\udce9t", "USER:PASSWORD is not valid UTF-8"),  # argv's bytes were not UTF-8
    ],
)
def test_auth_option_refuses_without_echoing(value: str, error: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        auth_option(value)
    assert str(raised.value) == error


def test_account_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(auth_option("alice:s3cret"))
    assert "s3cret" not in repr(Settings(auth=(auth_option("alice:s3cret"),)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockout_after_attempts_within_the_window_then_its_end() -> None:
    clock = Clock()
    lockout = Lockout(attempts=3, window=60, duration=30, clock=clock)
    for _ in range(2):
        lockout.failed("a")
        assert lockout.retry_after("a") is None
    lockout.failed("a")
    assert lockout.retry_after("a") == 30
    assert lockout.retry_after("b") is None  # per address
    clock.now += 29.5
    assert lockout.retry_after("a") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert lockout.retry_after("a") is None  # over
    lockout.failed("a")
    assert lockout.retry_after("a") is None  # the count started again


def test_lockout_forgets_failures_older_than_the_window() -> None:
    clock = Clock()
    lockout = Lockout(attempts=3, window=60, duration=30, clock=clock)
    lockout.failed("a")
    lockout.failed("a")
    clock.now += 61
    lockout.failed("a")
    assert lockout.retry_after("a") is None


def test_lockout_remembers_a_bounded_number_of_addresses() -> None:
    lockout = Lockout(attempts=2, window=60, duration=30, max_clients=100, clock=Clock())
    for number in range(1000):
        lockout.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(lockout.failures) == 100


@pytest.mark.parametrize(
    "value, origin",
    [
        ("*", "*"),
        ("https://app.example", "https://app.example"),
        ("HTTP://App.Example:8080", "http://app.example:8080"),  # origins compare lowercased
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("http://localhost:5173", "http://localhost:5173"),
    ],
)
def test_cors_origin(value: str, origin: str) -> None:
    assert cors_origin(value) == origin


@pytest.mark.parametrize(
    "value", ["", "app.example", "https://app.example/", "https://app.example/path", "https://", "null", "https://a b"]
)
def test_cors_origin_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cors_origin(value)


@pytest.mark.parametrize(
    "value, field",
    [
        ("X-Frame-Options: DENY", ("X-Frame-Options", "DENY")),
        ("Cache-Control:no-store", ("Cache-Control", "no-store")),
        ("X-Note:   two  words\t", ("X-Note", "two  words")),
        ("Content-Security-Policy: default-src 'self'", ("Content-Security-Policy", "default-src 'self'")),
    ],
)
def test_header_line(value: str, field: tuple[str, str]) -> None:
    assert header_line(value) == field


@pytest.mark.parametrize(
    "value, error",
    [
        ("X-No-Colon", "'X-No-Colon' is not 'Name: value' with a name made of letters, digits and !#$%&'*+-.^_`|~"),
        ("Bad Name: x", "'Bad Name: x' is not 'Name: value' with a name made of letters, digits and !#$%&'*+-.^_`|~"),
        (": x", "': x' is not 'Name: value' with a name made of letters, digits and !#$%&'*+-.^_`|~"),
        ("X-A: ", "the value of X-A must be visible ASCII, spaces and tabs, and not empty"),
        ("X-A: a\r\nX-B: b", "the value of X-A must be visible ASCII, spaces and tabs, and not empty"),
        ("X-A: caf\u00e9", "the value of X-A must be visible ASCII, spaces and tabs, and not empty"),
        ("X-A: a\0b", "the value of X-A must be visible ASCII, spaces and tabs, and not empty"),
        ("Content-Length: 5", "Content-Length is set by the server itself"),
        ("transfer-encoding: chunked", "transfer-encoding is set by the server itself"),
        ("Connection: close", "Connection is set by the server itself"),
        ("Date: Tue, 01 Dec 2026 00:00:00 GMT", "Date is set by the server itself"),
    ],
)
def test_header_line_refused(value: str, error: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        header_line(value)
    assert str(raised.value) == error


def test_replace_fields_and_add_vary() -> None:
    headers = [("Cache-Control", "no-cache"), ("Vary", "Accept-Encoding"), ("Content-Type", "text/plain")]
    replace_fields(headers, [("cache-control", "no-store"), ("X-A", "1"), ("X-A", "2")])
    add_vary(headers, "Origin")
    assert headers == [
        ("Vary", "Accept-Encoding, Origin"),
        ("Content-Type", "text/plain"),
        ("cache-control", "no-store"),
        ("X-A", "1"),
        ("X-A", "2"),
    ]
    fresh: list[tuple[str, str]] = []
    add_vary(fresh, "Origin")
    assert fresh == [("Vary", "Origin")]


@pytest.mark.parametrize(
    "address, text",
    [("192.168.1.20", "http://192.168.1.20:4221/"), ("fd00::2", "http://[fd00::2]:4221/")],
)
def test_url(address: str, text: str) -> None:
    assert url(ipaddress.ip_address(address), 4221) == text
