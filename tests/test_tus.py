"""Resumable uploads (tus 1.0.0, app/tus.py) against the real server: the tuspy client in
one go, in chunks and across a SIGKILL; every extension; the hostile cases of issue 19;
and `?hash=` against hashlib on every file stored."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from tests.conftest import RawClient, ServerProcess, wait_until

TUS = {"Tus-Resumable": "1.0.0"}
MiB = 1024 * 1024


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def random_file(path: Path, size: int) -> Path:
    """A file of `size` random bytes, written in 1 MiB pieces."""
    with path.open("wb") as file:
        for start in range(0, size, MiB):
            file.write(os.urandom(min(MiB, size - start)))
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def served_hash(url: str, name: str, algorithm: str = "sha256") -> str:
    response = requests.get(f"{url}/files/{name}?hash={algorithm}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain"
    return response.text.strip()


def create(url: str, name: str, length: int | None, folder: str = "/files/", **headers: str) -> requests.Response:
    sizes = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    return requests.post(url + folder, headers={**TUS, **sizes, "Upload-Metadata": f"filename {b64(name)}", **headers})


def upload_url(url: str, name: str, length: int | None, **headers: str) -> str:
    response = create(url, name, length, **headers)
    assert response.status_code == 201, response.text
    return url + response.headers["Location"]


def patch(location: str, offset: int | str, data: bytes, **headers: str) -> requests.Response:
    fields = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers}
    return requests.patch(location, data=data, headers=fields)


def offset_of(location: str) -> int:
    response = requests.head(location, headers=TUS)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def partial_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tus-*.part"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own folder and server: the uploads left incomplete on purpose here
    must not meet the other modules' checks for leftover files."""
    return tmp_path_factory.mktemp("tus-served")


@pytest.fixture(scope="module")
def server(server_directory: Path):
    process = ServerProcess("--directory", str(server_directory))
    yield process
    process.stop()


# ---------------------------------------------------------------------------------------
# tuspy, the Python tus client, unchanged
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_file(tmp_path_factory.mktemp("tus") / "big.bin", 100 * MiB)


@pytest.mark.parametrize("chunk_size", [None, MiB], ids=["one-go", "1MiB-chunks"])
def test_tuspy_uploads_100_mb(server, server_directory, big_file, chunk_size):
    name = f"tuspy-{chunk_size}.bin"
    options = {"chunk_size": chunk_size} if chunk_size else {}
    uploader = tus_client.TusClient(server.url + "/files/").uploader(str(big_file), metadata={"filename": name}, **options)
    uploader.upload()
    assert served_hash(server.url, name) == sha256_of(big_file)
    assert partial_files(server_directory) == []


def test_tuspy_resumes_after_sigkill_mid_patch(start_server, tmp_path, big_file):
    """Killed at ~40 % in the middle of a PATCH, restarted on the same port: the same
    client resumes from the offset the server acknowledged, and the file is exact."""
    folder = tmp_path / "share"
    folder.mkdir()
    port = str(free_port())
    server = start_server("--directory", str(folder), "--port", port)
    uploader = tus_client.TusClient(server.url + "/files/").uploader(
        str(big_file), chunk_size=8 * MiB, metadata={"filename": "resumed.bin"}
    )
    killed = threading.Event()

    def kill_at_40_percent() -> None:
        while not killed.is_set():
            if any(path.stat().st_size >= 40 * MiB for path in partial_files(folder)):
                server.process.send_signal(signal.SIGKILL)
                killed.set()
            time.sleep(0.002)

    killer = threading.Thread(target=kill_at_40_percent, daemon=True)
    killer.start()
    with pytest.raises((TusUploadFailed, TusCommunicationError)):
        uploader.upload()
    assert killed.wait(5)
    acknowledged = uploader.offset
    assert 32 * MiB <= acknowledged < 48 * MiB
    server.process.wait()
    server = start_server("--directory", str(folder), "--port", port)
    resumed_at = uploader.get_offset()
    assert resumed_at == acknowledged  # nothing acknowledged lost, no unacknowledged tail counted
    uploader.offset = resumed_at
    uploader.upload()
    assert served_hash(server.url, "resumed.bin") == sha256_of(big_file)
    assert partial_files(folder) == []


