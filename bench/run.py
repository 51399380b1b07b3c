"""The benchmark: our server against http.server and a bare canned-response loop.

    python3 bench/run.py                         # the full run: 3 rounds of 5 s per scenario
    python3 bench/run.py --rounds 1 --duration 1 # a smoke run of about a minute
    python3 bench/run.py --help                  # scenarios, servers, cores

Every server runs pinned to one core (`taskset -c 0`) and `wrk` to the other (`-c 1`), on
loopback. The servers are interleaved round by round (round 1: every scenario on every
server, then round 2, ...), so drift of the machine (heat, other load) hits them alike;
the table shows the median of the rounds, and the lowest and highest of them (throughput,
and the ratio to http.server round by round). A benchmark is a measuring tool, not a
test: nothing here asserts a timing.

Servers:
  ours         ./your_program.sh --directory DIR as people run it: access log on, its
               stderr written to a file (the headline rows)
  ours-q       the same with -q (no access log; the peers log nothing)
  ours-w2      the same with --workers 2 (access log on)
  http.server  bench/peers.py stdlib: ThreadingHTTPServer, HTTP/1.1, same endpoints
  bare         bench/peers.py bare: canned answer, no parsing (only in the /echo/hello rows)

The "CPU µs/req" column is the server's user + system CPU time during the run (its
process tree, from /proc) divided by the requests answered: on a loaded machine it moves
less than requests/s.

Needs: wrk and taskset (Debian: apt-get install wrk util-linux).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers.py"

# wrk calls done() once at the end; this prints its summary as one JSON line we can parse.
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

# Each upload goes to a new name: a per-thread counter in the path.
UPLOAD_LUA = """
local body = string.rep("x", 64 * 1024)
local counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
request = function()
  counter = counter + 1
  return wrk.format("POST", "/files/upload-" .. thread_id .. "-" .. counter,
                    {["Content-Type"] = "application/octet-stream"}, body)
