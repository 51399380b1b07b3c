"""The start-up banner: the line saying where the server listens (tests and scripts wait
for it), then the URLs to share, whether writes are on and why (from the write policy,
`policy.write_refusal`), the passwords, and a warning when they would cross the network
in clear text."""

from __future__ import annotations

from app.netaddr import share_urls
from app.policy import is_loopback, write_refusal
from app.settings import Settings


def banner(settings: Settings, port: int) -> str:
    """What is printed at start: first the line saying where the server listens (tests
    and scripts wait for it), then the URLs to share and who may do what."""
    url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    protocol = "HTTPS" if settings.tls_cert is not None else "HTTP"
    line = f"Serving {protocol} on {settings.host} port {port} ({protocol.lower()}://{url_host}:{port}/)"
    if settings.workers > 1:
        line += f" with {settings.workers} worker processes"
    return "\n".join([line + " ...", *access_lines(settings, port)])


def writes_line(settings: Settings) -> str:
    """The banner's one line saying whether writes are on, and why."""
    refusal = write_refusal(settings)
    if refusal is not None:
        return "Writes: off (" + refusal.split(": ", 1)[1] + ")"
    why = "--allow-writes" if settings.allow_writes else "--directory, listening on loopback only"
    return f"Writes: on, POST/PUT/DELETE /files/ change {settings.directory} ({why})"


def password_line(settings: Settings) -> str | None:
    """The banner's line about passwords, if any are set."""
    users = len({account.user for account in settings.accounts})
    if not users:
        return None
    needed = "for writes only" if settings.auth_writes_only else "for every request"
    return f"Passwords: {users} user(s), required {needed} (HTTP Basic)"


def uses_tls(settings: Settings) -> bool:
    return settings.tls_cert is not None


def access_lines(settings: Settings, port: int) -> list[str]:
    """The banner's lines after the first: the URLs to share, writes, passwords, and a
    warning when passwords would cross the network in clear text."""
    scheme = "https" if uses_tls(settings) else "http"
    lines = [f"Share: {url}" for url in share_urls(settings.host, port, scheme)]
    lines.append(writes_line(settings))
    if (passwords := password_line(settings)) is not None:
        lines.append(passwords)
        if not (uses_tls(settings) or is_loopback(settings.host)):
            lines.append(
                "Warning: without HTTPS, passwords cross the network readable by anyone on "
                "the way; add --tls-cert and --tls-key"
            )
    return lines
