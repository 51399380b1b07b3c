"""Where the memory of bench/run.py's "+1000 idle conns, 50 conns" row goes (issue 20).

    python3 bench/idle_memory.py              # the default launch (access log on, to a file)
    python3 bench/idle_memory.py -q           # or any other options of the server
    python3 bench/idle_memory.py --rows 6 -q  # first bench/run.py's rows 1-5 on the same
                                              # server, as a full run does, then this one

Starts the server as bench/run.py does (`your_program.sh`, which sets MALLOC_ARENA_MAX=2
unless the environment sets it; pinned to core 0, stderr to a file), opens the row's 1,000 idle keep-alive connections (one `GET /echo/hello`
each), then runs wrk's 50 busy connections for 5 s (core 1) while sampling VmRSS every
0.1 s. Prints the RSS at start, with the connections idle, and the peak; then what the
idle connections added by kind of mapping (smaps): the 256 KiB thread stacks, pymalloc's
1 MiB arenas, the rest (the interpreter's 16 KiB frame chunks and glibc's thread arenas,
which the kernel merges when adjacent); and how many pages of each thread stack are
resident (touched). A measuring tool, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: the same server start, wrk run and idle connections)

STACK = 256 * 1024  # Settings.thread_stack_size


def mappings(pid: int) -> list[tuple[int, int, str, int]]:
    """(start, end, name, resident KiB) of each mapping; name is a path or "" (anonymous)."""
    found, current = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            current = [start, end, fields[5] if len(fields) > 5 else "", 0, fields[1]]
            found.append(current)
        elif fields[0] == "Rss:" and current is not None:
            current[3] = int(fields[1])
    return [(start, end, name if name else ("" if perms != "---p" else "guard"), rss) for start, end, name, rss, perms in found]


def kind(start: int, end: int, name: str) -> str:
    if name:
        return "files, [heap], guards"
    if end - start == STACK:
        return "thread stacks (256 KiB each)"
    if end - start in (1024 * 1024, 1040 * 1024):
        return "pymalloc arenas (1 MiB)"
    # Adjacent anonymous mappings merge: the interpreter's 16 KiB frame chunks (one per
    # thread) and glibc's thread arenas (the used part of a 64 MiB reservation).
    return "frame chunks, glibc arenas"


def by_kind(pid: int) -> collections.Counter[str]:
    totals: collections.Counter[str] = collections.Counter()
    for start, end, name, rss in mappings(pid):
        totals[kind(start, end, name)] += rss
    return totals


def stack_pages(pid: int) -> collections.Counter[int]:
    """How many thread stacks have 1, 2, 3... pages resident (touched)."""
    return collections.Counter(rss // 4 for start, end, name, rss in mappings(pid) if not name and end - start == STACK)


def vmrss(pid: int) -> float:
    return run.rss_bytes(pid) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=0, help="run bench/run.py's first N-1 rows before this one")
    arguments, options = parser.parse_known_args()  # the rest: server options, e.g. -q
    arguments.options = options
    workspace = Path(tempfile.mkdtemp(prefix="idle-memory-"))
    directory = workspace / "served"
    directory.mkdir()
    (directory / run.BIG_FILE).write_bytes(b"x" * run.BIG_FILE_SIZE)
    port = run.free_port()
    command = [
        str(run.ROOT / "your_program.sh"), "--host", "127.0.0.1", "--port", str(port), "--directory", str(directory),
        *run.our_extra_options(), *arguments.options,
    ]
    server = run.ServerUnderTest("ours", command, port, directory, "0")
    try:
        row = next(scenario for scenario in run.SCENARIOS if scenario.idle)
        for scenario in run.SCENARIOS[: max(arguments.rows - 1, 0)]:
            if scenario is row:
                break
            result = run.run_wrk(server, scenario, 5, "1")
            run.clear_uploads(directory)
            print(f"{scenario.name:<36} peak {result.peak_rss / 2**20:5.1f} MiB")
        pid = server.process.pid
        time.sleep(0.3)
        start, before = vmrss(pid), by_kind(pid)
        idle = run.IdleConnections(port, row.idle)
        time.sleep(0.5)
        held, after = vmrss(pid), by_kind(pid)
        pages = stack_pages(pid)
        busy = run.Scenario(row.name, row.path, row.connections)  # the idle ones are open already
        result = run.run_wrk(server, busy, 5, "1")
        answered = idle.finish()
        print(f"{' '.join(arguments.options) or 'default launch'}: start {start:.1f} MiB, {row.idle} idle {held:.1f} MiB, "
              f"peak with {row.connections} busy {max(result.peak_rss / 2**20, held):.1f} MiB "
              f"({answered}/{row.idle} idle answered, {result.throughput:.0f} req/s)")
        print(f"what the {row.idle} idle connections added, per connection:")
        for name in sorted(set(before) | set(after), key=lambda name: before[name] - after[name]):
            added = after[name] - before[name]
            if added:
                print(f"  {name:<28} {added / row.idle:6.2f} KiB")
        print(f"  {'all (VmRSS)':<28} {(held - start) * 1024 / row.idle:6.2f} KiB")
        print("thread stacks by resident pages: " + ", ".join(f"{count} with {n}" for n, count in sorted(pages.items())))
    finally:
        server.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
