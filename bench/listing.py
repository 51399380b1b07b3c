"""A big folder's listing: ours against `python3 -m http.server`'s (issue 20).

    python3 bench/listing.py                       # 20,000 files: bytes, time to last byte
    python3 bench/listing.py --entries 200000      # any size
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.ours \\
        python3 bench/listing.py --in-process ours   # instructions to make the page, in one
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.stdlib \\
        python3 bench/listing.py --in-process stdlib # process, no network (compare the totals
                                                     # with --in-process none)

The folder holds N files named `file-NNNNN.txt` (14 characters, the length the issue's
figures imply) of sizes from 0 to ~200 KB (sparse: no disk used). The servers:
`ours` is the default launch (`./your_program.sh --directory DIR`, access log on, to a
file), asked with and without `Accept-Encoding: gzip` (a browser sends it);
`http.server` is `python3 -m http.server --directory DIR` (it lists `/`, names only, no
compression). Each is asked `--rounds` times in turn, each time on a new connection
with a raw socket, and the median time to the last byte is shown, with the server's CPU
time per listing (from /proc). On a busy machine the times move; the CPU column less so,
and `--in-process` under callgrind not at all.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TICKS = os.sysconf("SC_CLK_TCK")


def make_folder(folder: Path, entries: int) -> None:
    """`entries` sparse files, as the issue's 20,000-entry folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(entries):
        descriptor = os.open(folder / f"file-{number:05d}.txt", os.O_CREAT | os.O_WRONLY, 0o644)
        os.ftruncate(descriptor, (number * 7919) % 200_000)
        os.close(descriptor)


def fetch(port: int, path: str, gzip: bool) -> tuple[float, int]:
    """Seconds to the last byte of one GET on a new connection, and the bytes received
    (head included). Reads until the server closes (Connection: close)."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    request += "Accept-Encoding: gzip\r\n\r\n" if gzip else "\r\n"
    started = time.perf_counter()
    received = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request.encode())
        while piece := sock.recv(262144):
            received += len(piece)
    return time.perf_counter() - started, received


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(command: list[str], pattern: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    match = re.search(pattern, line)
    if match is None:
        process.kill()
        raise RuntimeError(f"did not start: {line!r}")
    return process, int(match.group(1))


def compare(folder: Path, rounds: int, log: Path) -> None:
    ours, ours_port = start(
        [sys.executable, "-m", "app.main", "--directory", str(folder), "--port", "0", "--access-log", str(log)],
        r"port (\d+)",
    )
    stdlib, stdlib_port = start(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(folder)],
        r"port (\d+)",
    )
    cases = [
        ("ours, gzip", ours, ours_port, "/files/", True),
        ("ours, identity", ours, ours_port, "/files/", False),
        ("http.server", stdlib, stdlib_port, "/", False),
    ]
    try:
        results: dict[str, list[tuple[float, int, float]]] = {name: [] for name, *_ in cases}
        for name, process, port, path, gzip in cases:  # warm up: page cache, imports
            fetch(port, path, gzip)
        for _ in range(rounds):
            for name, process, port, path, gzip in cases:
                before = cpu_seconds(process.pid)
                seconds, size = fetch(port, path, gzip)
                time.sleep(0.05)  # the server's thread ends its work (the log line) before CPU is read
                results[name].append((seconds, size, cpu_seconds(process.pid) - before))
    finally:
        for process in (ours, stdlib):
            process.terminate()
            process.wait()
    print(f"{'server':<16} {'bytes':>10} {'ms to last byte (median, min-max)':>36} {'CPU ms (median)':>16}")
    for name, rows in results.items():
        times = [seconds * 1000 for seconds, _, _ in rows]
        cpu = statistics.median(c * 1000 for _, _, c in rows)
        spread = f"{statistics.median(times):.0f} ({min(times):.0f}-{max(times):.0f})"
        print(f"{name:<16} {rows[0][1]:>10} {spread:>36} {cpu:>16.0f}")


def in_process(which: str, folder: Path) -> None:
    """Make the page once in this process, for callgrind: ours (gzip) or http.server's."""
    if which == "ours":
        from app.http import ContentLengthDecoder, Headers, Request, RequestBody, StreamBody
        from app.listing import files_listing
        from app.settings import Settings

        headers = Headers([("host", "x"), ("accept-encoding", "gzip")])
        body = RequestBody(ContentLengthDecoder(0), None, False, 0)  # type: ignore[arg-type]
        request = Request("GET", "/files/", "/files/", "", "HTTP/1.1", headers, b"", body, True)
        response = files_listing(request, Settings(directory=folder), "")
        pieces = response.body.pieces if isinstance(response.body, StreamBody) else [response.body]
        print(sum(len(piece) for piece in pieces), "bytes")
    elif which == "stdlib":
        import io
        from http.server import SimpleHTTPRequestHandler

        handler = SimpleHTTPRequestHandler.__new__(SimpleHTTPRequestHandler)
        handler.path, handler.wfile = "/", io.BytesIO()
        handler.send_response = handler.send_header = lambda *a: None  # type: ignore[method-assign]
        handler.end_headers = lambda: None  # type: ignore[method-assign]
        print(len(handler.list_directory(str(folder)).getvalue()), "bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--folder", type=Path, help="use (and fill) this folder instead of a temporary one")
    parser.add_argument("--in-process", choices=("ours", "stdlib", "none"), help="make one page here (callgrind)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = arguments.folder or Path(temporary) / "big"
        if not folder.exists() or len(os.listdir(folder)) != arguments.entries:
            make_folder(folder, arguments.entries)
        if arguments.in_process is not None:
            in_process(arguments.in_process, folder)
        else:
            compare(folder, arguments.rounds, Path(temporary) / "access.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
