"""Starting, logging and stopping: what a user sees on the terminal."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, RawClient, ServerProcess, wait_until

ACCESS_LINE_RE = re.compile(
    r'^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(?P<line>.*)" '
    r"(?P<status>\d{3}) (?P<size>\d+) \d+\.\dms$"
)


def start_half_upload(server: ServerProcess, folder: Path, name: str) -> RawClient:
    """A connection with an upload in flight: 5 of its 10 body bytes sent, and the server
    already writing them to a temporary file in `folder`."""
    client = server.connect()
    client.send(b"POST /files/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf " % name.encode())
    assert wait_until(lambda: any(p.name.endswith(".part") for p in folder.iterdir()))
    return client


def test_banner_names_the_address(start_server) -> None:
    server = start_server()
    assert server.banner == f"Serving HTTP on localhost port {server.port} (http://localhost:{server.port}/) ...\n"


def test_help_explains_every_option() -> None:
    result = subprocess.run([str(ROOT / "your_program.sh"), "--help"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0
    for option in ["--directory", "--host", "--port", "--date", "--verbose", "--quiet"]:
        assert option in result.stdout


def launched_environment(server: ServerProcess) -> list[bytes]:
    return Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")


def test_launcher_limits_malloc_arenas(start_server, monkeypatch) -> None:
    """your_program.sh gives glibc two malloc arenas, so that memory comes back after a
    burst of connections (docs/hardening.md, the soak); a value already set is kept."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert b"MALLOC_ARENA_MAX=2" in launched_environment(start_server(launcher=True))
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert b"MALLOC_ARENA_MAX=4" in launched_environment(start_server(launcher=True))


def test_a_missing_directory_is_a_clear_error() -> None:
    result = subprocess.run(
        [str(ROOT / "your_program.sh"), "--directory", "/no/such/dir"], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 2
    assert "/no/such/dir is not a directory" in result.stderr


def test_a_busy_port_is_a_clear_error(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "--port", str(server.port)], cwd=ROOT, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"cannot listen on localhost port {server.port}: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_closes_idle_connections_and_exits_0(start_server, sig: int) -> None:
    server = start_server()
    idle = server.connect()
    assert idle.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    time.sleep(0.2)  # let the connection's thread go back to waiting for a request
    started = time.monotonic()
    code, stdout = server.stop(sig)
    assert time.monotonic() - started < 3  # idle connections do not hold up the exit
    assert code == 0
    assert stdout.splitlines()[-1] == "Stopped: closed 1 idle connection(s), 0 finished in flight."
    assert "Traceback" not in server.log
    assert idle.is_closed_by_server()


def test_a_request_in_flight_finishes_during_shutdown(start_server, tmp_path: Path) -> None:
    server = start_server("--directory", str(tmp_path))
    uploader = start_half_upload(server, tmp_path, "late.txt")
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # the server is now shutting down, waiting for this request
    response = uploader.exchange(b"done!")
    assert response.status == 201
    assert response.header("Connection") == "close"  # no further requests on it
    code, stdout = server.stop(sig=None)
    assert code == 0
    assert "1 finished in flight" in stdout
    assert (tmp_path / "late.txt").read_bytes() == b"half done!"


def test_shutdown_cuts_off_what_outlives_the_grace_period(start_server, tmp_path: Path) -> None:
    server = start_server("--directory", str(tmp_path))
    stalled = start_half_upload(server, tmp_path, "never.txt")
    code, stdout = server.stop(timeout=15)
    assert code == 0
    assert "1 cut off after the 5s grace period" in stdout
    assert list(tmp_path.iterdir()) == []  # the cut-off upload left nothing behind
    stalled.close()  # held open until here: the upload stays in flight throughout


def test_access_log_line(start_server) -> None:
    server = start_server()
    requests.get(server.url + "/echo/abc", headers={"Accept-Encoding": "identity"})
    requests.get(server.url + "/nope")
    assert wait_until(lambda: server.log.count("\n") >= 2)
    first, second = (ACCESS_LINE_RE.match(line) for line in server.log.splitlines()[:2])
    assert first and (first["line"], first["status"], first["size"]) == ("GET /echo/abc HTTP/1.1", "200", "3")
    assert second and (second["line"], second["status"]) == ("GET /nope HTTP/1.1", "404")


def test_access_log_escapes_control_characters(start_server) -> None:
    server = start_server()
    with server.connect() as client:
        client.send(b'GET /\x1b[2J"x" HTTP/1.1\r\nHost: x\r\n\r\n')
        assert client.read_response().status == 400
    assert wait_until(lambda: "\n" in server.log)
    line = server.log.splitlines()[0]
    assert '"GET /\\x1b[2J\\"x\\" HTTP/1.1" 400' in line
    assert "\x1b" not in server.log


def test_quiet_silences_the_access_log(start_server) -> None:
    server = start_server("-q")
    assert requests.get(server.url + "/echo/abc").status_code == 200
    server.stop()
    assert server.log == ""


def test_verbose_logs_connections(start_server) -> None:
    server = start_server("-v")
    requests.get(server.url + "/", headers={"Connection": "close"})
    server.stop()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} DEBUG connection opened from 127\.0\.0\.1$", server.log, re.M)
    assert re.search(
        r"DEBUG connection closed to 127\.0\.0\.1: the client asked to close \(Connection: close\)$",
        server.log,
        re.M,
    )


