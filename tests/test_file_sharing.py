"""File sharing against the real server: form uploads to a folder URL (curl -F, requests,
raw multipart bytes), folder uploads, refused names, the limit over the sum, an upload
cut off half-way, MKCOL and folder DELETE, the 303 form actions, and folder archives
(zip and tar.gz opened and compared byte for byte) with their streamed framing: chunked
(read by requests, curl and h11) and close-delimited for HTTP/1.0."""

from __future__ import annotations

import io
import socket
import tarfile
import zipfile
from pathlib import Path

import h11
import pytest
import requests

from app.archive import attachment
from app.connection import Connection, StopFlag
from app.framing import Response, StreamBody
from app.http import parse_request
from app.settings import Limits, Settings
from tests.conftest import FeedSource, RawClient, ServerProcess, undated, wait_until

H = b"Host: localhost\r\n"


def leftovers(folder: Path) -> list[str]:
    """Temporary files of uploads (`.NAME.*.part`) anywhere under the folder."""
    return [path.name for path in folder.rglob(".*.part")]


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    """A multipart/form-data body of (field name, filename or None, data) parts."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def post_form(server: ServerProcess, path: str, body: bytes, accept: str = "*/*") -> requests.Response:
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary", "Accept": accept}
    return requests.post(server.url + path, data=body, headers=headers)


# --- uploads ---------------------------------------------------------------------------


def test_requests_form_upload_answers_json_on_request(server, server_directory):
    (server_directory / "req-form").mkdir()
    files = [("file", ("x.txt", b"x" * 100)), ("file", ("été.bin", b"\0\1"))]
    response = requests.post(server.url + "/files/req-form/", files=files, headers={"Accept": "application/json"})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "folder": "/files/req-form/",
        "stored": [
            {"name": "x.txt", "size": 100, "url": "/files/req-form/x.txt"},
            {"name": "été.bin", "size": 2, "url": "/files/req-form/%C3%A9t%C3%A9.bin"},
        ],
    }
    assert (server_directory / "req-form" / "été.bin").read_bytes() == b"\0\1"


def test_a_browser_gets_a_page_with_a_link_back(server, server_directory):
    (server_directory / "browser-form").mkdir()
    body = multipart([("file", "page.txt", b"p"), ("submit", None, b"Upload")])
    response = post_form(server, "/files/browser-form/", body, accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<a href="/files/browser-form/page.txt">page.txt</a> (1 bytes)' in response.text
    assert '<a href="/files/browser-form/">Back to /files/browser-form/</a>' in response.text


def test_a_folder_upload_creates_its_folders(server, server_directory):
    """What a browser sends for `<input type=file webkitdirectory>`: relative paths."""
    body = multipart([("file", "album/2026/a.jpg", b"A"), ("file", "album/b.jpg", b"B")])
    response = post_form(server, "/files/", body)
    assert (response.status_code, response.text) == (201, "/files/album/2026/a.jpg 1 bytes\n/files/album/b.jpg 1 bytes\n")
    assert (server_directory / "album" / "2026" / "a.jpg").read_bytes() == b"A"


def test_an_existing_file_is_replaced(server, server_directory):
    (server_directory / "replace-me.txt").write_bytes(b"old")
    assert post_form(server, "/files/", multipart([("file", "replace-me.txt", b"new")])).status_code == 201
    assert (server_directory / "replace-me.txt").read_bytes() == b"new"


def test_if_none_match_star_keeps_an_existing_file(server, server_directory):
    (server_directory / "keep-me.txt").write_bytes(b"old")
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary", "If-None-Match": "*"}
    response = requests.post(server.url + "/files/", data=multipart([("file", "keep-me.txt", b"new")]), headers=headers)
    assert (response.status_code, response.text) == (412, "keep-me.txt exists already (If-None-Match: *)\n")
    assert (server_directory / "keep-me.txt").read_bytes() == b"old"


def test_an_empty_file_input_is_skipped_and_mkdir_creates_a_folder(server, server_directory):
    """A form with a file input left empty sends a part with filename="" and no data."""
    body = multipart([("file", "", b""), ("mkdir", None, "new-é".encode())])
    response = post_form(server, "/files/", body)
    assert (response.status_code, response.text) == (201, "/files/new-%C3%A9/\n")
    assert (server_directory / "new-é").is_dir()


# (id, parts, the exact 400 reason)
REFUSED = [
    ("dot-dot", [("file", "../escaped.txt", b"x")],
     "file name '../escaped.txt' refused: file name must not contain empty, '.' or '..' segments"),
    ("inner-dot-dot", [("file", "a/../../escaped.txt", b"x")],
     "file name 'a/../../escaped.txt' refused: file name must not contain empty, '.' or '..' segments"),
    ("absolute", [("file", "/tmp/escaped.txt", b"x")],
     "file name '/tmp/escaped.txt' is absolute; names must be relative to the folder"),
    ("backslash-raw", [("file", "..\\escaped.txt", b"x")],  # as a browser sends it
     "file name '..\\\\escaped.txt' refused: file name must not contain NUL or backslash"),
    ("backslash-escaped", [("file", "..\\\\escaped.txt", b"x")],  # as curl sends it
     "file name '..\\\\escaped.txt' refused: file name must not contain NUL or backslash"),
    ("empty-name-with-data", [("file", "", b"data")], "a file part (field file) has an empty file name"),
    ("nothing", [("note", None, b"hi")], "the form holds no file (a part with a filename) and no mkdir field"),
]


@pytest.mark.parametrize("parts, reason", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_names_are_refused_not_cleaned(server, server_directory, parts, reason):
    (server_directory / "refusals").mkdir(exist_ok=True)
    response = post_form(server, "/files/refusals/", multipart(parts))
    assert (response.status_code, response.text) == (400, reason + "\n")
    assert not list(server_directory.parent.rglob("escaped.txt"))
    assert leftovers(server_directory) == []


def test_a_refused_part_after_a_stored_one_says_what_was_kept(server, server_directory):
    (server_directory / "kept").mkdir()
    body = multipart([("file", "good.txt", b"good"), ("file", "../bad.txt", b"bad")])
    response = post_form(server, "/files/kept/", body)
    assert response.status_code == 400
    assert response.text.endswith("(stored before it, and kept: good.txt)\n")
    assert sorted(p.name for p in (server_directory / "kept").iterdir()) == ["good.txt"]


def test_a_long_list_of_kept_files_is_cut_short_in_the_reason(server, server_directory):
    (server_directory / "many").mkdir()
    body = multipart([("file", f"{n}.txt", b"n") for n in range(8)] + [("file", "/abs", b"x")])
    response = post_form(server, "/files/many/", body)
    assert response.text == ("file name '/abs' is absolute; names must be relative to the folder "
                             "(stored before it, and kept: 0.txt, 1.txt, 2.txt, 3.txt, 4.txt and 3 more)\n")
    assert len(list((server_directory / "many").iterdir())) == 8


def test_bad_boundary_and_wrong_type_are_refused(server):
    bad = requests.post(server.url + "/files/", data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert (bad.status_code, bad.text) == (400, "multipart/form-data without a boundary parameter\n")
    other = requests.post(server.url + "/files/", data=b"x", headers={"Content-Type": "text/plain"})
    assert other.status_code == 415
    assert other.headers["Accept-Post"] == "multipart/form-data, application/x-www-form-urlencoded"


def test_a_missing_final_boundary_stores_nothing_half_written(server, server_directory):
    (server_directory / "unfinished").mkdir()
    body = multipart([("file", "done.txt", b"done"), ("file", "cut.txt", b"cut")]).removesuffix(b"\r\n--b0undary--\r\n")
    response = post_form(server, "/files/unfinished/", body)
    assert (response.status_code, response.text) == (
        400, "multipart body ends before its final boundary (stored before it, and kept: done.txt)\n")
    assert sorted(p.name for p in (server_directory / "unfinished").iterdir()) == ["done.txt"]


def test_a_client_gone_half_way_leaves_no_part_half_written(start_server, tmp_path):
    """The first part is complete, the second is cut off by the client closing: the
    first stays, nothing of the second (no file, no temporary file)."""
    process = start_server("-v", "--directory", str(tmp_path))
    (tmp_path / "gone").mkdir()
    body = multipart([("file", "first.txt", b"1" * 1000), ("file", "second.txt", b"2" * 100_000)])
    head = (b"POST /files/gone/ HTTP/1.1\r\n" + H + b"Content-Type: multipart/form-data; boundary=b0undary\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    with process.connect() as client:
        client.send(head + body[:60_000])
    # The server notices the close when it reads past what was sent, and says so (-v).
    assert wait_until(lambda: "connection closed to 127.0.0.1: client disconnected" in process.log)
    assert sorted(p.name for p in (tmp_path / "gone").iterdir()) == ["first.txt"]
    assert (tmp_path / "gone" / "first.txt").read_bytes() == b"1" * 1000


def test_the_upload_limit_applies_to_the_sum_of_the_files(start_server, tmp_path):
    """Two files of 600 bytes under --max-upload 1000: each fits, the sum does not. With a
    Content-Length the request is refused before any byte is stored; chunked (no length
    in advance), the first file is stored and the second is not left half-written."""
    process = start_server("--directory", str(tmp_path), "--max-upload", "1000")
    body = multipart([("file", "one.bin", b"1" * 600), ("file", "two.bin", b"2" * 600)])
    declared = post_form(process, "/files/", body)
    assert (declared.status_code, declared.text) == (413, "request body larger than 1000 bytes\n")
    assert list(tmp_path.iterdir()) == []
    pieces = (body[i : i + 100] for i in range(0, len(body), 100))
    chunked = requests.post(process.url + "/files/", data=pieces, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert chunked.status_code == 413
    assert chunked.text == "request body larger than 1000 bytes (stored before it, and kept: one.bin)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.bin"]


def test_uploads_obey_the_write_policy(start_server):
    process = start_server()  # no --directory: writes are off
    response = post_form(process, "/files/", multipart([("file", "a", b"a")]))
    assert (response.status_code, response.text) == (403, "uploads are off: start the server with --directory DIR to enable them\n")


def test_read_only_refuses_every_folder_write(start_server, tmp_path):
    (tmp_path / "empty").mkdir()
    process = start_server("--directory", str(tmp_path), "--read-only")
    url = process.url + "/files/"
    answers = [
        post_form(process, "/files/", multipart([("file", "a", b"a")])),
        requests.post(url, data={"mkdir": "new"}, allow_redirects=False),
        requests.post(url, data={"delete": "empty"}, allow_redirects=False),
        requests.request("MKCOL", url + "new/"),
        requests.delete(url + "empty/"),
    ]
    reason = "writes are off: the server was started with --read-only\n"
    assert [(answer.status_code, answer.text) for answer in answers] == [(403, reason)] * 5
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]
    assert requests.get(url + "?download=zip").status_code == 200  # reading stays on


# --- folders: MKCOL, DELETE, and the url-encoded form actions ----------------------------


def test_mkcol_statuses(server, server_directory):
    url = server.url + "/files/"
    created = requests.request("MKCOL", url + "made/")
    assert (created.status_code, created.headers["Location"]) == (201, "/files/made/")
    assert (server_directory / "made").is_dir()
    again = requests.request("MKCOL", url + "made/")
    assert (again.status_code, again.text, again.headers["Allow"]) == (405, "made exists already\n", "COPY, DELETE, GET, HEAD, LOCK, MKCOL, MOVE, OPTIONS, PATCH, POST, PROPFIND, PROPPATCH, PUT, UNLOCK")
    orphan = requests.request("MKCOL", url + "no-parent/child/")
    assert (orphan.status_code, orphan.text) == (409, "the parent folder of no-parent/child does not exist\n")
    with_body = requests.request("MKCOL", url + "with-body/", data=b"<xml/>")
    assert (with_body.status_code, with_body.text) == (415, "MKCOL takes no request body\n")
    assert not (server_directory / "with-body").exists()
    escape = requests.request("MKCOL", url + "..%2fout/")
    assert escape.status_code == 400


def test_delete_removes_a_folder_with_what_it_holds(server, server_directory):
    # RFC 4918 §9.6.1: DELETE of a collection acts as if Depth infinity (it was 409 before).
    (server_directory / "full" / "inner" / "deeper").mkdir(parents=True)
    (server_directory / "full" / "f.txt").write_bytes(b"f")
    (server_directory / "full" / "inner" / "deeper" / ".hidden").write_bytes(b"h")
    full = requests.delete(server.url + "/files/full/")
    assert (full.status_code, full.text) == (204, "")
    assert not (server_directory / "full").exists()
    (server_directory / "full" / "inner").mkdir(parents=True)
    (server_directory / "full-file.txt").write_bytes(b"x")
    as_folder = requests.delete(server.url + "/files/full-file.txt/")
    assert (as_folder.status_code, as_folder.text) == (404, "no folder named full-file.txt/\n")
    assert requests.delete(server.url + "/files/full/inner/").status_code == 204
    assert not (server_directory / "full" / "inner").exists()


def test_form_actions_answer_303_back_to_the_folder(server, server_directory):
    (server_directory / "acts").mkdir()
    (server_directory / "acts" / "old.txt").write_bytes(b"old")
    url = server.url + "/files/acts/"
    made = requests.post(url, data={"mkdir": "sub folder"}, allow_redirects=False)
    assert (made.status_code, made.headers["Location"]) == (303, "/files/acts/")
    assert (server_directory / "acts" / "sub folder").is_dir()
    deleted = requests.post(url, data={"delete": "old.txt"}, allow_redirects=False)
    assert (deleted.status_code, deleted.headers["Location"]) == (303, "/files/acts/")
    assert not (server_directory / "acts" / "old.txt").exists()
    followed = requests.post(url, data={"delete": "sub folder"})  # the browser's GET after 303
    assert (followed.status_code, followed.url) == (200, url)
    assert not (server_directory / "acts" / "sub folder").exists()


# (id, form body, status, exact reason)
BAD_ACTIONS = [
    ("unknown-field", b"rename=a", 400, "a folder form holds one field: mkdir=NAME or delete=NAME"),
    ("two-fields", b"mkdir=a&delete=b", 400, "a folder form holds one field: mkdir=NAME or delete=NAME"),
    ("empty-name", b"mkdir=", 400, "mkdir needs a name"),
    ("dot-dot", b"delete=..%2Fsecret", 400, "file name '../secret' refused: file name must not contain empty, '.' or '..' segments"),
    ("missing", b"delete=nothing-here", 404, "no file or folder named nothing-here"),
    ("exists", b"mkdir=there", 409, "there exists already"),
    ("not-empty", b"delete=there", 409, "folder there is not empty (1 entry); delete them first"),
]


@pytest.mark.parametrize("body, status, reason", [c[1:] for c in BAD_ACTIONS], ids=[c[0] for c in BAD_ACTIONS])
def test_bad_form_actions_are_precise(server, server_directory, body, status, reason):
    (server_directory / "bad-acts" / "there").mkdir(parents=True, exist_ok=True)
    (server_directory / "bad-acts" / "there" / "x").write_bytes(b"x")
    response = requests.post(server.url + "/files/bad-acts/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False)
    assert (response.status_code, response.text) == (status, reason + "\n")


# --- archives ------------------------------------------------------------------------------


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A folder to archive: files, an empty folder, a nested file, and what must stay out
    (a symlink out of the root, an upload in progress, a dot file)."""
    root = tmp_path / "root"
    (root / "pack" / "empty").mkdir(parents=True)
    (root / "pack" / "deep" / "deeper").mkdir(parents=True)
    (root / "pack" / "a.txt").write_bytes(b"hello\n")
    (root / "pack" / "deep" / "deeper" / "b.bin").write_bytes(bytes(range(256)) * 1000)
    (root / "pack" / "été.txt").write_bytes("accents\n".encode())
    (root / "pack" / ".a.txt.x1y2.part").write_bytes(b"in progress")
    (root / "pack" / ".hidden").write_bytes(b"dot file")
    (root / "pack" / "latin1-\xe9.txt".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(b"not UTF-8")
    (tmp_path / "secret").write_bytes(b"outside")
    (root / "pack" / "link-out").symlink_to(tmp_path / "secret")
    return root


EXPECTED_FILES = {
    "pack/a.txt": b"hello\n",
    "pack/deep/deeper/b.bin": bytes(range(256)) * 1000,
    "pack/été.txt": "accents\n".encode(),
}
EXPECTED_FOLDERS = {"pack/deep/", "pack/deep/deeper/", "pack/empty/"}


def test_zip_of_a_folder_holds_exactly_its_files(start_server, shared):
    process = start_server("--directory", str(shared))
    response = requests.get(process.url + "/files/pack/?download=zip")
    assert response.status_code == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="pack.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert names == set(EXPECTED_FILES) | EXPECTED_FOLDERS
    assert {name: archive.read(name) for name in EXPECTED_FILES} == EXPECTED_FILES


def test_tar_gz_of_a_folder_holds_exactly_its_files(start_server, shared):
    process = start_server("--directory", str(shared))
    response = requests.get(process.url + "/files/pack/?download=tar.gz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="pack.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        members = archive.getmembers()
        files = {m.name: archive.extractfile(m).read() for m in members if m.isfile()}
        folders = {m.name + "/" for m in members if m.isdir()}
    assert files == EXPECTED_FILES
    assert folders == EXPECTED_FOLDERS


def test_the_root_folder_downloads_under_its_own_name(start_server, shared):
    process = start_server("--directory", str(shared))
    response = requests.get(process.url + "/files/?download=zip")
    assert response.headers["Content-Disposition"] == 'attachment; filename="root.zip"'
    assert "root/pack/a.txt" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()


def test_a_non_ascii_folder_name_gets_filename_star(start_server, tmp_path):
    (tmp_path / "Fotos été").mkdir()
    process = start_server("--directory", str(tmp_path))
    response = requests.get(process.url + "/files/Fotos%20%C3%A9t%C3%A9/?download=tar.gz")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Fotos _t_.tar.gz\"; filename*=UTF-8''Fotos%20%C3%A9t%C3%A9.tar.gz")


@pytest.mark.parametrize("name, header", [
    ("pack", 'attachment; filename="pack.zip"'),
    ("100%", "attachment; filename=\"100_.zip\"; filename*=UTF-8''100%25.zip"),
    ('say "hi"', "attachment; filename=\"say _hi_.zip\"; filename*=UTF-8''say%20%22hi%22.zip"),
])
def test_content_disposition_names(name, header):
    assert attachment(name + ".zip") == header


def test_h11_reads_the_chunked_framing_and_the_connection_goes_on(start_server, shared):
    """h11 checks the chunked framing strictly; then the same connection serves a GET."""
    process = start_server("--directory", str(shared))
    connection = h11.Connection(h11.CLIENT)
    with process.connect() as client:
        for target in (b"/files/pack/?download=tar.gz", b"/files/pack/a.txt"):
            client.send(connection.send(h11.Request(method="GET", target=target, headers=[("Host", "x")])))
            client.send(connection.send(h11.EndOfMessage()))
            body = b""
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    client._fill()
                    connection.receive_data(client.buffer)
                    client.buffer = b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            connection.start_next_cycle()
    assert body == b"hello\n"


def test_http_1_0_gets_a_close_delimited_archive(start_server, shared):
    process = start_server("--directory", str(shared))
    with process.connect() as client:
        client.send(b"GET /files/pack/?download=zip HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        raw = client.read_until_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Connection: close" in head.split(b"\r\n")
    assert b"Content-Length" not in head and b"Transfer-Encoding" not in head
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert {name: archive.read(name) for name in EXPECTED_FILES} == EXPECTED_FILES


def test_head_of_an_archive_sends_no_body(start_server, shared):
    process = start_server("--directory", str(shared))
    with process.connect() as client:
        response = client.exchange(b"HEAD /files/pack/?download=zip HTTP/1.1\r\n" + H + b"\r\n", head_request=True)
        assert (response.status, response.body) == (200, b"")
        assert response.header("Transfer-Encoding") == "chunked"
        assert client.exchange(b"GET /files/pack/a.txt HTTP/1.1\r\n" + H + b"\r\n").body == b"hello\n"


def test_a_client_leaving_mid_zip_leaves_the_server_fine(start_server, tmp_path):
    (tmp_path / "big").mkdir()
    with open(tmp_path / "big" / "sparse.bin", "wb") as file:
        file.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    process = start_server("--directory", str(tmp_path))
    for _ in range(3):
        client = RawClient(process.port)
        client.send(b"GET /files/big/?download=zip HTTP/1.1\r\n" + H + b"\r\n")
        client._fill()
        assert client.buffer.startswith(b"HTTP/1.1 200 OK\r\n")
        client.close()
    process.assert_answers()
    assert "Traceback" not in process.log


def test_trace_body_tells_a_streamed_archive_apart(start_server, shared):
    process = start_server("--trace-body", "8", "-q", "--directory", str(shared))
    for version, framing in (("1.1", "chunked"), ("1.0", "close-delimited (HTTP/1.0)")):
        with process.connect() as client:
            client.send(f"GET /files/pack/?download=zip HTTP/{version}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert client.read_until_closed().startswith(b"HTTP/1.1 200 OK\r\n")
        assert wait_until(lambda: f"made while sent, {framing}" in process.log)
    process.assert_answers()


def test_a_body_failing_half_way_is_cut_without_its_last_chunk(tmp_path):
    """The head is gone when the generator fails: the connection sends what it had and
    raises, so the client sees a chunked body with no last chunk (incomplete), never a
    short body that looks whole. A real socket pair; the connection code unchanged."""
    def pieces():
        yield b"first"
        raise OSError("disk gone")

    ours, theirs = socket.socketpair()
    connection = Connection(ours, "test", Settings(), StopFlag())
    source = FeedSource([b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"])
    source.receive_more()
    request = parse_request(source, Limits())
    with pytest.raises(ConnectionAbortedError):
        connection.send(Response(200, [], StreamBody(pieces())), request, keep_open=True)
    ours.close()
    received = b""
    while data := theirs.recv(65536):
        received += data
    theirs.close()
    assert undated(received) == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"


def test_bad_download_values_and_missing_folders(server):
    bad = requests.get(server.url + "/files/?download=rar")
    assert (bad.status_code, bad.text) == (400, "download must be one of: zip, tar.gz\n")
    missing = requests.get(server.url + "/files/never-made-folder/?download=zip")
    assert (missing.status_code, missing.text) == (404, "no folder at /files/never-made-folder/\n")
