"""Unit tables for WebDAV's pure functions: the safe XML parser (`davxml.parse_xml`), the
self-contained serialisation of dead property values, the PROPFIND body (`propfind_query`),
and the request fields Depth, Overwrite, Destination and X-OC-Mtime (`davheaders.py`)."""

from __future__ import annotations

import pytest

from app import davheaders, davxml
from app.davxml import DAV, Refused, parse_xml
from app.errors import HTTPError
from app.webdav import patch_instructions, patch_results, propfind_query

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<D:propfind xmlns:D="DAV:"><D:prop><x>&lol3;</x></D:prop></D:propfind>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop>&xxe;</D:prop></D:propfind>"""
PARAMETER = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><a/>"""
DEEP = b"<a>" * 101 + b"</a>" * 101
JUST_DEEP_ENOUGH = b"<a>" * 100 + b"</a>" * 100

# (id, body, the reason's start) for what the parser refuses
REFUSED = [
    ("billion-laughs", BILLION_LAUGHS, "XML with a DOCTYPE is refused"),
    ("external-entity", EXTERNAL, "XML with a DOCTYPE is refused"),
    ("parameter-entity", PARAMETER, "XML with a DOCTYPE is refused"),
    ("doctype-alone", b"<!DOCTYPE a><a/>", "XML with a DOCTYPE is refused"),
    ("undeclared-entity", b"<a>&x;</a>", "malformed XML: undefined entity"),
    ("deeper-than-100", DEEP, "XML nested deeper than 100 elements"),
    ("unclosed", b"<a><b></a>", "malformed XML: mismatched tag"),
    ("truncated", b"<a>", "malformed XML: no element found"),
    ("two-roots", b"<a/><b/>", "malformed XML: junk after document element"),
    ("unbound-prefix", b"<x:a/>", "malformed XML: unbound prefix"),
    ("not-xml", b"hello", "malformed XML: syntax error"),
]


