"""Unit tables for the WebDAV If header (RFC 4918 §10.4, `app/ifheader.py`): whole values
parsed into productions, values refused by the grammar, and the evaluation of §10.4.3
against given resource states."""

from __future__ import annotations

import pytest

from app.ifheader import (
    UNMAPPED,
    Condition,
    Production,
    ResourceState,
    if_holds,
    parse_if,
    submitted_tokens,
)

TOKEN = "urn:uuid:6a6b1b5c-3a2e-4d8e-9c61-0c1a2b3c4d5e"
OPAQUE = "opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4"


def token(uri: str, negated: bool = False) -> Condition:
    return Condition(negated, uri, None)


def etag(tag: str, negated: bool = False) -> Condition:
    return Condition(negated, None, tag)


def untagged(*lists: tuple[Condition, ...]) -> Production:
    return Production(None, tuple(lists))


def tagged(resource: str, *lists: tuple[Condition, ...]) -> Production:
    return Production(resource, tuple(lists))


# (id, the whole header value, the productions it is)
VALID = [
    ("one-token", f"(<{TOKEN}>)", (untagged((token(TOKEN),)),)),
    ("opaquelocktoken", f"(<{OPAQUE}>)", (untagged((token(OPAQUE),)),)),
    ("token-and-etag", f'(<{TOKEN}> ["a-1"])', (untagged((token(TOKEN), etag('"a-1"'))),)),
    ("weak-etag", '([W/"a-1"])', (untagged((etag('W/"a-1"'),)),)),
    ("empty-etag", '([""])', (untagged((etag('""'),)),)),
    ("not-token", "(Not <DAV:no-lock>)", (untagged((token("DAV:no-lock", True),)),)),
    ("not-etag", '(Not ["x"])', (untagged((etag('"x"', True),)),)),
    ("not-any-case", "(nOT <DAV:no-lock>)", (untagged((token("DAV:no-lock", True),)),)),
    ("not-without-space", "(Not<DAV:no-lock>)", (untagged((token("DAV:no-lock", True),)),)),
    ("two-lists", f"(<{TOKEN}>) (Not <DAV:no-lock>)", (untagged((token(TOKEN),), (token("DAV:no-lock", True),)),)),
    ("two-lists-no-space", f"(<{TOKEN}>)(<{OPAQUE}>)", (untagged((token(TOKEN),), (token(OPAQUE),)),)),
    # litmus complex_cond_put
    (
        "litmus-complex",
        f'(<{TOKEN}> ["e"]) (Not <DAV:no-lock> ["e"])',
        (untagged((token(TOKEN), etag('"e"')), (token("DAV:no-lock", True), etag('"e"'))),),
    ),
    ("lws-everywhere", f' \t( \t<{TOKEN}>\t["x"] )\t', (untagged((token(TOKEN), etag('"x"'))),)),
    ("tagged-absolute", f"<http://h:1/files/a> (<{TOKEN}>)", (tagged("http://h:1/files/a", (token(TOKEN),)),)),
    ("tagged-path", f"</files/a%20b> (<{TOKEN}>)", (tagged("/files/a%20b", (token(TOKEN),)),)),
    ("tagged-root-path", f"</> (<{TOKEN}>)", (tagged("/", (token(TOKEN),)),)),
    ("tagged-query", f"</files/a?x=1> (<{TOKEN}>)", (tagged("/files/a?x=1", (token(TOKEN),)),)),
    (
        "tagged-two-resources",
        f'<http://h/files/a> (<{TOKEN}>) (["x"]) <http://h/files/b> (Not <DAV:no-lock>)',
        (
            tagged("http://h/files/a", (token(TOKEN),), (etag('"x"'),)),
            tagged("http://h/files/b", (token("DAV:no-lock", True),)),
        ),
    ),
    # RFC 4918 §10.4.6-§10.4.10, the examples; theirs have spaces inside the ETags, which
    # entity-tag does not allow (etagc, RFC 9110 §8.8.3): here with "-" instead.
    (
        "rfc-10.4.6",
        '(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> ["I-am-an-ETag"]) (["I-am-another-ETag"])',
        (untagged((token("urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"), etag('"I-am-an-ETag"')),
                  (etag('"I-am-another-ETag"'),)),),
    ),
    (
        "rfc-10.4.7",
        "(Not <urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> <urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092>)",
        (untagged((token("urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2", True),
                   token("urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092"))),),
    ),
    (
        "rfc-10.4.8",
        "(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2>) (Not <DAV:no-lock>)",
        (untagged((token("urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"),), (token("DAV:no-lock", True),)),),
    ),
    (
        "rfc-10.4.9",
        '</resource1> (<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> [W/"A-weak-ETag"]) (["strong-ETag"])',
        (tagged("/resource1", (token("urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"), etag('W/"A-weak-ETag"')),
                (etag('"strong-ETag"'),)),),
    ),
    (
        "rfc-10.4.10",
        '<http://www.example.com/specs/> (<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2>)',
        (tagged("http://www.example.com/specs/", (token("urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"),)),),
    ),
    ("utf8-left-unescaped-in-a-tag", f"</files/caf\xc3\xa9> (<{TOKEN}>)", (tagged("/files/caf\xc3\xa9", (token(TOKEN),)),)),
]

