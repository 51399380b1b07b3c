"""Access rules and the lock-out across processes, end to end: --access-file reloaded on
SIGHUP (in one process and under --workers), rules refused at start, a symlink that
would carry a path out of its rule, the lock-out shared by --workers 2 and by two
instances on one --state-dir, and --qr with and without segno."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import segno

from app import qr
from tests.conftest import BANNER_RE, ROOT, ServerProcess, wait_until

BOB = ("bob", "bob-pw")


def folder_with(root: Path, name: str, text: str) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "a.txt").write_text(text)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_access_file_is_read_again_on_sighup(
    tmp_path: Path, start_server: Callable[..., ServerProcess], workers: str
) -> None:
    root = tmp_path / "root"
    folder_with(root, "team", "team text")
    rules = tmp_path / "rules"
    rules.write_text("# nobody reads /team yet\n/team:*=-\n")
    server = start_server(
        "--directory", str(root), "--auth", "bob:bob-pw", "--access-file", str(rules), "--workers", workers, "-v"
    )
    url = server.url + "/files/team/a.txt"
    assert requests.get(url, auth=BOB).status_code == 404
    rules.write_text("/team:*=rl\n")
    os.kill(server.process.pid, signal.SIGHUP)
    # Every worker reads it: new connections spread over both, each must answer 200.
    assert wait_until(lambda: all(requests.get(url, auth=BOB).status_code == 200 for _ in range(8)), timeout=5)
    assert wait_until(lambda: "reloaded: 1 rule(s)" in server.log)
    rules.write_text("/team:*=rl\nthis is not a rule\n")
    os.kill(server.process.pid, signal.SIGHUP)
    assert wait_until(lambda: "access file not reloaded, the previous rules stay" in server.log)
    assert "line 2" in server.log
    assert all(requests.get(url, auth=BOB).status_code == 200 for _ in range(4))
    assert server.process.poll() is None


@pytest.mark.parametrize(
    "options, words",
    [
        (["--allow", "/team:carol=r", "--auth", "bob:x"], "access rules name user(s) carol without a password"),
        (["--allow", "/team:bob=rz"], "unknown right(s) 'z'"),
        (["--allow", "/team/../x:*=r"], "'..' segment"),
        (["--allow", "team"], "is not PATH:USER=RIGHTS"),
    ],
)
def test_rules_that_cannot_work_are_refused_at_start(tmp_path: Path, options: list[str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "--port", "0", "--directory", str(tmp_path), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and words in result.stderr, result.stderr


def test_rules_need_a_directory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "--port", "0", "--allow", "/team:*=r"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and "--allow and --access-file apply to --directory" in result.stderr


def test_a_symlink_has_the_rights_of_where_it_leads(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    root = tmp_path / "root"
    folder_with(root, "team", "team text")
    folder_with(root, "private", "private text")
    os.symlink(root / "private/a.txt", root / "team/alias.txt")
    server = start_server(
        "--directory", str(root), "--auth", "bob:bob-pw", "--allow", "/team:*=rl", "--allow", "/private:*=-"
    )
    answer = requests.get(server.url + "/files/team/alias.txt", auth=BOB)
    assert answer.status_code == 404 and "private text" not in answer.text
    assert requests.get(server.url + "/files/team/a.txt", auth=BOB).text == "team text"


def test_anonymous_rules_and_the_login_challenge(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    """`*` includes anonymous visitors; where they have no right, the 401 carries the
    challenge, so a browser asks and logs in; with --auth-writes-only, no rule keeps
    reads open and writes behind the password."""
    root = tmp_path / "root"
    folder_with(root, "team", "team text")
    folder_with(root, "open", "open text")
    server = start_server(
        "--directory", str(root), "--auth", "bob:bob-pw", "--auth-writes-only", "--allow", "/team:*=-",
        "--allow", "/team:bob=rl",
    )
    assert requests.get(server.url + "/files/open/a.txt").text == "open text"
    refused = requests.get(server.url + "/files/team/a.txt")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert requests.get(server.url + "/files/team/a.txt", auth=BOB).text == "team text"
    assert requests.get(server.url + "/files/team/a.txt", auth=("bob", "wrong")).status_code == 401
    assert requests.put(server.url + "/files/open/new.txt", data=b"x").status_code == 401
    assert requests.put(server.url + "/files/open/new.txt", data=b"x", auth=BOB).status_code == 201
    assert requests.get(server.url + "/echo/abc").text == "abc"  # not a ruled route: as without rules


# ---------------------------------------------------------------------------------------
# The lock-out, shared through the state database
# ---------------------------------------------------------------------------------------


def wrong(server: ServerProcess) -> int:
    # A new connection each time: under --workers the kernel spreads them over the workers.
    return requests.get(server.url + "/files/", auth=("bob", "wrong"), headers={"Connection": "close"}).status_code


def test_lockout_is_shared_by_workers(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("--directory", str(tmp_path), "--auth", "bob:bob-pw", "--workers", "2", "-v")
    statuses = [wrong(server) for _ in range(13)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429] * 3, statuses
    assert requests.get(server.url + "/files/", auth=BOB).status_code == 429  # the right password too
    # Both workers answered some of those (else this test would prove nothing).
    pids = {line.split("[pid ")[1].split("]")[0] for line in server.stderr_lines if "[pid " in line}
    assert len(pids) >= 2


def test_lockout_is_shared_by_two_instances(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    state = tmp_path / "state"
    first = start_server("--directory", str(tmp_path), "--auth", "bob:bob-pw", "--state-dir", str(state))
    second = start_server("--directory", str(tmp_path), "--auth", "bob:bob-pw", "--state-dir", str(state))
    statuses = [wrong(first if number % 2 else second) for number in range(10)]
    assert statuses == [401] * 10
    assert wrong(first) == 429  # the 11th
    assert wrong(second) == 429
    retry = requests.get(second.url + "/files/", auth=BOB)
    assert retry.status_code == 429 and 55 <= int(retry.headers["Retry-After"]) <= 60


# ---------------------------------------------------------------------------------------
# --qr
# ---------------------------------------------------------------------------------------


def drawn_matrix(lines: list[str]) -> list[list[bool]]:
    return qr.matrix_from_text("\n".join(lines))


def segno_matrix(text: str) -> list[list[bool]]:
    return [[bool(module) for module in row] for row in segno.make(text, error="m").matrix_iter(border=4)]


def test_qr_banner_decodes_to_the_url(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("--directory", str(tmp_path), "--qr")
    code, stdout = server.stop()
    lines = stdout.splitlines()
    url = f"http://localhost:{server.port}/"
    start = lines.index(f"QR code of {url}:") + 1
    drawing = [line for line in lines[start:] if line and set(line) <= set("█▀▄ ")]
    matrix = segno_matrix(url)
    assert drawn_matrix(drawing)[: len(matrix)] == matrix


def test_share_command_prints_its_qr(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = subprocess.run(
        [sys.executable, "-m", "app", "share", "a.txt", "--directory", str(tmp_path), "--qr"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    url, *drawing = result.stdout.splitlines()
    matrix = segno_matrix(url)
    assert url.startswith("http://localhost:4221/s/") and drawn_matrix(drawing)[: len(matrix)] == matrix


def test_qr_without_segno_says_how_and_serves(tmp_path: Path) -> None:
    """`python -S`: no site-packages, so no segno, as on a machine without it."""
    process = subprocess.Popen(
        [sys.executable, "-S", "-m", "app.main", "--port", "0", "--directory", str(tmp_path), "--qr"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        port = int(BANNER_RE.search(process.stdout.readline()).group(1))
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[1] == qr.INSTALL_HINT + "\n", lines
        assert requests.get(f"http://localhost:{port}/echo/abc").text == "abc"
    finally:
        process.terminate()
        process.communicate(timeout=20)
