"""How many function calls one request costs the connection thread: the figure the
per-request budget (tests/test_budget.py, docs/performance.md) holds.

    python3 bench/call_count.py          # a table: Python calls and C calls per scenario
    python3 bench/call_count.py --json   # the same as one JSON object (what the test reads)

It runs the real server in this process (the default launch: `--directory DIR`, the
access log on, written to a file), and a client in the main thread that sends each
scenario's request on a keep-alive connection of its own. A profile function
(`threading.setprofile`, which the server hands on to every connection thread) counts
the events of each thread:

- Python calls: a `call` event, i.e. one Python function, method, lambda, comprehension
  or generator resumption entered. This is the budgeted figure: a Python call costs
  ~0.1-0.3 µs of interpreter overhead before its body does anything.
- C calls: a `c_call` event, a built-in function or method called from Python (`len`,
  `bytes.find`, `re.Pattern.match`, `socket.recv`...). Counted and budgeted too, apart,
  so that work cannot hide by moving from Python calls into many small C calls; but a C
  call costs a fraction of a Python one, so the two are never added up.

The window of one request: from the return of the `recv()` that brought its bytes, to
the call of the `recv()` that waits for the next request. It covers parsing, routing,
the handler, the response head, the send, the access line and the keep-alive
bookkeeping; a body `recv()` in between is counted too. (The access log's flusher
thread writes the lines out once a second, outside the window: it costs per second,
not per request.) Each scenario first runs `WARM_UP` times (imports, caches, the
flusher thread's start), then `ROUNDS` times; the least count is kept, so a once-a-
second reformatting of the log's clock is not counted.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import accesslog  # noqa: E402
from app.main import build_parser, make_runner, settings_from_arguments  # noqa: E402

WARM_UP = 3
ROUNDS = 5
ECHO_1KIB = "/echo/" + ("The-quick-brown-fox-jumps-over-the-lazy-dog-" * 24)[:1024]
# What curl sends: the head most command-line and script clients send.
CURL_FIELDS = "Host: localhost:{port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"


def scenarios(port: int) -> dict[str, Callable[[int], bytes]]:
    """Each scenario's request, as a function of the round number (a PUT goes to a new
    name each time, of the same length)."""
    fields = CURL_FIELDS.format(port=port)
    return {
        "echo": lambda n: f"GET /echo/abc HTTP/1.1\r\n{fields}\r\n".encode(),
        "gzip echo": lambda n: f"GET {ECHO_1KIB} HTTP/1.1\r\n{fields}Accept-Encoding: gzip\r\n\r\n".encode(),
        "404": lambda n: f"GET /no-such-page HTTP/1.1\r\n{fields}\r\n".encode(),
        "file": lambda n: f"GET /files/hello.txt HTTP/1.1\r\n{fields}\r\n".encode(),
        "put": lambda n: (
            f"PUT /files/put-{n:04d}.txt HTTP/1.1\r\n{fields}Content-Length: 12\r\n\r\nhello world\n".encode()
        ),
    }


EXPECTED_STATUS = {"echo": 200, "gzip echo": 200, "404": 404, "file": 200, "put": 201}


class CallCounter:
    """The profile function: per thread, Python calls, C calls, and whether the thread
    is blocked in `recv()` right now."""

    def __init__(self) -> None:
        self.threads: dict[int, list[Any]] = {}  # ident: [python calls, C calls, in recv, ident]
        # With --detail: every call's name, in order, per thread (ident: names).
        self.names: dict[int, list[str]] | None = None

    def __call__(self, frame: object, event: str, arg: Any) -> None:
        state = self.threads.get(threading.get_ident())
        if state is None:
            state = self.threads[threading.get_ident()] = [0, 0, False, threading.get_ident()]
        if event == "call":
            state[0] += 1
            if self.names is not None:
                code = frame.f_code  # type: ignore[attr-defined]
                where = f"{Path(code.co_filename).parent.name}/{Path(code.co_filename).name}"
                self.names.setdefault(threading.get_ident(), []).append(f"{where}:{code.co_name}")
        elif event == "c_call":
            state[1] += 1
            if self.names is not None:
                owner = type(getattr(arg, "__self__", None)).__name__
                self.names.setdefault(threading.get_ident(), []).append(f"  C {owner}.{arg.__name__}")
            if getattr(arg, "__name__", "") == "recv" and isinstance(getattr(arg, "__self__", None), socket.socket):
                state[2] = True
        elif event in ("c_return", "c_exception") and state[2] and getattr(arg, "__name__", "") == "recv":
            state[2] = False

    def waiting_thread(self, timeout: float = 10.0) -> list[Any]:
        """The state of the one connection thread blocked in recv(), once it is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [state for state in list(self.threads.values()) if state[2]]
            if len(waiting) == 1:
                return waiting[0]
            time.sleep(0.001)
        raise RuntimeError("no connection thread is waiting in recv()")