# (id, a whole header value the grammar refuses)
INVALID = [
    ("empty", ""),
    ("only-space", "  \t"),
    ("no-parentheses", f"<{TOKEN}>"),
    ("bare-token", TOKEN),
    ("empty-list", "()"),
    ("unclosed-list", f"(<{TOKEN}>"),
    ("unopened-list", f"<{TOKEN}>)"),
    ("nested-list", f"((<{TOKEN}>))"),
    ("not-alone", "(Not)"),
    ("not-twice", "(Not Not <DAV:no-lock>)"),
    ("not-at-the-end", f"(<{TOKEN}> Not)"),
    ("nothing-after-not", "(Not"),
    ("not-glued-to-a-word", "(Nothing <DAV:no-lock>)"),
    ("token-not-absolute", "(</files/a>)"),
    ("token-relative", "(<a>)"),
    ("token-with-space", "(<urn:a b>)"),
    ("token-empty", "(<>)"),
    ("etag-unquoted", "([abc])"),
    ("etag-space-inside-brackets", '([ "x"])'),
    ("etag-lowercase-weak", '([w/"x"])'),
    ("etag-without-brackets", '("x")'),
    ("etag-two-in-brackets", '(["x" "y"])'),
    ("tag-after-untagged", f"(<{TOKEN}>) </files/a> (<{TOKEN}>)"),
    ("untagged-after-tagged", f"</files/a> (<{TOKEN}>) (<{TOKEN}>) <http://h/b> (<{TOKEN}>) x"),
    ("untagged-after-tagged-list", f"</files/a> (<{TOKEN}>) </files/b>"),
    ("tag-without-list", "</files/a>"),
    ("tag-relative", f"<files/a> (<{TOKEN}>)"),
    ("tag-network-path", f"<//h/files/a> (<{TOKEN}>)"),
    ("garbage-after", f"(<{TOKEN}>) x"),
    ("comma-between-lists", f"(<{TOKEN}>), (<{TOKEN}>)"),
    ("newline", f"(<{TOKEN}>)\n"),
]


@pytest.mark.parametrize("value, expected", [case[1:] for case in VALID], ids=[case[0] for case in VALID])
def test_valid_if_headers(value: str, expected: tuple[Production, ...]) -> None:
    assert parse_if(value) == expected


@pytest.mark.parametrize("value", [case[1] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_if_headers(value: str) -> None:
    with pytest.raises(ValueError):
        parse_if(value)


LOCKED = ResourceState(frozenset({TOKEN}), frozenset({'"e"'}))
UNLOCKED = ResourceState(frozenset(), frozenset({'"e"'}))
OTHER = ResourceState(frozenset({OPAQUE}), frozenset({'"o"'}))
# state_of for the evaluations: the Request-URI (None), two tagged resources, and
# everything else unmapped (§10.4.4: "treat as if the URL identified a resource that
# exists but does not have the specified state").
STATES = {None: LOCKED, "/files/a": LOCKED, "/files/b": OTHER}

# (id, header value, whether it evaluates to true), the Request-URI's state being LOCKED
EVALUATIONS = [
    ("token-matches", f"(<{TOKEN}>)", True),
    ("other-token", f"(<{OPAQUE}>)", False),
    ("no-lock", "(<DAV:no-lock>)", False),
    ("not-no-lock", "(Not <DAV:no-lock>)", True),
    ("not-the-lock", f"(Not <{TOKEN}>)", False),
    ("token-and-etag", f'(<{TOKEN}> ["e"])', True),
    ("token-and-wrong-etag", f'(<{TOKEN}> ["x"])', False),
    ("weak-etag-compares-weakly", f'(<{TOKEN}> [W/"e"])', True),
    ("not-etag", '(Not ["e"])', False),
    ("any-list-true", f"(<DAV:no-lock>) (<{TOKEN}>)", True),
    ("all-lists-false", f'(<DAV:no-lock>) (["x"])', False),
    # litmus: cond_put_with_not, cond_put_corrupt_token, fail_cond_put
    ("litmus-with-not", f"(<{TOKEN}>) (Not <DAV:no-lock>)", True),
    ("litmus-corrupt-token", f"(<{TOKEN}x>) (Not <DAV:no-lock>)", True),
    ("litmus-fail-cond", '(<DAV:no-lock> ["e"])', False),
    ("litmus-complex", f'(<{TOKEN}> ["e"]) (Not <DAV:no-lock> ["e"])', True),
    ("litmus-fail-complex", f'(<{TOKEN}> ["f"]) (Not <DAV:no-lock> ["f"])', False),
    ("tagged-own-resource", f"</files/b> (<{OPAQUE}>)", True),
    ("tagged-wrong-token", f"</files/b> (<{TOKEN}>)", False),
    ("tagged-unmapped", f"</files/zzz> (<{TOKEN}>)", False),
    ("tagged-unmapped-not", f"</files/zzz> (Not <{TOKEN}>)", True),
    ("tagged-unmapped-etag", '</files/zzz> (["e"])', False),
    ("one-tagged-production-true", f"</files/b> (<{TOKEN}>) </files/a> (<{TOKEN}>)", True),
]


@pytest.mark.parametrize("value, expected", [case[1:] for case in EVALUATIONS], ids=[case[0] for case in EVALUATIONS])
def test_if_evaluation(value: str, expected: bool) -> None:
    assert if_holds(parse_if(value), lambda tag: STATES.get(tag, UNMAPPED)) is expected


def test_submitted_tokens_are_every_state_token_negated_or_not() -> None:
    value = f'</files/a> (<{TOKEN}> ["e"]) (Not <{OPAQUE}>) </files/b> (<DAV:no-lock>)'
    assert submitted_tokens(parse_if(value)) == {TOKEN, OPAQUE, "DAV:no-lock"}


def test_entity_tags_submit_nothing() -> None:
    assert submitted_tokens(parse_if('(["e"]) (Not ["f"])')) == frozenset()
