"""`GET /files/NAME?hash=sha256` (also `sha1`, `md5`): the file's digest in hex, as
text/plain, so a client can check what arrived (`sha256sum` prints the same hex).

The file is read through the hash in pieces (`hashlib.file_digest`), so memory stays flat
whatever its size; nothing is precomputed nor cached on the server: the listing and the
JSON listing only offer the link (`listing_view.py`, `listing.py`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote

from app import safefs
from app.errors import HTTPError
from app.framing import Response
from app.paths import checked_path
from app.permissions import require
from app.request import Request
from app.settings import Settings

ALGORITHMS = ("sha256", "sha1", "md5")


def requested_algorithm(query: str) -> str | None:
    """The algorithm `?hash=` names, None without `hash`; ValueError for another one."""
    values = [value for key, value in parse_qsl(query, keep_blank_values=True) if key == "hash"]
    if not values:
        return None
    if len(values) > 1 or values[0] not in ALGORITHMS:
        raise ValueError(f"?hash= takes one of {', '.join(ALGORITHMS)}")
    return values[0]


def digest_response(request: Request, settings: Settings, subpath: str, algorithm: str) -> Response:
    """200 with the hex digest of the file `/files/{subpath}` and a newline."""
    checked_path(settings.directory, subpath)  # 400 for a name no request may use
    name = unquote(subpath)
    require(request, settings, name, "r")
    try:
        hexdigest = file_hexdigest(settings.directory, name.split("/"), algorithm)
    except safefs.Refused as refusal:
        raise HTTPError(refusal.status, str(refusal)) from None
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise HTTPError(404, f"no file named {name}") from None
    except PermissionError:
        raise HTTPError(403, f"permission denied reading {name}") from None
    headers = [("Content-Type", "text/plain"), ("Cache-Control", "no-store")]
    return Response(200, headers, (hexdigest + "\n").encode("ascii"))


def file_hexdigest(root: Path, segments: list[str], algorithm: str) -> str:
    """The digest of the regular file `segments` under `root`, opened through the
    symlink-safe walk and read in pieces (flat memory); a folder is IsADirectoryError."""
    import hashlib  # here: OpenSSL's libcrypto stays out of a plain start

    with open(safefs.open_file(root, segments), "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()
