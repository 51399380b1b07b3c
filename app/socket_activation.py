"""Socket activation: the listening socket handed over by systemd (`LISTEN_FDS`).

With `deploy/http-server.socket`, systemd opens the port itself and starts the server
with that socket as file descriptor 3, naming the process it meant in `LISTEN_PID` and
the count in `LISTEN_FDS` (sd_listen_fds(3)). The socket outlives the server: while the
server restarts, new connections wait in the kernel's queue instead of being refused,
so a restart drops none. `main.py` asks `inherited_listener()` before opening a port.
"""

from __future__ import annotations

import os
import socket

# sd_listen_fds(3): "file descriptors passed start at SD_LISTEN_FDS_START, i.e. 3".
SD_LISTEN_FDS_START = 3


def inherited_listener() -> socket.socket | None:
    """The listening socket systemd passed to this process, or None when none was.
    The variables are removed either way, so that a process we start does not take
    them for its own (as sd_listen_fds(unset_environment=1) does)."""
    meant_for = os.environ.pop("LISTEN_PID", "")
    count = os.environ.pop("LISTEN_FDS", "")
    os.environ.pop("LISTEN_FDNAMES", None)
    if meant_for != str(os.getpid()) or not count.isdigit() or int(count) < 1:
        return None
    listener = socket.socket(fileno=SD_LISTEN_FDS_START)
    if listener.type != socket.SOCK_STREAM:
        listener.detach()
        raise OSError(0, "the socket passed by systemd (LISTEN_FDS) is not a stream socket")
    os.set_inheritable(listener.fileno(), False)
    return listener