def test_a_second_stop_signal_skips_the_grace_period(start_server, tmp_path: Path) -> None:
    server = start_server("--directory", str(tmp_path))
    stalled = start_half_upload(server, tmp_path, "never.txt")
    server.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    code, stdout = server.stop(signal.SIGINT)
    assert time.monotonic() - started < 2.5  # well inside the 5 s grace period
    assert code == 0
    assert "1 cut off" in stdout
    assert "Traceback" not in server.log
    stalled.close()  # held open until here: the upload stays in flight throughout


def test_sigint_stops_a_server_started_with_sigint_ignored(tmp_path: Path) -> None:
    """As `./your_program.sh &` from a script does: background jobs start with SIGINT ignored."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.main", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout.readline().startswith("Serving HTTP on localhost port ")
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert stdout.startswith("Stopped:")


# --- The access log file: every line written, reopened on SIGHUP ----------------------------


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_access_log_file_has_every_line_after_a_graceful_stop(start_server, tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    server = start_server("--access-log", str(log_file))
    with server.connect() as client:
        for index in range(300):
            assert client.exchange(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % index).status == 200
    code, _ = server.stop()
    assert code == 0
    lines = log_lines(log_file)
    assert len(lines) == 300
    assert all(ACCESS_LINE_RE.match(line) for line in lines)
    assert [ACCESS_LINE_RE.match(line)["line"] for line in lines[:2]] == ["GET /echo/0 HTTP/1.1", "GET /echo/1 HTTP/1.1"]
    assert server.log == ""  # nothing on stderr


def test_access_log_file_has_every_line_after_sigterm_under_load(start_server, tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    server = start_server("--access-log", str(log_file))
    answered = [0] * 8
    stop = threading.Event()

    def client(slot: int) -> None:
        try:
            with server.connect() as connection:
                while not stop.is_set():
                    response = connection.exchange(b"GET /echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
                    answered[slot] += 1
                    if response.header("Connection") == "close":
                        return
        except OSError:
            pass  # the server closed the connection at shutdown

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: sum(answered) >= 500, timeout=30)
    code, _ = server.stop(signal.SIGTERM)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert code == 0
    # Every response a client read has its line (a response sent as the client was
    # closing may have a line its client never read).
    assert len(log_lines(log_file)) >= sum(answered) >= 500


def test_access_log_file_is_reopened_on_sighup(start_server, tmp_path: Path) -> None:
    log_file, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    server = start_server("--access-log", str(log_file))
    assert requests.get(server.url + "/echo/before").status_code == 200
    assert wait_until(lambda: len(log_lines(log_file)) == 1)
    log_file.rename(rotated)  # what logrotate does, then it signals the server
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(log_file.exists)
    assert requests.get(server.url + "/echo/after").status_code == 200
    assert wait_until(lambda: len(log_lines(log_file)) == 1)
    assert '"GET /echo/before HTTP/1.1" 200' in log_lines(rotated)[0]
    assert '"GET /echo/after HTTP/1.1" 200' in log_lines(log_file)[0]
    assert len(log_lines(rotated)) == 1
    server.assert_answers()


def test_access_log_file_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROOT / "your_program.sh"), "--access-log", str(tmp_path / "missing" / "access.log")],
        capture_output=True, text=True, timeout=10,
    )
    assert result.returncode == 1
    assert "cannot open the access log" in result.stderr and "No such file or directory" in result.stderr


def test_access_log_file_is_reopened_on_sighup_by_every_worker(start_server, tmp_path: Path) -> None:
    log_file, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    server = start_server("--workers", "2", "--access-log", str(log_file))
    for index in range(6):  # new connections: the kernel spreads them over both workers
        assert requests.get(server.url + f"/echo/before{index}").status_code == 200
    assert wait_until(lambda: len(log_lines(log_file)) == 6)
    log_file.rename(rotated)
    server.process.send_signal(signal.SIGHUP)  # to the parent, which passes it on
    assert wait_until(log_file.exists)
    for index in range(6):
        assert requests.get(server.url + f"/echo/after{index}").status_code == 200
    code, _ = server.stop()
    assert code == 0
    assert sorted(line.split('"')[1] for line in log_lines(rotated)) == [f"GET /echo/before{i} HTTP/1.1" for i in range(6)]
    assert sorted(line.split('"')[1] for line in log_lines(log_file)) == [f"GET /echo/after{i} HTTP/1.1" for i in range(6)]
