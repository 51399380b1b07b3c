"""This machine's network addresses: where `--lan` listens, and the URLs to share.

Everything here is found without sending a packet: the interfaces' IPv4 addresses from
the kernel (the `SIOCGIFADDR` ioctl, Linux), their IPv6 addresses from
`/proc/net/if_inet6` (Linux), and, on any system, the address the kernel would send from
towards the default route: `connect()` on a UDP socket chooses a route and a source
address but sends nothing. Loopback and link-local addresses are left out: a colleague
cannot use them.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SIOCGIFADDR = 0x8915  # linux/sockios.h: get an interface's IPv4 address
# Documentation addresses (RFC 5737, RFC 3849): routed by the default route, never used.
PROBE_TARGETS = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))
WILDCARDS = ("0.0.0.0", "::", "")


def lan_host() -> str:
    """The address `--lan` listens on: `::` (IPv6, and IPv4 through it: dual-stack), or
    `0.0.0.0` where the kernel has no IPv6 or cannot take IPv4 on an IPv6 socket."""
    if not socket.has_dualstack_ipv6():
        return "0.0.0.0"
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:  # IPv6 compiled in, but switched off in this kernel
        return "0.0.0.0"
    return "::"


def share_urls(host: str, port: int, scheme: str = "http") -> list[str]:
    """The URLs by which other machines reach a server listening on `host`: one per
    address of this machine for a wildcard host (IPv4 only for `0.0.0.0`), else none."""
    if host not in WILDCARDS:
        return []
    if host == "0.0.0.0":
        families: tuple[int, ...] = (4,)
    else:  # `::` takes IPv4 too only where the system can do dual-stack (server.open_listener)
        families = (4, 6) if socket.has_dualstack_ipv6() else (6,)
    return [url(address, port, scheme) for address in shareable_addresses() if address.version in families]


def url(address: IPAddress, port: int, scheme: str = "http") -> str:
    text = f"[{address}]" if address.version == 6 else str(address)
    return f"{scheme}://{text}:{port}/"


def shareable_addresses() -> list[IPAddress]:
    """This machine's addresses others may reach: IPv4 first, each once, in order."""
    found = {*interface_ipv4(), *interface_ipv6(), *routed_sources()}
    usable = [address for address in found if not (address.is_loopback or address.is_link_local)]
    return sorted(usable, key=lambda address: (address.version, address.packed))


def interface_ipv4() -> list[IPAddress]:
    """Each interface's IPv4 address (Linux's ioctl; nothing elsewhere)."""
    addresses = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                request = struct.pack("256s", name.encode()[:15])
                try:
                    answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
                except OSError:  # an interface without an IPv4 address
                    continue
                addresses.append(ipaddress.IPv4Address(answer[20:24]))
    except OSError:
        pass
    return addresses


def interface_ipv6() -> list[IPAddress]:
    """Each interface's IPv6 addresses: the first field of each line of /proc/net/if_inet6."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return []
    return [ipaddress.IPv6Address(bytes.fromhex(line.split()[0])) for line in lines if line.strip()]


def routed_sources() -> list[IPAddress]:
    """The source address of the default route, for IPv4 and IPv6 (no packet is sent)."""
    addresses = []
    for family, target in PROBE_TARGETS:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                addresses.append(ipaddress.ip_address(probe.getsockname()[0]))
        except OSError:  # no route for this family
            continue
    return addresses
