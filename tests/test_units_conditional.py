"""Unit tables for conditional requests: `etag_list()` (an If-Match / If-None-Match value
as entity-tags, RFC 9110 §8.8.3) and `precondition_status()` (the preconditions evaluated
in the order of §13.2.2: 412, 304, or None to go on)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from app.conditional import etag_list, if_range_allows, precondition_status
from app.fields import Headers

# (id, header value, expected: [(weak, opaque-tag)], or None for "*")
ETAG_LISTS = [
    ("one-strong", '"abc"', [(False, '"abc"')]),
    ("one-weak", 'W/"abc"', [(True, '"abc"')]),
    ("a-list", '"a", W/"b" ,"c"', [(False, '"a"'), (True, '"b"'), (False, '"c"')]),
    ("comma-inside-a-tag", '"a,b"', [(False, '"a,b"')]),
    ("empty-tag", '""', [(False, '""')]),
    ("any", "*", None),
    ("any-with-spaces", " * ", None),
    ("empty-value", "", []),
    ("unquoted-is-not-a-tag", "abc", []),
    ("space-is-not-etagc", '"a b"', []),
    # RFC 9110 §5.6.1 and §8.8.3 alone decide: a value outside the grammar is [] (matches
    # nothing), and only SP and HTAB are whitespace around the elements.
    ("lowercase-w-is-not-weak", 'w/"abc"', []),
    ("garbage-after-a-tag", '"a" x', []),
    ("garbage-element-spoils-the-list", '"a", b', []),
    ("empty-elements-skipped", ' , "a" ,, "b",', [(False, '"a"'), (False, '"b"')]),
    ("tab-around-elements", '\t"a"\t,\t"b"', [(False, '"a"'), (False, '"b"')]),
    ("nbsp-is-not-whitespace", '\xa0"a"', []),
    ("nel-is-not-whitespace", '"a"\x85', []),
    ("nbsp-around-any", "\xa0*", []),
    ("obs-text-inside-a-tag", '"caf\xe9"', [(False, '"caf\xe9"')]),
]


@pytest.mark.parametrize("value, expected", [case[1:] for case in ETAG_LISTS], ids=[case[0] for case in ETAG_LISTS])
def test_etag_list(value: str, expected) -> None:
    assert etag_list(value) == expected


ETAG = '"e-1"'
MODIFIED = 1_000_000_000.0  # Sun, 09 Sep 2001 01:46:40 GMT
SAME_DATE = formatdate(MODIFIED, usegmt=True)
EARLIER = formatdate(MODIFIED - 60, usegmt=True)
LATER = formatdate(MODIFIED + 60, usegmt=True)
NO_FILE = (None, None)  # (etag, modified) when there is no current representation
FILE = (ETAG, MODIFIED)

# (id, request header fields, method, (etag, modified) of the file, expected status)
PRECONDITIONS = [
    ("no-preconditions", {}, "GET", FILE, None),
    # If-None-Match: weak comparison; 304 for GET/HEAD, 412 for other methods.
    ("inm-matches", {"if-none-match": ETAG}, "GET", FILE, 304),
    ("inm-matches-head", {"if-none-match": ETAG}, "HEAD", FILE, 304),
    ("inm-weak-matches-weakly", {"if-none-match": "W/" + ETAG}, "GET", FILE, 304),
    ("inm-one-of-a-list", {"if-none-match": '"other", ' + ETAG}, "GET", FILE, 304),
    ("inm-other", {"if-none-match": '"other"'}, "GET", FILE, None),
    ("inm-any-existing", {"if-none-match": "*"}, "GET", FILE, 304),
    ("inm-matches-on-put", {"if-none-match": ETAG}, "PUT", FILE, 412),
    ("inm-any-put-creates", {"if-none-match": "*"}, "PUT", NO_FILE, None),
    ("inm-any-put-existing", {"if-none-match": "*"}, "PUT", FILE, 412),
    # If-Match: strong comparison; 412 when it fails.
    ("im-matches", {"if-match": ETAG}, "PUT", FILE, None),
    ("im-weak-never-matches", {"if-match": "W/" + ETAG}, "PUT", FILE, 412),
    ("im-other", {"if-match": '"other"'}, "PUT", FILE, 412),
    ("im-one-of-a-list", {"if-match": '"other", ' + ETAG}, "DELETE", FILE, None),
    ("im-any-existing", {"if-match": "*"}, "PUT", FILE, None),
    ("im-any-no-file", {"if-match": "*"}, "PUT", NO_FILE, 412),
    ("im-on-get", {"if-match": '"other"'}, "GET", FILE, 412),
    # If-Modified-Since: GET and HEAD only; HTTP dates have whole seconds.
    ("ims-same-date", {"if-modified-since": SAME_DATE}, "GET", FILE, 304),
    ("ims-later", {"if-modified-since": LATER}, "HEAD", FILE, 304),
    ("ims-earlier", {"if-modified-since": EARLIER}, "GET", FILE, None),
    ("ims-fraction-of-a-second", {"if-modified-since": SAME_DATE}, "GET", (ETAG, MODIFIED + 0.5), 304),
    ("ims-invalid-date-is-ignored", {"if-modified-since": "yesterday"}, "GET", FILE, None),
    ("ims-on-put-is-ignored", {"if-modified-since": SAME_DATE}, "PUT", FILE, None),
    ("ims-no-file", {"if-modified-since": SAME_DATE}, "GET", NO_FILE, None),
    # If-Unmodified-Since: 412 when modified since, or when there is no file.
    ("ius-same-date", {"if-unmodified-since": SAME_DATE}, "PUT", FILE, None),
    ("ius-earlier", {"if-unmodified-since": EARLIER}, "PUT", FILE, 412),
    ("ius-earlier-on-get", {"if-unmodified-since": EARLIER}, "GET", FILE, 412),
    ("ius-invalid-date-is-ignored", {"if-unmodified-since": "soon"}, "PUT", FILE, None),
    ("ius-no-file", {"if-unmodified-since": SAME_DATE}, "PUT", NO_FILE, 412),
    # §13.2.2: the order, and which header makes which other one ignored.
    ("im-passes-so-ius-is-ignored", {"if-match": ETAG, "if-unmodified-since": EARLIER}, "PUT", FILE, None),
    ("im-fails-before-inm", {"if-match": '"other"', "if-none-match": ETAG}, "GET", FILE, 412),
    ("inm-present-so-ims-is-ignored", {"if-none-match": '"other"', "if-modified-since": SAME_DATE}, "GET", FILE, None),
    ("ius-fails-before-ims", {"if-unmodified-since": EARLIER, "if-modified-since": SAME_DATE}, "GET", FILE, 412),
]


@pytest.mark.parametrize(
    "fields, method, current, expected",
    [case[1:] for case in PRECONDITIONS],
    ids=[case[0] for case in PRECONDITIONS],
)
def test_precondition_status(fields: dict[str, str], method: str, current, expected) -> None:
    etag, modified = current
    assert precondition_status(Headers(list(fields.items())), method, etag, modified) == expected


# (id, If-Range value, whether the range applies) for a file with tag ETAG, modified MODIFIED.
# RFC 9110 §13.1.5: If-Range = entity-tag / HTTP-date; strong comparison, or the exact date.
IF_RANGES = [
    ("absent", None, True),
    ("current-tag", ETAG, True),
    ("other-tag", '"other"', False),
    ("weak-tag-never", "W/" + ETAG, False),
    ("same-date", SAME_DATE, True),
    ("later-date-is-not-exact", LATER, False),
    ("not-a-tag-nor-a-date", "yesterday", False),
    ("nbsp-before-the-date", "\xa0" + SAME_DATE, False),
    ("nel-after-the-tag", ETAG + "\x85", False),
]


@pytest.mark.parametrize("value, applies", [case[1:] for case in IF_RANGES], ids=[case[0] for case in IF_RANGES])
def test_if_range_allows(value: str | None, applies: bool) -> None:
    headers = Headers([] if value is None else [("if-range", value)])
    assert if_range_allows(headers, ETAG, MODIFIED) is applies
