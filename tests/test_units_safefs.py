"""Unit tables for `app/safefs.py`, the descriptor walk: which names it follows to what,
which it refuses and why, and each operation on a real temporary tree. The race itself
(a folder swapped for a symlink while requests run) is tests/test_symlink_swap.py."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from app import safefs
from app.state import STATE_DIR_NAME

SECRET = b"outside"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with a secret beside it and every kind of link: out, in, relative, up, loop."""
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "secret").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "inside.txt").write_bytes(b"inside")
    (root / "sub" / "deep" / "f.txt").write_bytes(b"deep")
    (root / STATE_DIR_NAME).mkdir()
    (root / STATE_DIR_NAME / "state.sqlite3").write_bytes(b"db")
    links = {
        "link-to-secret": tmp_path / "secret",
        "link-to-parent": tmp_path,
        "link-to-outdir": tmp_path / "outdir",
        "loop": "loop",
        "ping": "pong",
        "pong": "ping",
        "abs-inside": root / "inside.txt",
        "abs-sub": root / "sub",
        "rel-sub": "sub",
        "dangling": "nothing-here",
        "rel-out": "../secret",
        "to-state": STATE_DIR_NAME,
        "sub/up": "..",
        "sub/rel-inside": "../inside.txt",
        "sub/deep/up-two": "../..",
        "sub/deep/too-far": "../../../secret",
        "sub/link-dot": ".",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    return root


# (id, segments, the bytes read)
READS = [
    ("plain", ("inside.txt",), b"inside"),
    ("in-a-folder", ("sub", "deep", "f.txt"), b"deep"),
    ("absolute-link-inside", ("abs-inside",), b"inside"),
    ("absolute-link-to-a-folder-inside", ("abs-sub", "deep", "f.txt"), b"deep"),
    ("relative-link-to-a-folder", ("rel-sub", "deep", "f.txt"), b"deep"),
    ("link-up-to-the-root", ("sub", "up", "inside.txt"), b"inside"),
    ("relative-link-with-dot-dot", ("sub", "rel-inside"), b"inside"),
    ("link-two-up", ("sub", "deep", "up-two", "inside.txt"), b"inside"),
    ("link-to-dot", ("sub", "link-dot", "deep", "f.txt"), b"deep"),
]

OUTSIDE = (safefs.Refused, "file name leads outside the served directory")
LOOP = (safefs.Refused, "file name cannot be resolved (symlink loop?)")
STATE = (safefs.Refused, f"{STATE_DIR_NAME} is the server's state folder and is never served")

# (id, segments, the exception, its message or None)
REFUSED = [
    ("link-to-a-file-outside", ("link-to-secret",), *OUTSIDE),
    ("link-to-the-parent", ("link-to-parent", "secret"), *OUTSIDE),
    ("link-to-a-folder-outside", ("link-to-outdir", "secret"), *OUTSIDE),
    ("relative-link-out", ("rel-out",), *OUTSIDE),
    ("dot-dot-past-the-root", ("sub", "deep", "too-far"), *OUTSIDE),
    ("self-loop", ("loop",), *LOOP),
    ("two-link-loop", ("ping",), *LOOP),
    ("the-state-folder", (STATE_DIR_NAME, "state.sqlite3"), *STATE),
    ("a-link-to-the-state-folder", ("to-state", "state.sqlite3"), *STATE),
    ("the-state-folder-through-dot-dot", ("sub", "up", STATE_DIR_NAME, "state.sqlite3"), *STATE),
    ("missing", ("nothing",), FileNotFoundError, None),
    ("dangling-link", ("dangling",), FileNotFoundError, None),
    ("a-file-as-a-folder", ("inside.txt", "x"), NotADirectoryError, None),
    ("a-folder", ("sub",), IsADirectoryError, None),
    ("the-root", (), IsADirectoryError, None),
]


@pytest.mark.parametrize("segments, content", [case[1:] for case in READS], ids=[case[0] for case in READS])
def test_open_file_follows_links_that_stay_inside(root: Path, segments, content: bytes) -> None:
    descriptor = safefs.open_file(root, segments)
    try:
        assert os.read(descriptor, 100) == content
    finally:
        os.close(descriptor)


@pytest.mark.parametrize(
    "segments, error, message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_open_file_refuses(root: Path, segments, error: type[Exception], message: str | None) -> None:
    with pytest.raises(error) as raised:
        safefs.open_file(root, segments)
    if message is not None:
        assert raised.value.reason == message


def test_refusals_carry_a_status(root: Path) -> None:
    with pytest.raises(safefs.Refused) as outside:
        safefs.stat(root, ("link-to-secret",))
    with pytest.raises(safefs.Refused) as state:
        safefs.stat(root, (STATE_DIR_NAME,))
    assert (outside.value.status, state.value.status) == (400, 403)


def test_no_descriptor_is_left_open(root: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        for case in REFUSED:
            with pytest.raises(case[2]):
                safefs.open_file(root, case[1])
        safefs.stat(root, ("sub", "up", "abs-sub", "deep", "f.txt"))
    assert len(os.listdir("/proc/self/fd")) == before


def test_stat_follows_or_not(root: Path) -> None:
    assert safefs.stat(root, ("abs-inside",)).st_size == len(b"inside")
    assert os.path.stat.S_ISLNK(safefs.stat(root, ("abs-inside",), follow=False).st_mode)
    assert os.path.stat.S_ISDIR(safefs.stat(root, ()).st_mode)


def test_entries_leave_out_links_and_the_state_folder(root: Path) -> None:
    assert sorted(entry.name for entry in safefs.entries(root, ())) == ["inside.txt", "sub"]
    assert sorted((e.name, e.is_dir) for e in safefs.entries(root, ("sub",))) == [("deep", True)]


def test_tree_walks_by_descriptors(root: Path) -> None:
    with safefs.open_folder(root, ()) as folder:
        found = [(entry.path, entry.is_dir) for entry in safefs.tree(folder)]
    assert found == [("inside.txt", False), ("sub/", True), ("sub/deep/", True), ("sub/deep/f.txt", False)]
    with safefs.open_folder(root, ("sub",)) as folder:
        contents = []
        for entry in safefs.tree(folder):  # an entry's descriptor is valid until the next
            if not entry.is_dir:
                descriptor = safefs.open_entry(entry)
                contents.append((entry.path, os.read(descriptor, 10)))
                os.close(descriptor)
    assert contents == [("deep/f.txt", b"deep")]


def test_write_atomically_creates_folders_and_leaves_no_temporary_file(root: Path) -> None:
    safefs.write_atomically(root, ("new", "folder", "a.txt"), [b"one", b"two"])
    assert (root / "new" / "folder" / "a.txt").read_bytes() == b"onetwo"
    assert os.listdir(root / "new" / "folder") == ["a.txt"]


def test_write_atomically_failing_leaves_the_old_file(root: Path) -> None:
    def chunks():
        yield b"half"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        safefs.write_atomically(root, ("inside.txt",), chunks())
    assert (root / "inside.txt").read_bytes() == b"inside"
    assert not [name for name in os.listdir(root) if name.endswith(".part")]


def test_writes_replace_a_link_never_write_through_it(root: Path, tmp_path: Path) -> None:
    safefs.write_atomically(root, ("abs-inside",), [b"new"])
    assert not (root / "abs-inside").is_symlink()
    assert (root / "inside.txt").read_bytes() == b"inside"
    with pytest.raises(safefs.Refused):
        safefs.write_atomically(root, ("link-to-secret",), [b"new"])
    with pytest.raises(safefs.Refused):
        safefs.write_atomically(root, ("link-to-outdir", "x.txt"), [b"new"])
    assert (tmp_path / "secret").read_bytes() == SECRET
    assert os.listdir(tmp_path / "outdir") == ["secret"]


def test_unlink_removes_the_link_itself(root: Path, tmp_path: Path) -> None:
    safefs.unlink(root, ("abs-inside",))
    assert not (root / "abs-inside").exists() and (root / "inside.txt").exists()
    with pytest.raises(safefs.Refused):
        safefs.unlink(root, ("link-to-outdir", "secret"))
    assert (tmp_path / "outdir" / "secret").read_bytes() == SECRET


def test_mkdir_rmdir_remove(root: Path) -> None:
    safefs.mkdir(root, ("made",))
    with pytest.raises(FileExistsError):
        safefs.mkdir(root, ("made",))
    with pytest.raises(FileNotFoundError):
        safefs.mkdir(root, ("no", "parent"))
    safefs.mkdir(root, ("a", "b", "c"), parents=True)
    with pytest.raises(OSError) as full:
        safefs.rmdir(root, ("a",))
    assert full.value.errno == errno.ENOTEMPTY
    safefs.rmdir(root, ("made",))
    safefs.remove(root, ("a", "b", "c"))
    safefs.remove(root, ("inside.txt",))
    assert not (root / "made").exists() and not (root / "a" / "b" / "c").exists()
    assert not (root / "inside.txt").exists()


def test_rename_within_the_root(root: Path) -> None:
    assert safefs.rename(root, ("inside.txt",), ("sub", "moved.txt")) is False
    (root / "other.txt").write_bytes(b"other")
    with pytest.raises(FileExistsError):
        safefs.rename(root, ("other.txt",), ("sub", "moved.txt"), replace=False)
    assert safefs.rename(root, ("other.txt",), ("sub", "moved.txt")) is True
    assert (root / "sub" / "moved.txt").read_bytes() == b"other"
    with pytest.raises(safefs.Refused):
        safefs.rename(root, ("sub", "moved.txt"), ("link-to-outdir", "moved.txt"))


def test_copy_and_remove_tree(root: Path) -> None:
    safefs.copy_tree(root, ("sub",), ("copy",))
    assert (root / "copy" / "deep" / "f.txt").read_bytes() == b"deep"
    assert not (root / "copy" / "up").exists()  # links are not copied
    safefs.remove_tree(root, ("copy",))
    assert not (root / "copy").exists()
    safefs.remove_tree(root, ("sub",))  # its links are removed, not followed
    assert not (root / "sub").exists() and (root / "inside.txt").exists()


def test_create_append_utime(root: Path) -> None:
    descriptor = safefs.create_file(root, ("upload.bin",))
    os.close(descriptor)
    with pytest.raises(FileExistsError):
        safefs.create_file(root, ("upload.bin",))
    for piece in (b"ab", b"cd"):
        descriptor = safefs.open_for_append(root, ("upload.bin",))
        os.write(descriptor, piece)
        os.close(descriptor)
    assert (root / "upload.bin").read_bytes() == b"abcd"
    with pytest.raises(OSError):
        safefs.open_for_append(root, ("abs-inside",))  # a link: never written through
    safefs.utime(root, ("upload.bin",), ns=(10**18, 10**18))
    assert (root / "upload.bin").stat().st_mtime_ns == 10**18


def test_served_path_walks_on_each_use(root: Path) -> None:
    served = safefs.ServedPath(root, ("abs-sub", "deep", "f.txt"))
    assert (served.name, served.is_file(), served.is_dir(), served.exists()) == ("f.txt", True, False, True)
    assert served.read_bytes() == b"deep"
    assert not safefs.ServedPath(root, ("nothing",)).exists()
    with pytest.raises(safefs.Refused):
        safefs.ServedPath(root, ("link-to-outdir", "secret")).is_file()
    assert not hasattr(served, "__fspath__")  # never a path string
