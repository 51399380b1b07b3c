"""The litmus `locks` suite (Debian's litmus, WebDAV class 2: LOCK, UNLOCK, the If
header, 423) against the real server, anonymous and with --auth: every test passes, no
warning, nothing skipped. The other suites (basic copymove props http) have their own
test (`test_litmus.py`). Needs Debian's litmus, so not in the default run."""

from __future__ import annotations

import re
import subprocess

import pytest

SUMMARY_RE = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def run_litmus(url: str, cwd, *credentials: str) -> str:
    """litmus's output for the locks suite (it writes debug.log into `cwd`)."""
    result = subprocess.run(
        ["litmus", url, *credentials],
        env={"TESTS": "locks", "PATH": "/usr/bin:/bin"},
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("auth", [(), ("locker", "s3cret pass")], ids=["anonymous", "auth"])
def test_litmus_locks_suite_passes(start_server, tmp_path, auth):
    served = tmp_path / "served"
    served.mkdir()
    options = ("--auth", ":".join(auth)) if auth else ()
    server = start_server("--directory", str(served), *options)
    output = run_litmus(f"http://127.0.0.1:{server.port}/files/", tmp_path, *auth)
    summaries = SUMMARY_RE.findall(output)
    assert summaries == [("locks", "41", "41", "0")], output
    assert "warning" not in output.lower(), output
    assert "SKIPPED" not in output, output
