"""The server's durable state: one SQLite database, through the standard library's sqlite3.

WebDAV dead properties and locks, tus uploads in progress, share links and the password
lock-out counts all live here, each feature in tables of its own that its module declares
with `declare()`. One database file serves every `--workers` process and every instance
on the host that names the same `--state-dir`, and it survives a restart:

- WAL journal mode: readers never block the one writer, and a process killed mid-write
  leaves the database as it was before that transaction (SQLite's atomic commit);
- `synchronous=FULL`: a committed change is on disk before `transaction()` returns, so a
  tus offset acknowledged to a client is never lost;
- one transaction per change (`transaction()`), `BEGIN IMMEDIATE` so two processes
  racing on one row serialise instead of failing half-way;
- a busy timeout: another process holding the write lock makes us wait, not fail.

The database is opened on first use, so a launch that never needs state (a plain launch,
the challenge) never imports sqlite3 nor creates a file. Where it lives: `--state-dir`,
or else the hidden folder `STATE_DIR_NAME` under `--directory`, which no listing,
PROPFIND or archive shows and no request can reach (`is_state_name`). With neither, the
state is kept in memory, for this process alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    from app.settings import Settings

# The state folder's name under --directory. A dot name, so it is hidden like any dot file;
# `is_state_name` refuses it even with --show-hidden.
STATE_DIR_NAME = ".http-server-state"
DATABASE_NAME = "state.sqlite3"
# How long a process waits for another one's write lock before giving up (seconds).
BUSY_TIMEOUT = 10.0


def is_state_name(name: str) -> bool:
    """Whether a path component under --directory names the state folder (never served)."""
    return name == STATE_DIR_NAME


def state_directory(settings: Settings) -> Path | None:
    """Where the database lives: --state-dir, else the hidden folder under --directory."""
    if settings.state_dir is not None:
        return settings.state_dir
    if settings.directory is not None:
        return settings.directory / STATE_DIR_NAME
    return None


class StateDatabase:
    """One sqlite3 connection shared by the threads of this process, under a lock.

    SQLite serialises writers anyway; one connection per process keeps a thread-per-
    connection server from opening a database handle per client."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.lock = threading.RLock()
        self.connection: sqlite3.Connection | None = None
        self.pid = 0
        self.declared: set[str] = set()

    def connect(self) -> sqlite3.Connection:
        # A forked worker must not use its parent's connection (SQLite forbids it).
        if self.connection is None or self.pid != os.getpid():
            self.connection = open_database(self.folder)
            self.pid = os.getpid()
            self.declared = set()
        return self.connection

    def declare(self, name: str, schema: str) -> None:
        """Create a feature's tables once per process (`CREATE TABLE IF NOT EXISTS ...`)."""
        with self.lock:
            connection = self.connect()
            if name not in self.declared:
                with connection:
                    connection.executescript(schema)
                self.declared.add(name)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One change, all or nothing, committed to disk when the block ends."""
        with self.lock:
            connection = self.connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read."""
        with self.lock:
            return self.connect().execute(sql, parameters).fetchall()


def open_database(folder: Path | None) -> sqlite3.Connection:
    import sqlite3  # here, so a launch that needs no state never loads it

    if folder is None:
        connection = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    else:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / DATABASE_NAME
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


# One database per folder and process, opened on first use.
_databases: dict[Path | None, StateDatabase] = {}
_databases_lock = threading.Lock()


def state_for(settings: Settings) -> StateDatabase:
    """The state database of these settings (the same object for every request)."""
    folder = state_directory(settings)
    with _databases_lock:
        database = _databases.get(folder)
        if database is None:
            database = _databases[folder] = StateDatabase(folder)
        return database
