"""Unit tables for the streaming multipart/form-data parser (`app/multipart.py`), fed
exact bytes: the boundary parameter (RFC 2046 §5.1.1, RFC 7578 §4.1), Content-Disposition
(RFC 7578 §4.2, `filename*` of RFC 6266 §4.3), whole bodies with their events or the
exact 400 reason, a body of two files cut at every split point (one cut and two cuts),
fed byte by byte, and a 100 MB part parsed with flat memory."""

from __future__ import annotations

import tracemalloc

import pytest

from app.multipart import (
    Disposition,
    Event,
    MultipartError,
    MultipartReader,
    PartStart,
    boundary_from,
    parse_disposition,
)

# (id, Content-Type value, the boundary or the exact reason of the refusal)
BOUNDARY_CASES = [
    ("plain", "multipart/form-data; boundary=abc", b"abc"),
    ("quoted", 'multipart/form-data; boundary="a b:c"', b"a b:c"),
    ("case-and-spaces", "Multipart/Form-Data ;  Boundary=xyz", b"xyz"),
    ("curl", "multipart/form-data; boundary=------------------------d74496d66958873e", b"------------------------d74496d66958873e"),
    ("chrome", "multipart/form-data; boundary=----WebKitFormBoundaryABCdef0123456789", b"----WebKitFormBoundaryABCdef0123456789"),
    ("70-chars", "multipart/form-data; boundary=" + "b" * 70, b"b" * 70),
    ("71-chars", "multipart/form-data; boundary=" + "b" * 71, "invalid multipart boundary: 1 to 70 characters of the RFC 2046 set, no final space"),
    ("empty", 'multipart/form-data; boundary=""', "invalid multipart boundary: 1 to 70 characters of the RFC 2046 set, no final space"),
    ("final-space", 'multipart/form-data; boundary="ab "', "invalid multipart boundary: 1 to 70 characters of the RFC 2046 set, no final space"),
    ("bad-char", 'multipart/form-data; boundary="a@b"', "invalid multipart boundary: 1 to 70 characters of the RFC 2046 set, no final space"),
    ("missing", "multipart/form-data", "multipart/form-data without a boundary parameter"),
    ("twice", "multipart/form-data; boundary=a; boundary=b", "parameter boundary appears twice in Content-Type"),
    ("garbage", "multipart/form-data; boundary", "malformed parameters in Content-Type"),
    ("other-type", "multipart/mixed; boundary=a", "Content-Type is not multipart/form-data"),
]


@pytest.mark.parametrize("value, expected", [c[1:] for c in BOUNDARY_CASES], ids=[c[0] for c in BOUNDARY_CASES])
def test_boundary(value: str, expected: bytes | str) -> None:
    if isinstance(expected, bytes):
        assert boundary_from(value) == expected
    else:
        with pytest.raises(MultipartError) as refused:
            boundary_from(value)
        assert str(refused.value) == expected


# (id, Content-Disposition as received (ISO-8859-1 text), expected Disposition or reason)
DISPOSITION_CASES = [
    ("field", 'form-data; name="mkdir"', Disposition("mkdir", None)),
    ("file", 'form-data; name="file"; filename="a.txt"', Disposition("file", "a.txt")),
    ("token-values", "form-data; name=file; filename=a.txt", Disposition("file", "a.txt")),
    ("empty-filename", 'form-data; name="file"; filename=""', Disposition("file", "")),
    ("utf8-bytes", 'form-data; name="file"; filename="\xc3\xa9t\xc3\xa9.txt"', Disposition("file", "été.txt")),
    ("quoted-pair", r'form-data; name="file"; filename="say \"hi\".txt"', Disposition("file", 'say "hi".txt')),
    ("other-backslash-stays", r'form-data; name="file"; filename="C:\temp\a.txt"', Disposition("file", "C:\\temp\\a.txt")),
    ("escaped-backslash", r'form-data; name="file"; filename="a\\b"', Disposition("file", "a\\b")),
    ("folder-upload", 'form-data; name="file"; filename="dir/sub/a.txt"', Disposition("file", "dir/sub/a.txt")),
    ("filename-star", "form-data; name=\"file\"; filename*=UTF-8''%E2%82%AC%20rates.txt", Disposition("file", "€ rates.txt")),
    ("star-wins", "form-data; name=\"f\"; filename=\"x.txt\"; filename*=utf-8'en'y.txt", Disposition("f", "y.txt")),
    ("no-name", 'form-data; filename="a.txt"', "part's Content-Disposition has no name parameter"),
    ("not-form-data", 'attachment; name="a"', "part's Content-Disposition is not form-data"),
    ("bad-star", "form-data; name=\"f\"; filename*=latin1''a.txt", "part's filename* is not UTF-8''percent-encoded (RFC 8187)"),
    ("not-utf8", 'form-data; name="f"; filename="\xe9.txt"', "part's name or filename is not valid UTF-8"),
    ("unclosed-quote", 'form-data; name="f; filename="a"', "malformed parameters in Content-Disposition"),
]


