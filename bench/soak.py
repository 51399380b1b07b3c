"""A soak under mixed faults (issue 23, part 3): hours of abuse in minutes, then a check
that the server came back to where it started.

    python3 bench/soak.py                 # 10 minutes
    python3 bench/soak.py --minutes 1     # a quick run

Starts two servers on loopback, each `--workers 2 --access-log FILE` over one folder:
one plain HTTP, one HTTPS (a throw-away self-signed certificate made with openssl). For
`--minutes`, `--clients` threads run a weighted mix of:

- keep-alive GETs (files, /echo), ranges, listings, zip and tar.gz archives, uploads
  (PUT, then read back and compared), plain and over TLS;
- uploads cut in the middle of the body (PUT and a multipart form; the client closes,
  with a FIN or with a reset);
- slow readers (a small receive buffer, 16 KiB every 50 ms) that give up or read it all;
- clients that vanish without a FIN (SO_LINGER 0, so close() sends a reset): in the middle
  of a request head, of a download, of a TLS handshake;
- every 30 s, the access logs are rotated (renamed) and each server's parent gets SIGHUP,
  which it passes on to its workers to reopen the file.

Every `--interval` seconds it samples, from /proc, each server's resident memory, open
descriptors and threads, summed over the parent and its workers, and prints the curve as
a table. Before the load (after one request of each kind, so that modules a first archive
or upload imports are not counted as growth) and after it (as soon as the values settle,
at most 60 s), it compares: each must be back within 10 % of its value before. It then
checks that no temporary upload file is left, that the files whose uploads were cut still
hold their previous bytes, that every worker is the one it started with, and that the
servers logged no error. Exits 1 if a check fails. Loopback only; bounded in time (each
connection has a 20 s timeout) and in disk (uploads overwrite a few names per client).
A measuring tool, not a test: docs/hardening.md quotes a run.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import http.client
import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.partial_uploads import TEMPORARY_NAME_RE  # noqa: E402  (the server's own rule for its temporary names)

BANNER_RE = re.compile(r"Serving HTTPS? on \S+ port (\d+) ")
TIMEOUT = 20.0
KiB, MiB = 1024, 1024 * 1024
ROTATE_EVERY = 30.0
SETTLE_LIMIT = 60.0
TOLERANCE = 0.10


# ---------------------------------------------------------------- the servers and their folder


def make_folder(root: Path) -> dict[str, bytes]:
    """The served folder: files to read, a folder to archive, files whose uploads get cut
    (their bytes must survive), and a folder for complete uploads. Returns name -> bytes."""
    contents = {}
    rng = random.Random(23)
    for name, size in [("small.txt", 2 * KiB), ("page.html", 40 * KiB), ("mid.bin", 512 * KiB), ("big.bin", 4 * MiB)]:
        contents[name] = rng.randbytes(size)
    for number in range(8):
        contents[f"arch/file{number}.bin"] = rng.randbytes(64 * KiB)
    for number in range(4):
        contents[f"keep/keep{number}.bin"] = rng.randbytes(256 * KiB)
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "up").mkdir()
    return contents


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "soak.crt", folder / "soak.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Server:
    """One server with --workers 2 and --access-log, started as a user would."""

    def __init__(self, name: str, directory: Path, work: Path, *options: str) -> None:
        self.name, self.log_path = name, work / f"{name}-access.log"
        self.stderr_path = work / f"{name}-stderr.log"
        self.process = subprocess.Popen(
            [str(ROOT / "your_program.sh"), "--host", "127.0.0.1", "--port", "0", "--directory", str(directory),
             "--workers", "2", "--access-log", str(self.log_path), *options],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr_path.open("w"), text=True, start_new_session=True,
        )  # fmt: skip
        match = BANNER_RE.search(self.process.stdout.readline())
        if match is None:
            self.process.kill()
            raise SystemExit(f"the {name} server did not start: {self.stderr_path.read_text()}")
        self.port = int(match.group(1))
        self.workers_at_start = self.wait_for_workers()

    def wait_for_workers(self) -> set[int]:
        deadline = time.monotonic() + 20
        while len(self.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.workers()

    def workers(self) -> set[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except OSError:
            return set()

    def sample(self) -> tuple[int, int, int]:
        """(RSS in KiB, open descriptors, threads), summed over the parent and its workers."""
        rss = fds = threads = 0
        for pid in [self.process.pid, *self.workers()]:
            try:
                status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
                rss += int(status["VmRSS"].split()[0])
                threads += int(status["Threads"])
                fds += len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, KeyError):
                continue  # a worker being replaced
        return rss, fds, threads

    def memory_by_kind(self) -> list[str]:
        """Where each process's resident memory is (KiB, from /proc/PID/smaps): the main
        heap, anonymous mappings (malloc's thread arenas, Python's object arenas, thread
        stacks) and files (the interpreter, libraries)."""
        lines = []
        for pid in [self.process.pid, *sorted(self.workers())]:
            kinds = collections.Counter()
            kind = "file"
            for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
                fields = line.split()
                if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                    name = fields[5] if len(fields) > 5 else ""
                    kind = "heap" if name == "[heap]" else "anonymous" if name == "" else "file"
                elif fields[0] == "Rss:":
                    kinds[kind] += int(fields[1])
            role = "parent" if pid == self.process.pid else "worker"
            lines.append(f"{self.name} {role} {pid}: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in sorted(kinds.items())))
        return lines

    def rotate_log(self) -> None:
        """What logrotate does: rename the file, then SIGHUP (the parent passes it on)."""
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        self.process.send_signal(signal.SIGHUP)

    def log_reopened(self) -> bool:
        """After the last rotation, requests on new connections (the kernel spreads them
        over both workers) are written to a new file at the log's path."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                answer = raw_get(self.port, "/echo/after-rotation", tls=self.name == "tls")
            except OSError:
                continue
            if answer.startswith(b"HTTP/1.1 200") and self.log_path.exists():
                if "/echo/after-rotation" in self.log_path.read_text():
                    return True
            time.sleep(0.2)
        return False

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


