"""Socket activation: the listening socket passed the way systemd passes it (fd 3,
`LISTEN_PID`, `LISTEN_FDS`; sd_listen_fds(3)), by a small launcher standing for systemd.
The test holds the socket as systemd does, so it outlives each server: a connection made
while no server runs waits in the queue and is answered by the next one."""

from __future__ import annotations

import re
import shlex
import socket
import sys

import pytest

from tests.conftest import ROOT, RawClient, ServerProcess, wait_until

# What systemd does between fork() and exec(): the socket becomes fd 3, and the
# variables name this very process (exec keeps the pid; your_program.sh execs Python).
LAUNCHER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); "
    "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)
GET = b"GET /echo/activated HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture
def systemd_socket():
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield listener
    listener.close()


def start_activated(start_server, listener: socket.socket, *options: str):
    fd = listener.fileno()
    # `--port 0` (added by ServerProcess) is overridden by the inherited socket.
    return start_server(
        *options, launcher=True, wrapper=(sys.executable, "-c", LAUNCHER, str(fd)), pass_fds=(fd,)
    )


@pytest.mark.parametrize("options", [(), ("--workers", "2")])
def test_serves_on_the_inherited_socket_and_a_restart_drops_no_connection(start_server, systemd_socket, options):
    port = systemd_socket.getsockname()[1]
    first = start_activated(start_server, systemd_socket, *options, "-v")
    assert first.port == port
    # Every worker is up before the stop (-v logs each one listening).
    workers = int(options[1]) if options else 0
    assert wait_until(lambda: first.log.count("listening on port") == workers)
    with RawClient(port) as client:
        assert client.exchange(GET).body == b"activated"
    assert first.stop()[0] == 0
    # No server runs now, yet the port still accepts (systemd's socket): the connection
    # and its request wait in the kernel's queue...
    waiting = RawClient(port, timeout=20)
    waiting.send(GET)
    second = start_activated(start_server, systemd_socket, *options)
    # ...and the next server answers them.
    with waiting:
        assert waiting.read_response().body == b"activated"
    assert second.stop()[0] == 0


def test_variables_meant_for_another_process_are_ignored(start_server, systemd_socket):
    # LISTEN_PID names the launcher's parent, not the server: the server opens its own port.
    fd = systemd_socket.fileno()
    launcher = LAUNCHER.replace("str(os.getpid())", "str(os.getppid())")
    process = start_server(launcher=True, wrapper=(sys.executable, "-c", launcher, str(fd)), pass_fds=(fd,))
    assert process.port != systemd_socket.getsockname()[1]
    process.assert_answers()


def test_the_command_of_the_systemd_unit_serves_on_the_socket_systemd_passes(start_server, systemd_socket, tmp_path):
    """deploy/http-server.service's ExecStart, with this checkout and a temporary folder
    for the paths of the example, started with the socket the way systemd starts it."""
    unit = (ROOT / "deploy" / "http-server.service").read_text()
    command = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE).group(1))
    command = [str(tmp_path) if part == "/srv/files" else part for part in command]
    assert command[0] == "/opt/http-server/your_program.sh"
    fd = systemd_socket.fileno()
    process = ServerProcess(
        *command[1:], launcher=True, wrapper=(sys.executable, "-c", LAUNCHER, str(fd)), pass_fds=(fd,)
    )
    try:
        assert "with 2 worker processes" in process.banner
        with RawClient(systemd_socket.getsockname()[1]) as client:
            response = client.exchange(b"PUT /files/unit.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        assert response.status == 201 and (tmp_path / "unit.txt").read_bytes() == b"ok"
    finally:
        assert process.stop()[0] == 0


def unit_section(text: str, section: str) -> list[tuple[str, str]]:
    """The `Key=value` lines of one section of a systemd unit file, in order."""
    lines, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith("#"):
            lines.append(tuple(line.split("=", 1)))
    return lines


def test_the_systemd_unit_restarts_the_server_when_it_fails_and_never_gives_up():
    """systemd cannot run here: the unit's directives are checked as written (systemd.service(5))."""
    unit = (ROOT / "deploy" / "http-server.service").read_text()
    service = dict(unit_section(unit, "Service"))
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "500ms" and service["RestartMaxDelaySec"] == "30s"
    assert dict(unit_section(unit, "Unit"))["StartLimitIntervalSec"] == "0"