@pytest.mark.parametrize("value, expected", [c[1:] for c in DISPOSITION_CASES], ids=[c[0] for c in DISPOSITION_CASES])
def test_disposition(value: str, expected: Disposition | str) -> None:
    if isinstance(expected, Disposition):
        assert parse_disposition(value) == expected
    else:
        with pytest.raises(MultipartError) as refused:
            parse_disposition(value)
        assert str(refused.value) == expected


def part(name: str, data: bytes, filename: str | None = None, boundary: bytes = b"XyZ") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"


def parse(pieces: list[bytes], boundary: bytes = b"XyZ") -> list[tuple[str, str | None, bytes]]:
    """(field name, filename, data) of each part, reading every event."""
    reader = MultipartReader(boundary, pieces)
    parts = []
    while (event := reader.next_event()) is not Event.END_OF_BODY:
        assert isinstance(event, PartStart)
        parts.append((event.disposition.name, event.disposition.filename, b"".join(reader.part_data())))
    return parts


TWO_FILES = (
    b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
    b"Content-Type: text/plain\r\n\r\nhello\r\n--Xy not yet\r\n"
    b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.bin\"\r\n\r\n"
    b"\x00\r\n\r\n-XyZ--\xff\r\n--XyZ--\r\n"
)
TWO_FILES_PARTS = [("file", "a.txt", b"hello\r\n--Xy not yet"), ("file", "b.bin", b"\x00\r\n\r\n-XyZ--\xff")]

# (id, whole body, the parts expected, or the exact reason of the refusal)
BODY_CASES = [
    ("two-files", TWO_FILES, TWO_FILES_PARTS),
    ("field-and-file", part("mkdir", b"new") + part("file", b"x", "a") + b"--XyZ--", [("mkdir", None, b"new"), ("file", "a", b"x")]),
    ("empty-part-data", part("file", b"", "empty.txt") + b"--XyZ--\r\n", [("file", "empty.txt", b"")]),
    ("preamble-and-epilogue", b"ignored preamble\r\n" + part("f", b"d", "n") + b"--XyZ--\r\nignored --XyZ epilogue",
     [("f", "n", b"d")]),
    # A dash-boundary counts without a CRLF before it only at the very start of the body.
    ("boundary-inside-preamble-line", b"ab--XyZ\r\nnot a part\r\n" + part("f", b"d") + b"--XyZ--",
     [("f", None, b"d")]),
    # RFC 2046 §5.1.1: transport padding after a boundary, before its CRLF.
    ("transport-padding", b"--XyZ \t \r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XyZ--  \r\n",
     [("f", None, b"v")]),
    ("close-without-crlf", part("f", b"v") + b"--XyZ--", [("f", None, b"v")]),
    ("no-parts", b"--XyZ--\r\n", []),
    ("no-boundary-at-all", b"just some bytes", "multipart body holds no boundary line (--BOUNDARY)"),
    ("empty-body", b"", "multipart body holds no boundary line (--BOUNDARY)"),
    ("missing-final-boundary", part("f", b"v", "a"), "multipart body ends before its final boundary"),
    ("cut-in-data", part("f", b"v", "a")[:-4], "multipart body ends before its final boundary"),
    ("cut-in-headers", b"--XyZ\r\nContent-Disposition: form-data; na", "multipart body ends before its final boundary"),
    ("boundary-then-junk", b"--XyZjunk\r\n", "multipart boundary not followed by CRLF or '--'"),
    ("padding-then-dashes", b"--XyZ --\r\n", "multipart boundary not followed by CRLF or '--'"),
    ("no-headers", b"--XyZ\r\n\r\ndata\r\n--XyZ--", "multipart part without a Content-Disposition header"),
    ("no-disposition", b"--XyZ\r\nContent-Type: text/plain\r\n\r\nd\r\n--XyZ--",
     "a multipart part needs exactly one Content-Disposition header"),
    ("endless-part-headers", b"--XyZ\r\nX-Long: " + b"a" * 20000, "multipart part headers larger than 16384 bytes"),
    ("endless-padding", b"--XyZ" + b" " * 20000, "too much padding after a multipart boundary"),
    ("base64-part", b"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n\r\nYQ==\r\n--XyZ--",
     "Content-Transfer-Encoding base64 in a multipart part is not supported (RFC 7578 §4.7)"),
    ("bad-header-line", b"--XyZ\r\nno colon here\r\n\r\nd\r\n--XyZ--",
     "in a multipart part's headers: header field line without a colon"),
    ("bare-lf-in-headers", b"--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nd\r\n--XyZ--",
     "in a multipart part's headers: invalid character in value of header field Content-Disposition"),
]


