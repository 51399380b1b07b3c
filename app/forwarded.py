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

from app.http import QUOTED_STRING, TOKEN, Headers

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 7239 §4:
#   Forwarded         = 1#forwarded-element
#   forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
#   forwarded-pair    = token "=" value
#   value             = token / quoted-string
_PAIR_RE = re.compile(
    r"[ \t]*(%s)=(%s|%s)[ \t]*" % (TOKEN.decode(), TOKEN.decode(), QUOTED_STRING.decode("latin-1"))
)
_ELEMENT_PAIRS_RE = re.compile(r"[ \t]*(?:%s)?(?:;(?:%s)?)*[ \t]*" % (_PAIR_RE.pattern, _PAIR_RE.pattern))
_ELEMENT = r'(?:[^,"]|%s)+' % QUOTED_STRING.decode("latin-1")
_ELEMENT_RE = re.compile(_ELEMENT)
_LIST_RE = re.compile(r"(?:%s)?(?:,(?:%s)?)*" % (_ELEMENT, _ELEMENT))
# RFC 7239 §6:  node = nodename [ ":" node-port ];  nodename = IPv4address / "[" IPv6address "]" / ...
# (X-Forwarded-For carries bare addresses; some proxies add a port there too.)
_NODE_RE = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::\w+)?|(?P<v4>[0-9.]+)(?::\w+)?|(?P<bare>[0-9A-Fa-f:.]+)")


def client_address(peer: str, headers: Headers, trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` itself unless `peer` is a trusted proxy and the
    request names an earlier hop. `X-Forwarded-For` is read when present (it is what nginx
    writes, and a `Forwarded` header from the client would pass nginx untouched);
    `Forwarded` otherwise."""
    if not trusted or not is_trusted(peer, trusted):
        return peer
    if "x-forwarded-for" in headers:
        hops = headers.get_list("x-forwarded-for")
    else:
        hops = forwarded_for(",".join(headers.get_all("forwarded")))
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


def forwarded_for(value: str) -> list[str]:
    """The `for=` value of each element of a `Forwarded` field (RFC 7239 §4), quotes
    removed; an element without one gives "" (not an address). A malformed field gives
    no hops at all."""
    hops: list[str] = []
    for element in split_elements(value):
        if _ELEMENT_PAIRS_RE.fullmatch(element) is None:
            return []
        pairs: dict[str, str] = {}
        for match in _PAIR_RE.finditer(element):
            name, text = match.group(1).lower(), match.group(2)
            pairs[name] = re.sub(r"\\(.)", r"\1", text[1:-1]) if text.startswith('"') else text
        hops.append(pairs.get("for", ""))
    return hops


def split_elements(value: str) -> list[str]:
    """The elements of a list-valued field: the pieces between commas outside quoted
    strings (RFC 9110 §5.6.1); none when a quoted string is left open."""
    if _LIST_RE.fullmatch(value) is None:
        return []
    return [element for element in _ELEMENT_RE.findall(value) if element.strip()]


def parse_node(node: str) -> IPAddress | None:
    """The address in a node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:80`,
    `2001:db8::1`), or None when it is not one."""
    match = _NODE_RE.fullmatch(node.strip())
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