@pytest.mark.parametrize("body, reason", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_parser_refuses(body: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_xml([body])
    assert str(refused.value).startswith(reason)


def test_parser_builds_namespaced_trees_from_pieces() -> None:
    body = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><x:a xmlns:x="urn:x" x:k="v">t&amp;t</x:a></D:prop></D:propfind>'
    root = parse_xml([body[:7], body[7:40], body[40:]])  # split anywhere
    assert root.name == (DAV, "propfind")
    value = root.find((DAV, "prop")).elements()[0]
    assert (value.name, value.attributes, value.text()) == (("urn:x", "a"), {("urn:x", "k"): "v"}, "t&t")
    assert parse_xml([JUST_DEEP_ENOUGH]).name == ("", "a")


@pytest.mark.parametrize("body", [[], [b""], [b"  \r\n\t"]], ids=["none", "empty", "whitespace"])
def test_an_empty_body_is_none(body: list[bytes]) -> None:
    assert parse_xml(body) is None


# (id, property XML inside <D:prop>, its value serialised back)
VALUES = [
    ("text", b'<p xmlns="urn:a">x &lt; y</p>', "x &lt; y"),
    ("nested-keeps-namespaces", b'<p xmlns="urn:a"><t:v xmlns:t="urn:t"><w xmlns="urn:w"/></t:v></p>',
     '<v xmlns="urn:t"><w xmlns="urn:w"/></v>'),
    ("no-namespace-child", b'<p xmlns="urn:a"><q xmlns="">1</q></p>', '<q xmlns="">1</q>'),
    ("namespaced-attribute", b'<p xmlns="urn:a"><q xmlns:z="urn:z" z:k="&quot;"/></p>',
     '<q xmlns="urn:a" xmlns:a0="urn:z" a0:k="&quot;"/>'),
    ("unicode", '<p xmlns="urn:a">\U0001f600é</p>'.encode(), "\U0001f600é"),
]


@pytest.mark.parametrize("xml, inner", [case[1:] for case in VALUES], ids=[case[0] for case in VALUES])
def test_dead_values_are_self_contained(xml: bytes, inner: str) -> None:
    root = parse_xml([b'<D:prop xmlns:D="DAV:">' + xml + b"</D:prop>"])
    assert davxml.serialize_inner(root.elements()[0]) == inner


# (id, body, expected query)
QUERIES = [
    ("empty-is-allprop", None, ("allprop", [])),
    ("allprop", b'<propfind xmlns="DAV:"><allprop/></propfind>', ("allprop", [])),
    ("allprop-include", b'<propfind xmlns="DAV:"><allprop/><include><x xmlns="urn:x"/></include></propfind>',
     ("allprop", [("urn:x", "x")])),
    ("propname", b'<propfind xmlns="DAV:"><propname/></propfind>', ("propname", [])),
    ("prop", b'<propfind xmlns="DAV:"><prop><getetag/><q xmlns="urn:q"/></prop></propfind>',
     ("prop", [(DAV, "getetag"), ("urn:q", "q")])),
]


@pytest.mark.parametrize("body, query", [case[1:] for case in QUERIES], ids=[case[0] for case in QUERIES])
def test_propfind_query(body: bytes | None, query: tuple) -> None:
    assert propfind_query(parse_xml([body]) if body else None) == query


@pytest.mark.parametrize("body", [b"<propfind/>", b'<propfind xmlns="DAV:"><nonsense/></propfind>', b'<x xmlns="DAV:"/>'])
def test_propfind_query_refuses_other_bodies(body: bytes) -> None:
    with pytest.raises(HTTPError) as error:
        propfind_query(parse_xml([body]))
    assert error.value.status == 400


def test_proppatch_is_all_or_nothing() -> None:
    body = (b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="urn:a">1</a><D:getetag>x</D:getetag>'
            b'</D:prop></D:set><D:remove><D:prop><b xmlns="urn:a"/></D:prop></D:remove></D:propertyupdate>')
    changes, mtime, statuses = patch_results(patch_instructions(parse_xml([body])))
    assert statuses == {("urn:a", "a"): 424, (DAV, "getetag"): 403, ("urn:a", "b"): 424}
    good = b'<D:propertyupdate xmlns:D="DAV:" xmlns:M="urn:schemas-microsoft-com:"><D:set><D:prop>' \
           b"<M:Win32LastModifiedTime>Wed, 02 Dec 2026 10:00:00 GMT</M:Win32LastModifiedTime>" \
           b"<M:Win32FileAttributes>00000020</M:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"
    changes, mtime, statuses = patch_results(patch_instructions(parse_xml([good])))
    assert (mtime, set(statuses.values())) == (1796205600.0, {200})
    assert changes == [("set", ("urn:schemas-microsoft-com:", "Win32FileAttributes"), "00000020")]


# --- request fields ------------------------------------------------------------------------

# (id, value, allowed, default, expected: a depth or the status refusing it)
DEPTHS = [
    ("absent", None, ("0", "1", "infinity"), "infinity", "infinity"),
    ("zero", "0", ("0", "1"), "1", "0"),
    ("one-with-spaces", " 1 ", ("0", "1"), "1", "1"),
    ("infinity-any-case", "Infinity", ("0", "infinity"), "0", "infinity"),
    ("two", "2", ("0", "1", "infinity"), "0", 400),
    ("empty", "", ("0", "1"), "0", 400),
    ("not-allowed-here", "1", ("0", "infinity"), "infinity", 400),
    ("negative", "-1", ("0",), "0", 400),
]


@pytest.mark.parametrize("value, allowed, default, expected", [c[1:] for c in DEPTHS], ids=[c[0] for c in DEPTHS])
def test_depth(value, allowed, default, expected) -> None:
    if isinstance(expected, int):
        with pytest.raises(HTTPError) as error:
            davheaders.parse_depth(value, allowed, default)
        assert error.value.status == expected
    else:
        assert davheaders.parse_depth(value, allowed, default) == expected


OVERWRITES = [("absent", None, True), ("t", "T", True), ("f", "F", False), ("spaces", " F ", False),
              ("lower-case", "f", 400), ("word", "false", 400), ("empty", "", 400)]


@pytest.mark.parametrize("value, expected", [c[1:] for c in OVERWRITES], ids=[c[0] for c in OVERWRITES])
def test_overwrite(value, expected) -> None:
    if isinstance(expected, bool):
        assert davheaders.parse_overwrite(value) is expected
    else:
        with pytest.raises(HTTPError) as error:
            davheaders.parse_overwrite(value)
        assert error.value.status == expected


# (id, Destination, Host, expected subpath or status)
DESTINATIONS = [
    ("absolute-path", "/files/a%20b.txt", "localhost:4221", "a%20b.txt"),
    ("absolute-uri", "http://localhost:4221/files/d/x", "localhost:4221", "d/x"),
    ("uri-host-any-case", "http://LocalHost:4221/files/x", "localhost:4221", "x"),
    ("default-port", "http://example.org:80/files/x", "example.org", "x"),
    ("https-default-port", "https://example.org/files/x", "example.org:443", "x"),
    ("query-dropped", "/files/x?y=1", "h", "x"),
    ("the-root", "/files/", "h", ""),
    ("the-root-without-slash", "http://h/files", "h", ""),
    ("other-host", "http://evil.example/files/x", "localhost:4221", 502),
    ("other-port", "http://localhost:1/files/x", "localhost:4221", 502),
    ("outside-files", "/echo/x", "h", 502),
    ("no-host-header", "http://h/files/x", None, 502),
    ("relative", "files/x", "h", 400),
    ("other-scheme", "ftp://h/files/x", "h", 400),
    ("missing", None, "h", 400),
    ("empty", " ", "h", 400),
]


@pytest.mark.parametrize("value, host, expected", [c[1:] for c in DESTINATIONS], ids=[c[0] for c in DESTINATIONS])
def test_destination(value, host, expected) -> None:
    if isinstance(expected, int):
        with pytest.raises(HTTPError) as error:
            davheaders.destination_subpath(value, host)
        assert error.value.status == expected
    else:
        assert davheaders.destination_subpath(value, host) == expected


MTIMES = [("absent", None, None), ("seconds", "1700000000", 1700000000.0), ("fraction", "1700000000.5", 1700000000.5),
          ("negative", "-1", 400), ("words", "yesterday", 400), ("exponent", "1e9", 400)]


@pytest.mark.parametrize("value, expected", [c[1:] for c in MTIMES], ids=[c[0] for c in MTIMES])
def test_oc_mtime(value, expected) -> None:
    if expected == 400:
        with pytest.raises(HTTPError) as error:
            davheaders.parse_oc_mtime(value)
        assert error.value.status == 400
    else:
        assert davheaders.parse_oc_mtime(value) == expected


@pytest.mark.parametrize("kind", ["file", "folder", "odd-name"])
def test_allprop_fast_path_writes_what_each_live_property_writes(tmp_path, kind) -> None:
    from app import davprops

    path = tmp_path / ("a <&> b.txt" if kind == "odd-name" else "x")
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"12345")
    resource = davprops.resource_at(f"sub/{path.name}", path.stat())
    context = davprops.Context(davprops.Quota(1, 2), lambda r: "")
    one_by_one = "".join(davprops.live_value(name, resource, context)
                         for name in davprops.live_names(resource, context, allprop=True))
    assert davprops.allprop_xml(resource, context) == one_by_one
