"""The lock-out: a client address that keeps sending wrong passwords is refused for a while.

After `attempts` failed logins from one address within `window` seconds, every request
of that address that needs a password is answered `429 Too Many Requests` with
`Retry-After` (RFC 6585 §4) for `duration` seconds, without its password being checked.
Right passwords are refused too while it lasts: if they were let through, the 429
itself would tell a guesser which guess was right, and the lock-out would slow nothing.
Successful logins never count, so a browser fetching a page's fifty files with the right
password is never locked out; requests that need no password (reads under
`--auth-writes-only`) are never refused. Wrong passwords of share links count too.

The record lives in the state database (`state.py`, tables `login_failures` and
`login_lockouts`), so every worker of `--workers` and every instance on the host given
the same `--state-dir` (or `--directory`) counts the same failures: an attacker gets one
allowance, not one per process. Times are wall-clock seconds (`time.time()`), the one
clock all processes share. Only failures within the window are kept, for at most
`max_clients` addresses, so a flood of addresses cannot grow the table without bound.
Without a state folder (no `--directory`, no `--state-dir`) the database is in this
process's memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.settings import Limits

if TYPE_CHECKING:
    from app.state import StateDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    client TEXT NOT NULL,  -- the client's address (forwarded.py behind a trusted proxy)
    at REAL NOT NULL       -- Unix time of the failed login
);
CREATE INDEX IF NOT EXISTS login_failures_by_client ON login_failures (client, at);
CREATE TABLE IF NOT EXISTS login_lockouts (
    client TEXT PRIMARY KEY,
    until REAL NOT NULL    -- Unix time the lock-out ends
);
"""


class Lockout:
    """Failed logins per client address, and the addresses locked out until when, in
    the state database."""

    def __init__(
        self,
        database: StateDatabase,
        attempts: int,
        window: float,
        duration: float,
        max_clients: int = Limits.max_lockout_clients,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.attempts, self.window, self.duration = attempts, window, duration
        self.max_clients = max_clients
        self.clock = clock
        database.declare("login_failures", SCHEMA)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try again, or None if it is not locked out."""
        rows = self.database.query("SELECT until FROM login_lockouts WHERE client = ?", (client,))
        remaining = rows[0][0] - self.clock() if rows else 0
        return max(1, math.ceil(remaining)) if remaining > 0 else None

    def failed(self, client: str) -> None:
        """Count one failed login; lock the client out at the `attempts`-th in `window`.
        One transaction: two processes counting at once serialise (BEGIN IMMEDIATE)."""
        now = self.clock()
        with self.database.transaction() as connection:
            connection.execute("DELETE FROM login_failures WHERE at <= ?", (now - self.window,))
            connection.execute("DELETE FROM login_lockouts WHERE until <= ?", (now,))
            connection.execute("INSERT INTO login_failures (client, at) VALUES (?, ?)", (client, now))
            (count,) = connection.execute("SELECT COUNT(*) FROM login_failures WHERE client = ?", (client,)).fetchone()
            if count >= self.attempts:
                connection.execute("INSERT OR REPLACE INTO login_lockouts VALUES (?, ?)", (client, now + self.duration))
                connection.execute("DELETE FROM login_failures WHERE client = ?", (client,))
            forget_least_recent(connection, self.max_clients)

    def clients(self) -> int:
        """How many addresses have failures on record."""
        return self.database.query("SELECT COUNT(DISTINCT client) FROM login_failures")[0][0]


def forget_least_recent(connection, max_clients: int) -> None:  # connection: sqlite3.Connection
    """Keep the failures of the `max_clients` addresses that failed last."""
    (clients,) = connection.execute("SELECT COUNT(DISTINCT client) FROM login_failures").fetchone()
    if clients > max_clients:
        connection.execute(
            "DELETE FROM login_failures WHERE client IN (SELECT client FROM login_failures GROUP BY client "
            "ORDER BY MAX(at), client LIMIT ?)",
            (clients - max_clients,),
        )
