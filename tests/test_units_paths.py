"""Unit table for `resolve_under()`: a percent-encoded name from a request target and a
root folder in, the name's segments under the root (a `safefs.ServedPath`) or `ValueError`
with the reason out. Symlinks are the walk's, checked at each use: their table is in
tests/test_units_safefs.py. The same spellings reach both through the real server in
tests/test_path_safety.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.paths import resolve_under
from app.safefs import ServedPath

# (id, encoded name, the path expected under the root, as segments)
ACCEPTED = [
    ("plain", "a.txt", ("a.txt",)),
    ("in-a-folder", "sub/a.txt", ("sub", "a.txt")),
    ("not-there-yet", "new/folder/b.bin", ("new", "folder", "b.bin")),
    ("space", "a%20b.txt", ("a b.txt",)),
    ("utf-8", "caf%C3%A9.txt", ("café.txt",)),
    ("percent-that-is-not-a-separator", "100%25cool.txt", ("100%cool.txt",)),
    ("undecodable-escape-stays", "100%cool.txt", ("100%cool.txt",)),
    ("dots-inside-a-name", "a..b", ("a..b",)),
    ("dot-file", ".hidden", (".hidden",)),
    ("symlink-that-stays-inside", "link-inside", ("link-inside",)),
    ("name-of-255-bytes", "n" * 255, ("n" * 255,)),
]

# (id, encoded name, the reason of the refusal)
REFUSED = [
    ("empty", "", "missing file name"),
    ("dot-dot", "../secret", "file name must not contain empty, '.' or '..' segments"),
    ("dot-dot-after-a-folder", "sub/../../secret", "file name must not contain empty, '.' or '..' segments"),
    ("encoded-dot-dot", "%2e%2e/secret", "file name must not contain empty, '.' or '..' segments"),
    ("dot", "./a.txt", "file name must not contain empty, '.' or '..' segments"),
    ("empty-segment", "sub//a.txt", "file name must not contain empty, '.' or '..' segments"),
    ("trailing-slash", "sub/", "file name must not contain empty, '.' or '..' segments"),
    ("encoded-slash", "..%2fsecret", "file name must not contain an encoded '/' or '\\' (%2F, %5C)"),
    ("encoded-slash-upper", "..%2Fsecret", "file name must not contain an encoded '/' or '\\' (%2F, %5C)"),
    ("encoded-backslash", "..%5Csecret", "file name must not contain an encoded '/' or '\\' (%2F, %5C)"),
    ("double-encoded-dot", "%252e%252e/secret", "file name is percent-encoded twice"),
    ("double-encoded-slash", "..%252fsecret", "file name is percent-encoded twice"),
    ("double-encoded-nul", "a%2500", "file name is percent-encoded twice"),
    ("backslash", "..\\secret", "file name must not contain NUL or backslash"),
    ("nul", "a.txt%00.png", "file name must not contain NUL or backslash"),
    ("absolute", "/etc/passwd", "file name must be relative, not absolute"),
    ("not-utf-8", "%ff", "file name is not valid UTF-8 once percent-decoded"),
    ("name-of-256-bytes", "n" * 256, "file name longer than 255 bytes"),
    ("256-bytes-in-utf-8", "%C3%A9" * 128, "file name longer than 255 bytes"),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with a secret beside it, symlinks out of it, a loop and one that stays in."""
    (tmp_path / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "inside.txt").write_bytes(b"inside")
    os.symlink(tmp_path / "secret", root / "link-to-secret")
    os.symlink(tmp_path, root / "link-to-parent")
    os.symlink(root / "loop", root / "loop")
    os.symlink(root / "inside.txt", root / "link-inside")
    return root


@pytest.mark.parametrize("name, segments", [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_accepted_names(root: Path, name: str, segments: tuple[str, ...]) -> None:
    assert resolve_under(root, name) == ServedPath(root, segments)


@pytest.mark.parametrize("name, reason", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_names(root: Path, name: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        resolve_under(root, name)
    assert str(refused.value) == reason
