"""nginx (deploy/nginx.conf, started by deploy/local-cluster.sh) in front of two instances
of the server, separate processes on separate ports standing for two machines.

Not in the default run (pytest.ini): `.ci/run` installs nginx and runs
`pipenv run pytest tests/deploy`. A missing nginx is an error here, never a skip.

The instances trust 127.0.0.1, nginx's address towards them; clients connect from
127.0.0.2 (all of 127/8 is loopback on Linux), so the access logs can tell the client's
address from nginx's.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import ROOT, ServerProcess, wait_until

CLIENT_ADDRESS = "127.0.0.2"
MAX_UPLOAD = 60 * 1024 * 1024
READY_RE = re.compile(r"Cluster ready: http://127\.0\.0\.1:(\d+)/ and https://localhost:(\d+)/ in front of (.*)")
PREFIX_RE = re.compile(r"nginx prefix: (\S+) ")


@pytest.fixture(autouse=True)
def nginx_is_required() -> None:
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed: apt-get install -y nginx openssl curl (.ci/run does)")


class LocalCluster:
    """deploy/local-cluster.sh in a process group of its own, and what it printed."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / "deploy" / "local-cluster.sh"), *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("nginx prefix:"):
                break
        ready = READY_RE.search("".join(self.output))
        if ready is None:
            self.process.kill()
            raise RuntimeError("local-cluster.sh did not start: " + "".join(self.output))
        self.port, self.tls_port = int(ready.group(1)), int(ready.group(2))
        self.upstreams = ready.group(3).split()
        self.prefix = Path(PREFIX_RE.search(self.output[-1]).group(1))
        self.nginx_pid = int((self.prefix / "nginx.pid").read_text())

    def connect(self, timeout: float = 20.0) -> http.client.HTTPConnection:
        """A connection to nginx from the client address."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(CLIENT_ADDRESS, 0))

    def stop(self) -> str:
        """SIGTERM, as a user's Ctrl+C or a service manager would; the rest of its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            rest, _ = self.process.communicate()
        return rest


class Cluster:
    """Two instances sharing one upload folder, and nginx in front of them."""

    def __init__(self, directory: Path, certificates: dict[str, Path]) -> None:
        self.directory = directory
        self.instances = [self.start_instance() for _ in range(2)]
        self.ports = [instance.port for instance in self.instances]
        self.nginx = LocalCluster(
            *(argument for port in self.ports for argument in ("--upstream", f"127.0.0.1:{port}")),
            "--max-upload", str(MAX_UPLOAD),
            "--cert", str(certificates["cert"]),
            "--key", str(certificates["key"]),
        )  # fmt: skip

    def start_instance(self, port: int = 0) -> ServerProcess:
        return ServerProcess(
            "--host", "127.0.0.1", "--port", str(port), "--directory", str(self.directory),
            "--forwarded-allow-ips", "127.0.0.1", "--max-upload", str(MAX_UPLOAD),
            "--verbose",  # logs each connection opened: the keepalive pool is seen at work
        )  # fmt: skip

    def restart(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop one instance with `sig` and start it again on its port."""
        self.instances[index].stop(sig, timeout=20)
        self.instances[index] = self.start_instance(self.ports[index])

    def instance_serving(self, path: str) -> int:
        """Which instance's access log shows a request for `path`."""
        assert wait_until(lambda: any(f" {path} " in instance.log for instance in self.instances))
        return next(index for index, instance in enumerate(self.instances) if f" {path} " in instance.log)

    def partial_files(self) -> list[str]:
        return [name for _, _, names in os.walk(self.directory) for name in names if name.endswith(".part")]

    def stop(self) -> None:
        self.nginx.stop()
        for instance in self.instances:
            instance.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate for localhost from a test CA (trustme), in PEM files nginx reads."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    authority.cert_pem.write_to_path(paths["ca"])
    issued.private_key_pem.write_to_path(paths["key"])
    for pem in issued.cert_chain_pems:
        pem.write_to_path(paths["cert"], append=True)
    return paths


@pytest.fixture
def cluster(tmp_path: Path, certificates: dict[str, Path]) -> Iterator[Cluster]:
    directory = tmp_path / "shared"
    directory.mkdir()
    started = Cluster(directory, certificates)
    yield started
    started.stop()


class Load:
    """`threads` clients sending GETs through nginx in a loop until stopped (at most
    `limit` each), counting answers by status and failures by reason."""

    def __init__(self, cluster: Cluster, path: str, threads: int = 2, limit: int = 3000) -> None:
        self.cluster, self.path, self.limit = cluster, path, limit
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        connection = self.cluster.nginx.connect()
        for _ in range(self.limit):
            if self.stopping.is_set():
                break
            try:
                connection.request("GET", self.path)
                response = connection.getresponse()
                response.read()
                with self.lock:
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException) as error:
                with self.lock:
                    self.failures.append(repr(error))
                connection.close()
                connection = self.cluster.nginx.connect()
            time.sleep(0.002)
        connection.close()

    @property
    def count(self) -> int:
        with self.lock:
            return sum(self.statuses.values()) + len(self.failures)

    def wait_for(self, more: int) -> None:
        """Until `more` requests have been answered since now (bounded in time)."""
        target = self.count + more
        assert wait_until(lambda: self.count >= target, timeout=30)

    def stop(self) -> dict[int, int]:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        return self.statuses
