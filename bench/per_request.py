"""The cost of one request in our Python, without a network or a second process: a real
`Connection` on one end of a socketpair, this script the client on the other, all in one
thread, so the count is repeatable even on a busy machine.

    python3 bench/per_request.py                      # µs per request, keep-alive /echo/hello
    python3 bench/per_request.py --log FILE           # with the access log written to FILE
    python3 bench/per_request.py --gzip               # /echo/<1 KiB> gzipped
    python3 bench/per_request.py --file               # GET /files/sub/a.txt (100 bytes)
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        python3 bench/per_request.py --count 2000     # instructions: compare with --count 0
    python3 -m cProfile -s tottime bench/per_request.py --count 20000

Instructions per request = (Ir at --count N - Ir at --count 0) / N (callgrind's "Collected"
total), the figure that docs/performance.md compares before and after each change.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import accesslog  # noqa: E402
from app.connection import Connection, StopFlag  # noqa: E402
from app.settings import Settings  # noqa: E402

ECHO_1KIB = "/echo/" + ("The-quick-brown-fox-jumps-over-the-lazy-dog-" * 24)[:1024]


def request_bytes(gzip: bool, file: bool = False) -> bytes:
    """What wrk sends (plus Accept-Encoding for the gzip case)."""
    if file:
        return b"GET /files/sub/a.txt HTTP/1.1\r\nHost: 127.0.0.1:4221\r\n\r\n"
    if gzip:
        return f"GET {ECHO_1KIB} HTTP/1.1\r\nHost: 127.0.0.1:4221\r\nAccept-Encoding: gzip\r\n\r\n".encode()
    return b"GET /echo/hello HTTP/1.1\r\nHost: 127.0.0.1:4221\r\n\r\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000, help="requests (default: %(default)s)")
    parser.add_argument("--log", type=Path, help="write the access log to this file")
    parser.add_argument("--gzip", action="store_true", help="/echo/<1 KiB> with Accept-Encoding: gzip")
    parser.add_argument("--file", action="store_true", help="a 100-byte file from --directory (a temporary one)")
    arguments = parser.parse_args()
    settings = Settings()
    if arguments.file:  # the path walk of issue 23 (app/safefs.py) is in this cost
        directory = Path(tempfile.mkdtemp(prefix="per-request-"))
        (directory / "sub").mkdir()
        (directory / "sub" / "a.txt").write_bytes(b"x" * 100)
        settings = dataclasses.replace(settings, directory=directory)
    if arguments.log is not None:
        accesslog.open_access_log(arguments.log)
    server_end, client_end = socket.socketpair()
    connection = Connection(server_end, "127.0.0.1", settings, StopFlag())
    request = request_bytes(arguments.gzip, arguments.file)
    started = time.perf_counter()
    for _ in range(arguments.count):
        client_end.sendall(request)
        assert connection.exchange()
        client_end.recv(65536)
    elapsed = time.perf_counter() - started
    accesslog.flush()
    if arguments.count:
        print(f"{arguments.count} requests, {elapsed / arguments.count * 1e6:.1f} µs each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
