"""`--forwarded-allow-ips`: the client address from X-Forwarded-For / Forwarded (RFC 7239),
read only from trusted proxies. A table for the pure parser, then the real server's log."""

from __future__ import annotations

import argparse
import ipaddress

import pytest

from app.fields import Headers
from app.forwarded import client_address, forwarded_for, parse_node
from app.settings import networks
from tests.conftest import wait_until
from tests.test_access import authorization, exchange

LOCAL = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def headers(*fields: tuple[str, str]) -> Headers:
    return Headers([(name.lower(), value) for name, value in fields])


XFF, FWD = "X-Forwarded-For", "Forwarded"

CLIENT_CASES = [
    # peer, header fields, trusted networks, the client address
    ("127.0.0.1", [(XFF, "203.0.113.7")], LOCAL, "203.0.113.7"),
    ("127.0.0.1", [], LOCAL, "127.0.0.1"),
    # Not trusted (nothing trusted, or a peer outside the list): the header is ignored.
    ("127.0.0.1", [(XFF, "203.0.113.7")], (), "127.0.0.1"),
    ("198.51.100.2", [(XFF, "203.0.113.7")], LOCAL, "198.51.100.2"),
    # The right-most untrusted hop: what the client wrote itself (left) is not believed...
    ("127.0.0.1", [(XFF, "1.1.1.1, 203.0.113.7")], LOCAL, "203.0.113.7"),
    # ...and trusted proxies in the chain are walked past.
    ("127.0.0.1", [(XFF, "1.1.1.1, 203.0.113.7, 10.0.0.5")], LOCAL, "203.0.113.7"),
    ("127.0.0.1", [(XFF, "10.0.0.9, 10.0.0.5")], LOCAL, "10.0.0.9"),
    # Several lines are one list, in order (RFC 9110 §5.3).
    ("127.0.0.1", [(XFF, "1.1.1.1"), (XFF, "203.0.113.7")], LOCAL, "203.0.113.7"),
    # A hop that is not an address ends the walk at the last proxy vouched for.
    ("127.0.0.1", [(XFF, "unknown")], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(XFF, "203.0.113.7, <script>, 10.0.0.5")], LOCAL, "10.0.0.5"),
    ("127.0.0.1", [(XFF, "203.0.113.7:4711")], LOCAL, "203.0.113.7"),
    ("127.0.0.1", [(XFF, "2001:db8::1")], LOCAL, "2001:db8::1"),
    # A dual-stack socket reports an IPv4 peer as IPv4-mapped IPv6.
    ("::ffff:127.0.0.1", [(XFF, "203.0.113.7")], LOCAL, "203.0.113.7"),
    # Forwarded (RFC 7239 §4, §6, examples of §7.1): quoted IPv6 with a port, parameters.
    ("127.0.0.1", [(FWD, 'for="[2001:db8:cafe::17]:4711"')], LOCAL, "2001:db8:cafe::17"),
    ("127.0.0.1", [(FWD, "for=192.0.2.60;proto=http;by=203.0.113.43")], LOCAL, "192.0.2.60"),
    ("127.0.0.1", [(FWD, "for=192.0.2.43, for=198.51.100.17")], LOCAL, "198.51.100.17"),
    ("127.0.0.1", [(FWD, 'For="192.0.2.43";by="a,b", for=10.0.0.1')], LOCAL, "192.0.2.43"),
    ("127.0.0.1", [(FWD, 'for="_gazonk"')], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(FWD, "proto=https")], LOCAL, "127.0.0.1"),
    # Malformed: ignored whole.
    ("127.0.0.1", [(FWD, 'for="192.0.2.43')], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(FWD, "for 192.0.2.43")], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(XFF, "203.0.113.7 198.51.100.1")], LOCAL, "127.0.0.1"),
    # Only SP and HTAB are whitespace (RFC 9110 §5.6.3): not 0xA0, not 0x85.
    ("127.0.0.1", [(XFF, "\xa0203.0.113.7")], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(XFF, "203.0.113.7\x85")], LOCAL, "127.0.0.1"),
    ("127.0.0.1", [(XFF, " 198.51.100.1 ,\t203.0.113.7 ")], LOCAL, "203.0.113.7"),
    # Both: X-Forwarded-For, what nginx writes, wins (a client's Forwarded passes nginx).
    ("127.0.0.1", [(FWD, "for=6.6.6.6"), (XFF, "203.0.113.7")], LOCAL, "203.0.113.7"),
]


@pytest.mark.parametrize("peer, fields, trusted, expected", CLIENT_CASES)
def test_client_address(peer, fields, trusted, expected) -> None:
    assert client_address(peer, headers(*fields), trusted) == expected


