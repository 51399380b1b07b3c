"""A big folder's listing: how much the server's memory grows to send it (issue 20).

    python3 bench/listing_memory.py                        # 200,000 entries
    python3 bench/listing_memory.py --entries 20000 --folder /dev/shm/listings  # kept

Each case (a view, a format, a content coding) gets a fresh server (`-q`) serving a
folder that holds `big/` (N files) and `warm/` (3 files), a warm-up listing of `warm/`
in the same format and coding (the modules are loaded), then the listing of `big/`; the
growth is the peak RSS (`VmHWM` of /proc/PID/status, reset to the RSS before it) after
it minus before it, which counts whatever the listing held at its worst moment. The bytes received and the
server's CPU time are shown too. `big/` is made as bench/listing.py makes it (on
/dev/shm when there is one: 200,000 files take seconds there, minutes on a disk).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from listing import cpu_seconds, make_folder, start  # noqa: E402

FORMATS = {"html": "text/html", "json": "application/json", "text": "text/plain"}
VIEWS = ("sort=name&order=asc", "sort=size&order=desc", "sort=modified&order=asc")


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise KeyError("VmHWM")


def reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux's clear_refs, "5"): the peak of the start
    (imports) is above what a listing of 10,000 entries needs, and would hide it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def fetch(port: int, path: str, accept: str, gzip: bool) -> int:
    """The bytes of one GET on a new connection (Connection: close), read to the end."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: {accept}\r\n"
    request += "Accept-Encoding: gzip\r\n\r\n" if gzip else "\r\n"
    received = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request.encode())
        while piece := sock.recv(262144):
            received += len(piece)
    return received


def measure(folder: Path, view: str, fmt: str, gzip: bool) -> tuple[int, int, float]:
    """Peak RSS growth (KiB), bytes received, server CPU seconds for one listing."""
    server, port = start(
        [sys.executable, "-m", "app.main", "--directory", str(folder), "--port", "0", "-q"], r"port (\d+)"
    )
    try:
        fetch(port, f"/files/warm/?{view}", FORMATS[fmt], gzip)
        time.sleep(0.1)
        reset_peak(server.pid)
        before, cpu = peak_kib(server.pid), cpu_seconds(server.pid)
        size = fetch(port, f"/files/big/?{view}", FORMATS[fmt], gzip)
        time.sleep(0.1)
        return peak_kib(server.pid) - before, size, cpu_seconds(server.pid) - cpu
    finally:
        server.terminate()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--folder", type=Path, help="serve (and fill) this folder instead of a temporary one")
    arguments = parser.parse_args()
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as temporary:
        folder = arguments.folder or Path(temporary)
        if not (folder / "big").exists() or len(os.listdir(folder / "big")) != arguments.entries:
            make_folder(folder / "big", arguments.entries)
        make_folder(folder / "warm", 3)
        print(f"{arguments.entries} entries; peak RSS growth of the server for one listing")
        print(f"{'view':<24} {'format':<6} {'coding':<9} {'RSS +MiB':>9} {'bytes':>11} {'CPU s':>6}")
        for view in VIEWS:
            for fmt in FORMATS:
                for gzip in (True, False):
                    grown, size, cpu = measure(folder, view, fmt, gzip)
                    coding = "gzip" if gzip else "identity"
                    print(f"{view:<24} {fmt:<6} {coding:<9} {grown / 1024:>9.1f} {size:>11} {cpu:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
