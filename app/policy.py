"""The write policy: whether this server lets clients change files under `--directory`.

Every route that writes (`POST`/`PUT`/`DELETE /files/...`, and any later one) asks
`write_refusal()` through `paths.writable_path()`, so the rule lives in one place:

1. `--read-only` refuses writes everywhere;
2. without `--directory` there is nowhere to write;
3. listening on loopback (the default `localhost`, `127.0.0.1`, `::1`), writes are on, as
   the challenge expects: only programs on this machine can reach the port;
4. listening on any other address (`--host 0.0.0.0`, `--host ::`, `--lan`, a LAN address
   or a host name), writes need `--allow-writes`. The listening address decides, not the
   client's: a server on `::` refuses a client on 127.0.0.1 too, so what a colleague can
   do is what you can test from your own machine.

The same reason is the 403's one-line body and the banner's "Writes:" line (`banner.py`).
It also refuses options that contradict each other (`startup_errors`).
"""

from __future__ import annotations

import functools
import ipaddress

from app.settings import Settings


@functools.lru_cache(maxsize=16)
def is_loopback(host: str) -> bool:
    """Whether a listening address reaches this machine only: `localhost` or a loopback
    IP literal. Any other name counts as not loopback (it could resolve to anything)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def write_refusal(settings: Settings) -> str | None:
    """Why this server refuses writes (a one-line reason naming the option to change),
    or None when writes are allowed."""
    if settings.read_only:
        return "writes are off: the server was started with --read-only"
    if settings.directory is None:
        return "uploads are off: start the server with --directory DIR to enable them"
    if not (is_loopback(settings.host) or settings.allow_writes):
        return (
            f"writes are off: the server listens on {settings.host}, beyond this machine; "
            "start it with --allow-writes to let clients change files"
        )
    return None


def startup_errors(settings: Settings) -> list[str]:
    """Options that contradict each other (refused before the server starts)."""
    errors = []
    if settings.read_only and settings.allow_writes:
        errors.append("--read-only and --allow-writes contradict each other")
    if settings.auth_writes_only and not settings.accounts:
        errors.append("--auth-writes-only needs --auth USER:PASSWORD or --auth-file FILE")
    if settings.lan and settings.host != "localhost":
        errors.append("--lan listens on every address: leave out --host")
    if "*" in settings.cors and len(settings.cors) > 1:
        errors.append("--cors: give either * (any origin) or the origins to allow, not both")
    return errors
