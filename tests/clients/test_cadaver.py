"""cadaver (Debian's command-line WebDAV client) scripted through its standard input
against the running server (issue 18): ls, mkcol, put, get, copy, move, propset,
propget, delete, rmcol; anonymous and with --auth (credentials from ~/.netrc, as cadaver
reads them). Needs the Debian package: .ci/run installs it and runs tests/clients."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

SCRIPT = """ls
mkcol work
cd work
put local.txt
copy local.txt copy.txt
move copy.txt moved.txt
propset moved.txt colour blue
propget moved.txt colour
get moved.txt back.txt
delete local.txt
ls
cd ..
mkcol gone
rmcol gone
quit
"""


def run_cadaver(url: str, home, script: str) -> str:
    program = shutil.which("cadaver")
    assert program is not None, "cadaver missing: apt-get install cadaver (.ci/run does)"
    result = subprocess.run(
        [program, url], input=script, cwd=home, capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOME": str(home)},
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("with_auth", [False, True], ids=["anonymous", "auth"])
def test_cadaver_session(start_server, tmp_path, with_auth: bool) -> None:
    served = tmp_path / "served"
    served.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "local.txt").write_bytes("bytes from cadaver ✓\n".encode())
    options = ("--auth", "alice:cadaver-secret") if with_auth else ()
    process = start_server("--directory", str(served), *options)
    if with_auth:
        (home / ".netrc").write_text("machine 127.0.0.1\nlogin alice\npassword cadaver-secret\n")
        os.chmod(home / ".netrc", 0o600)
    output = run_cadaver(f"http://127.0.0.1:{process.port}/files/", home, SCRIPT)
    for step in ("Creating `work': succeeded.", "Uploading local.txt to `/files/work/local.txt':",
                 "Copying `/files/work/local.txt' to `/files/work/copy.txt':  succeeded.",
                 "Moving `/files/work/copy.txt' to `/files/work/moved.txt':  succeeded.",
                 "Setting property on `moved.txt': succeeded.", "Value of colour is: blue",
                 "Deleting `local.txt': succeeded.", "Deleting collection `gone': succeeded."):
        assert step in output, output
    assert "failed" not in output.lower(), output
    assert (home / "back.txt").read_bytes() == "bytes from cadaver ✓\n".encode()
    assert sorted(p.name for p in (served / "work").iterdir()) == ["moved.txt"]
    assert not (served / "gone").exists()
