"""Resumable (tus) uploads against a single PUT, on loopback (issue 19, docs/uploads.md):

    python3 bench/tus_upload.py                    # 200 MB, 3 rounds; RSS at 100 MB and 1 GB
    python3 bench/tus_upload.py --mb 50 --rounds 1 --rss-mb 100

Run with `pipenv run` (tuspy and requests come from Pipfile.lock). Each scenario runs on
a fresh server (`python -m app.main -q`) whose folder is a temporary one on this disk:

- throughput: one PUT of the file (streamed from disk), then tuspy in 8 MiB, 1 MiB and
  256 KiB PATCHes; the median of the rounds, in MB/s;
- the per-PATCH fsync: the same tus upload under `strace -f -T -e fsync,fdatasync`: how
  many flushes a PATCH costs and the time spent in them;
- memory: the server's peak resident set (VmHWM) after a tus upload of --rss-mb sizes,
  and after `?hash=sha256` of the largest.

A measuring tool, not a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from tusclient import client as tus_client

ROOT = Path(__file__).resolve().parent.parent
BANNER_RE = re.compile(r"port (\d+) ")
MB = 1000 * 1000
MiB = 1024 * 1024


def start_server(folder: Path, wrapper: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "app.main", "--port", "0", "-q", "--directory", str(folder)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    port = BANNER_RE.search(process.stdout.readline()).group(1)
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (strace and the server under it)."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise KeyError("VmHWM")


def make_file(path: Path, size: int) -> Path:
    with path.open("wb") as file:
        for start in range(0, size, MiB):
            file.write(os.urandom(min(MiB, size - start)))
    return path


def put(url: str, source: Path) -> None:
    with source.open("rb") as body:
        response = requests.put(f"{url}/files/put.bin", data=body)
    assert response.status_code in (201, 204), response.status_code


def tus(url: str, source: Path, chunk: int, name: str = "tus.bin") -> None:
    uploader = tus_client.TusClient(url + "/files/").uploader(str(source), chunk_size=chunk, metadata={"filename": name})
    uploader.upload()


def timed(work, *arguments) -> float:
    started = time.perf_counter()
    work(*arguments)
    return time.perf_counter() - started


def throughput(source: Path, rounds: int) -> None:
    size = source.stat().st_size
    cases = [("one PUT", put, ()), *((f"tus, {c // 1024} KiB PATCHes", tus, (c,)) for c in (8 * MiB, MiB, 256 * 1024))]
    for label, work, extra in cases:
        seconds = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(dir=source.parent) as folder:
                process, url = start_server(Path(folder))
                seconds.append(timed(work, url, source, *extra))
                stop(process)
        median = statistics.median(seconds)
        print(f"{label:28} {size / MB / median:7.1f} MB/s  (median of {rounds}: {median:.2f} s)")


def fsync_cost(source: Path, chunk: int) -> None:
    if shutil.which("strace") is None:
        print("fsync cost: strace is not installed")
        return
    with tempfile.TemporaryDirectory(dir=source.parent) as folder:
        log = Path(folder) / "strace.log"
        files = Path(folder) / "files"
        files.mkdir()
        wrapper = ("strace", "-f", "-qq", "-T", "-e", "trace=fsync,fdatasync", "-o", str(log))
        process, url = start_server(files, wrapper)
        tus(url, source, chunk)
        stop(process)
        durations = [float(found) for found in re.findall(r"<([0-9.]+)>", log.read_text())]
    patches = -(-source.stat().st_size // chunk)
    print(
        f"fsync: {len(durations)} fsync/fdatasync calls for {patches} PATCHes of {chunk // 1024} KiB "
        f"({len(durations) / patches:.1f} per PATCH), {sum(durations):.2f} s in them "
        f"({1000 * sum(durations) / patches:.1f} ms per PATCH)"
    )


def memory(folder: Path, sizes_mb: list[int]) -> None:
    for size_mb in sizes_mb:
        source = make_file(folder / f"rss-{size_mb}.bin", size_mb * MB)
        with tempfile.TemporaryDirectory(dir=folder) as served:
            process, url = start_server(Path(served))
            at_start = peak_rss_kib(process.pid)
            tus(url, source, 8 * MiB)
            after_upload = peak_rss_kib(process.pid)
            requests.get(f"{url}/files/tus.bin?hash=sha256").raise_for_status()
            after_hash = peak_rss_kib(process.pid)
            stop(process)
        source.unlink()
        print(
            f"peak RSS, {size_mb} MB: {at_start / 1024:.1f} MiB at start, {after_upload / 1024:.1f} MiB after "
            f"the tus upload (8 MiB PATCHes), {after_hash / 1024:.1f} MiB after ?hash=sha256"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the throughput file in MB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-mb", type=int, nargs="+", default=[100, 1000])
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = make_file(Path(folder) / "source.bin", arguments.mb * MB)
        throughput(source, arguments.rounds)
        fsync_cost(source, 8 * MiB)
        source.unlink()
        memory(Path(folder), arguments.rss_mb)


if __name__ == "__main__":
    main()