@pytest.mark.parametrize(
    "value, hops",
    [
        ("for=192.0.2.60", ["192.0.2.60"]),
        ('for="[2001:db8:cafe::17]:4711"', ["[2001:db8:cafe::17]:4711"]),
        ('for="\\"quoted\\""', ['"quoted"']),
        ("for=1.2.3.4;;by=x, ,for=5.6.7.8", ["1.2.3.4", "5.6.7.8"]),
        ("by=1.2.3.4", [""]),
        ('by="a;b,c";for=1.2.3.4', ["1.2.3.4"]),
        ('by="for=6.6.6.6"', [""]),
        ("FOR=1.2.3.4", ["1.2.3.4"]),
    ],
)
def test_forwarded_for(value, hops) -> None:
    assert forwarded_for([value]) == hops


@pytest.mark.parametrize(
    "value",
    ['for="1.2', "for=a b", "for =1.2.3.4", "for= 1.2.3.4", "for=1.2.3.4 ;by=x", "\xa0for=1.2.3.4", "for"],
)
def test_forwarded_outside_the_grammar_is_refused(value) -> None:
    with pytest.raises(ValueError):
        forwarded_for([value])


@pytest.mark.parametrize(
    "node, address",
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("unknown", None),
        ("_hidden", None),
        ("300.1.1.1", None),
        ("[192.0.2.1", None),
        ("", None),
    ],
)
def test_parse_node(node, address) -> None:
    parsed = parse_node(node)
    assert (str(parsed) if parsed is not None else None) == address


def test_option_parses_addresses_and_blocks() -> None:
    assert networks("127.0.0.1, 10.0.0.0/8,::1") == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    for bad in ("", "nginx", "10.0.0.1/8", "127.0.0.1,"):
        with pytest.raises(argparse.ArgumentTypeError):
            networks(bad)


def access_line(process, path: str) -> str:
    assert wait_until(lambda: f"GET {path} " in process.log)
    return next(line for line in process.log.splitlines() if f"GET {path} " in line)


def get(process, path: str, *fields: bytes) -> None:
    with process.connect() as client:
        head = b"GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (path.encode(), b"".join(fields))
        assert client.exchange(head).status == 200


@pytest.mark.parametrize(
    "options, logged",
    [
        ((), "127.0.0.1"),  # the default trusts no one
        (("--forwarded-allow-ips", "10.0.0.0/8"), "127.0.0.1"),  # trusted, but not this peer
        (("--forwarded-allow-ips", "127.0.0.1"), "203.0.113.7"),
        (("--forwarded-allow-ips", "127.0.0.0/8,::1"), "203.0.113.7"),
    ],
)
def test_access_log_names_the_forwarded_client_only_from_trusted_peers(start_server, options, logged) -> None:
    process = start_server(*options)
    get(process, "/echo/xff", b"X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n")
    get(process, "/echo/fwd", b'Forwarded: for="203.0.113.7:4711"\r\n')
    assert access_line(process, "/echo/xff").startswith(logged + " - - [")
    assert access_line(process, "/echo/fwd").startswith(logged + " - - [")


def test_a_bad_option_value_is_refused_with_its_reason(start_server) -> None:
    with pytest.raises(RuntimeError, match="nginx is not a list of addresses or CIDR blocks"):
        start_server("--forwarded-allow-ips", "nginx")


def test_the_lock_out_is_keyed_on_the_forwarded_client(start_server, tmp_path) -> None:
    """Behind a trusted proxy every client shares the proxy's address: the lock-out of
    failed logins (app/lockout.py) must count each forwarded client apart."""
    server = start_server("--directory", str(tmp_path), "--auth", "alice:right", "--forwarded-allow-ips", "127.0.0.1")
    bad = f"Authorization: {authorization('alice', 'guess')}"
    guesser, other = "X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 198.51.100.2"
    assert [exchange(server, "GET", "/files/", guesser, bad).status for _ in range(10)] == [401] * 10
    assert exchange(server, "GET", "/files/", guesser, bad).status == 429
    # Another client behind the same proxy is not locked out.
    assert exchange(server, "GET", "/files/", other, bad).status == 401
    good = f"Authorization: {authorization('alice', 'right')}"
    assert exchange(server, "GET", "/files/", other, good).status == 200
    # Without the proxy's trust, the header counts for nothing: one address, locked out.
    untrusting = start_server("--directory", str(tmp_path), "--auth", "alice:right")
    for _ in range(10):
        exchange(untrusting, "GET", "/files/", guesser, bad)
    assert exchange(untrusting, "GET", "/files/", other, good).status == 429
