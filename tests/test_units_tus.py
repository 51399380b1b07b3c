"""The tus header parsers (app/tus.py) and the partial file's name and offset rule
(app/tusstore.py), table-driven."""

from __future__ import annotations

import base64

import pytest

from app.storage import is_upload_in_progress
from app.fields import Headers
from app.tus import creation_length, file_name, parse_checksum, parse_metadata, parse_number
from app.tusstore import partial_name, true_offset


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.mark.parametrize(
    "value, expected",
    [("0", 0), ("1", 1), ("104857600", 104857600), ("007", 7), ("9" * 18, int("9" * 18))],
)
def test_parse_number_accepts_digits(value: str, expected: int) -> None:
    assert parse_number(value, "Upload-Offset") == expected


@pytest.mark.parametrize("value", ["", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "abc", "١", "9" * 19])
def test_parse_number_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="Upload-Offset must be a non-negative whole number"):
        parse_number(value, "Upload-Offset")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", {}),
        ("   ", {}),
        (f"filename {b64('a.txt')}", {"filename": b"a.txt"}),
        (f"filename {b64('a.txt')},filetype {b64('text/plain')}", {"filename": b"a.txt", "filetype": b"text/plain"}),
        (f"filename {b64('a.txt')}, is_confidential", {"filename": b"a.txt", "is_confidential": None}),
        (f"name {b64('é.txt')}", {"name": "é.txt".encode()}),
        ("empty ", {"empty": None}),
    ],
)
def test_parse_metadata(value: str, expected: dict) -> None:
    assert parse_metadata(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("filename a.txt", "not base64"),  # "a.txt" is no base64
        ("filename YS50eHQ", "not base64"),  # padding missing
        ("filename YS50eHQ=!", "not base64"),
        ("filename YS50 eHQ=", "is not `key base64`"),
        (f"filename {b64('a')},filename {b64('b')}", "given twice"),
        (",", "is not `key base64`"),
        ("fileñame YQ==", "is not `key base64`"),
        ("a" * 5000, "longer than"),
    ],
)
def test_parse_metadata_refuses(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_metadata(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (f"sha1 {b64(bytes(20))}", ("sha1", bytes(20))),
        (f"sha256 {b64(bytes(range(32)))}", ("sha256", bytes(range(32)))),
        (f"md5 {b64(bytes(16))}", ("md5", bytes(16))),
    ],
)
def test_parse_checksum(value: str, expected: tuple) -> None:
    assert parse_checksum(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        (f"crc32 {b64(bytes(4))}", "not supported"),
        (f"SHA1 {b64(bytes(20))}", "not supported"),
        ("sha1", "not base64|has 0 bytes"),
        (f"sha1 {b64(bytes(16))}", "has 16 bytes, not 20"),
        ("sha256 ***", "not base64"),
    ],
)
def test_parse_checksum_refuses(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_checksum(value)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Upload-Length": "10"}, 10),
        ({"Upload-Length": "0"}, 0),
        ({"Upload-Defer-Length": "1"}, None),
    ],
)
def test_creation_length(headers: dict, expected: int | None) -> None:
    assert creation_length(Headers([(name.lower(), value) for name, value in headers.items()])) == expected


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "either Upload-Length or Upload-Defer-Length"),
        ({"Upload-Length": "10", "Upload-Defer-Length": "1"}, "either"),
        ({"Upload-Defer-Length": "0"}, "must be 1"),
        ({"Upload-Length": "-5"}, "non-negative"),
        ({"Upload-Length": "ten"}, "non-negative"),
    ],
)
def test_creation_length_refuses(headers: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        creation_length(Headers([(name.lower(), value) for name, value in headers.items()]))


@pytest.mark.parametrize(
    "metadata, expected",
    [({"filename": b"a.txt"}, "a.txt"), ({"name": b"b.txt"}, "b.txt"), ({"filename": b"d/c.txt", "name": b"x"}, "d/c.txt")],
)
def test_file_name(metadata: dict, expected: str) -> None:
    assert file_name(metadata) == expected


@pytest.mark.parametrize("metadata", [{}, {"filename": None}, {"filename": b""}, {"filename": b"\xff.txt"}])
def test_file_name_refuses(metadata: dict) -> None:
    with pytest.raises(ValueError):
        file_name(metadata)


@pytest.mark.parametrize(
    "recorded, size, expected",
    [
        (0, 0, 0),
        (100, 100, 100),  # the normal case
        (100, 150, 100),  # written and fsynced, killed before the commit: the tail never counts
        (100, 60, 60),  # the file lost bytes (restored from a backup?): only what it holds
        (0, 4096, 0),
    ],
)
def test_true_offset(recorded: int, size: int, expected: int) -> None:
    assert true_offset(recorded, size) == expected


@pytest.mark.parametrize("name", ["a.txt", "x" * 255, "é" * 120, "sub name.tar.gz"])
def test_partial_names_are_hidden_and_fit_name_max(name: str) -> None:
    partial = partial_name(name, "0123456789abcdef0123456789abcdef")
    assert len(partial.encode()) <= 255
    assert partial.startswith(".") and is_upload_in_progress(partial)


@pytest.mark.parametrize("name", [".a.txt.tus-0123.part", ".notes.part", "a.txt.tus-0123456789abcdef0123456789abcdef.part"])
def test_other_names_are_not_partial_files(name: str) -> None:
    assert not is_upload_in_progress(name)
