"""Odd but legal file names (issue 23, part 6), against the real server.

- 80 × "€" is 240 bytes, under NAME_MAX (255): PUT and a form upload store it (its
  temporary name keeps the first 100 BYTES of it, cut at a character boundary).
- `a\\nx` and `a\\r\\nx` side by side: the listing's no-JavaScript delete form sends the
  name percent-encoded, so deleting one never deletes the other (a browser would have
  turned the LF of a raw form value into CRLF). The form is posted as a browser posts it.
- A name with a backslash is left out of zip and tar.gz archives: Windows extractors take
  `\\` for a separator, and `a\\..\\..\\evil.txt` would land outside the extraction folder.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from app.partial_uploads import TEMPORARY_NAME_RE, temporary_prefix

EUROS = "€" * 80  # 240 bytes in UTF-8


def test_a_240_byte_name_is_stored_by_put_and_by_a_form(start_server, tmp_path: Path) -> None:
    server = start_server("--directory", str(tmp_path))
    put = requests.put(server.url + "/files/" + quote(EUROS), data=b"put")
    assert put.status_code == 201, put.text
    assert (tmp_path / EUROS).read_bytes() == b"put"
    (tmp_path / "sub").mkdir()
    form = requests.post(server.url + "/files/sub/", files={"file": (EUROS, b"form")})
    assert form.status_code == 201, form.text
    assert (tmp_path / "sub" / EUROS).read_bytes() == b"form"
    assert requests.get(server.url + "/files/sub/" + quote(EUROS)).content == b"form"
    assert sorted(os.listdir(tmp_path)) == ["sub", EUROS] and os.listdir(tmp_path / "sub") == [EUROS]


# (id, the target's name): the temporary name fits in 255 bytes and matches the pattern
# the listing hides and the leftover sweep finds.
NAMES = [("euros", EUROS), ("ascii-255", "n" * 255), ("mixed", "ab€" * 60), ("emoji", "😀" * 63), ("short", "x")]


@pytest.mark.parametrize("name", [case[1] for case in NAMES], ids=[case[0] for case in NAMES])
def test_temporary_names_are_cut_by_bytes(name: str) -> None:
    temporary = temporary_prefix(name) + "0" * 12 + ".part"
    assert len(temporary.encode("utf-8")) <= 255
    assert TEMPORARY_NAME_RE.fullmatch(temporary)
    kept = temporary_prefix(name)[1:].rsplit(".", 2)[0]
    assert name.startswith(kept) and len(kept.encode("utf-8")) <= 100


class DeleteFields(HTMLParser):
    """The names of the listing's selection boxes (percent-encoded entry names)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fields = dict(attrs)
        if tag == "input" and fields.get("type") == "checkbox":  # the selection form's boxes
            self.values.append(fields.get("name") or "")


@pytest.mark.parametrize("doomed, kept", [("a\nx", "a\r\nx"), ("a\r\nx", "a\nx")], ids=["lf", "crlf"])
def test_the_delete_form_deletes_the_named_file_only(start_server, tmp_path: Path, doomed: str, kept: str) -> None:
    for name in (doomed, kept):
        (tmp_path / name).write_bytes(name.encode())
    server = start_server("--directory", str(tmp_path))
    parser = DeleteFields()
    parser.feed(requests.get(server.url + "/files/").text)
    # What a browser sends is the checked box's name as it stands: with no CR or LF left
    # in it, its normalisation of line breaks changes nothing.
    assert not any("\r" in value or "\n" in value for value in parser.values)
    (value,) = [value for value in parser.values if value == quote(doomed, safe="")]
    response = requests.post(
        server.url + "/files/?delete", data=quote(value, safe="") + "=on",
        headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert sorted(os.listdir(tmp_path)) == [kept]


def test_a_delete_form_with_a_plain_name_still_works(start_server, tmp_path: Path) -> None:
    """`curl -d delete=NAME`: a name with no `%` in it is its own encoding."""
    (tmp_path / "plain name.txt").write_bytes(b"x")
    server = start_server("--directory", str(tmp_path))
    response = requests.post(server.url + "/files/", data={"delete": "plain name.txt"}, allow_redirects=False)
    assert response.status_code == 303
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_names_with_a_backslash_are_left_out_of_archives(start_server, tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a\\..\\..\\evil.txt").write_bytes(b"evil")
    (folder / "back\\slash").mkdir()
    (folder / "back\\slash" / "inner.txt").write_bytes(b"inner")
    (folder / "good.txt").write_bytes(b"good")
    server = start_server("--directory", str(tmp_path))
    response = requests.get(server.url + f"/files/folder/?download={kind}")
    assert response.status_code == 200
    if kind == "zip":
        names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    else:
        names = tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz").getnames()
    assert names == ["folder/good.txt"]
    # The listing still shows them: only the archive leaves them out.
    listing = requests.get(server.url + "/files/folder/", headers={"Accept": "text/plain"}).text
    assert "a\\..\\..\\evil.txt" in listing and "back\\slash/" in listing
