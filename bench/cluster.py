"""Throughput through nginx (deploy/local-cluster.sh) with one and with two instances.

    python3 bench/cluster.py                  # 3 rounds of 5 s per row
    python3 bench/cluster.py --rounds 1 --duration 2

Rows: one instance straight (no nginx, the baseline), nginx in front of one instance,
nginx in front of two. wrk (1 thread, 16 keep-alive connections) asks GET /echo/hello;
the median of the rounds is printed. Everything shares this machine's cores: nginx, the
instances and wrk compete for them, so two instances gain only as far as a core is idle.
A benchmark is a measuring tool, not a test: nothing here asserts a timing.

Needs: wrk and nginx (Debian: apt-get install wrk nginx).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPORT_LUA  # noqa: E402  (bench/ is a folder of scripts, not a package)

ROOT = Path(__file__).resolve().parent.parent
READY_RE = re.compile(r"Cluster ready: (http://\S+) .* in front of (.*)")


def start_cluster(instances: int) -> tuple[subprocess.Popen, str, str]:
    """local-cluster.sh with `instances` instances: the process, nginx's URL and the
    first instance's URL."""
    process = subprocess.Popen(
        [str(ROOT / "deploy" / "local-cluster.sh"), "--instances", str(instances)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    for line in process.stdout:
        if match := READY_RE.match(line):
            return process, match.group(1), "http://" + match.group(2).split()[0] + "/"
    raise RuntimeError("local-cluster.sh did not start")


def requests_per_second(url: str, duration: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(REPORT_LUA)
        script.flush()
        command = ["wrk", "-t1", "-c16", f"-d{duration}s", "--timeout", "5s", "-s", script.name, url + "echo/hello"]
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    summary = json.loads(next(line for line in output.splitlines() if line.startswith("BENCH "))[6:])
    errors = sum(summary[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    if errors:
        print(f"  ({errors} errors at {url})", file=sys.stderr)
    return summary["requests"] / (summary["duration_us"] / 1e6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    arguments = parser.parse_args()
    rows: dict[str, list[float]] = {"1 instance, no nginx": [], "nginx + 1 instance": [], "nginx + 2 instances": []}
    for _ in range(arguments.rounds):
        for instances in (1, 2):
            process, nginx_url, instance_url = start_cluster(instances)
            try:
                if instances == 1:
                    rows["1 instance, no nginx"].append(requests_per_second(instance_url, arguments.duration))
                rows[f"nginx + {instances} instance{'s' * (instances > 1)}"].append(
                    requests_per_second(nginx_url, arguments.duration)
                )
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    print(f"GET /echo/hello, wrk -t1 -c16, {arguments.rounds} x {arguments.duration} s, {os.cpu_count()} cores")
    for name, values in rows.items():
        print(f"{name:24} {statistics.median(values):8.0f} requests/s   (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
