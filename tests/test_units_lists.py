"""Unit table for `list_elements()`: a list-valued field (RFC 9110 §5.6.1) split by the
RFC's rule alone (elements separated by ",", OWS = SP / HTAB around them, empty elements
skipped), each element matched against the field's own grammar; `ValueError` for a value
outside it. Python's idea of whitespace (U+00A0, U+0085, VT, FF) never counts."""

from __future__ import annotations

import pytest

from app.fields import EXPECTATION_RE, TOKEN_STR_RE, TRANSFER_CODING_RE, list_elements

INVALID = ValueError

# (id, field line values, element grammar, expected elements or INVALID)
CASES = [
    ("one", ["chunked"], TOKEN_STR_RE, ["chunked"]),
    ("ows-is-sp-and-htab", [" \tgzip \t, \tchunked\t "], TOKEN_STR_RE, ["gzip", "chunked"]),
    ("no-ows", ["gzip,chunked"], TOKEN_STR_RE, ["gzip", "chunked"]),
    ("empty-elements-skipped", [",, gzip ,,chunked,"], TOKEN_STR_RE, ["gzip", "chunked"]),
    ("across-field-lines", ["gzip", "", "chunked"], TOKEN_STR_RE, ["gzip", "chunked"]),
    ("empty", [""], TOKEN_STR_RE, []),
    ("only-commas", [" , ,"], TOKEN_STR_RE, []),
    ("nbsp-before", ["\xa0chunked"], TOKEN_STR_RE, INVALID),
    ("nel-after", ["chunked\x85"], TOKEN_STR_RE, INVALID),
    ("vertical-tab", ["\x0bchunked"], TOKEN_STR_RE, INVALID),
    ("form-feed", ["chunked\x0c"], TOKEN_STR_RE, INVALID),
    ("space-inside", ["chun ked"], TOKEN_STR_RE, INVALID),
    ("not-a-token", ['"chunked"'], TOKEN_STR_RE, INVALID),
    ("one-bad-line-spoils-the-field", ["chunked", "\xa0"], TOKEN_STR_RE, INVALID),
    ("coding-with-parameters", ['gzip;level=1 ; x="a,b", chunked'], TRANSFER_CODING_RE,
     ['gzip;level=1 ; x="a,b"', "chunked"]),
    ("coding-with-a-bare-semicolon", ["chunked;"], TRANSFER_CODING_RE, INVALID),
    ("expectation", ["100-continue"], EXPECTATION_RE, ["100-continue"]),
    ("expectation-with-value-and-parameters", ['a=b;c="d,e", 100-continue'], EXPECTATION_RE,
     ['a=b;c="d,e"', "100-continue"]),
]


@pytest.mark.parametrize("values, element, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_list_elements(values: list[str], element, expected) -> None:
    if expected is INVALID:
        with pytest.raises(ValueError):
            list_elements(values, element)
    else:
        assert [match.group() for match in list_elements(values, element)] == expected
