"""cadaver (Debian's command-line WebDAV client) locking and unlocking, scripted through
stdin: lock, showlocks, discover, a write by the lock's holder, a refused write from a
second session, unlock; anonymous and with --auth (credentials from ~/.netrc, as
cadaver reads them). Needs Debian's cadaver, so not in the default run."""

from __future__ import annotations

import re
import subprocess

import pytest

TOKEN_RE = re.compile(r"Lock token <(urn:uuid:[0-9a-f-]+)>")


def cadaver(url: str, commands: list[str], home) -> str:
    result = subprocess.run(
        ["cadaver", url], input="\n".join([*commands, "quit"]) + "\n",
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        cwd=home, capture_output=True, text=True, timeout=60,
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("auth", [None, ("carol", "pw")], ids=["anonymous", "auth"])
def test_cadaver_lock_and_unlock(start_server, tmp_path, auth):
    served = tmp_path / "served"
    served.mkdir()
    (tmp_path / "local.txt").write_text("from cadaver\n")
    options = ("--auth", ":".join(auth)) if auth else ()
    server = start_server("--directory", str(served), *options)
    if auth:
        (tmp_path / ".netrc").write_text(f"machine 127.0.0.1 login {auth[0]} password {auth[1]}\n")
        (tmp_path / ".netrc").chmod(0o600)
    url = f"http://127.0.0.1:{server.port}/files/"

    output = cadaver(url, ["lock doc.txt", "showlocks", "discover doc.txt", "put local.txt doc.txt"], tmp_path)
    assert "Locking `doc.txt': succeeded." in output, output
    assert "Scope: exclusive  Type: write" in output, output
    shown = TOKEN_RE.findall(output)
    assert len(shown) == 2 and shown[0] == shown[1], output  # showlocks and discover
    assert "Uploading local.txt to `/files/doc.txt':" in output and "succeeded." in output.split("put local.txt")[1]
    # cadaver's session ended without UNLOCK: the lock stays in force for anyone else
    refused = cadaver(url, ["put local.txt doc.txt", "discover doc.txt"], tmp_path)
    assert "423 Locked" in refused, refused
    assert TOKEN_RE.findall(refused) == shown[:1], refused

    # a session that takes the lock and gives it back
    output = cadaver(url, ["lock other.txt", "put local.txt other.txt", "unlock other.txt", "showlocks",
                           "discover other.txt"], tmp_path)
    assert "Unlocking `other.txt': succeeded." in output, output
    assert "No owned locks." in output, output
    assert len(TOKEN_RE.findall(output)) == 0, output
    assert (served / "other.txt").read_text() == "from cadaver\n"
    assert (served / "doc.txt").read_text() == "from cadaver\n"
