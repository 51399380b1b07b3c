"""Unit table for whether a listing is sent as JSON (`choose_format()`): the Accept field (RFC 9110 §12.5.1) read by its grammar
alone (media ranges, parameters, the qvalue of §12.4.2), OWS = SP / HTAB only."""

from __future__ import annotations

import pytest

from app.fields import Headers
from app.listing import choose_format
from app.negotiation import media_range_weights

# (id, Accept value or None, JSON preferred)
CASES = [
    ("absent", None, False),
    ("json", "application/json", True),
    ("html", "text/html", False),
    ("browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
    ("json-preferred", "text/html;q=0.5, application/json", True),
    ("equal-weights-json-wins", "application/json, text/html", True),
    ("json-refused", "application/json;q=0", False),
    ("case-insensitive", "Application/JSON;Q=1", True),
    ("parameters-before-q", "application/json;charset=utf-8;q=0.9, text/html;q=0.5", True),
    ("quoted-parameter-with-comma", 'application/json;a="x,y";q=1', True),
    ("ows-around", "\t application/json \t", True),
    # Outside the grammar: the field is ignored (HTML).
    ("bad-qvalue", "application/json;q=2", False),
    ("float-but-not-qvalue", "application/json;q=5e-1", False),
    ("nbsp-before", "\xa0application/json", False),
    ("nel-after", "application/json\x85", False),
    ("no-subtype", "application", False),
    ("space-in-type", "application/ json", False),
]


@pytest.mark.parametrize("value, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_wants_json(value: str | None, expected: bool) -> None:
    headers = Headers([] if value is None else [("accept", value)])
    assert (choose_format(headers, ("html", "json")) == "json") is expected


def test_weights_are_exact_thousandths() -> None:
    headers = Headers([("accept", "a/b;q=0.001, c/d;q=0.5, e/f;q=1, g/h")])
    assert media_range_weights(headers) == {"a/b": 1, "c/d": 500, "e/f": 1000, "g/h": 1000}
