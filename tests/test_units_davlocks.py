"""Unit tables for the pure parts of WebDAV class 2 (`app/davlocks.py`): the Timeout,
Depth and Lock-Token fields of LOCK and UNLOCK (RFC 4918 §10.7, §9.10.3, §10.5), the
scope of a lock (§6.1, §7.4), which locks a write must hold the tokens of, which locks
conflict, and the tokens the server makes."""

from __future__ import annotations

import re

import pytest

from app.davlocks import (
    Lock,
    covers,
    is_inside,
    like_pattern,
    new_token,
    parse_lock_depth,
    parse_lock_token,
    parse_timeout,
    protecting_locks,
    refuse_conflicts,
    ConditionError,
)

CAP = 3600

# (id, the Timeout field lines, the seconds granted with a cap of 3600)
TIMEOUTS = [
    ("absent", [], CAP),
    ("seconds", ["Second-100"], 100),
    ("any-case", ["second-100"], 100),
    ("upper-case", ["SECOND-100"], 100),
    ("capped", ["Second-86400"], CAP),
    ("infinite", ["Infinite"], CAP),
    ("infinite-any-case", ["infinite"], CAP),
    ("first-is-preferred", ["Second-60, Infinite"], 60),
    ("infinite-first", ["Infinite, Second-4100000000"], CAP),  # cadaver and litmus ask this
    ("spaces-around", ["  Second-30 ,Second-20 "], 30),
    ("two-field-lines", ["Second-40", "Second-50"], 40),
    ("zero-is-one-second", ["Second-0"], 1),
    ("largest-allowed", ["Second-4294967295"], CAP),
    ("empty-elements-skipped", [", Second-10"], 10),
    ("empty-value", [""], CAP),
]

# (id, Timeout field lines outside the grammar)
BAD_TIMEOUTS = [
    ("word", ["forever"]),
    ("no-number", ["Second-"]),
    ("negative", ["Second--1"]),
    ("fraction", ["Second-1.5"]),
    ("space-inside", ["Second- 10"]),
    ("over-2^32-1", ["Second-4294967296"]),
    ("eleven-digits", ["Second-10000000000"]),
    ("bad-second-element", ["Second-10, never"]),
    ("infinity-is-not-infinite", ["Infinity"]),
]


@pytest.mark.parametrize("values, expected", [case[1:] for case in TIMEOUTS], ids=[case[0] for case in TIMEOUTS])
def test_timeouts(values: list[str], expected: int) -> None:
    assert parse_timeout(values, CAP) == expected


@pytest.mark.parametrize("values", [case[1] for case in BAD_TIMEOUTS], ids=[case[0] for case in BAD_TIMEOUTS])
def test_bad_timeouts(values: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_timeout(values, CAP)


@pytest.mark.parametrize(
    "value, expected",
    [(None, "infinity"), ("0", "0"), ("infinity", "infinity"), ("Infinity", "infinity"), (" 0 ", "0")],
)
def test_lock_depths(value: str | None, expected: str) -> None:
    assert parse_lock_depth(value) == expected


@pytest.mark.parametrize("value", ["1", "", "2", "infinite", "0,1"])
def test_bad_lock_depths(value: str) -> None:
    with pytest.raises(ValueError):
        parse_lock_depth(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<urn:uuid:1f0e-2b>", "urn:uuid:1f0e-2b"),
        (" <opaquelocktoken:e71d4fae-5dec> ", "opaquelocktoken:e71d4fae-5dec"),
        ("<DAV:no-lock>", "DAV:no-lock"),
    ],
)
def test_lock_tokens(value: str, expected: str) -> None:
    assert parse_lock_token(value) == expected


@pytest.mark.parametrize("value", [None, "", "urn:uuid:1", "<>", "<no-scheme>", "<urn:a b>", "<urn:a><urn:b>", "(<urn:a>)"])
def test_bad_lock_tokens(value: str | None) -> None:
    with pytest.raises(ValueError):
        parse_lock_token(value)


def lock(root: str, depth: str = "infinity", scope: str = "exclusive", token: str = "") -> Lock:
    return Lock(token or f"urn:uuid:{root}-{depth}-{scope}", root, 1, depth, scope, None, "", 60, 0.0)


