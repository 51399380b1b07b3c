"""The client's address behind a reverse proxy: `--forwarded-allow-ips`.

Behind nginx every connection comes from nginx, so the peer address says nothing about
the client. A proxy we trust names the client in `X-Forwarded-For` (de facto: a list of
addresses, each proxy appending the one it received the request from) or `Forwarded`
(RFC 7239: `for=` on each element). Anyone can send those headers, so they are read only
when the peer is a trusted proxy, and only as far back as the chain stays trusted: the
client is the right-most address that is not itself a trusted proxy (everything to its
left was written by the client, and may be a lie).

`client_address()` is the whole job; `connection.py` calls it once per request and puts
the answer in `Request.client`, which the access log (and any per-client logic) uses.
"""

from __future__ import annotations

import ipaddress
import re

from app.fields import QUOTED_STRING_STR, TOKEN_STR, Headers, ascii_lower, list_elements

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Received text is read with ASCII classes only (never `\w`, `\s` or `str.strip()`: the
# rule of http.py, docs/parser-vs-h11.md).
#
# X-Forwarded-For has no RFC; in practice `#node`, a node being an address with perhaps a
# port: any run of characters but OWS and ",", judged by `parse_node`.
XFF_ELEMENT_RE = re.compile(r"[^ \t,]+")
# RFC 7239 §4:
#   Forwarded         = 1#forwarded-element
#   forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
#   forwarded-pair    = token "=" value
#   value             = token / quoted-string
FORWARDED_PAIR_RE = re.compile(r"(%s)=(%s|%s)" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR))
FORWARDED_ELEMENT_RE = re.compile(r"(?:{pair})?(?:;(?:{pair})?)*".format(pair=FORWARDED_PAIR_RE.pattern))
# RFC 9110 §5.6.4:  quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# RFC 7239 §6:  node     = nodename [ ":" node-port ]
#               nodename = IPv4address / "[" IPv6address "]" / "unknown" / obfnode
#               node-port = port / obfport ;  obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-")
# (X-Forwarded-For carries bare addresses, IPv6 ones unbracketed; some proxies add a port.)
PORT = r"(?::(?:[0-9]{1,5}|_[A-Za-z0-9._-]+))?"
NODE_RE = re.compile(rf"\[(?P<v6>[0-9A-Fa-f:.]+)\]{PORT}|(?P<v4>[0-9.]+){PORT}|(?P<bare>[0-9A-Fa-f:.]+)")


def client_address(peer: str, headers: Headers, trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` itself unless `peer` is a trusted proxy and the
    request names an earlier hop. `X-Forwarded-For` is read when present (it is what nginx
    writes, and a `Forwarded` header from the client would pass nginx untouched);
    `Forwarded` otherwise."""
    if not trusted or not is_trusted(peer, trusted):
        return peer
    try:
        if "x-forwarded-for" in headers:
            nodes = list_elements(headers.get_all("x-forwarded-for"), XFF_ELEMENT_RE)
            hops = [node.group() for node in nodes]
        else:
            hops = forwarded_for(headers.get_all("forwarded"))
    except ValueError:
        return peer  # a field outside its grammar names no one
    return rightmost_untrusted(peer, hops, trusted)


def rightmost_untrusted(peer: str, hops: list[str], trusted: tuple[Network, ...]) -> str:
    """Walk the hops from the right (the one our proxy wrote) leftwards past trusted
    proxies. A hop that is not an address (`unknown`, an obfuscated name, garbage) ends
    the walk: the client is then the last proxy we could vouch for."""
    client = peer
    for hop in reversed(hops):
        address = parse_node(hop)
        if address is None:
            return client
        client = str(address)
        if not is_trusted(client, trusted):
            return client
    return client


def forwarded_for(values: list[str]) -> list[str]:
    """The `for=` value of each element of the `Forwarded` field lines (RFC 7239 §4),
    unquoted; "" for an element without one (not an address). `ValueError` for a field
    outside the grammar."""
    hops = []
    for element in list_elements(values, FORWARDED_ELEMENT_RE):
        pairs = {ascii_lower(pair.group(1)): pair.group(2) for pair in FORWARDED_PAIR_RE.finditer(element.group())}
        value = pairs.get("for", "")
        hops.append(QUOTED_PAIR_RE.sub(r"\1", value[1:-1]) if value.startswith('"') else value)
    return hops


def parse_node(node: str) -> IPAddress | None:
    """The address in a node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:80`,
    `2001:db8::1`), or None when it is not one."""
    match = NODE_RE.fullmatch(node)
    if match is None:
        return None
    try:
        return plain(ipaddress.ip_address(match.group("v6") or match.group("v4") or match.group("bare")))
    except ValueError:
        return None


def plain(address: IPAddress) -> IPAddress:
    """An IPv4 address for an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`, the peer address
    a dual-stack socket reports for an IPv4 client)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    parsed = parse_node(address)
    return parsed is not None and any(parsed in network for network in trusted)
