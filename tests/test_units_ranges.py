"""Unit table for `parse_range()`: a `Range` value and a file size in, the byte range to
send (first, last, inclusive), None (ignore the header: answer the whole file, 200) or
`Unsatisfiable` (416) out. RFC 9110 §14.1.1 (syntax), §14.2 (a server may ignore Range)."""

from __future__ import annotations

import pytest

from app.conditional import Unsatisfiable, parse_range

WHOLE = None  # the header is ignored: the whole file, 200
UNSATISFIABLE = Unsatisfiable  # 416

# (id, Range value, file size, expected)
CASES = [
    ("first-bytes", "bytes=0-4", 14, (0, 4)),
    ("open-ended", "bytes=7-", 14, (7, 13)),
    ("from-zero-open-ended", "bytes=0-", 14, (0, 13)),
    ("last-byte", "bytes=13-13", 14, (13, 13)),
    ("last-pos-past-the-end-is-clipped", "bytes=5-100", 14, (5, 13)),
    ("suffix", "bytes=-7", 14, (7, 13)),
    ("suffix-longer-than-the-file", "bytes=-100", 14, (0, 13)),
    ("unit-is-case-insensitive", "BYTES=0-4", 14, (0, 4)),
    ("whitespace-around-the-range", "bytes= 0-4 ", 14, (0, 4)),
    ("eighteen-digits", "bytes=0-999999999999999999", 14, (0, 13)),
    # §14.1.1: a range that starts at or past the end cannot be satisfied.
    ("starts-at-the-end", "bytes=14-", 14, UNSATISFIABLE),
    ("wholly-past-the-end", "bytes=100-200", 14, UNSATISFIABLE),
    ("empty-suffix", "bytes=-0", 14, UNSATISFIABLE),
    ("suffix-of-an-empty-file", "bytes=-5", 0, UNSATISFIABLE),
    ("any-range-of-an-empty-file", "bytes=0-", 0, UNSATISFIABLE),
    # Not valid, or not worth it: ignored, so the whole file goes out.
    ("last-before-first", "bytes=5-4", 14, WHOLE),
    ("several-ranges", "bytes=0-1,5-6", 14, WHOLE),
    ("unknown-unit", "items=0-4", 14, WHOLE),
    ("no-equals-sign", "bytes0-4", 14, WHOLE),
    ("no-positions", "bytes=-", 14, WHOLE),
    ("empty-range-set", "bytes=", 14, WHOLE),
    ("letters", "bytes=a-b", 14, WHOLE),
    ("hex", "bytes=0x1-2", 14, WHOLE),
    ("sign", "bytes=+1-2", 14, WHOLE),
    ("negative-first", "bytes=--1", 14, WHOLE),
    ("nineteen-digits", "bytes=1234567890123456789-", 14, WHOLE),
    # Only the RFC's ASCII rules decide: OWS (SP, HTAB) around list elements only, DIGIT
    # is 0-9, the unit's case is ASCII's.
    ("ows-around-the-element", "bytes=\t 0-4 \t", 14, (0, 4)),
    ("empty-list-elements-skipped", "bytes=,0-4,", 14, (0, 4)),
    ("space-inside-the-spec", "bytes=0 - 4", 14, WHOLE),
    ("space-before-equals", "bytes =0-4", 14, WHOLE),
    ("nbsp-around-the-element", "bytes=\xa00-4", 14, WHOLE),
    ("nel-after-the-element", "bytes=0-4\x85", 14, WHOLE),
    ("vertical-tab", "bytes=\x0b0-4", 14, WHOLE),
    ("arabic-indic-digits", "bytes=\u0660-\u0664", 14, WHOLE),
    ("fullwidth-digits", "bytes=\uff10-\uff14", 14, WHOLE),
    ("underscore-in-digits", "bytes=0-1_0", 14, WHOLE),
    ("dotted-capital-i-is-not-ascii", "byt\u0130s=0-4", 14, WHOLE),
    ("several-with-other-range", "bytes=0-4, x", 14, WHOLE),
]


@pytest.mark.parametrize("value, size, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_parse_range(value: str, size: int, expected) -> None:
    if expected is UNSATISFIABLE:
        with pytest.raises(Unsatisfiable):
            parse_range(value, size)
    else:
        assert parse_range(value, size) == expected
