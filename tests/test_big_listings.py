"""Big folders (issue 20): listings gzipped when the client accepts it, streamed, with
lean rows; a folder of 200,000 entries listed in flat memory (every format, sorted by
name or by size, in the right order), its sort's temporary files never seen and never
left behind, even by a client gone mid-page; the selection form that deletes without
JavaScript, names with CR and LF included."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.listing_sort import RUN_SIZE
from tests.conftest import RawClient, ServerProcess, wait_until

SHM = Path("/dev/shm")


def fast_place(fallback: Path) -> Path:
    """A new folder on tmpfs when there is one (making 200,000 files on a disk takes
    minutes), else under `fallback`."""
    on_tmpfs = SHM.is_dir() and any(
        line.split()[1] == str(SHM) and line.split()[2] == "tmpfs" for line in Path("/proc/mounts").read_text().splitlines()
    )
    folder = Path(os.path.join(SHM if on_tmpfs else fallback, f"listing-{os.getpid()}-{id(fallback)}"))
    folder.mkdir()
    return folder


@pytest.fixture
def fast_folder(tmp_path: Path) -> Iterator[Path]:
    folder = fast_place(tmp_path)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


BIG = 200_000


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Made once for the module: `big/` (200,000 files, as `fill` makes them) and
    `warm/` (3 files, listed first so that what the first listing loads is not counted)."""
    root = fast_place(tmp_path_factory.mktemp("big"))
    for name, count in (("big", BIG), ("warm", 3)):
        (root / name).mkdir()
        fill(root / name, count)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def fill(folder: Path, count: int) -> None:
    """`count` files named `file-NNNNN.txt` (14 characters: the length the issue's figures
    imply; one digit more from 100,000 on), sizes 0 to ~200 KB (sparse: no space used)."""
    for number in range(count):
        name = folder / f"file-{number:05d}.txt"
        os.mknod(name)
        if number % 7:
            os.truncate(name, number * 7919 % 200_000)


def get(port: int, path: str, *fields: str) -> tuple[bytes, dict[str, str], bytes]:
    """One GET on a new connection (Connection: close): status line, fields, and the
    body as it came on the wire (chunked framing removed)."""
    with RawClient(port, timeout=120) as client:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n"
        client.send(head.encode())
        data = client.read_until_closed()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head_bytes.split(b"\r\n")
    headers = {k.decode().lower(): v.decode().strip() for k, _, v in (line.partition(b":") for line in lines)}
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return status, headers, body


def dechunk(data: bytes) -> bytes:
    out, position = bytearray(), 0
    while True:
        line_end = data.index(b"\r\n", position)
        size = int(data[position:line_end], 16)
        if size == 0:
            return bytes(out)
        out += data[line_end + 2 : line_end + 2 + size]
        position = line_end + 2 + size + 2


def test_every_format_is_gzipped_when_accepted(start_server, tmp_path: Path) -> None:
    fill(tmp_path, 3)
    server = start_server("--directory", str(tmp_path))
    for accept in ("text/html", "application/json", "text/plain"):
        _, plain_headers, plain = get(server.port, "/files/", f"Accept: {accept}")
        _, headers, body = get(server.port, "/files/", f"Accept: {accept}", "Accept-Encoding: gzip, deflate, br")
        assert headers["content-encoding"] == "gzip" and "content-encoding" not in plain_headers
        assert gzip.decompress(body) == plain
        assert headers["vary"] == plain_headers["vary"] == "Accept, Accept-Encoding"
        assert headers["etag"] != plain_headers["etag"]  # another representation (RFC 9110 §8.8.3)
        assert headers["content-length"] == str(len(body))  # small: sent whole


def test_20000_entries_stream_in_lean_rows_and_gzip_under_400_kb(start_server, fast_folder: Path) -> None:
    fill(fast_folder, 20_000)
    server = start_server("--directory", str(fast_folder))
    _, headers, page = get(server.port, "/files/")
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    rows = page.split(b'<tbody id="entries">', 1)[1].split(b"</tbody>", 1)[0]
    assert rows.count(b"<tr>") == 20_000
    assert len(rows) / 20_000 <= 120, f"{len(rows) / 20_000:.1f} bytes a row"
    assert len(page) / 20_000 <= 122  # the page's head and script included
    _, headers, compressed = get(server.port, "/files/", "Accept-Encoding: gzip")
    assert headers["content-encoding"] == "gzip"
    assert len(compressed) <= 400_000, f"{len(compressed)} bytes with gzip"
    assert gzip.decompress(compressed) == page
    _, _, listed = get(server.port, "/files/", "Accept: application/json", "Accept-Encoding: gzip")
    assert len(json.loads(gzip.decompress(listed))) == 20_000


def size_of(number: int) -> int:
    """The size `fill` gives file number `number`."""
    return number * 7919 % 200_000 if number % 7 else 0


def peak_growth(server: ServerProcess, path: str, *fields: str) -> tuple[int, bytes]:
    """The server's peak RSS growth (bytes) while it answers one GET, and the body
    (gunzipped). The peak (VmHWM) is first reset to the RSS (Linux's clear_refs, "5")."""
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    before = int(server.status("VmHWM").split()[0])
    _, headers, body = get(server.port, path, *fields)
    grown = (int(server.status("VmHWM").split()[0]) - before) * 1024
    assert headers["transfer-encoding"] == "chunked"
    return grown, gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body