end
"""

ECHO_1KIB = "/echo/" + ("The-quick-brown-fox-jumps-over-the-lazy-dog-" * 24)[:1024]
BIG_FILE = "big.bin"
BIG_FILE_SIZE = 10 * 1024 * 1024
IDLE_CONNECTIONS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    connections: int
    headers: tuple[str, ...] = ()
    lua: str = ""
    unit: str = "req/s"  # or "MB/s": then the throughput column is bytes per second
    with_bare: bool = False  # the bare loop only answers /echo/hello sensibly
    idle: int = 0  # idle keep-alive connections held open during the run


SCENARIOS = [
    Scenario("keep-alive /echo/hello, 50 conns", "/echo/hello", 50, with_bare=True),
    Scenario("keep-alive /echo/hello, 1 conn", "/echo/hello", 1, with_bare=True),
    Scenario("Connection: close, 50 conns", "/echo/hello", 50, ("Connection: close",), with_bare=True),
    Scenario("Connection: close, 1 conn", "/echo/hello", 1, ("Connection: close",), with_bare=True),
    Scenario("gzip /echo/<1 KiB>, 50 conns", ECHO_1KIB, 50, ("Accept-Encoding: gzip",)),
    Scenario(f"+{IDLE_CONNECTIONS} idle conns, 50 conns", "/echo/hello", 50, with_bare=True, idle=IDLE_CONNECTIONS),
    Scenario("POST 64 KiB upload, 8 conns", "/files/", 8, lua=UPLOAD_LUA),
    # Last: a server that holds whole files in memory may keep that memory afterwards,
    # and each server runs through all scenarios (peak RSS is per scenario, so order
    # matters).
    Scenario("GET 10 MiB file, 8 conns", f"/files/{BIG_FILE}", 8, unit="MB/s"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (the workers of a --workers server)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class ServerUnderTest:
    def __init__(self, name: str, command: list[str], port: int, directory: Path, cpus: str) -> None:
        self.name = name
        self.port = port
        self.directory = directory
        pinned = ["taskset", "-c", cpus] if cpus else []
        # The access log (our stderr) goes to a file beside the served folder, as with
        # `./your_program.sh ... 2>access.log`; the other servers write nothing there.
        with open(directory.parent / f"{name}.stderr.log", "ab") as stderr:
            self.process = subprocess.Popen(
                [*pinned, *command],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"{name} did not start: {command}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def our_extra_options() -> list[str]:
    """Options our server needs for the scenarios, if it has them: the idle scenario
    holds more connections open than a --max-connections default of 1000 allows."""
    help_text = subprocess.run(["python3", "-m", "app.main", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    return ["--max-connections", "4000"] if "--max-connections" in help_text else []


def start_server(name: str, directory: Path, cpus: str) -> ServerUnderTest:
    port = free_port()
    ours = [  # as people run it: the launcher also sets the allocator up (MALLOC_ARENA_MAX)
        str(ROOT / "your_program.sh"), "--host", "127.0.0.1", "--port", str(port), "--directory", str(directory),
        *our_extra_options(),
    ]
    commands = {
        "ours": ours,
        "ours-q": [*ours, "-q"],
        "ours-w2": [*ours, "--workers", "2"],
        "http.server": [sys.executable, str(PEERS), "stdlib", str(port), str(directory)],
        "bare": [sys.executable, str(PEERS), "bare", str(port)],
    }
    return ServerUnderTest(name, commands[name], port, directory, cpus)


@dataclass
class Result:
    throughput: float  # requests/s, or MB/s
    p50_ms: float
    p99_ms: float
    errors: int
    peak_rss: int
    cpu_us_per_request: float
    note: str = ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


class IdleConnections:
    """Connections that each make one request, then sit idle while wrk runs; afterwards
    each must still answer a second request."""

    REQUEST = b"GET /echo/hello HTTP/1.1\r\nHost: bench\r\n\r\n"

    def __init__(self, port: int, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sockets.append(sock)
        self.answered_before = self._ask_all()

    def _ask_all(self) -> int:
        answered = 0
        for sock in self.sockets:
            try:
                sock.sendall(self.REQUEST)
                data = b""
                while b"hello" not in data:
                    piece = sock.recv(4096)
                    if not piece:
                        break
                    data += piece
                answered += data.startswith(b"HTTP/1.1 200") and b"hello" in data
            except OSError:
                pass
        return answered

    def finish(self) -> int:
        answered = self._ask_all()
        for sock in self.sockets:
            sock.close()
        return min(answered, self.answered_before)


def run_wrk(server: ServerUnderTest, scenario: Scenario, duration: int, wrk_cpus: str) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(scenario.lua + REPORT_LUA)
    idle = IdleConnections(server.port, scenario.idle) if scenario.idle else None
    peak = [rss_bytes(server.process.pid)]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.1):
            peak[0] = max(peak[0], rss_bytes(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = cpu_seconds(server.process.pid)
    command = [
        *(["taskset", "-c", wrk_cpus] if wrk_cpus else []),
        "wrk", "-t1", f"-c{scenario.connections}", f"-d{duration}s", "--timeout", "5s",
        "-s", script.name,
    ]
    for header in scenario.headers:
        command += ["-H", header]
    command.append(f"http://127.0.0.1:{server.port}{scenario.path}")
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    finally:
        sampling.set()
        sampler.join()
        os.unlink(script.name)
    peak[0] = max(peak[0], rss_bytes(server.process.pid))
    cpu = cpu_seconds(server.process.pid) - cpu_before
    note = ""
    if idle is not None:
        answered = idle.finish()
        note = f"{answered}/{scenario.idle} idle answered"
    line = next((line for line in output.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary for {server.name}, {scenario.name}:\n{output}")
    summary = json.loads(line[len("BENCH "):])
    seconds = summary["duration_us"] / 1e6
    if scenario.unit == "MB/s":
        throughput = summary["bytes"] / seconds / 1e6
    else:
        throughput = summary["requests"] / seconds
    errors = sum(summary[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    cpu_per_request = cpu / summary["requests"] * 1e6 if summary["requests"] else 0.0
    return Result(throughput, summary["p50_us"] / 1000, summary["p99_us"] / 1000, errors, peak[0], cpu_per_request, note)


def clear_uploads(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.name != BIG_FILE:
            entry.unlink(missing_ok=True)  # a request still in flight may remove its own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default: %(default)s)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default: %(default)s)")
    parser.add_argument(
        "--servers", default="ours,ours-q,ours-w2,http.server,bare",
        help="comma-separated, from ours, ours-q, ours-w2, http.server, bare (default: %(default)s)",
    )
    parser.add_argument(
        "--scenarios", default="",
        help="comma-separated words; run only the scenarios whose name holds one (default: all)",
    )
    parser.add_argument("--server-cpus", default="0", help="taskset cores for the servers; '' = unpinned (default: 0)")
    parser.add_argument("--wrk-cpus", default="1", help="taskset cores for wrk; '' = unpinned (default: 1)")
    arguments = parser.parse_args()
    # Ctrl+C and kill both end the run cleanly: the servers are stopped in `finally`.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian: apt-get install wrk util-linux)", file=sys.stderr)
            return 1

    server_names = arguments.servers.split(",")
    scenarios = [
        scenario for scenario in SCENARIOS
        if not arguments.scenarios or any(word in scenario.name for word in arguments.scenarios.split(","))
    ]
    workspace = Path(tempfile.mkdtemp(prefix="bench-"))
    servers: dict[str, ServerUnderTest] = {}
    results: dict[tuple[str, str], list[Result]] = {}
    try:
        for name in server_names:
            directory = workspace / name
            directory.mkdir()
            (directory / BIG_FILE).write_bytes(os.urandom(BIG_FILE_SIZE))
        for round_number in range(1, arguments.rounds + 1):
            # Fresh servers each round: the peak RSS of a scenario then includes nothing
            # that an earlier round left behind.
            for name in server_names:
                servers[name] = start_server(name, workspace / name, arguments.server_cpus)
            for scenario in scenarios:
                for name, server in servers.items():
                    if name == "bare" and not scenario.with_bare:
                        continue
                    result = run_wrk(server, scenario, arguments.duration, arguments.wrk_cpus)
                    clear_uploads(server.directory)
                    results.setdefault((scenario.name, name), []).append(result)
                    print(
                        f"round {round_number}: {scenario.name:<36} {name:<12} "
                        f"{result.throughput:>10.1f} {scenario.unit}  p99 {result.p99_ms:.2f} ms  "
                        f"errors {result.errors}  {result.note}",
                        file=sys.stderr, flush=True,
                    )
            for server in servers.values():
                server.stop()
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    print_table(scenarios, server_names, results, arguments)
    return 0


def print_table(
    scenarios: list[Scenario], server_names: list[str], results: dict[tuple[str, str], list[Result]],
    arguments: argparse.Namespace,
) -> None:
    print(
        f"\nMedians of {arguments.rounds} round(s) of {arguments.duration:g} s; servers on cores "
        f"{arguments.server_cpus or 'any'}, wrk (1 thread) on {arguments.wrk_cpus or 'any'}. "
        "'ours' is the default launch (access log on, to a file); 'ours-q' runs with -q."
    )
    header = f"| {'scenario':<36} | {'server':<11} | {'throughput':>14} | {'min–max':>15} | {'×http.server':>12} | {'× min–max':>11} | {'×bare':>6} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} | {'peak RSS':>8} | {'CPU µs/req':>10} | note"
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:]))
    for scenario in scenarios:
        def median(name: str) -> float | None:
            rounds = results.get((scenario.name, name))
            return statistics.median(r.throughput for r in rounds) if rounds else None

        stdlib, bare = median("http.server"), median("bare")
        for name in server_names:
            rounds = results.get((scenario.name, name))
            if not rounds:
                continue
            throughput = statistics.median(r.throughput for r in rounds)
            spread = f"{min(r.throughput for r in rounds):.0f}–{max(r.throughput for r in rounds):.0f}"
            versus_stdlib = f"{throughput / stdlib:.2f}×" if stdlib else "—"
            versus_range = ratio_range(rounds, results.get((scenario.name, "http.server")) or [])
            versus_bare = f"{throughput / bare:.2f}×" if bare else "—"
            p50 = statistics.median(r.p50_ms for r in rounds)
            p99 = statistics.median(r.p99_ms for r in rounds)
            errors = sum(r.errors for r in rounds)
            peak = max(r.peak_rss for r in rounds) / 2**20
            notes = "; ".join(sorted({r.note for r in rounds if r.note}))
            cpu = statistics.median(r.cpu_us_per_request for r in rounds)
            print(
                f"| {scenario.name:<36} | {name:<11} | {throughput:>8.1f} {scenario.unit:<5} | {spread:>15} | {versus_stdlib:>12} | {versus_range:>11} "
                f"| {versus_bare:>6} | {p50:>7.2f} | {p99:>7.2f} | {errors:>6} | {peak:>5.1f} MiB | {cpu:>10.1f} | {notes}"
            )


def ratio_range(rounds: list[Result], stdlib_rounds: list[Result]) -> str:
    """The lowest and highest ratio to http.server, round by round: the servers of a round
    ran one after the other, so each round's ratio is the fairest single figure."""
    ratios = [ours.throughput / theirs.throughput for ours, theirs in zip(rounds, stdlib_rounds) if theirs.throughput]
    return f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "—"


if __name__ == "__main__":
    sys.exit(main())