# ---------------------------------------------------------------- clients


def raw_get(port: int, path: str, tls: bool) -> bytes:
    """One GET on a new connection (TLS unchecked: only the server's log matters here)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
        return sock.recv(65536)


def reset_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends a reset, no FIN (a client that vanished)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Expected(Exception):
    """An answer other than the one the request must get: counted as an error."""


class Soak:
    """The load: client threads picking scenarios until the deadline, counting by kind."""

    def __init__(self, plain: Server, tls: Server, contents: dict[str, bytes], context: ssl.SSLContext) -> None:
        self.plain, self.tls, self.contents, self.context = plain, tls, contents, context
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.scenarios = self.weighted_scenarios()

    def weighted_scenarios(self) -> list:
        weights = {
            self.keep_alive_gets: 6, self.ranges: 3, self.listings: 2, self.archives: 1, self.upload_and_read_back: 2,
            self.cut_upload: 2, self.cut_form: 1, self.slow_reader: 1, self.vanish_in_head: 1,
            self.vanish_in_download: 1, self.tls_keep_alive_gets: 3, self.tls_cut_upload: 1,
            self.tls_vanish_in_handshake: 1,
        }  # fmt: skip
        return [scenario for scenario, weight in weights.items() for _ in range(weight)]

    def count(self, kind: str, number: int = 1) -> None:
        with self.lock:
            self.counts[kind] += number

    def error(self, scenario: str, problem: BaseException) -> None:
        with self.lock:
            self.errors[f"{scenario}: {type(problem).__name__}: {str(problem)[:80]}"] += 1

    def connection(self, tls: bool = False) -> http.client.HTTPConnection:
        if tls:
            return http.client.HTTPSConnection("127.0.0.1", self.tls.port, timeout=TIMEOUT, context=self.context)
        return http.client.HTTPConnection("127.0.0.1", self.plain.port, timeout=TIMEOUT)

    def get(self, connection, path: str, headers: dict | None = None, status: int = 200) -> bytes:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        if response.status != status:
            raise Expected(f"GET {path}: {response.status}, not {status}")
        return body

    # ---- requests that must succeed

    def keep_alive_gets(self, rng: random.Random, tls: bool = False) -> None:
        """Ten GETs of files and /echo on one connection."""
        connection = self.connection(tls)
        try:
            for _ in range(10):
                name = rng.choice(["small.txt", "page.html", "mid.bin"])
                if rng.random() < 0.3:
                    word = f"w{rng.randrange(10**6)}"
                    if self.get(connection, f"/echo/{word}") != word.encode():
                        raise Expected("/echo answered other bytes")
                elif self.get(connection, f"/files/{name}") != self.contents[name]:
                    raise Expected(f"/files/{name} answered other bytes")
                self.count("tls keep-alive GET" if tls else "keep-alive GET")
        finally:
            connection.close()

    def tls_keep_alive_gets(self, rng: random.Random) -> None:
        self.keep_alive_gets(rng, tls=True)

    def ranges(self, rng: random.Random) -> None:
        """Single ranges of the 4 MiB file, on one connection."""
        connection = self.connection()
        data = self.contents["big.bin"]
        try:
            for _ in range(5):
                start = rng.randrange(len(data) - 1)
                end = min(len(data) - 1, start + rng.randrange(1, 256 * KiB))
                body = self.get(connection, "/files/big.bin", {"Range": f"bytes={start}-{end}"}, status=206)
                if body != data[start : end + 1]:
                    raise Expected("a range answered other bytes")
                self.count("range GET")
        finally:
            connection.close()

    def listings(self, rng: random.Random) -> None:
        connection = self.connection()
        try:
            for path in ["/files/", "/files/arch/", "/files/keep/"]:
                if b"file" not in self.get(connection, path) and path == "/files/arch/":
                    raise Expected("the listing lacks the files")
                self.count("listing")
        finally:
            connection.close()

    def archives(self, rng: random.Random) -> None:
        kind = rng.choice(["zip", "tar.gz"])
        connection = self.connection()
        try:
            body = self.get(connection, f"/files/arch/?download={kind}")
            if len(body) < 64 * KiB:
                raise Expected(f"a {kind} archive of {len(body)} bytes")
            self.count(f"archive ({kind})")
        finally:
            connection.close()

    def upload_and_read_back(self, rng: random.Random) -> None:
        """A whole PUT over one of a few names of this thread, then a GET of it."""
        name = f"up/{threading.current_thread().name}-{rng.randrange(3)}.bin"
        data = rng.randbytes(rng.randrange(16 * KiB, 1 * MiB))
        connection = self.connection()
        try:
            connection.request("PUT", f"/files/{name}", body=data)
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 201, 204):
                raise Expected(f"PUT answered {response.status}")
            self.count("upload (PUT)")
            if hashlib.sha256(self.get(connection, f"/files/{name}")).digest() != hashlib.sha256(data).digest():
                raise Expected("the upload reads back other bytes")
            self.count("keep-alive GET")
        finally:
            connection.close()

    # ---- faults: what is checked is that the server keeps serving and cleans up

    def cut_body(self, sock: socket.socket, head: bytes, length: int, rng: random.Random) -> None:
        """Send a head announcing `length` bytes, then a part of them, then close: with a
        FIN half of the time, with a reset the other half."""
        sock.sendall(head)
        sent, block = 0, rng.randbytes(16 * KiB)
        target = rng.randrange(1, length)
        while sent < target:
            sent += sock.send(block[: target - sent])
        if rng.random() < 0.5:
            reset_close(sock)
        else:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(TIMEOUT)
            while sock.recv(65536):  # the server may answer 400, then closes
                pass
            sock.close()

    def cut_upload(self, rng: random.Random, tls: bool = False) -> None:
        """A PUT over one of the keep/ files, cut: the file must keep its bytes."""
        length = rng.randrange(64 * KiB, 2 * MiB)
        head = f"PUT /files/keep/keep{rng.randrange(4)}.bin HTTP/1.1\r\nHost: soak\r\nContent-Length: {length}\r\n\r\n"
        sock = socket.create_connection(("127.0.0.1", self.tls.port if tls else self.plain.port), timeout=TIMEOUT)
        if tls:
            sock = self.context.wrap_socket(sock, server_hostname="localhost")
        self.cut_body(sock, head.encode(), length, rng)
        self.count("tls upload cut mid-body" if tls else "upload cut mid-body (PUT)")

    def tls_cut_upload(self, rng: random.Random) -> None:
        self.cut_upload(rng, tls=True)

    def cut_form(self, rng: random.Random) -> None:
        """A multipart/form-data POST whose file part is cut off."""
        length = rng.randrange(64 * KiB, 2 * MiB)
        part = b'--soak\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n'
        head = (
            b"POST /files/up/ HTTP/1.1\r\nHost: soak\r\nContent-Type: multipart/form-data; boundary=soak\r\n"
            b"Content-Length: %d\r\n\r\n" % length
        )
        self.cut_body(socket.create_connection(("127.0.0.1", self.plain.port), timeout=TIMEOUT), head + part, length, rng)
        self.count("upload cut mid-body (form)")

    def slow_reader(self, rng: random.Random) -> None:
        """16 KiB every 50 ms through a small receive buffer: all of mid.bin, or 1-3 s of
        big.bin and then it gives up (closes)."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * KiB)
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", self.plain.port))
        whole = rng.random() < 0.5
        sock.sendall(b"GET /files/%s HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n" % (b"mid.bin" if whole else b"big.bin"))
        received, give_up = 0, time.monotonic() + rng.uniform(1, 3)
        while whole or time.monotonic() < give_up:
            piece = sock.recv(16 * KiB)
            if not piece:
                break
            received += len(piece)
            time.sleep(0.05)
        sock.close()
        if whole and received < len(self.contents["mid.bin"]):
            raise Expected(f"a slow reader got {received} bytes of mid.bin")
        self.count("slow reader (read all)" if whole else "slow reader (gave up)")

    def vanish_in_head(self, rng: random.Random) -> None:
        sock = socket.create_connection(("127.0.0.1", self.plain.port), timeout=TIMEOUT)
        sock.sendall(b"GET /files/small.txt HTTP/1.1\r\nHost: so"[: rng.randrange(1, 40)])
        time.sleep(rng.uniform(0, 0.2))
        reset_close(sock)
        self.count("vanished mid-head (reset)")

    def vanish_in_download(self, rng: random.Random) -> None:
        sock = socket.create_connection(("127.0.0.1", self.plain.port), timeout=TIMEOUT)
        sock.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
        wanted = rng.randrange(1, 2 * MiB)
        received = 0
        while received < wanted:
            piece = sock.recv(64 * KiB)
            if not piece:
                raise Expected("the download ended early")
            received += len(piece)
        reset_close(sock)
        self.count("vanished mid-download (reset)")

    def tls_vanish_in_handshake(self, rng: random.Random) -> None:
        """A TLS client that resets the connection during its handshake, or just after."""
        sock = socket.create_connection(("127.0.0.1", self.tls.port), timeout=TIMEOUT)
        if rng.random() < 0.5:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(rng.randrange(0, 64)))
            reset_close(sock)
        else:
            reset_close(self.context.wrap_socket(sock, server_hostname="localhost"))
        self.count("tls vanished in handshake (reset)")

    # ---- the loop

    def run_client(self, deadline: float, seed: int, pause: float) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            scenario = rng.choice(self.scenarios)
            try:
                scenario(rng)
            except Exception as problem:  # noqa: BLE001 (every failure is counted and reported)
                self.error(scenario.__name__, problem)
            time.sleep(pause)

    def warm_up(self) -> None:
        """Each scenario once, so modules loaded on first use are in the 'before' values."""
        rng = random.Random(0)
        for scenario in dict.fromkeys(self.scenarios):
            try:
                scenario(rng)
            except Exception as problem:  # noqa: BLE001
                self.error(f"warm-up {scenario.__name__}", problem)


