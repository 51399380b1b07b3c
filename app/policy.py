"""The write policy: whether this server lets clients change files under `--directory`.

Every route that writes (`POST`/`PUT`/`DELETE /files/...`, and any later one) asks
`write_refusal()` through `files.writable_path()`, so the rule lives in one place.
"""

from __future__ import annotations

from app.settings import Settings


def write_refusal(settings: Settings) -> str | None:
    """Why this server refuses writes (a one-line reason naming the option to change),
    or None when writes are allowed."""
    if settings.directory is None:
        return "uploads are off: start the server with --directory DIR to enable them"
    return None
