"""The lock-out: a client address that keeps sending wrong passwords is refused for a while.

After `attempts` failed logins from one address within `window` seconds, every request
of that address that needs a password is answered `429 Too Many Requests` with
`Retry-After` (RFC 6585 §4) for `duration` seconds, without its password being checked.
Right passwords are refused too while it lasts: if they were let through, the 429
itself would tell a guesser which guess was right, and the lock-out would slow nothing.
Successful logins never count, so a browser fetching a page's fifty files with the right
password is never locked out; requests that need no password (reads under
`--auth-writes-only`) are never refused.

The record lives in this process's memory: a restart forgets it, and each worker of
`--workers` keeps its own. It holds at most `max_clients` addresses, so a flood of
addresses cannot grow it without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from app.settings import Limits


class Lockout:
    """Failed logins per client address, and the addresses locked out until when."""

    def __init__(
        self,
        attempts: int,
        window: float,
        duration: float,
        max_clients: int = Limits.max_lockout_clients,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts, self.window, self.duration = attempts, window, duration
        self.max_clients = max_clients
        self.clock = clock
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.locked_until: dict[str, float] = {}
        self.lock = threading.Lock()  # connection threads share one record

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try again, or None if it is not locked out."""
        with self.lock:
            until = self.locked_until.get(client)
            if until is None:
                return None
            remaining = until - self.clock()
            if remaining <= 0:
                del self.locked_until[client]
                return None
            return max(1, math.ceil(remaining))

    def failed(self, client: str) -> None:
        """Count one failed login; lock the client out at the `attempts`-th in `window`."""
        now = self.clock()
        with self.lock:
            times = self.failures.pop(client, None) or deque()
            self.failures[client] = times  # now the most recent client
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.attempts:
                self.locked_until[client] = now + self.duration
                del self.failures[client]
            while len(self.failures) > self.max_clients:
                self.failures.popitem(last=False)  # forget the least recent client
            if len(self.locked_until) > self.max_clients:
                self.locked_until = {c: t for c, t in self.locked_until.items() if t > now}