@pytest.mark.parametrize("body, expected", [c[1:] for c in BODY_CASES], ids=[c[0] for c in BODY_CASES])
@pytest.mark.parametrize("feeding", ["whole", "bytewise"])
def test_body(body: bytes, expected: list | str, feeding: str) -> None:
    pieces = [body] if feeding == "whole" else [body[i : i + 1] for i in range(len(body))]
    if isinstance(expected, list):
        assert parse(pieces) == expected
    else:
        with pytest.raises(MultipartError) as refused:
            parse(pieces)
        assert str(refused.value) == expected


def test_every_single_split_point_of_two_files() -> None:
    for cut in range(len(TWO_FILES) + 1):
        assert parse([TWO_FILES[:cut], TWO_FILES[cut:]]) == TWO_FILES_PARTS, cut


def test_every_pair_of_split_points_of_two_files() -> None:
    """Three pieces, cut at every (i, j): the boundary straddles any two receives."""
    for i in range(len(TWO_FILES) + 1):
        for j in range(i, len(TWO_FILES) + 1):
            assert parse([TWO_FILES[:i], TWO_FILES[i:j], TWO_FILES[j:]]) == TWO_FILES_PARTS, (i, j)


def test_a_part_made_of_boundary_prefixes_is_data() -> None:
    """Data full of near-delimiters (CRLF, `--`, the boundary less one byte) is data."""
    data = b"\r\n--XyZ"[:-1] * 1000 + b"\r\n-" * 1000
    body = part("file", data, "tricky") + b"--XyZ--"
    for size in (1, 7, 8, 9, 4096):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        assert parse(pieces) == [("file", "tricky", data)], size


def test_a_100_mb_part_is_parsed_with_flat_memory() -> None:
    """100 MB in 64 KiB receives: the parser keeps one receive and a delimiter's length,
    so its peak allocation stays near two receives, not near the part."""
    piece = bytes(range(256)) * 256  # 64 KiB
    count = 100 * 1024 * 1024 // len(piece)

    def body():
        yield b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n"
        for _ in range(count):
            yield piece
        yield b"\r\n--XyZ--\r\n"

    reader = MultipartReader(b"XyZ", body())
    tracemalloc.start()
    try:
        assert isinstance(reader.next_event(), PartStart)
        size = sum(len(data) for data in reader.part_data())
        assert reader.next_event() is Event.END_OF_BODY
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == count * len(piece)
    assert peak < 1024 * 1024, f"peak {peak} bytes for a {size}-byte part"
