"""The request fields of WebDAV as values, pure functions with no I/O: `Depth`
(RFC 4918 §10.2), `Overwrite` (§10.6), `Destination` (§10.3), and `X-OC-Mtime` (the
ownCloud header rclone sends to keep a file's modification time). Each refuses a value
outside its grammar with an `HTTPError` saying why. (The `If` header is `davlocks.py`'s.)
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.errors import HTTPError
from app.fields import ascii_lower

FILES_PREFIX = "/files/"
DEFAULT_PORTS = {"http": "80", "https": "443"}


def parse_depth(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    """§10.2: Depth = "Depth" ":" ("0" | "1" | "infinity"); `default` when absent, 400
    for a value outside the grammar or one this method does not take (`allowed`)."""
    if value is None:
        return default
    depth = ascii_lower(value.strip(" \t"))
    if depth not in ("0", "1", "infinity"):
        raise HTTPError(400, f"Depth must be 0, 1 or infinity, not {value!r}")
    if depth not in allowed:
        raise HTTPError(400, f"Depth {depth} is not allowed here (only {' or '.join(allowed)})")
    return depth


def parse_overwrite(value: str | None) -> bool:
    """§10.6: Overwrite = "Overwrite" ":" ("T" | "F"); absent means T."""
    if value is None:
        return True
    flag = value.strip(" \t")
    if flag not in ("T", "F"):
        raise HTTPError(400, f"Overwrite must be T or F, not {value!r}")
    return flag == "T"


def authority(scheme: str, netloc: str) -> str:
    """host[:port] in lower case, without the scheme's default port."""
    host = ascii_lower(netloc.rpartition("@")[2])
    default = DEFAULT_PORTS.get(scheme)
    if default and host.endswith(":" + default):
        host = host[: -len(default) - 1]
    return host


def destination_subpath(value: str | None, host: str | None) -> str:
    """§10.3: Destination = "Destination" ":" Simple-ref: an absolute URI or an absolute
    path. The percent-encoded path after "/files/" ("" for /files/ itself). 400 when
    absent or not a URL, 502 when it names another server or a path outside /files/
    (§9.8.5, §9.9.4: "the destination server ... refuses")."""
    if value is None or not value.strip(" \t"):
        raise HTTPError(400, "Destination header missing")
    parts = urlsplit(value.strip(" \t"))
    if parts.scheme or parts.netloc:
        if ascii_lower(parts.scheme) not in DEFAULT_PORTS or not parts.netloc:
            raise HTTPError(400, f"Destination {value!r} is not an http(s) URL or an absolute path")
        # Compared as host[:port], the scheme's default port left out: behind a proxy
        # that ends TLS the scheme we see is not the client's.
        scheme = ascii_lower(parts.scheme)
        if host is None or authority(scheme, parts.netloc) != authority(scheme, host):
            raise HTTPError(502, f"Destination {value!r} is on another server")
    elif not parts.path.startswith("/"):
        raise HTTPError(400, f"Destination {value!r} is not an absolute URL or path")
    path = parts.path
    if path + "/" == FILES_PREFIX:
        return ""
    if not path.startswith(FILES_PREFIX):
        raise HTTPError(502, f"Destination {value!r} is outside {FILES_PREFIX}, where WebDAV lives")
    return path[len(FILES_PREFIX) :]


# Seconds since 1970 as rclone and ownCloud send them: digits, optionally a fraction.
MTIME_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


def parse_oc_mtime(value: str | None) -> float | None:
    """`X-OC-Mtime: 1700000000` (seconds, maybe with a fraction) as a float; None when
    absent; 400 for anything else."""
    if value is None:
        return None
    text = value.strip(" \t")
    if MTIME_RE.fullmatch(text) is None:
        raise HTTPError(400, f"X-OC-Mtime must be seconds since 1970, not {value!r}")
    return float(text)
