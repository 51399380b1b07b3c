"""What SIGHUP does: reopen `--access-log FILE` (logrotate renamed it) and read
`--access-file` again (the rules changed). `main.py` installs `on_hangup()` in the server
process, `workers.py` in each worker (the supervisor passes the signal on).

A Python signal handler runs in the main thread between two bytecodes, so it may take
the time to read a small file; the access log is only asked to reopen, by its flusher
thread, which holds the file's lock.
"""

from __future__ import annotations

from app import accesslog, permissions
from app.settings import Settings


def wanted(settings: Settings) -> bool:
    """Whether SIGHUP means anything to this server."""
    return settings.access_log is not None or settings.access_file is not None


def on_hangup(settings: Settings) -> None:
    if accesslog.active_log is not None and accesslog.active_log.path is not None:
        accesslog.active_log.reopen_soon()
    permissions.reload_access_file(settings)
