"""The state database (app/state.py): where it lives, one transaction per change, shared
by processes, and never reachable by a request name."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from app.settings import Settings
from app.state import STATE_DIR_NAME, StateDatabase, is_state_name, state_directory, state_for

SCHEMA = "CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"


@pytest.mark.parametrize(
    "directory, state_dir, expected",
    [
        (None, None, None),
        ("/srv/share", None, f"/srv/share/{STATE_DIR_NAME}"),
        ("/srv/share", "/var/lib/http", "/var/lib/http"),
        (None, "/var/lib/http", "/var/lib/http"),
    ],
)
def test_state_directory(directory: str | None, state_dir: str | None, expected: str | None) -> None:
    settings = Settings(
        directory=Path(directory) if directory else None, state_dir=Path(state_dir) if state_dir else None
    )
    assert state_directory(settings) == (Path(expected) if expected else None)


@pytest.mark.parametrize("name, expected", [(STATE_DIR_NAME, True), (".hidden", False), ("state.sqlite3", False)])
def test_is_state_name(name: str, expected: bool) -> None:
    assert is_state_name(name) is expected


def test_state_for_is_one_object_per_folder(tmp_path: Path) -> None:
    settings = Settings(directory=tmp_path)
    assert state_for(settings) is state_for(Settings(directory=tmp_path))
    assert state_for(settings) is not state_for(Settings(directory=tmp_path / "other"))


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    database = StateDatabase(tmp_path)
    database.declare("counter", SCHEMA)
    with database.transaction() as db:
        db.execute("INSERT INTO counter VALUES ('a', 1)")
    with pytest.raises(RuntimeError):
        with database.transaction() as db:
            db.execute("UPDATE counter SET value = 2 WHERE name = 'a'")
            raise RuntimeError("half-way")
    assert database.query("SELECT value FROM counter WHERE name = 'a'") == [(1,)]


def test_the_database_is_created_private_and_in_wal_mode(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    database = StateDatabase(folder)
    database.declare("counter", SCHEMA)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert database.query("PRAGMA journal_mode") == [("wal",)]


def add_many(folder: Path, count: int) -> None:
    database = StateDatabase(folder)
    database.declare("counter", SCHEMA)
    for _ in range(count):
        with database.transaction() as db:
            (value,) = db.execute("SELECT value FROM counter WHERE name = 'n'").fetchone()
            db.execute("UPDATE counter SET value = ? WHERE name = 'n'", (value + 1,))


def test_processes_sharing_one_folder_lose_no_update(tmp_path: Path) -> None:
    database = StateDatabase(tmp_path)
    database.declare("counter", SCHEMA)
    with database.transaction() as db:
        db.execute("INSERT INTO counter VALUES ('n', 0)")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=add_many, args=(tmp_path, 100)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert database.query("SELECT value FROM counter WHERE name = 'n'") == [(300,)]


def test_in_memory_without_a_folder() -> None:
    database = StateDatabase(None)
    database.declare("counter", SCHEMA)
    with database.transaction() as db:
        db.execute("INSERT INTO counter VALUES ('m', 7)")
    assert database.query("SELECT value FROM counter") == [(7,)]
