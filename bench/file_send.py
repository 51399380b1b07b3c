"""Sending a 10 MiB file over loopback, as `os.sendfile` calls of several sizes against a
`read` + `sendall` loop: the server on core 0, a client reading it on core 1, rounds
interleaved, medians in MB/s.

    python3 bench/file_send.py            # 5 rounds of 30 files per case
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time

SIZE = 10 * 1024 * 1024
CASES = [("sendfile", SIZE), ("sendfile", 1 << 20), ("sendfile", 256 << 10), ("sendfile", 64 << 10),
         ("sendall", 64 << 10), ("sendall", 256 << 10)]


def send(mode: str, piece: int, path: str, connection: socket.socket) -> None:
    """One whole file to the client, in `piece`-byte calls."""
    if mode == "sendfile":
        with open(path, "rb") as file:
            offset = 0
            while offset < SIZE:
                offset += os.sendfile(connection.fileno(), file.fileno(), offset, min(piece, SIZE - offset))
        return
    with open(path, "rb", buffering=0) as file:
        while data := file.read(piece):
            connection.sendall(data)


def receive_files(port: int, count: int) -> None:
    """The client, in a child process on core 1: ask for a file, read all of it."""
    os.sched_setaffinity(0, {1})
    with socket.create_connection(("127.0.0.1", port)) as client:
        for _ in range(count):
            client.sendall(b"x")
            received = 0
            while received < SIZE:
                received += len(client.recv(262144))
    os._exit(0)


def measure(mode: str, piece: int, path: str, count: int = 30) -> float:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        pid = os.fork()
        if pid == 0:
            receive_files(listener.getsockname()[1], count)
        os.sched_setaffinity(0, {0})
        connection, _ = listener.accept()
        started = time.perf_counter()
        with connection:
            for _ in range(count):
                connection.recv(1)
                send(mode, piece, path, connection)
            os.waitpid(pid, 0)
        return SIZE * count / (time.perf_counter() - started) / 1e6


def main() -> int:
    with tempfile.NamedTemporaryFile() as file:
        file.write(os.urandom(SIZE))
        file.flush()
        results: dict[tuple[str, int], list[float]] = {case: [] for case in CASES}
        for _ in range(5):
            for case in CASES:
                results[case].append(measure(*case, file.name))
    for (mode, piece), figures in results.items():
        print(f"{mode:<9} {piece >> 10:>6} KiB per call: median {statistics.median(figures):7.0f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
