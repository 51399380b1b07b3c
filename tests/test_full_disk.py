"""A full disk (issue 23, part 2), on a real small file system: a 4 MiB tmpfs mounted for
the test (the tests run as root in CI and here). Where mounting is not allowed, the same
tests run with RLIMIT_FSIZE in the server's process instead (a write past 64 KiB fails
with EFBIG, which the server treats as a full disk): `SmallDisk.kind` says which ran, and
the run prints it.

Uploads by PUT, raw POST and a multipart form each hit ENOSPC: 507 with a one-line
reason, no temporary file left, the previous version intact; reads go on; once space is
freed, uploads are stored again. The access log in a file on the full disk drops its
lines, the server serves on, and one warning counts what was dropped.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_until

OLD = b"the previous version\n" * 100
BIG = b"x" * (512 * 1024)


@dataclass
class SmallDisk:
    path: Path
    kind: str  # "tmpfs" or "RLIMIT_FSIZE"

    def fill(self) -> None:
        """Take every free block (on the tmpfs) with a filler file."""
        if self.kind != "tmpfs":
            return
        filler = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for size in (65536, 4096, 1):  # big pieces, then the last few bytes
            try:
                while True:
                    os.write(filler, b"\0" * size)
            except OSError:
                pass
        os.close(filler)

    def free(self) -> None:
        if self.kind == "tmpfs":
            (self.path / "filler").unlink()

    def preexec(self) -> None:
        if self.kind == "RLIMIT_FSIZE":
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True
    ).returncode == 0
    print(f"full-disk tests on: {'a 4 MiB tmpfs' if mounted else 'RLIMIT_FSIZE (64 KiB)'}")
    yield SmallDisk(mount_point, "tmpfs" if mounted else "RLIMIT_FSIZE")
    if mounted:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".part"))


def test_uploads_on_a_full_disk_are_507_and_leave_the_old_version(start_server, disk: SmallDisk) -> None:
    (disk.path / "kept.bin").write_bytes(OLD)
    (disk.path / "sub").mkdir()
    server = start_server("--directory", str(disk.path), preexec_fn=disk.preexec)
    url = server.url + "/files/"
    disk.fill()
    attempts = {
        "PUT": lambda: requests.put(url + "kept.bin", data=BIG, timeout=30),
        "POST": lambda: requests.post(url + "kept.bin", data=BIG, timeout=30),
        "form": lambda: requests.post(url, files={"file": ("kept.bin", BIG)}, timeout=30),
        "PUT-in-a-new-folder": lambda: requests.put(url + "new/kept.bin", data=BIG, timeout=30),
    }
    for kind, attempt in attempts.items():
        response = attempt()
        assert (kind, response.status_code) == (kind, 507)
        assert response.reason == "Insufficient Storage"
        name = "new/kept.bin" if kind == "PUT-in-a-new-folder" else "kept.bin"
        assert response.text.startswith(f"not enough storage to save {name}"), response.text
        assert response.text.count("\n") == 1
        assert (disk.path / "kept.bin").read_bytes() == OLD
        assert leftovers(disk.path) == [] and leftovers(disk.path / "sub") == []
        # Reads go on while the disk is full.
        read = requests.get(url + "kept.bin", timeout=30)
        assert (read.status_code, read.content) == (200, OLD)
        assert requests.get(url, timeout=30).status_code == 200
    disk.free()
    stored = requests.put(url + "kept.bin", data=b"new" if disk.kind != "tmpfs" else BIG, timeout=30)
    assert stored.status_code == 204
    form = requests.post(url + "sub/", files={"file": ("f.bin", b"small")}, timeout=30)
    assert form.status_code == 201
    assert (disk.path / "sub" / "f.bin").read_bytes() == b"small"
    server.assert_answers()
    assert "Traceback" not in server.log


def test_an_access_log_on_a_full_disk_drops_lines_and_says_how_many(start_server, disk: SmallDisk) -> None:
    log_file = disk.path / "access.log"
    server = start_server("--directory", str(disk.path), "--access-log", str(log_file), preexec_fn=disk.preexec)
    assert requests.get(server.url + "/echo/first", timeout=10).status_code == 200
    assert wait_until(lambda: log_file.exists() and b"/echo/first" in log_file.read_bytes())
    if disk.kind == "tmpfs":
        disk.fill()
    else:  # RLIMIT_FSIZE: the log itself reaches the limit
        with open(log_file, "ab") as log:
            log.write(b"-" * (64 * 1024 - log_file.stat().st_size))
    session = requests.Session()
    for number in range(200):
        assert session.get(server.url + f"/echo/{number}", timeout=10).status_code == 200
    time.sleep(2.5)  # the flusher writes (and fails) once a second: past two of its turns
    assert b"/echo/199" not in log_file.read_bytes()
    if disk.kind == "tmpfs":
        disk.free()
    else:
        log_file.write_bytes(b"")  # emptied: the limit is on the size, not the total written
    # Lines are written again, and one warning counts those that were lost.
    assert session.get(server.url + "/echo/back", timeout=10).status_code == 200
    assert wait_until(lambda: b"/echo/back" in log_file.read_bytes(), timeout=5)
    assert wait_until(lambda: "line(s) dropped" in server.log, timeout=5), server.log
    warnings = [line for line in server.log.splitlines() if "line(s) dropped" in line]
    assert len(warnings) == 1, warnings
    assert f"access log {log_file}" in warnings[0]
    # Each of the 200 lines was written whole or counted as dropped (a tmpfs takes some
    # into the log's last page before it refuses); the one cut short by the full disk was
    # ended, so no line runs into the next.
    lines = log_file.read_bytes().splitlines()
    pattern = re.compile(rb'127\.0\.0\.1 - - \[.*\] "GET /echo/\d+ HTTP/1\.1" 200 .*ms')
    whole = [line for line in lines if pattern.fullmatch(line)]
    dropped = int(warnings[0].split(": ")[-2].split()[0])
    assert dropped + len(whole) == 200, (dropped, len(whole))
    assert all(line.count(b"127.0.0.1 - - [") == 1 for line in lines), lines
    server.assert_answers()