def read_response(sock: socket.socket) -> int:
    """Read one whole response (Content-Length framed); its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("closed in the middle of a body")
        body += piece
    return int(head.split(b" ")[1])


def measure(
    counter: CallCounter, port: int, name: str, make_request: Callable[[int], bytes], detail: bool = False
) -> dict[str, Any]:
    """The least Python and C call counts of one request of a scenario over `ROUNDS`;
    with `detail`, also the calls of the last round by name, in order."""
    counts: list[tuple[int, int]] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for number in range(WARM_UP + ROUNDS):
            state = counter.waiting_thread()
            if detail and number == WARM_UP + ROUNDS - 1:
                counter.names = {}
            before = (state[0], state[1])
            sock.sendall(make_request(number))
            status = read_response(sock)
            if status != EXPECTED_STATUS[name]:
                raise RuntimeError(f"{name}: status {status}, expected {EXPECTED_STATUS[name]}")
            if counter.waiting_thread() is not state:
                raise RuntimeError(f"{name}: the request was answered on another thread")
            if number >= WARM_UP:
                counts.append((state[0] - before[0], state[1] - before[1]))
    calls = counter.names.get(state[3], []) if counter.names is not None else []
    counter.names = None
    # Let the connection thread end before the next scenario's connection opens.
    deadline = time.monotonic() + 5
    while any(state[2] for state in counter.threads.values()) and time.monotonic() < deadline:
        time.sleep(0.001)
    result: dict[str, Any] = {"python": min(python for python, _ in counts), "c": min(c for _, c in counts)}
    if detail:
        result["calls"] = calls
    return result


def run(directory: Path, log_path: Path, detail: str | None = None) -> dict[str, dict[str, Any]]:
    """Start the server (default launch, access log to `log_path`), count every
    scenario, stop it."""
    (directory / "hello.txt").write_bytes(b"hello, world\n")
    arguments = build_parser().parse_args(["--directory", str(directory), "--port", "0", "--access-log", str(log_path)])
    settings = settings_from_arguments(arguments)
    accesslog.open_access_log(settings.access_log)
    server = make_runner(settings, None)
    counter = CallCounter()
    threading.setprofile(counter)
    try:
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        results = {
            name: measure(counter, server.port, name, request, detail == name)
            for name, request in scenarios(server.port).items()
        }
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        server.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    parser.add_argument("--detail", metavar="SCENARIO", help="also list the calls of one request of SCENARIO")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "served"
        directory.mkdir()
        results = run(directory, Path(folder) / "access.log", arguments.detail)
    if arguments.json:
        print(json.dumps(results))
        return 0
    print(f"{'scenario':<12} {'Python calls':>12} {'C calls':>8}")
    for name, counts in results.items():
        print(f"{name:<12} {counts['python']:>12} {counts['c']:>8}")
    if arguments.detail in results:
        print(f"\nThe calls of one {arguments.detail!r} request, in order (C calls indented):")
        print("\n".join(results[arguments.detail]["calls"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