# Sorted by name, and by size, largest first (ties: the name, descending), in each
# format, identity and gzip: the memory stays under FLAT whatever the folder's size.
# (Every view's order, on small runs: tests/test_units_listing_sort.py.)
FLAT = 8 * 1024 * 1024
FLAT_CASES = [
    ("sort=name&order=asc", "text/html", True),
    ("sort=name&order=asc", "text/plain", False),
    ("sort=size&order=desc", "application/json", True),
    ("sort=size&order=desc", "text/html", False),
]


def test_200000_entries_list_in_flat_memory_in_order(start_server, big_root: Path) -> None:
    """Before, the entries were kept to sort them: +58 MiB for this folder, in every
    format. Now a run of 10,000 at most is in memory (`listing_sort.py`): +3.5 MiB."""
    server = start_server("--directory", str(big_root), "-q")
    names = [f"file-{number:05d}.txt" for number in range(BIG)]
    expected = {
        "sort=name&order=asc": sorted(names),  # file-100000.txt before file-10001.txt
        "sort=size&order=desc": sorted(names, key=lambda name: (size_of(int(name[5:-4])), name), reverse=True),
    }
    for view, accept, compressed in FLAT_CASES:
        coding = ["Accept-Encoding: gzip"] if compressed else []
        get(server.port, f"/files/warm/?{view}", f"Accept: {accept}", *coding)  # loads what a listing needs
        grown, body = peak_growth(server, f"/files/big/?{view}", f"Accept: {accept}", *coding)
        assert grown <= FLAT, f"{view} {accept} gzip={compressed}: +{grown / 2**20:.1f} MiB"
        if accept == "text/plain":
            listed = body.decode().splitlines()
        elif accept == "application/json":
            listed = [entry["name"] for entry in json.loads(body)]
            assert [entry["size"] for entry in json.loads(body)] == [size_of(int(name[5:-4])) for name in listed]
        else:
            listed = re.findall(r"<tr><td><input type=checkbox name=[^>]*><a href=([^>]*)>", body.decode())
        assert listed == expected[view], view


def sort_files(pid: int, folder: Path) -> list[str]:
    """What the server's open descriptors in `folder` point to (the sort's runs)."""
    found = []
    for descriptor in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


def test_the_sorts_files_are_nameless_and_freed_when_the_client_goes_mid_page(
    start_server, big_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs are files in the server's temporary folder (TMPDIR here), never in the
    served one, without a name (nobody else can open them); a client that drops the
    connection mid-page, a HEAD and a 304 leave none open."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    server = start_server("--directory", str(big_root), "-q")
    pid = server.process.pid
    served_before = sorted(os.listdir(big_root))
    with socket.create_connection(("localhost", server.port)) as sock:
        sock.sendall(b"GET /files/big/?sort=size&order=desc HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while len(received) < 100_000:  # the head and the first rows: the merge is going on
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        runs = sort_files(pid, temporary)
        assert len(runs) == BIG // RUN_SIZE, runs  # one file a run of 10,000, all open
        assert all(run.endswith(" (deleted)") for run in runs)  # no name in the folder
        assert os.listdir(temporary) == [] and sorted(os.listdir(big_root)) == served_before
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    assert wait_until(lambda: sort_files(pid, temporary) == [], timeout=60), sort_files(pid, temporary)
    status, headers, _ = get(server.port, "/files/big/", "Accept: text/plain")
    assert status == b"HTTP/1.1 200 OK" and sort_files(pid, temporary) == []
    with RawClient(server.port, timeout=120) as client:
        client.send(b"HEAD /files/big/ HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n")
        assert client.read_response(head_request=True).status == 200
        client.send(f"GET /files/big/ HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nIf-None-Match: {headers['etag']}\r\n\r\n".encode())
        assert client.read_response().status == 304
        assert sort_files(pid, temporary) == []
    assert os.listdir(temporary) == []


def test_the_selection_form_deletes_without_javascript_names_with_line_breaks_too(start_server, tmp_path: Path) -> None:
    names = ["a.txt", "two\nlines.txt", "cr\r.txt", "100% sure.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "keep.txt").write_bytes(b"keep")
    (tmp_path / "empty").mkdir()
    server = start_server("--directory", str(tmp_path))
    page = requests.get(server.url + "/files/").text
    assert '<form id="selection" method="post" action="/files/?delete">' in page
    assert "<input type=checkbox name=two%0Alines.txt>" in page
    # What a browser posts: each checked box's name, form-urlencoded ("%" as "%25").
    checked = ["a.txt", "two%0Alines.txt", "cr%0D.txt", "100%25%20sure.txt", "empty"]
    body = "&".join(f"{requests.utils.quote(name, safe='')}=on" for name in checked)
    response = requests.post(
        server.url + "/files/?delete", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False,
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/files/")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"", 400, "nothing selected: check the entries to delete"),
        (b"missing.txt=on", 404, "no file or folder named missing.txt"),
        (b"..%252Fsecret=on", 400, "file name '../secret' refused: file name must not contain empty, '.' or '..' segments"),
        (b"%25FF=on", 400, "a selected name is not UTF-8 once percent-decoded"),
    ],
)
def test_a_bad_selection_is_refused_precisely(start_server, tmp_path: Path, body: bytes, status: int, reason: str) -> None:
    server = start_server("--directory", str(tmp_path))
    response = requests.post(
        server.url + "/files/?delete", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (response.status_code, response.text) == (status, reason + "\n")
