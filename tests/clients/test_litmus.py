"""litmus, the WebDAV compliance suite (Debian's `litmus`), against the running server,
anonymous and with --auth (issue 18). A failure fails the test; so does a warning, unless
docs/webdav.md explains it (its text quoted there). Needs the Debian package, so it is
not in the default run: .ci/run installs litmus and runs tests/clients."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

# The suites of class 1; `locks` joins them with class 2 (davlocks.py).
SUITES = ("basic", "copymove", "props", "http")
SUMMARY_RE = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")
WARNING_RE = re.compile(r"WARNING: (.*)")


def run_litmus(url: str, workdir: Path, *credentials: str) -> str:
    """litmus's output (it writes debug.log into its working folder, so it runs in one
    of its own); bounded in time."""
    program = shutil.which("litmus")
    assert program is not None, "litmus missing: apt-get install litmus (.ci/run does)"
    result = subprocess.run(
        [program, url, *credentials], cwd=workdir, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TESTS": " ".join(SUITES)},
    )
    return result.stdout + result.stderr


def check(output: str) -> None:
    summaries = {suite: tuple(map(int, counts)) for suite, *counts in SUMMARY_RE.findall(output)}
    assert sorted(summaries) == sorted(SUITES), output
    failed = {suite: counts for suite, counts in summaries.items() if counts[2] or counts[0] != counts[1]}
    assert not failed, output
    documented = (ROOT / "docs" / "webdav.md").read_text()
    unexplained = [warning for warning in WARNING_RE.findall(output) if warning.strip() not in documented]
    assert not unexplained, output
    assert "SKIPPED" not in output, output


@pytest.mark.parametrize("with_auth", [False, True], ids=["anonymous", "auth"])
def test_litmus_passes(start_server, tmp_path, with_auth: bool) -> None:
    served = tmp_path / "served"
    served.mkdir()
    credentials = ("litmus-user", "litmus secret words") if with_auth else ()
    options = ("--auth", ":".join(credentials)) if with_auth else ()
    process = start_server("--directory", str(served), *options)
    check(run_litmus(f"http://127.0.0.1:{process.port}/files/", tmp_path, *credentials))
    if with_auth:  # and without the password, nothing at all
        refused = run_litmus(f"http://127.0.0.1:{process.port}/files/", tmp_path)
        assert "401" in refused or "authentication" in refused.lower()
