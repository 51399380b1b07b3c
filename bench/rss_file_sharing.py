"""Peak memory of the server for the 1 GiB file-sharing cases (issue 11):

    python3 bench/rss_file_sharing.py            # 1 GiB each
    python3 bench/rss_file_sharing.py --mib 100  # a quicker run

Four scenarios, each on a fresh server (so its peak resident set, VmHWM, belongs to that
scenario alone): a multipart/form-data upload of one file (`POST /files/`), the same
bytes as a plain `PUT` (the reference: what parsing the form costs), and a folder
holding one sparse file (no disk used) downloaded as `?download=zip` and as
`?download=tar.gz`. The client streams the body from a generator and drops what it
receives, so only the server's memory is in the figures. The upload really writes the
file (the server fsyncs it), so it needs that much free disk.

Prints one line per scenario: the server's RSS once started, its peak during the
scenario, the bytes moved and the time taken. A measuring tool, not a test: nothing here
asserts a figure; docs/file-sharing.md quotes a run.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANNER_RE = re.compile(r"Serving HTTP on \S+ port (\d+) ")
PIECE = 1024 * 1024
BOUNDARY = b"bench0boundary"


def start_server(directory: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.main", "--port", "0", "--directory", str(directory), "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    match = BANNER_RE.search(process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("the server did not start")
    return process, int(match.group(1))


def memory(pid: int, field: str) -> int:
    """VmRSS or VmHWM of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def upload_body(size: int) -> tuple[bytes, bytes, Iterator[bytes]]:
    head = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"

    def pieces() -> Iterator[bytes]:
        block = b"\0" * PIECE
        for _ in range(size // PIECE):
            yield block

    return head, tail, pieces()


def upload(port: int, size: int) -> int:
    head, tail, pieces = upload_body(size)
    length = len(head) + size + len(tail)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /files/ HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % length + head
        )
        for piece in pieces:
            sock.sendall(piece)
        sock.sendall(tail)
        answer = read_all(sock)
    if not answer.startswith(b"HTTP/1.1 201 "):
        raise SystemExit(f"upload refused: {answer[:200]!r}")
    return size


def put(port: int, size: int) -> int:
    """The same bytes as a plain PUT: the reference for what the multipart parsing costs."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"PUT /files/put.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % size)
        block = b"\0" * PIECE
        for _ in range(size // PIECE):
            sock.sendall(block)
        answer = read_all(sock)
    if not answer.startswith(b"HTTP/1.1 201 "):
        raise SystemExit(f"PUT refused: {answer[:200]!r}")
    return size


def download(port: int, kind: str) -> int:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /files/folder/?download={kind} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
        received = 0
        while data := sock.recv(PIECE):
            received += len(data)
    return received


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def scenario(name: str, directory: Path, run) -> None:
    process, port = start_server(directory)
    try:
        started = memory(process.pid, "VmRSS")
        begin = time.perf_counter()
        moved = run(port)
        seconds = time.perf_counter() - begin
        peak = memory(process.pid, "VmHWM")
    finally:
        process.terminate()
        process.wait()
    print(f"{name:<22} RSS at start {started / 1024:6.1f} MiB   peak {peak / 1024:6.1f} MiB   "
          f"{moved / 2**20:7.0f} MiB in {seconds:5.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file in MiB (default: 1024)")
    arguments = parser.parse_args()
    size = arguments.mib * PIECE
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as temporary:
        root = Path(temporary)
        (root / "folder").mkdir()
        with open(root / "folder" / "sparse.bin", "wb") as file:
            file.truncate(size)  # sparse: reads as zeros, uses no disk
        scenario(f"upload {arguments.mib} MiB", root, lambda port: upload(port, size))
        scenario(f"PUT {arguments.mib} MiB", root, lambda port: put(port, size))
        scenario(f"zip of {arguments.mib} MiB", root, lambda port: download(port, "zip"))
        scenario(f"tar.gz of {arguments.mib} MiB", root, lambda port: download(port, "tar.gz"))


if __name__ == "__main__":
    main()
