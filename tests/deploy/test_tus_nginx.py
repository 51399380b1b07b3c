"""Resumable uploads through nginx with a stock body limit: deploy/local-cluster.sh with
`--max-body 1048576` (nginx's default `client_max_body_size 1m`) in front of two
instances whose own --max-upload is larger (it limits a file, not a request).

A 50 MB tus upload in 512 KiB PATCHes passes, byte-exact, its PATCHes spread over both
instances (they share the folder and the state database); the same file as one PUT is
refused by nginx with 413, as a stock nginx would."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tusclient import client as tus_client

from tests.deploy.conftest import MAX_UPLOAD, LocalCluster
from tests.conftest import ServerProcess, wait_until

MiB = 1024 * 1024
NGINX_BODY_LIMIT = 1 * MiB


@pytest.fixture
def limited_cluster(tmp_path: Path) -> Iterator[tuple[LocalCluster, list[ServerProcess], Path]]:
    directory = tmp_path / "shared"
    directory.mkdir()
    instances = [
        ServerProcess("--host", "127.0.0.1", "--directory", str(directory), "--forwarded-allow-ips", "127.0.0.1",
                      "--max-upload", str(MAX_UPLOAD))
        for _ in range(2)
    ]  # fmt: skip
    upstreams = [argument for instance in instances for argument in ("--upstream", f"127.0.0.1:{instance.port}")]
    nginx = LocalCluster(*upstreams, "--max-upload", str(MAX_UPLOAD), "--max-body", str(NGINX_BODY_LIMIT))
    yield nginx, instances, directory
    nginx.stop()
    for instance in instances:
        instance.stop()


def test_tus_passes_a_1m_body_limit_where_one_put_cannot(limited_cluster, tmp_path):
    nginx, instances, directory = limited_cluster
    source = tmp_path / "fifty.bin"
    source.write_bytes(os.urandom(50 * MiB))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    url = f"http://127.0.0.1:{nginx.port}"

    refused = requests.put(f"{url}/files/fifty-put.bin", data=source.read_bytes())
    assert refused.status_code == 413 and "nginx" in refused.text
    assert not (directory / "fifty-put.bin").exists()

    uploader = tus_client.TusClient(url + "/files/").uploader(
        str(source), chunk_size=512 * 1024, metadata={"filename": "fifty.bin"}
    )
    uploader.upload()
    assert requests.get(f"{url}/files/fifty.bin?hash=sha256").text.strip() == expected
    assert hashlib.sha256((directory / "fifty.bin").read_bytes()).hexdigest() == expected
    def patches() -> list[int]:  # access lines are written once a second
        return [sum('"PATCH /files/.http-server-state/tus/' in line for line in instance.stderr_lines) for instance in instances]

    assert wait_until(lambda: sum(patches()) == 100), patches()
    assert all(patches()), patches()  # both instances took PATCHes of the one upload
