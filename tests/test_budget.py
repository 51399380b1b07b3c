"""The per-request budget (issue 20): the function calls one request costs the
connection thread, counted by `bench/call_count.py` in a real server, against the
budgets in docs/performance.md ("The per-request budget"), which this test reads.

A count over its budget fails the test, saying which scenario and by how much. The
counts are deterministic (events of a profile function, not time), so this holds on a
loaded machine too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOC = ROOT / "docs" / "performance.md"
HEADING = "## The per-request budget"
# | `echo` | `GET /echo/abc`, keep-alive | 76 | 98 |
BUDGET_ROW_RE = re.compile(r"^\| `([^`]+)` +\|.*\| *([0-9]+) *\| *([0-9]+) *\|$")


def budgets_from_doc(text: str) -> dict[str, dict[str, int]]:
    """The budget table of the section `HEADING`: {scenario: {"python": n, "c": n}}."""
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    budgets = {}
    for line in section.splitlines():
        match = BUDGET_ROW_RE.match(line.strip())
        if match is not None:
            budgets[match.group(1)] = {"python": int(match.group(2)), "c": int(match.group(3))}
    return budgets


@pytest.fixture(scope="module")
def counts() -> dict[str, dict[str, int]]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "call_count.py"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_doc_holds_a_budget_for_every_scenario(counts: dict[str, dict[str, int]]) -> None:
    assert HEADING in DOC.read_text(), f"docs/performance.md lost its section {HEADING!r}"
    assert set(budgets_from_doc(DOC.read_text())) == set(counts)


@pytest.mark.parametrize("scenario", ["echo", "gzip echo", "404", "file", "put"])
def test_one_request_stays_within_its_budget(scenario: str, counts: dict[str, dict[str, int]]) -> None:
    budget = budgets_from_doc(DOC.read_text())[scenario]
    over = [
        f"{kind} calls: {counts[scenario][key]}, budget {budget[key]} "
        f"(+{counts[scenario][key] - budget[key]}, {100 * (counts[scenario][key] / budget[key] - 1):.1f} % over)"
        for key, kind in (("python", "Python"), ("c", "C"))
        if counts[scenario][key] > budget[key]
    ]
    assert not over, (
        f"one {scenario!r} request costs more than its budget: {'; '.join(over)}. "
        f"Pay for the new work elsewhere, or raise the budget in docs/performance.md in the same commit "
        f"and say why in its message. `python3 bench/call_count.py --detail '{scenario}'` lists the calls."
    )


def test_the_budget_table_is_read_as_written() -> None:
    """The parser of the table, on a table of the doc's shape."""
    text = (
        f"{HEADING} (x)\n\n| scenario | request | Python calls | C calls |\n|---|---|---|---|\n"
        "| `echo` | `GET /echo/abc`, keep-alive | 76 | 98 |\n| `404` | `GET /x` | 313 | 487 |\n\n## Next\n| `put` | y | 1 | 2 |\n"
    )
    assert budgets_from_doc(text) == {"echo": {"python": 76, "c": 98}, "404": {"python": 313, "c": 487}}
