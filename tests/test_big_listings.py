"""Big folders (issue 20): listings gzipped when the client accepts it, streamed, with
lean rows, and a folder of 200,000 entries listed without its page ever in memory; the
selection form that deletes without JavaScript, names with CR and LF included."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import RawClient

SHM = Path("/dev/shm")


@pytest.fixture
def fast_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs when there is one (making 200,000 files on a disk takes
    minutes), else under the test's temporary path."""
    on_tmpfs = SHM.is_dir() and any(
        line.split()[1] == str(SHM) and line.split()[2] == "tmpfs" for line in Path("/proc/mounts").read_text().splitlines()
    )
    folder = Path(os.path.join(SHM if on_tmpfs else tmp_path, f"listing-{os.getpid()}-{id(tmp_path)}"))
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


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


def test_200000_entries_never_hold_the_page_in_memory(start_server, fast_folder: Path) -> None:
    """The entries are kept (to sort them), ~300 bytes each; the page (24 MB here) never
    is: listing it costs no more memory than listing it gzipped (2 MB)."""
    fill(fast_folder, 200_000)
    server = start_server("--directory", str(fast_folder), "-q")
    start = int(server.status("VmHWM").split()[0])
    _, _, compressed = get(server.port, "/files/", "Accept-Encoding: gzip")
    after_gzip = int(server.status("VmHWM").split()[0])
    _, _, page = get(server.port, "/files/")
    after_page = int(server.status("VmHWM").split()[0])
    assert len(page) > 20_000_000 and len(compressed) < 3_000_000
    grown = (after_gzip - start) * 1024
    assert grown / 200_000 <= 400, f"{grown / 200_000:.0f} bytes an entry"
    assert (after_page - after_gzip) * 1024 < 4_000_000, "the page was held in memory"


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
