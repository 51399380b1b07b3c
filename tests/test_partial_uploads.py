"""Temporary upload names that cannot collide across hosts and processes, and the partial
uploads of dead processes removed at start (`app/partial_uploads.py`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from app.partial_uploads import host_name
from tests.conftest import wait_until

HOST = host_name()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_upload_in_flight_is_named_for_its_host_and_process_and_a_killed_ones_file_is_removed(
    start_server, tmp_path
) -> None:
    server = start_server("--directory", str(tmp_path))
    client = server.connect()
    client.send(b"PUT /files/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
    pattern = re.compile(rf"\.big\.bin\.{re.escape(HOST)}-{server.process.pid}\.[0-9a-f]{{12}}\.part")
    assert wait_until(lambda: any(pattern.fullmatch(name) for name in os.listdir(tmp_path)))
    server.stop(signal.SIGKILL)
    client.close()
    assert len(os.listdir(tmp_path)) == 1  # the killed process could not clean up
    restarted = start_server("--directory", str(tmp_path))
    assert os.listdir(tmp_path) == []
    assert wait_until(lambda: "removed 1 partial upload(s) left by stopped processes" in restarted.log)


def test_only_this_hosts_dead_processes_files_are_removed(start_server, tmp_path) -> None:
    dead, live = dead_pid(), os.getpid()
    (tmp_path / "sub").mkdir()
    names = {
        f".a.txt.{HOST}-{dead}.0123456789ab.part": False,  # removed: this host, a dead process
        f"sub/.b.txt.{HOST}-{dead}.abcdef012345.part": False,  # in a folder too
        f".c.txt.{HOST}-{live}.abcdef012345.part": True,  # a live process is still writing it
        f".d.txt.otherhost-{dead}.abcdef012345.part": True,  # another machine's: cannot tell
        ".e.txt.abcdef012345.part": True,  # no host and process: not a name we write
        f"f.{HOST}-{dead}.abcdef012345.part": True,  # no leading dot: a user's file
        f".g.{HOST}-{dead}.abcdef012345.part.txt": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    start_server("--directory", str(tmp_path))
    for name, kept in names.items():
        assert (tmp_path / name).exists() == kept, name
