"""curl against the HTTPS server: ALPN and a 100-continue upload (needs Debian's curl, so
not in the default run; .ci/run installs it and runs `pipenv run pytest tests/clients`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import ServerProcess
from tests.test_https import MiB, Certificates, certificates, https, shared  # noqa: F401 (fixtures)


def curl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", *arguments], capture_output=True, text=True, timeout=60)


def test_curl_with_cacert_gets_http_1_1_by_alpn(https: ServerProcess, certificates: Certificates) -> None:
    result = curl("-v", "--cacert", str(certificates.ca), https.url + "/files/hello.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, World!"
    assert re.search(r"ALPN[:,] server accepted (to use )?http/1\.1", result.stderr), result.stderr
    assert "< HTTP/1.1 200 OK" in result.stderr


def test_curl_uploads_5_mb_after_100_continue(https: ServerProcess, certificates: Certificates, shared: Path, tmp_path: Path) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(5 * MiB))
    result = curl(
        "-v", "--cacert", str(certificates.ca), "-H", "Expect: 100-continue", "-T", str(upload),
        https.url + "/files/upload.bin",
    )
    assert result.returncode == 0, result.stderr
    assert "< HTTP/1.1 100 Continue" in result.stderr
    assert "< HTTP/1.1 201 Created" in result.stderr
    assert (shared / "upload.bin").read_bytes() == upload.read_bytes()