# (id, the lock, a path, whether the path is in the lock's scope)
SCOPES = [
    ("the-root-itself", lock("a", "0"), "a", True),
    ("depth-0-not-a-member", lock("a", "0"), "a/b", False),
    ("infinity-a-member", lock("a"), "a/b", True),
    ("infinity-deep-member", lock("a"), "a/b/c/d", True),
    ("a-name-that-starts-alike", lock("a"), "ab", False),
    ("the-parent", lock("a/b"), "a", False),
    ("folder-itself-infinity", lock(""), "x/y", True),
    ("folder-itself-depth-0", lock("", "0"), "x", False),
    ("folder-itself-depth-0-root", lock("", "0"), "", True),
]


@pytest.mark.parametrize("held, path, expected", [case[1:] for case in SCOPES], ids=[case[0] for case in SCOPES])
def test_scopes(held: Lock, path: str, expected: bool) -> None:
    assert covers(held, path) is expected


def test_is_inside_is_strict() -> None:
    assert is_inside("a/b", "a") and is_inside("a", "") and not is_inside("a", "a") and not is_inside("", "")


# (id, locks held, path, what the request does to it, the roots whose tokens it needs)
PROTECTED = [
    ("change-a-locked-file", [lock("d/f", "0")], "d/f", "change", {"d/f"}),
    ("change-in-an-infinity-folder", [lock("d")], "d/f", "change", {"d"}),
    ("depth-0-folder-not-its-member-content", [lock("d", "0")], "d/f", "change", set()),
    ("depth-0-folder-new-member", [lock("d", "0")], "d/new", "create", {"d"}),
    ("depth-0-folder-member-removed", [lock("d", "0")], "d/f", "remove", {"d"}),
    ("depth-0-grandparent-not", [lock("d", "0")], "d/e/new", "create", set()),
    ("remove-a-folder-holding-a-lock", [lock("d/e/f", "0")], "d", "remove", {"d/e/f"}),
    ("replace-a-folder-holding-a-lock", [lock("d/e/f", "0")], "d", "replace", {"d/e/f"}),
    ("change-a-folder-not-its-locked-members", [lock("d/e/f", "0")], "d", "change", set()),
    ("unrelated", [lock("x"), lock("y", "0")], "d/f", "remove", set()),
    ("several", [lock("d"), lock("d/f", "0", "shared"), lock("", "0")], "d/f", "change", {"d", "d/f"}),
    ("top-level-created-in-a-locked-root", [lock("", "0")], "new", "create", {""}),
]


@pytest.mark.parametrize("held, path, kind, expected", [c[1:] for c in PROTECTED], ids=[c[0] for c in PROTECTED])
def test_protecting_locks(held: list[Lock], path: str, kind: str, expected: set[str]) -> None:
    assert {found.root for found in protecting_locks(held, path, kind)} == expected


# (id, locks held, the lock asked for, whether it is refused with 423)
CONFLICTS = [
    ("exclusive-on-exclusive", [lock("f", "0")], lock("f", "0"), True),
    ("shared-on-exclusive", [lock("f", "0")], lock("f", "0", "shared"), True),
    ("exclusive-on-shared", [lock("f", "0", "shared")], lock("f", "0"), True),
    ("shared-on-shared", [lock("f", "0", "shared")], lock("f", "0", "shared"), False),
    ("inside-an-infinity-lock", [lock("d")], lock("d/f", "0"), True),
    ("inside-a-depth-0-lock", [lock("d", "0")], lock("d/f", "0"), False),
    ("infinity-over-a-locked-member", [lock("d/e/f", "0")], lock("d"), True),
    ("depth-0-over-a-locked-member", [lock("d/e/f", "0")], lock("d", "0"), False),
    ("siblings", [lock("d/a")], lock("d/b"), False),
]


@pytest.mark.parametrize("held, wanted, refused", [c[1:] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS])
def test_conflicts(held: list[Lock], wanted: Lock, refused: bool) -> None:
    if refused:
        with pytest.raises(ConditionError) as caught:
            refuse_conflicts(held, wanted)
        assert caught.value.condition == "no-conflicting-lock"
        # §9.10.9: a folder whose members alone are in the way gets a 207 naming them.
        below = all(not covers(lock, wanted.root) for lock in held)
        assert (caught.value.status, bool(caught.value.failed)) == ((207, True) if below else (423, False))
    else:
        refuse_conflicts(held, wanted)


@pytest.mark.parametrize(
    "folder, expected",
    [("", "_%"), ("a", "a/%"), ("50%_off", "50\\%\\_off/%"), ("back\\slash", "back\\\\slash/%")],
)
def test_like_patterns(folder: str, expected: str) -> None:
    assert like_pattern(folder) == expected


def test_tokens_are_unique_version_4_uuid_urns() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    pattern = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert all(pattern.fullmatch(token) for token in tokens)
