"""deploy/local-cluster.sh as a user runs it: its own instances, a self-signed
certificate, an instance that dies started again on its port while nginx serves from the
other, and nothing left running once it is stopped."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_until
from tests.deploy.conftest import LocalCluster

RESTART_RE = re.compile(r"instance 1 \(127\.0\.0\.1:(\d+), pid (\d+)\) exited \(killed by SIGKILL\) .* again in ([\d.]+) s")


def processes_using(folder: Path) -> list[int]:
    """The processes whose command line names `folder` or that hold a file in it open."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uses = str(folder) in (entry / "cmdline").read_text(errors="replace")
            uses = uses or any(str(folder) in os.readlink(fd) for fd in (entry / "fd").iterdir())
        except OSError:
            continue  # exited meanwhile, or not ours to look at
        if uses:
            found.append(int(entry.name))
    return found


def session_members(session: int) -> list[int]:
    """The processes of session `session` (the script's own children: a back-off's sleep)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == session:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def backing_off(script: int) -> bool:
    """The script waits out a back-off: a child of it runs `sleep`."""
    try:
        children = Path(f"/proc/{script}/task/{script}/children").read_text().split()
        return any(Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep\0") for child in children)
    except OSError:
        return False


def refuses(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_starts_serves_and_stops_leaving_nothing_running(tmp_path: Path, stop_signal: int) -> None:
    cluster = LocalCluster("--instances", "2", "--directory", str(tmp_path))
    try:
        assert len(cluster.upstreams) == 2
        base = f"http://127.0.0.1:{cluster.port}"
        assert requests.put(f"{base}/files/hello.txt", data=b"hello", timeout=10).status_code == 201
        assert requests.get(f"{base}/files/hello.txt", timeout=10).content == b"hello"
        # TLS with the certificate it made for localhost, which the client trusts.
        response = requests.get(
            f"https://localhost:{cluster.tls_port}/echo/tls", verify=cluster.prefix / "localhost.crt", timeout=10
        )
        assert response.text == "tls"
        running = processes_using(cluster.prefix)
        assert len(running) >= 3  # nginx (master and worker) and the two instances
    finally:
        # Ctrl+C in a terminal: SIGINT to the script's process group.
        os.killpg(cluster.process.pid, stop_signal)
        rest = cluster.stop()
    assert cluster.process.returncode == 0
    assert rest.endswith("Stopped.\n")
    assert processes_using(cluster.prefix) == [] and not cluster.prefix.exists()
    assert all(refuses(address) for address in [f"127.0.0.1:{cluster.port}", *cluster.upstreams])
    assert (tmp_path / "hello.txt").read_bytes() == b"hello"


def instance_pid(cluster: LocalCluster, number: int) -> int:
    return int((cluster.prefix / f"instance{number}.pid").read_text())


def serves(address: str, path: str = "/echo/back") -> bool:
    """A GET straight to an instance, bypassing nginx, is answered with 200."""
    host, port = address.rsplit(":", 1)
    try:
        return requests.get(f"http://{host}:{port}{path}", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def kill_and_wait_back(cluster: LocalCluster, timeout: float) -> float:
    """SIGKILL instance 1; the seconds until it answers again on its port under a new pid."""
    old = instance_pid(cluster, 1)
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    assert wait_until(lambda: instance_pid(cluster, 1) != old and serves(cluster.upstreams[0]), timeout=timeout)
    return time.monotonic() - killed


class Gets:
    """`count` GETs through nginx from `threads` keep-alive clients, paced so they span a
    kill and a restart; statuses and failures (a reset, a 502) are kept."""

    def __init__(self, cluster: LocalCluster, count: int = 200, threads: int = 2) -> None:
        self.cluster, self.each = cluster, count // threads
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        connection = self.cluster.connect()
        for number in range(self.each):
            try:
                connection.request("GET", f"/echo/get{number}")
                response = connection.getresponse()
                response.read()
                self.statuses.append(response.status)
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(repr(error))
                connection.close()
                connection = self.cluster.connect()
            time.sleep(0.02)
        connection.close()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture
def cluster(tmp_path: Path):
    started = LocalCluster("--instances", "2", "--directory", str(tmp_path))
    yield started
    if started.process.stdout and not started.process.stdout.closed:
        started.stop()  # the test did not


def test_an_instance_killed_under_200_gets_fails_none_and_is_back_on_its_port_within_5_s(cluster) -> None:
    gets = Gets(cluster)
    assert wait_until(lambda: len(gets.statuses) + len(gets.failures) >= 40, timeout=30)
    back_after = kill_and_wait_back(cluster, timeout=5)
    gets.join()
    # nginx retried the refused or reset connections on the other instance (proxy_next_upstream).
    assert gets.failures == [] and gets.statuses == [200] * 200
    assert back_after < 5
    # nginx sends the instance requests again once its fail_timeout (2 s) is over.
    port = cluster.upstreams[0].rsplit(":", 1)[1]
    access_log = cluster.prefix / "access.log"
    before = access_log.read_text().count(f"upstream=127.0.0.1:{port} upstream_status=200")

    def nginx_uses_it_again() -> bool:
        assert requests.get(f"http://127.0.0.1:{cluster.port}/echo/again", timeout=5).status_code == 200
        return access_log.read_text().count(f"upstream=127.0.0.1:{port} upstream_status=200") > before

    assert wait_until(nginx_uses_it_again, timeout=10)
    assert cluster.process.poll() is None
    rest = cluster.stop()
    assert [match.group(1) for match in RESTART_RE.finditer(rest)] == [port]
    assert f"instance 1 started again on 127.0.0.1:{port}" in rest


def test_killed_three_times_in_a_row_the_back_off_grows_and_the_cluster_never_stops(cluster) -> None:
    for _ in range(3):
        kill_and_wait_back(cluster, timeout=20)
        assert cluster.process.poll() is None
        assert requests.get(f"http://127.0.0.1:{cluster.port}/echo/still", timeout=10).text == "still"
    assert all(serves(address) for address in cluster.upstreams)
    rest = cluster.stop()
    restarts = RESTART_RE.findall(rest)
    assert [port for port, _, _ in restarts] == [cluster.upstreams[0].rsplit(":", 1)[1]] * 3
    assert [float(delay) for _, _, delay in restarts] == [0.5, 1.0, 2.0]
    assert "crash 3 in a row" in rest and "stopping" not in rest


def test_sigterm_to_the_script_during_a_back_off_leaves_nothing_and_frees_every_port(cluster) -> None:
    kill_and_wait_back(cluster, timeout=20)
    os.kill(instance_pid(cluster, 1), signal.SIGKILL)  # the second crash in a row: 1 s of back-off
    assert wait_until(lambda: backing_off(cluster.process.pid))
    cluster.process.send_signal(signal.SIGTERM)  # to the script alone, not its group
    rest = cluster.stop()
    assert cluster.process.returncode == 0 and rest.endswith("Stopped.\n")
    assert processes_using(cluster.prefix) == [] and session_members(cluster.process.pid) == []
    assert all(refuses(address) for address in [f"127.0.0.1:{cluster.port}", f"127.0.0.1:{cluster.tls_port}", *cluster.upstreams])


def test_nginx_exiting_stops_the_cluster(cluster) -> None:
    os.kill(cluster.nginx_pid, signal.SIGTERM)
    assert cluster.process.wait(timeout=30) == 1
    rest = cluster.stop()
    assert "nginx exited (exit status 0); stopping the cluster" in rest and rest.endswith("Stopped.\n")
    assert processes_using(cluster.prefix) == []
    assert all(refuses(address) for address in cluster.upstreams)
