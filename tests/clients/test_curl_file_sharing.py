"""curl -F uploads and a chunked archive read by curl (needs Debian's curl, so not in the
default run; .ci/run installs it and runs `pipenv run pytest tests/clients`)."""

from __future__ import annotations

import subprocess
import zipfile

from tests.test_file_sharing import EXPECTED_FILES, leftovers, shared  # noqa: F401 (a fixture)


def test_curl_uploads_one_file(server, server_directory, tmp_path):
    (tmp_path / "one.txt").write_bytes(b"one file\n")
    result = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{tmp_path / 'one.txt'}", server.url + "/files/"],
        capture_output=True, check=True,
    )
    assert result.stdout == b"/files/one.txt 9 bytes\n"
    assert (server_directory / "one.txt").read_bytes() == b"one file\n"


def test_curl_uploads_several_files_in_one_request(server, server_directory, tmp_path):
    (server_directory / "curl-many").mkdir()
    (tmp_path / "a.txt").write_bytes(b"text\n")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 40)
    result = subprocess.run(
        ["curl", "-sS", "-w", "%{http_code}", "-F", f"file=@{tmp_path / 'a.txt'}", "-F", f"file=@{tmp_path / 'b.bin'}",
         server.url + "/files/curl-many/"],
        capture_output=True, check=True,
    )
    assert result.stdout == b"/files/curl-many/a.txt 5 bytes\n/files/curl-many/b.bin 10240 bytes\n201"
    assert (server_directory / "curl-many" / "b.bin").read_bytes() == bytes(range(256)) * 40
    assert leftovers(server_directory / "curl-many") == []


def test_a_form_posted_to_a_file_url_is_refused_with_a_hint(server, server_directory, tmp_path):
    (tmp_path / "hint.txt").write_bytes(b"x")
    result = subprocess.run(["curl", "-sS", "-F", f"file=@{tmp_path / 'hint.txt'}", server.url + "/files/sub/hint.txt"],
                            capture_output=True, check=True)
    assert result.stdout == b"multipart/form-data goes to a folder URL, e.g. POST /files/sub/\n"
    assert not (server_directory / "sub" / "hint.txt").exists()


def test_curl_reads_the_chunked_archive(start_server, shared, tmp_path):
    process = start_server("--directory", str(shared))
    target = tmp_path / "out.zip"
    subprocess.run(["curl", "-sS", "-o", str(target), process.url + "/files/pack/?download=zip"], check=True)
    archive = zipfile.ZipFile(target)
    assert {name: archive.read(name) for name in EXPECTED_FILES} == EXPECTED_FILES