# ---------------------------------------------------------------- the run and its report


def sample_row(elapsed: float, servers: list[Server], soak: Soak) -> list:
    row = [f"{elapsed:5.0f}"]
    for server in servers:
        rss, fds, threads = server.sample()
        row += [f"{rss / 1024:.1f}", str(fds), str(threads)]
    return row + [str(sum(soak.counts.values()))]


def print_row(row: list) -> None:
    print("| " + " | ".join(row) + " |", flush=True)


def within(before: tuple[int, int, int], after: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= TOLERANCE * b for a, b in zip(after, before))


def settle(servers: list[Server], before: list[tuple]) -> list[tuple]:
    """Samples every 2 s until each server is back within 10 % (or SETTLE_LIMIT passes)."""
    deadline = time.monotonic() + SETTLE_LIMIT
    while True:
        after = [server.sample() for server in servers]
        if all(within(b, a) for b, a in zip(before, after)) or time.monotonic() > deadline:
            return after
        time.sleep(2)


def leftovers(directory: Path) -> list[str]:
    return [
        os.path.join(folder, name)
        for folder, _, names in os.walk(directory)
        for name in names
        if TEMPORARY_NAME_RE.fullmatch(name) or name.endswith(".part")
    ]


def load(soak: Soak, servers: list[Server], seconds: float, arguments) -> tuple[list, int]:
    """Runs the clients for `seconds`, printing a sample row every `interval` and rotating
    the logs every ROTATE_EVERY; returns (peak sample per server, rotations)."""
    start = time.monotonic()
    deadline = start + seconds
    threads = [
        threading.Thread(target=soak.run_client, args=(deadline, seed, arguments.pause), name=f"c{seed}", daemon=True)
        for seed in range(1, arguments.clients + 1)
    ]
    interval = arguments.interval
    for thread in threads:
        thread.start()
    peaks = [server.sample() for server in servers]
    next_sample, next_rotation, rotations = start + interval, start + ROTATE_EVERY, 0
    while any(thread.is_alive() for thread in threads):
        now = time.monotonic()
        if now >= next_rotation and now < deadline - 5:
            for server in servers:
                server.rotate_log()
            rotations, next_rotation = rotations + 1, next_rotation + ROTATE_EVERY
        if now >= next_sample:
            print_row(sample_row(now - start, servers, soak))
            next_sample += interval
        peaks = [tuple(map(max, peak, server.sample())) for peak, server in zip(peaks, servers)]
        time.sleep(0.5)
    return peaks, rotations


