"""`--workers N`: N processes serve one port (SO_REUSEPORT); the parent forwards SIGTERM
for a graceful stop of all and replaces a worker that dies.

Which process answered is visible in the debug log (`-v`), whose lines name their pid
when there are worker processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests

from tests.conftest import ROOT, ServerProcess, wait_until

STARTED_RE = re.compile(r"worker (\d+) started")
OPENED_RE = re.compile(r"\[pid (\d+)\] connection opened")


def started_workers(server: ServerProcess) -> list[int]:
    return [int(pid) for pid in STARTED_RE.findall(server.log)]


def answering_pids(server: ServerProcess) -> set[int]:
    return {int(pid) for pid in OPENED_RE.findall(server.log)}


def request_until_answered_by(server: ServerProcess, pids: set[int], attempts: int = 500) -> set[int]:
    """New connections (one request each) until every pid in `pids` has answered one, or
    `attempts` run out; returns the pids that answered. The kernel spreads connections
    over the workers by a hash of the client's address and port, so every new connection
    is a fresh draw."""
    for _ in range(attempts):
        response = requests.get(server.url + "/echo/hi", headers={"Connection": "close"})
        assert response.status_code == 200
        assert response.text == "hi"
        if pids <= answering_pids(server):
            break
    # The log is read by a thread of the test harness: let it catch up.
    wait_until(lambda: pids <= answering_pids(server), timeout=2)
    return answering_pids(server)


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_several_workers_answer_on_one_port(start_server):
    server = start_server("--workers", "3", "-v")
    assert "with 3 worker processes" in server.banner
    assert wait_until(lambda: len(started_workers(server)) == 3)
    workers = set(started_workers(server))
    assert server.process.pid not in workers
    answered = request_until_answered_by(server, workers)
    # Every worker answered, and only workers: the parent never serves.
    assert answered == workers


def test_sigterm_stops_every_worker_and_exits_0(start_server):
    server = start_server("--workers", "2", "-v")
    assert wait_until(lambda: len(started_workers(server)) == 2)
    workers = started_workers(server)
    with server.connect() as client:  # an idle keep-alive connection is closed on the way
        assert client.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        code, stdout = server.stop(signal.SIGTERM)
        assert client.is_closed_by_server()
    assert code == 0
    assert stdout.splitlines()[-1] == "Stopped 2 workers."
    assert "Traceback" not in server.log
    # The parent waited for (reaped) its workers before exiting: none is left.
    assert not any(is_running(pid) for pid in workers)


def test_sigint_stops_every_worker_and_exits_0(start_server):
    server = start_server("--workers", "2", "-v")
    assert wait_until(lambda: len(started_workers(server)) == 2)
    workers = started_workers(server)
    code, stdout = server.stop(signal.SIGINT)
    assert code == 0
    assert stdout.splitlines()[-1] == "Stopped 2 workers."
    assert not any(is_running(pid) for pid in workers)


def test_a_killed_worker_is_replaced(start_server):
    server = start_server("--workers", "2", "-v")
    assert wait_until(lambda: len(started_workers(server)) == 2)
    victim, survivor = started_workers(server)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(started_workers(server)) == 3, timeout=10)
    replacement = started_workers(server)[2]
    assert replacement not in (victim, survivor)
    assert f"worker {victim} was killed by SIGKILL; starting a new one" in server.log
    # The port keeps working, and the new worker takes its share of the connections.
    assert {survivor, replacement} <= request_until_answered_by(server, {survivor, replacement})
    code, stdout = server.stop()
    assert code == 0
    assert stdout.splitlines()[-1] == "Stopped 2 workers."


def test_one_worker_is_the_plain_server(start_server):
    # The default: no worker processes, no parent, the banner as it always was.
    server = start_server("-v")
    assert server.banner == f"Serving HTTP on localhost port {server.port} (http://localhost:{server.port}/) ...\n"
    assert requests.get(server.url + "/echo/hi").text == "hi"
    assert "worker" not in server.log
    code, _ = server.stop()
    assert code == 0


def test_workers_must_be_a_positive_number():
    for value in ("0", "-1", "two"):
        result = subprocess.run(
            [sys.executable, "-m", "app.main", "--port", "0", "--workers", value],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=10,
        )
        assert result.returncode == 2
        assert "--workers" in result.stderr
