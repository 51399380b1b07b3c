"""Through nginx (deploy/nginx.conf) to two instances: what users of a real deployment
rely on, each claim of docs/deploy.md checked on the wire."""

from __future__ import annotations

import gzip
import http.client
import hashlib
import os
import signal
import socket
import threading
import time

import requests

from tests.conftest import ROOT, wait_until
from tests.deploy.conftest import CLIENT_ADDRESS, MAX_UPLOAD, Cluster, Load

MiB = 1024 * 1024


def get(cluster: Cluster, path: str, headers: dict[str, str] | None = None):
    connection = cluster.nginx.connect()
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def access_lines(cluster: Cluster, path: str) -> list[str]:
    return [line for instance in cluster.instances for line in instance.log.splitlines() if f" {path} " in line]


def test_requests_spread_over_both_instances_whose_logs_name_the_client(cluster: Cluster) -> None:
    for number in range(10):
        assert get(cluster, f"/echo/spread{number}")[0].status == 200
    for instance in cluster.instances:
        assert wait_until(lambda: "/echo/spread" in instance.log)
    # X-Forwarded-For, written by nginx and trusted from it, names the client; what the
    # client wrote in it itself is not believed.
    get(cluster, "/echo/forged", {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"})
    assert wait_until(lambda: len(access_lines(cluster, "/echo/forged")) == 1)
    for number in range(10):
        assert wait_until(lambda: len(access_lines(cluster, f"/echo/spread{number}")) == 1)
    for line in access_lines(cluster, "/echo/spread0") + access_lines(cluster, "/echo/forged"):
        assert line.startswith(f"{CLIENT_ADDRESS} - - [")
    # The same header sent straight to an instance (not from nginx) is ignored.
    with socket.create_connection(("127.0.0.1", cluster.ports[0]), source_address=(CLIENT_ADDRESS, 0)) as direct:
        direct.sendall(b"GET /echo/direct HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")
        assert direct.recv(100).startswith(b"HTTP/1.1 200 OK")
    assert wait_until(lambda: access_lines(cluster, "/echo/direct"))
    assert access_lines(cluster, "/echo/direct")[0].startswith(f"{CLIENT_ADDRESS} - - [")


def test_connections_to_the_instances_are_kept_alive_and_reused(cluster: Cluster) -> None:
    for number in range(20):
        assert get(cluster, f"/echo/pool{number}")[0].status == 200
    assert wait_until(lambda: len(access_lines(cluster, "/echo/pool19")) == 1)
    # 20 requests from 20 client connections, carried by a few pooled connections.
    opened = sum(instance.log.count("connection opened") for instance in cluster.instances)
    assert 1 <= opened <= 4


def test_a_new_request_goes_to_the_instance_with_fewer_in_flight(cluster: Cluster) -> None:
    # least_conn: while an upload keeps one instance busy, requests go to the other.
    with socket.create_connection(("127.0.0.1", cluster.nginx.port)) as upload:
        upload.sendall(b"PUT /files/slow.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1000)
        assert wait_until(lambda: partials(cluster))
        busy = owner_of(cluster, partials(cluster)[0].name)
        for number in range(6):
            assert get(cluster, f"/echo/least{number}")[0].status == 200
        assert wait_until(lambda: len(access_lines(cluster, "/echo/least5")) == 1)
        assert "/echo/least" not in cluster.instances[busy].log
    # nginx's own log names the instance that answered each request.
    log = (cluster.nginx.prefix / "access.log").read_text()
    assert f"upstream=127.0.0.1:{cluster.ports[1 - busy]} upstream_status=200" in log


def test_what_nginx_sends_the_instances(cluster: Cluster, certificates) -> None:
    # /echo answers the request head as received: HTTP/1.1, no Connection: close (the
    # keepalive pool), the client's Host, the forwarding headers. TLS ends at nginx.
    response = requests.get(f"https://localhost:{cluster.nginx.tls_port}/echo", verify=certificates["ca"], timeout=10)
    assert response.status_code == 200
    head = response.text.lower()
    assert head.startswith("get /echo http/1.1\r\n")
    assert "connection:" not in head
    assert f"host: localhost\r\n" in head
    assert "x-forwarded-for: 127.0.0.1\r\n" in head
    assert "x-forwarded-proto: https\r\n" in head
    plain = requests.get(f"http://127.0.0.1:{cluster.nginx.port}/echo", timeout=10).text.lower()
    assert "x-forwarded-proto: http\r\n" in plain


def test_files_through_nginx_download_range_gzip_304(cluster: Cluster) -> None:
    big = os.urandom(20 * MiB)
    (cluster.directory / "big.bin").write_bytes(big)
    response, body = get(cluster, "/files/big.bin")
    assert response.status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
    response, body = get(cluster, "/files/big.bin", {"Range": "bytes=1000-1999"})
    assert response.status == 206 and body == big[1000:2000]
    assert response.getheader("Content-Range") == f"bytes 1000-1999/{len(big)}"
    # The static site's page (text/html) is gzipped for a client that accepts it.
    response, body = get(cluster, "/", {"Accept-Encoding": "gzip"})
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == (ROOT / "www" / "index.html").read_bytes()
    etag = response.getheader("ETag")
    response, body = get(cluster, "/", {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert response.status == 304 and body == b""


def test_a_50_mb_upload_streams_through_without_a_copy_on_nginx(cluster: Cluster) -> None:
    size, piece = 50 * MiB, os.urandom(MiB)
    body_temp = cluster.nginx.prefix / "client_body"
    with socket.create_connection(("127.0.0.1", cluster.nginx.port), source_address=(CLIENT_ADDRESS, 0)) as client:
        client.settimeout(30)
        client.sendall(b"PUT /files/upload.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        for sent in range(1, 51):
            client.sendall(piece)
            # Midway, the instance is writing the body already (it arrives in pieces)
            # and nginx holds no copy of it on disk.
            if sent == 10:
                assert wait_until(lambda: any(path.stat().st_size >= 5 * MiB for path in partials(cluster)))
            assert os.listdir(body_temp) == []
        answer = client.recv(1000)
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
    assert (cluster.directory / "upload.bin").read_bytes() == piece * 50
    assert cluster.partial_files() == [] and os.listdir(body_temp) == []


def partials(cluster: Cluster):
    return [cluster.directory / name for name in os.listdir(cluster.directory) if name.endswith(".part")]


def test_100_continue_and_413_are_relayed(cluster: Cluster) -> None:
    with socket.create_connection(("127.0.0.1", cluster.nginx.port)) as client:
        client.settimeout(10)
        client.sendall(b"PUT /files/c.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert client.recv(1000) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(b"hello")
        assert client.recv(1000).startswith(b"HTTP/1.1 201 Created\r\n")
    # An upload over --max-upload: nginx refuses it itself (client_max_body_size), before
    # any of the body is sent. A body over --max-body for /echo: the instance's 413.
    response = requests.put(f"http://127.0.0.1:{cluster.nginx.port}/files/big", data=b"x" * (MAX_UPLOAD + 1), timeout=30)
    assert response.status_code == 413
    response = requests.get(f"http://127.0.0.1:{cluster.nginx.port}/echo", data=b"x" * (2 * MiB), timeout=30)
    assert response.status_code == 413
    assert response.text == "request body larger than 1048576 bytes\n"
    assert not (cluster.directory / "big").exists() and cluster.partial_files() == []


def test_an_instance_killed_under_load_fails_no_get(cluster: Cluster) -> None:
    load = Load(cluster, "/echo/steady")
    load.wait_for(100)
    os.kill(cluster.instances[0].process.pid, signal.SIGKILL)
    load.wait_for(300)
    assert load.stop() == {200: load.count} and load.failures == []


def test_an_upload_in_flight_on_a_killed_instance_fails_cleanly_and_is_not_retried(cluster: Cluster) -> None:
    with socket.create_connection(("127.0.0.1", cluster.nginx.port)) as client:
        client.settimeout(30)
        client.sendall(b"POST /files/lost.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (20 * MiB))
        client.sendall(b"x" * MiB)
        assert wait_until(lambda: partials(cluster))
        index = owner_of(cluster, partials(cluster)[0].name)
        os.kill(cluster.instances[index].process.pid, signal.SIGKILL)
        try:
            for _ in range(19):  # the rest of the declared body
                client.sendall(b"x" * MiB)
        except OSError:
            pass  # nginx cut the upload short
        answer = client.recv(1000)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert not (cluster.directory / "lost.bin").exists()
    # nginx did not pass the POST on to the other instance.
    assert "lost.bin" not in cluster.instances[1 - index].log
    # The killed process's partial file: removed when the instance starts again.
    cluster.restart(index, sig=None)
    assert cluster.partial_files() == []


def owner_of(cluster: Cluster, partial_name: str) -> int:
    """The instance writing a temporary upload file (its pid is in the name)."""
    pids = [instance.process.pid for instance in cluster.instances]
    return next(index for index, pid in enumerate(pids) if f"-{pid}." in partial_name)


class Uploads:
    """A client uploading files of its own through nginx, one after another, until
    stopped (at most `limit`); remembers the bytes of every upload acknowledged."""

    def __init__(self, cluster: Cluster, limit: int = 3000) -> None:
        self.cluster, self.limit = cluster, limit
        self.acknowledged: dict[str, bytes] = {}
        self.refused: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        for number in range(self.limit):
            if self.stopping.is_set():
                return
            name, data = f"rolling-{number}.bin", os.urandom(64 * 1024 + number)
            connection = self.cluster.nginx.connect()
            try:
                connection.request("PUT", f"/files/{name}", body=data)
                status = connection.getresponse().status
            except (OSError, http.client.HTTPException) as error:
                status = repr(error)
            finally:
                connection.close()
            if status == 201:
                self.acknowledged[name] = data
            else:
                self.refused.append(f"{name}: {status}")
            time.sleep(0.005)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def test_a_rolling_restart_fails_no_get_and_loses_no_acknowledged_upload(cluster: Cluster) -> None:
    load, uploads = Load(cluster, "/echo/rolling"), Uploads(cluster)
    load.wait_for(100)
    for index in range(2):
        cluster.restart(index)  # SIGTERM: requests in flight finish, then it starts again
        # The next one waits until nginx sends this one requests again (nginx retries a
        # failed instance after fail_timeout): with both out at once, GETs would fail.
        assert wait_until(lambda: "/echo/rolling" in cluster.instances[index].log, timeout=15)
        load.wait_for(100)
    assert uploads.thread.is_alive()  # still uploading: the restarts happened under uploads
    load.stop()
    uploads.stop()
    assert load.statuses == {200: load.count} and load.failures == []
    assert len(uploads.acknowledged) >= 10
    for name, data in uploads.acknowledged.items():
        assert (cluster.directory / name).read_bytes() == data, name
    assert cluster.partial_files() == []
    # Uploads caught on a connection the stopping instance closed get 502 (nginx does
    # not resend a body it has begun to pass on); none of them was acknowledged.
    print(f"{len(uploads.acknowledged)} uploads acknowledged, refused: {uploads.refused}")
