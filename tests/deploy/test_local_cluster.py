"""deploy/local-cluster.sh as a user runs it: its own instances, a self-signed
certificate, and nothing left running once it is stopped."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
import requests

from tests.deploy.conftest import LocalCluster


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
