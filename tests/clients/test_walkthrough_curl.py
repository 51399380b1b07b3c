"""Every command docs/walkthrough.md shows in a stage, run with real curl (needs Debian's
curl, so not in the default run; .ci/run installs it and runs `pipenv run pytest
tests/clients`), prints what the page says it prints: the stage's own command against the
server started as the page starts it, and each "what breaks without it" example too,
including the stand-in servers written with `python3 -c` (started on a free port).

What changes from run to run is set aside: dates and entity tags, curl's timeout in
milliseconds, and the order of the lines of two clients run at once (`&`). The default
suite's tests/test_walkthrough.py checks the traces and the code; this checks the
terminal output a reader sees."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.test_walkthrough import BLOCK_RE, STAGES

DOCUMENTED_PORT = "4221"
STAND_IN_PORT = "4222"
SHARE = "/tmp/share"


def console_commands() -> list[tuple[str, str, str]]:
    """(stage, command, output shown) for every `$ ` line of a stage's console blocks."""
    found = []
    for stage, section in STAGES.items():
        for kind, block in BLOCK_RE.findall(section):
            if kind != "console":
                continue
            for piece in re.split(r"^\$ ", block, flags=re.M)[1:]:
                command, _, output = piece.partition("\n")
                found.append((stage, command, output))
    return found


def normalized(output: str, command: str) -> list[str]:
    """The output's lines, what changes from run to run set aside. Two clients run at once
    (`&`) write to one terminal in any order, even within a line: their output is
    compared as the characters it is made of, line ends aside."""
    text = output.replace("\r\n", "\n").rstrip("\n")
    text = re.sub(r"after \d+ milliseconds", "after N milliseconds", text)
    text = re.sub(r"(?m)^(Last-Modified|ETag): .*$", r"\1: ...", text)
    # The page's outputs leave out the Date every response but GET / carries (it says so).
    text = re.sub(r"(?m)^Date: .*\n", "", text)
    return sorted(text.replace("\n", "")) if " & " in command else text.split("\n")


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """`./your_program.sh --directory /tmp/share --www '' --trace -q`, on a free port."""
    share = tmp_path_factory.mktemp("share")
    (share / "hello.txt").write_bytes(b"Hello, World!")
    process = ServerProcess("--directory", str(share), "--www", "", "--trace", "-q")
    yield process, share
    process.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_curl(command: str, stand_in: int | None, deadline: float) -> subprocess.CompletedProcess[str]:
    """Run a curl command; against a stand-in that is not listening yet (curl's exit 7,
    connection refused), again until it is."""
    while True:
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        if not (stand_in and result.returncode == 7 and time.monotonic() < deadline):
            return result
        time.sleep(0.1)


def test_the_page_has_commands_in_every_stage() -> None:
    assert {stage for stage, _, _ in console_commands()} == set(STAGES)


def test_every_command_prints_what_the_page_shows(documented: tuple[ServerProcess, Path]) -> None:
    """In the page's order: the page's uploads change what later commands see."""
    server, share = documented
    stand_in: subprocess.Popen[bytes] | None = None
    stand_in_port = 0
    try:
        for stage, command, shown in console_commands():
            if command.startswith("python3 -c ") and command.endswith(" &"):
                stand_in_port = free_port()
                stand_in = subprocess.Popen(["bash", "-c", command[:-2].replace(STAND_IN_PORT, str(stand_in_port))])
                continue
            runnable = command.replace(f"localhost:{DOCUMENTED_PORT}", f"localhost:{server.port}")
            runnable = runnable.replace(f"localhost:{STAND_IN_PORT}", f"localhost:{stand_in_port}")
            runnable = runnable.replace(SHARE, str(share))
            uses_stand_in = f"localhost:{STAND_IN_PORT}" in command
            result = run_curl(runnable, stand_in_port if uses_stand_in else None, time.monotonic() + 10)
            printed = result.stdout + result.stderr
            assert normalized(printed, command) == normalized(shown, command), f"{stage}: {command}"
            if uses_stand_in and stand_in is not None:
                stand_in.kill()
                stand_in.wait()
                stand_in = None
    finally:
        if stand_in is not None:
            stand_in.kill()
