"""Shared test tools: the real server started on an ephemeral port, and raw-socket helpers.

- `server` (one per test session): `./your_program.sh`-equivalent subprocess with
  `--directory` set to a fresh temporary folder, on `--port 0`.
- `start_server(*options)`: a separate subprocess for tests that need other options or
  that stop the server; stopped at the end of the test.
- `RawClient`: a socket that sends exact bytes and reads exact responses.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BANNER_RE = re.compile(r"Serving HTTPS? on \S+ port (\d+) ")


class ServerProcess:
    """The server in a subprocess, started as a user would, on a free port."""

    def __init__(
        self,
        *options: str,
        cwd: Path = ROOT,
        launcher: bool = False,
        wrapper: tuple[str, ...] = (),
        preexec_fn: Callable[[], None] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        """`launcher=True` starts it through `your_program.sh`, exactly as users do;
        `wrapper` is a command that runs the server (e.g. `setpriv ...`), and
        `preexec_fn` runs in the child before it starts (e.g. to set a resource limit),
        and `pass_fds` stay open in it (e.g. a listening socket handed over as systemd does)."""
        self.options = options
        command = [str(ROOT / "your_program.sh")] if launcher else [sys.executable, "-m", "app.main"]
        self.process = subprocess.Popen(
            [*wrapper, *command, "--port", "0", *options],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec_fn,
            # Its own process group: a stop that times out kills the worker processes
            # too, which would otherwise hold stdout open and hang the test run.
            start_new_session=True,
            pass_fds=pass_fds,
        )
        banner = self.process.stdout.readline()
        match = BANNER_RE.search(banner)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"server did not start: {banner!r} {self.process.stderr.read()!r}")
        self.banner = banner
        self.port = int(match.group(1))
        self.url = f"http://localhost:{self.port}"
        # Drain stderr in the background so a chatty access log never blocks the server.
        self.stderr_lines: list[str] = []
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.stderr_lines)

    def status(self, field: str) -> str:
        """A line of /proc/PID/status, e.g. `Threads` or `VmRSS`, without its label."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
        raise KeyError(field)

    @property
    def thread_count(self) -> int:
        return int(self.status("Threads"))

    def assert_answers(self) -> None:
        """The server is alive and serves a plain request on a new connection."""
        assert self.process.poll() is None, "the server process exited"
        with self.connect() as client:
            response = client.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert response.status == 200

    def kill_process_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def connect(self, timeout: float = 5.0) -> RawClient:
        return RawClient(self.port, timeout)

    def stop(self, sig: int | None = signal.SIGTERM, timeout: float = 20.0) -> tuple[int, str]:
        """Signal the server (unless `sig` is None: it is stopping already) and wait;
        returns (exit code, what it printed on stdout). The timeout is longer than the
        server's own bound on a stop (5 s of grace, then --workers kills a worker still
        running 5 s later), so the server's escalation acts before the test's."""
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        # stdout only: stderr belongs to the reader thread (communicate() would read it
        # too, and the lines it took would be missing from `log`).
        timer = threading.Timer(timeout, self.kill_process_group)
        timer.start()
        try:
            stdout = self.process.stdout.read()
            self.process.wait()
        finally:
            timer.cancel()
        self._stderr_reader.join(timeout=2)
        return self.process.returncode, stdout


@dataclass
class RawResponse:
    status_line: bytes
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes = field(repr=False)

    @property
    def status(self) -> int:
        return int(self.status_line.split(b" ")[1])

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} appears {len(values)} times"
        return values[0] if values else None


class RawClient:
    """A plain TCP socket to the server: exact bytes out, responses parsed by hand."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def read_response(self, head_request: bool = False) -> RawResponse:
        """One response, framed by Content-Length (absent: no body), 1xx included."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a full response head: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.split(b"\r\n")
        headers = []
        for line in lines:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        length = 0
        for name, value in headers:
            if name.lower() == "content-length":
                length = int(value)
        status = int(status_line.split(b" ")[1])
        if head_request or status < 200 or status in (204, 304):
            length = 0
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed in the middle of a response body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawResponse(status_line, headers, body, head + b"\r\n\r\n" + body)

    def exchange(self, data: bytes, head_request: bool = False) -> RawResponse:
        self.send(data)
        return self.read_response(head_request)

    def read_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def is_closed_by_server(self, within: float = 1.0) -> bool:
        """Whether the server closes the connection (EOF, or a reset) within `within`
        seconds, with nothing more sent."""
        self.sock.settimeout(within)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` on a new connection and return every byte until the server closes."""
    with RawClient(port, timeout) as client:
        client.send(data)
        return client.read_until_closed()


@pytest.fixture(scope="session")
def server_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="session")
def server(server_directory: Path) -> Iterator[ServerProcess]:
    """The shared server: `--directory` points at `server_directory`."""
    process = ServerProcess("--directory", str(server_directory))
    yield process
    process.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """Start a server of the test's own (with options), stopped after the test."""
    started: list[ServerProcess] = []

    def start(*options: str, cwd: Path = ROOT, **kwargs: object) -> ServerProcess:
        process = ServerProcess(*options, cwd=cwd, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class FeedSource:
    """An `bodies.ByteSource` for parser tests: `receive_more()` appends the next piece of
    a list of byte strings, and `send_continue()` records that it was called."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.buffer = bytearray()
        self.pieces = list(pieces)
        self.continues_sent = 0

    @classmethod
    def split(cls, data: bytes, how: str) -> FeedSource:
        """`whole`: one piece; `bytewise`: one byte per piece."""
        if how == "whole":
            return cls([data])
        return cls([data[i : i + 1] for i in range(len(data))])

    def receive_more(self) -> None:
        from app.errors import ClientDisconnected

        if not self.pieces:
            raise ClientDisconnected("test input exhausted")
        self.buffer += self.pieces.pop(0)

    def send_continue(self) -> None:
        self.continues_sent += 1