def report(servers, before, peaks, after, soak: Soak, rotations: int, problems: list[str]) -> None:
    print("\n| server | | RSS (MiB) | descriptors | threads |")
    print("| --- | --- | --- | --- | --- |")
    for server, b, p, a in zip(servers, before, peaks, after):
        for label, values in [("before", b), ("peak", p), ("after", a)]:
            print(f"| {server.name} | {label} | {values[0] / 1024:.1f} | {values[1]} | {values[2]} |")
    print(f"\nRequests and connections by kind ({sum(soak.counts.values())} in all):")
    for kind, number in sorted(soak.counts.items(), key=lambda item: -item[1]):
        print(f"  {number:8d}  {kind}")
    print(f"  {rotations:8d}  access-log rotations with SIGHUP (each server)")
    print(f"\nErrors ({sum(soak.errors.values())}):" if soak.errors else "\nErrors: none")
    for problem, number in soak.errors.most_common():
        print(f"  {number:8d}  {problem}")
    print("\nResident memory after the load, by process and kind:")
    for server in servers:
        for line in server.memory_by_kind():
            print(f"  {line}")
    print("\nChecks: " + ("all passed" if not problems else "FAILED"))
    for problem in problems:
        print(f"  - {problem}")


def checks(servers, before, after, directory: Path, contents: dict[str, bytes], soak: Soak) -> list[str]:
    problems = []
    for server, b, a in zip(servers, before, after):
        if not within(b, a):
            problems.append(f"{server.name}: {a} (RSS KiB, fds, threads) is not within 10 % of {b}")
        if server.workers() != server.workers_at_start:
            problems.append(f"{server.name}: workers {server.workers_at_start} became {server.workers()}")
        if not server.log_reopened():
            problems.append(f"{server.name}: the access log was not reopened after SIGHUP")
        errors = [line for line in server.stderr_path.read_text().splitlines() if "ERROR" in line or "Traceback" in line]
        if errors:
            problems.append(f"{server.name}: {len(errors)} error lines on stderr, first: {errors[0]}")
    problems += [f"temporary file left: {path}" for path in leftovers(directory)]
    for name, data in contents.items():
        if name.startswith("keep/") and (directory / name).read_bytes() != data:
            problems.append(f"{name} changed: a cut upload was stored")
    if soak.errors:
        problems.append(f"{sum(soak.errors.values())} requests failed")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default: 10)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default: 4)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default: 10)")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds each client rests between scenarios (default: 0.05)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak.") as work_name:
        work = Path(work_name)
        directory = work / "served"
        directory.mkdir()
        contents = make_folder(directory)
        cert, key = make_certificate(work)
        context = ssl.create_default_context(cafile=str(cert))
        servers = [
            Server("plain", directory, work),
            Server("tls", directory, work, "--tls-cert", str(cert), "--tls-key", str(key)),
        ]
        try:
            return soak_run(servers, directory, contents, context, arguments)
        finally:
            for server in servers:
                server.stop()


def soak_run(servers: list[Server], directory: Path, contents, context, arguments) -> int:
    soak = Soak(servers[0], servers[1], contents, context)
    soak.warm_up()
    time.sleep(2)
    before = [server.sample() for server in servers]
    print(f"Soak: {arguments.minutes:g} min, {arguments.clients} clients (pause {arguments.pause:g} s), plain port {servers[0].port}, "
          f"TLS port {servers[1].port}, each --workers 2; samples every {arguments.interval:g} s\n")  # fmt: skip
    print("| s | plain RSS (MiB) | plain fds | plain threads | TLS RSS (MiB) | TLS fds | TLS threads | requests |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print_row(sample_row(0, servers, soak))
    peaks, rotations = load(soak, servers, arguments.minutes * 60, arguments)
    print("load stopped; waiting for the servers to settle", flush=True)
    after = settle(servers, before)
    problems = checks(servers, before, after, directory, contents, soak)
    report(servers, before, peaks, after, soak, rotations, problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
