"""Unit tables for the listing's pure functions: which names are listed, the order and
filter of a view, the query that asks for it, the format Accept chooses, the plain-text
listing, human sizes; and which content coding a client accepts."""

from __future__ import annotations

import pytest

from app.compression import accepts_coding
from app.errors import HTTPError
from app.fields import Headers
from app.listing import choose_format, is_listed, listing_text, shown_entries, view_from_query
from app.listing_sort import SortedEntries
from app.listing_view import Entry, View, human_size, view_query
from app.storage import is_upload_in_progress, temporary_path

UPLOAD_NAMES = [
    (".report.pdf.web1-4242.0123456789ab.part", True),
    (".a.h-1.ffffffffffff.part", True),
    (".with space and .dots.my-host-7.a1b2c3d4e5f6.part", True),
    (".hidden", False),
    (".notes.part", False),  # no host, process or random part: a user's own dot file
    (".x.0123456789ab.part", False),  # no host and process
    (".x.h-1.0123456789AB.part", False),  # token_hex writes lowercase only
    (".x.h-1.0123456789a.part", False),  # 11 hex digits, not 12
    ("report.pdf.h-1.0123456789ab.part", False),  # no leading dot
    (".x.h-1.0123456789ab.part.txt", False),
]


@pytest.mark.parametrize("name, expected", UPLOAD_NAMES)
def test_is_upload_in_progress(name, expected):
    assert is_upload_in_progress(name) is expected


@pytest.mark.parametrize("name", ["a", "x" * 250, "résumé final.txt", ".env"])
def test_the_names_temporary_path_makes_are_uploads_in_progress(tmp_path, name):
    assert is_upload_in_progress(temporary_path(tmp_path / name).name)


@pytest.mark.parametrize(
    "name, show_hidden, expected",
    [
        ("a.txt", False, True),
        (".env", False, False),
        (".env", True, True),
        (".a.h-1.0123456789ab.part", True, False),
        (".a.h-1.0123456789ab.part", False, False),
        (b"caf\xe9.txt".decode("utf-8", "surrogateescape"), True, False),  # Latin-1 bytes
    ],
)
def test_is_listed(name, show_hidden, expected):
    assert is_listed(name, show_hidden) is expected


ENTRIES = [
    Entry("b.txt", False, 300, 1),
    Entry("A.txt", False, 100, 3),
    Entry("c.txt", False, 200, 2),
    Entry("Beta", True, 0, 4),
    Entry("alpha", True, 0, 5),
]

ORDERS = [
    (View(), ["alpha", "Beta", "A.txt", "b.txt", "c.txt"]),
    (View("name", "desc"), ["Beta", "alpha", "c.txt", "b.txt", "A.txt"]),
    (View("size", "asc"), ["alpha", "Beta", "A.txt", "c.txt", "b.txt"]),
    (View("size", "desc"), ["Beta", "alpha", "b.txt", "c.txt", "A.txt"]),
    (View("modified", "asc"), ["Beta", "alpha", "b.txt", "c.txt", "A.txt"]),
    (View("modified", "desc"), ["alpha", "Beta", "A.txt", "c.txt", "b.txt"]),
    (View("name", "asc", "A"), ["alpha", "Beta", "A.txt"]),
    (View("size", "desc", ".TXT"), ["b.txt", "c.txt", "A.txt"]),
    (View("name", "asc", "zzz"), []),
]


@pytest.mark.parametrize("view, names", ORDERS)
def test_folders_first_then_the_views_order_and_filter(view, names):
    with SortedEntries(view) as ordered:
        ordered.extend(list(shown_entries(ENTRIES, view)))
        assert [entry.name for entry in ordered] == names
        assert len(ordered) == len(names)


@pytest.mark.parametrize(
    "query, view",
    [
        ("", View()),
        ("sort=size&order=desc", View("size", "desc")),
        ("filter=a%20b&sort=modified", View("modified", "asc", "a b")),
        ("download=zip", View()),  # other parameters are not the listing's
        ("filter=", View()),
    ],
)
def test_view_from_query(query, view):
    assert view_from_query(query) == view


@pytest.mark.parametrize(
    "query, reason",
    [
        ("sort=date", "sort must be one of name, size, modified, not 'date'"),
        ("sort=", "sort must be one of name, size, modified, not ''"),
        ("order=up", "order must be asc or desc, not 'up'"),
        ("sort=name&order=ASC", "order must be asc or desc, not 'ASC'"),
    ],
)
def test_view_from_query_refuses_what_it_does_not_know(query, reason):
    with pytest.raises(HTTPError) as raised:
        view_from_query(query)
    assert (raised.value.status, raised.value.reason) == (400, reason)


@pytest.mark.parametrize(
    "view, changes, query",
    [
        (View(), {"sort": "size"}, "?sort=size&order=asc"),
        (View("size", "desc", "a b&c"), {"order": "asc"}, "?sort=size&order=asc&filter=a%20b%26c"),
    ],
)
def test_view_query(view, changes, query):
    assert view_query(view, **changes) == query


ALL = ("html", "json", "text")
FORMATS = [
    (None, ALL, "html"),
    ("*/*", ALL, "html"),
    ("text/plain", ALL, "text"),
    ("application/json", ALL, "json"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ALL, "html"),
    ("text/html;q=0.9, text/plain;q=0.5", ALL, "html"),
    ("text/html;q=0.5, text/plain", ALL, "text"),
    ("application/json, text/plain", ALL, "json"),
    ("text/plain;q=0", ALL, "html"),
    ("application/json", ("html", "text"), "html"),  # the site offers no JSON
    ("text/plain", ("html", "text"), "text"),
]


@pytest.mark.parametrize("accept, offered, expected", FORMATS)
def test_choose_format(accept, offered, expected):
    headers = Headers([("accept", accept)] if accept else [])
    assert choose_format(headers, offered) == expected


def test_listing_text_is_one_name_a_line_with_control_characters_escaped():
    entries = [Entry("sub", True, 0, 0), Entry("a b.txt", False, 1, 0), Entry("two\nlines%.txt", False, 1, 0)]
    assert listing_text(entries) == b"sub/\na b.txt\ntwo%0Alines%25.txt\n"


@pytest.mark.parametrize(
    "size, text",
    [
        (0, "0 B"), (1023, "1023 B"), (1024, "1.0K"), (1536, "1.5K"), (10188, "9.9K"), (10189, "10K"),
        (15 * 1024 + 512, "16K"), (1023 * 1024, "1023K"), (1023 * 1024 + 512, "1.0M"), (5 * 1024**3, "5.0G"),
        (3 * 1024**4, "3.0T"), (2000 * 1024**4, "2000T"),
    ],
)
def test_human_size(size, text):
    assert human_size(size) == text


CODINGS = [
    ("br, gzip", "br", True),
    ("gzip", "br", False),
    ("*", "br", True),
    ("br;q=0, *", "br", False),
    ("BR", "br", True),
    ("x-gzip", "gzip", True),
    ("gzip;q=0", "gzip", False),
    ("identity", "gzip", False),
]


@pytest.mark.parametrize("accept_encoding, coding, expected", CODINGS)
def test_accepts_coding(accept_encoding, coding, expected):
    assert accepts_coding(Headers([("accept-encoding", accept_encoding)]), coding) is expected