def test_tuspy_with_checksums(server, tmp_path):
    source = random_file(tmp_path / "c.bin", 3 * MiB + 5)
    uploader = tus_client.TusClient(server.url + "/files/").uploader(
        str(source), chunk_size=MiB, metadata={"filename": "checked.bin"}, upload_checksum=True
    )
    uploader.upload()
    assert served_hash(server.url, "checked.bin") == sha256_of(source)


# ---------------------------------------------------------------------------------------
# The protocol, step by step
# ---------------------------------------------------------------------------------------


def test_options_lists_the_capabilities(server):
    response = requests.options(server.url + "/files/")
    assert response.status_code == 200  # WebDAV's answer (old Windows clients want 200), with tus's fields
    assert response.headers["DAV"] == "1, 2"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "creation-defer-length", "termination", "expiration", "checksum"
    }
    assert int(response.headers["Tus-Max-Size"]) == 10 * 1024**3
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"
    assert "PATCH" in response.headers["Allow"]


def test_create_head_patch_complete(server, server_directory):
    location = upload_url(server.url, "steps.txt", 11)
    assert "/.http-server-state/tus/" in location
    head = requests.head(location, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "11"
    assert head.headers["Cache-Control"] == "no-store" and head.headers["Tus-Resumable"] == "1.0.0"
    assert "GMT" in head.headers["Upload-Expires"]
    assert head.headers["Upload-Metadata"] == f"filename {b64('steps.txt')}"
    first = patch(location, 0, b"hello ")
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "6"
    assert not (server_directory / "steps.txt").exists()  # only when complete
    assert patch(location, 6, b"world").headers["Upload-Offset"] == "11"
    assert (server_directory / "steps.txt").read_bytes() == b"hello world"
    assert requests.head(location, headers=TUS).status_code == 404  # done: the upload is gone


def test_an_upload_in_progress_is_hidden_from_listings_and_archives(start_server, tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    server = start_server("--directory", str(folder), "--show-hidden")
    location = upload_url(server.url, "hidden.bin", 10)
    patch(location, 0, b"12345")
    assert len(partial_files(folder)) == 1
    names = [entry["name"] for entry in requests.get(server.url + "/files/", headers={"Accept": "application/json"}).json()]
    assert names == []
    assert b"hidden.bin" not in requests.get(server.url + "/files/?download=tar.gz").content
    assert requests.get(server.url + "/files/", headers={"Accept": "text/html"}).text.count("tus-") == 0


def test_creation_with_upload_and_deferred_length(server, server_directory):
    response = requests.post(
        server.url + "/files/",
        data=b"abc",
        headers={**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": f"filename {b64('with-body.txt')}",
                 "Content-Type": "application/offset+octet-stream"},
    )
    assert response.status_code == 201 and response.headers["Upload-Offset"] == "3"
    location = server.url + response.headers["Location"]
    assert requests.head(location, headers=TUS).headers["Upload-Defer-Length"] == "1"
    done = patch(location, 3, b"def", **{"Upload-Length": "6"})
    assert done.status_code == 204
    assert (server_directory / "with-body.txt").read_bytes() == b"abcdef"


def test_creation_with_a_body_of_another_type_is_415_and_creates_nothing(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path))
    response = requests.post(
        server.url + "/files/",
        data=b"abc",
        headers={**TUS, "Upload-Length": "3", "Upload-Metadata": f"filename {b64('typed.txt')}", "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert partial_files(tmp_path) == []


def test_an_empty_upload_is_complete_at_creation(server, server_directory):
    assert create(server.url, "empty.txt", 0).status_code == 201
    assert (server_directory / "empty.txt").read_bytes() == b""


def test_termination_removes_the_partial_file(server, server_directory):
    location = upload_url(server.url, "terminated.bin", 100)
    patch(location, 0, b"x" * 10)
    assert requests.delete(location, headers=TUS).status_code == 204
    assert not any("terminated" in path.name for path in partial_files(server_directory))
    assert patch(location, 10, b"y").status_code == 404
    assert requests.head(location, headers=TUS).status_code == 404


def test_names_in_subfolders_are_created(server, server_directory):
    location = upload_url(server.url, "deep/er/file.txt", 2)
    patch(location, 0, b"ok")
    assert (server_directory / "deep/er/file.txt").read_bytes() == b"ok"


def test_a_plain_form_post_to_a_folder_still_works(server, server_directory):
    response = requests.post(server.url + "/files/", files={"file": ("form.txt", b"form")})
    assert response.status_code == 201
    assert (server_directory / "form.txt").read_bytes() == b"form"


# ---------------------------------------------------------------------------------------
# Hostile cases
# ---------------------------------------------------------------------------------------


def test_offsets_that_skip_ahead_or_go_back_are_409(server):
    location = upload_url(server.url, "offsets.bin", 100)
    assert patch(location, 0, b"a" * 10).status_code == 204
    ahead = patch(location, 20, b"b" * 10)
    assert ahead.status_code == 409 and ahead.headers["Upload-Offset"] == "10"
    assert patch(location, 5, b"c" * 10).status_code == 409
    assert offset_of(location) == 10


def test_a_patch_beyond_upload_length_is_413_and_keeps_nothing(server):
    location = upload_url(server.url, "beyond.bin", 10)
    assert patch(location, 0, b"a" * 11).status_code == 413
    assert offset_of(location) == 0


def test_a_chunked_patch_beyond_upload_length_is_413_and_keeps_nothing(server):
    location = upload_url(server.url, "beyond-chunked.bin", 10)
    pieces = iter([b"a" * 6, b"b" * 6])
    assert patch(location, 0, pieces).status_code == 413  # a generator: sent chunked
    assert offset_of(location) == 0


@pytest.mark.parametrize("length", ["-1", "abc", "1.5", "", "99999999999999999999"])
def test_bad_lengths_are_400(server, length):
    response = requests.post(
        server.url + "/files/", headers={**TUS, "Upload-Length": length, "Upload-Metadata": f"filename {b64('x')}"}
    )
    assert response.status_code == 400 and response.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize("offset", ["-1", "abc", "", "1e3", "0x0", "+1"])
def test_bad_offsets_are_400(server, offset):
    location = upload_url(server.url, "bad-offset.bin", 10)
    assert patch(location, offset, b"a").status_code == 400


def test_upload_length_over_max_upload_is_413_before_any_byte(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--max-upload", "1000")
    response = create(server.url, "big.bin", 1001)
    assert response.status_code == 413
    assert partial_files(tmp_path) == []
    assert requests.options(server.url + "/files/").headers["Tus-Max-Size"] == "1000"


def test_checksums(server):
    location = upload_url(server.url, "sums.bin", 8)
    good = base64.b64encode(hashlib.sha1(b"abcd").digest()).decode()
    assert patch(location, 0, b"abcd", **{"Upload-Checksum": f"sha1 {good}"}).status_code == 204
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    mismatch = patch(location, 4, b"efgh", **{"Upload-Checksum": f"md5 {bad}"})
    assert mismatch.status_code == 460 and mismatch.reason == "Checksum Mismatch"
    assert offset_of(location) == 4  # that PATCH was discarded
    unknown = patch(location, 4, b"efgh", **{"Upload-Checksum": f"crc32 {b64('abcd')}"})
    assert unknown.status_code == 400 and "not supported" in unknown.text
    assert offset_of(location) == 4


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ("filename not-base64!", "not base64"),
        (f"filename {b64('../escape.txt')}", "refused"),
        (f"filename {b64('a/../../escape.txt')}", "refused"),
        (f"filename {b64('/etc/passwd')}", "absolute"),
        (f"filetype {b64('text/plain')}", "must carry the file's name"),
        (f"filename {b64('.http-server-state/x')}", "state folder"),
    ],
)
def test_bad_metadata_is_400(server, server_directory, metadata, reason):
    response = requests.post(server.url + "/files/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": metadata})
    assert response.status_code in (400, 403, 404), response.text
    assert reason in response.text
    assert not (server_directory.parent / "escape.txt").exists()


def test_wrong_version_and_content_type(server):
    location = upload_url(server.url, "version.bin", 4)
    response = requests.patch(
        location, data=b"ab", headers={"Tus-Resumable": "0.2.2", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    )
    assert response.status_code == 412 and response.headers["Tus-Version"] == "1.0.0"
    assert patch(location, 0, b"ab", **{"Content-Type": "application/octet-stream"}).status_code == 415
    assert requests.patch(server.url + "/files/version.bin", data=b"x").status_code == 405
    assert requests.get(location, headers=TUS).status_code == 405
    assert requests.head(server.url + "/files/.http-server-state/tus/" + "0" * 32, headers=TUS).status_code == 404


def test_expired_uploads_are_410_then_removed(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--upload-expiry", "1")
    location = upload_url(server.url, "expires.bin", 10)
    patch(location, 0, b"abc")
    time.sleep(1.2)
    assert patch(location, 3, b"def").status_code == 410
    assert partial_files(tmp_path) == []
    assert requests.head(location, headers=TUS).status_code == 404


def test_abandoned_partial_files_are_removed_at_start_only_once_expired(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path))
    location = upload_url(server.url, "kept.bin", 10)
    patch(location, 0, b"abc")
    server.stop()
    [partial] = partial_files(tmp_path)
    server = start_server("--directory", str(tmp_path))
    assert partial.exists() and offset_of(server.url + location[len(location.split("/files/")[0]):]) == 3
    server.stop()
    old = time.time() - 25 * 3600
    os.utime(partial, (old, old))
    start_server("--directory", str(tmp_path))
    assert not partial.exists()


def test_1000_creations_are_bounded_by_max_pending_uploads(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--max-pending-uploads", "20")
    statuses = []
    with requests.Session() as session:
        headers = {**TUS, "Upload-Length": "1000000"}
        for number in range(1000):
            metadata = {"Upload-Metadata": f"filename {b64(f'flood-{number}.bin')}"}
            response = session.post(server.url + "/files/", headers={**headers, **metadata})
            statuses.append(response.status_code)
    assert statuses.count(201) == 20 and statuses.count(503) == 980
    assert "--max-pending-uploads" in response.text and response.headers["Retry-After"]
    assert len(partial_files(tmp_path)) == 20
    assert sum(path.stat().st_size for path in partial_files(tmp_path)) == 0


def test_two_racing_patches_cannot_both_write(server, server_directory):
    location = upload_url(server.url, "race.bin", 1000)
    path = location.split(str(server.port), 1)[1]
    with RawClient(server.port) as slow:
        slow.send(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n".encode() + b"a" * 100
        )
        time.sleep(0.3)  # the first PATCH holds the lock, waiting for the rest of its body
        second = patch(location, 0, b"b" * 1000)
        assert second.status_code == 423
        slow.send(b"a" * 900)
        assert slow.read_response().status == 204
    assert (server_directory / "race.bin").read_bytes() == b"a" * 1000


def test_a_client_gone_mid_patch_keeps_what_arrived(server):
    location = upload_url(server.url, "cut.bin", 100_000)
    path = location.split(str(server.port), 1)[1]
    with RawClient(server.port) as cut:
        cut.send(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n".encode() + b"a" * 40_000
        )
        time.sleep(0.3)
    assert wait_until(lambda: offset_of(location) == 40_000)
    assert patch(location, 40_000, b"b" * 60_000).status_code == 204


def test_a_patch_under_min_body_rate_is_cut_off_and_keeps_what_arrived(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--min-body-rate", "1000000", "--body-rate-grace", "1")
    location = upload_url(server.url, "slow.bin", 100_000)
    path = location.split(str(server.port), 1)[1]
    with RawClient(server.port, timeout=10) as slow:
        slow.send(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n".encode() + b"a" * 5000
        )
        response = slow.read_response()
    assert response.status == 408 and response.header("Tus-Resumable") == "1.0.0"
    assert offset_of(location) == 5000


def test_writes_refused_by_policy_are_403(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--read-only")
    response = create(server.url, "policy.bin", 10)
    assert response.status_code == 403 and response.headers["Tus-Resumable"] == "1.0.0"
    assert "--read-only" in response.text and partial_files(tmp_path) == []


def test_passwords_apply_as_for_put(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--auth", "alice:secret words", "--auth-writes-only")
    assert create(server.url, "locked.bin", 3).status_code == 401
    response = requests.post(
        server.url + "/files/",
        headers={**TUS, "Upload-Length": "3", "Upload-Metadata": f"filename {b64('locked.bin')}"},
        auth=("alice", "secret words"),
    )
    assert response.status_code == 201
    location = server.url + response.headers["Location"]
    assert patch(location, 0, b"abc").status_code == 401
    fields = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert requests.patch(location, data=b"abc", headers=fields, auth=("alice", "secret words")).status_code == 204
    assert (tmp_path / "locked.bin").read_bytes() == b"abc"


# ---------------------------------------------------------------------------------------
# ?hash=
# ---------------------------------------------------------------------------------------


def test_hash_matches_hashlib_on_every_stored_file(server, server_directory):
    """Every file this module's server holds (the tus uploads above, when run with them),
    and a few of its own: empty, a space and accents in the name, in a subfolder."""
    (server_directory / "hashed" / "sub").mkdir(parents=True, exist_ok=True)
    for name, data in [("empty", b""), ("with space é.txt", b"text\n"), ("sub/random.bin", os.urandom(3 * MiB + 1))]:
        (server_directory / "hashed" / name).write_bytes(data)
    files = [path for path in server_directory.rglob("*") if path.is_file() and ".http-server-state" not in path.parts]
    files = [path for path in files if not path.name.startswith(".")]
    assert files
    for path in files:
        name = "/".join(requests.utils.quote(part) for part in path.relative_to(server_directory).parts)
        data = path.read_bytes()
        for algorithm in ("sha256", "sha1", "md5"):
            assert served_hash(server.url, name, algorithm) == hashlib.new(algorithm, data).hexdigest(), name
        # and the coreutils program a user would check with
        sha256sum = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
        assert served_hash(server.url, name) == sha256sum.stdout.split()[0]


def test_hash_refusals(server, server_directory):
    (server_directory / "h.txt").write_bytes(b"h")
    assert requests.get(server.url + "/files/h.txt?hash=crc32").status_code == 400
    assert requests.get(server.url + "/files/h.txt?hash=sha256&hash=md5").status_code == 400
    assert requests.get(server.url + "/files/nothing.txt?hash=sha256").status_code == 404
    assert requests.get(server.url + "/files/h.txt?hash=sha256").text == hashlib.sha256(b"h").hexdigest() + "\n"


def test_the_listings_offer_the_hash_per_file_on_demand(server, server_directory):
    (server_directory / "offered.txt").write_bytes(b"offered")
    page = requests.get(server.url + "/files/", headers={"Accept": "text/html"}).text
    # One line for the page says how (a link per row would double a lean row: issue 20).
    assert "its link with <code>?hash=sha256</code> after it" in page
    entries = requests.get(server.url + "/files/", headers={"Accept": "application/json"}).json()
    [entry] = [entry for entry in entries if entry["name"] == "offered.txt"]
    assert requests.get(server.url + "/files/" + entry["hash"]).text.strip() == hashlib.sha256(b"offered").hexdigest()
