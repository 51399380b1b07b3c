"""WebDAV's XML both ways: parsing request bodies safely, and writing 207 Multi-Status.

It owns:

- `parse_body(request, settings)`: a PROPFIND/PROPPATCH/LOCK body read (up to
  `--max-xml-body`, else 413) and parsed by expat straight into a small tree of
  `Element`s with namespace-qualified names. Whatever makes XML hostile is refused with
  400 and a one-line reason *before* it can cost anything: any DOCTYPE (and with it every
  entity declaration, so no "billion laughs" and no external entity can exist), an
  entity reference (expat reports an undefined entity), nesting deeper than `MAX_DEPTH`,
  and malformed XML. The standard library's `xml.etree` would expand internal entities;
  expat with handlers that stop at the DOCTYPE never does.
- `serialize_inner(element)`: an element's content as self-contained XML, every element
  carrying its own namespace declaration, so a dead property's value keeps its namespaces
  wherever it is written back (RFC 4918 §4.3, litmus `propvalnspace`).
- the multistatus writer (RFC 4918 §13, §14.16): `MULTISTATUS_OPEN`/`MULTISTATUS_CLOSE`,
  `response_xml()` for one `<D:response>` with its `<D:propstat>`s, `status_response_xml()`
  for one href with a status, and `multistatus()` for a whole 207 `Response` whose body
  is a stream of such pieces (chunked: a folder of 100,000 entries never sits in memory).
- `error_response()`: a 403/409/... with an RFC 4918 §16 precondition element.

Names are `(namespace, local)` tuples; `DAV` is "DAV:". Nothing here touches the disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.parsers import expat

from app.errors import HTTPError
from app.framing import REASON_PHRASES, Response, StreamBody
from app.request import Request
from app.settings import Settings

DAV = "DAV:"
Name = tuple[str, str]  # (namespace URI, local name); "" is no namespace

# Deeper nesting than any WebDAV body needs (a propertyupdate is 5 levels plus the value);
# expat recurses per level, and a tree of a million levels would be a million objects.
MAX_DEPTH = 100
# Pieces of a streamed 207 are gathered to about this size before one is sent, so a
# folder of small entries costs a few hundred chunks, not one per entry.
STREAM_PIECE = 64 * 1024
XML_TYPE = ("Content-Type", "application/xml; charset=utf-8")


class Refused(ValueError):
    """An XML body we will not parse; the message is the one-line reason for the 400."""


@dataclass
class Element:
    name: Name
    attributes: dict[Name, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)  # text and elements, in order

    def elements(self) -> list[Element]:
        return [child for child in self.children if isinstance(child, Element)]

    def find(self, name: Name) -> Element | None:
        return next((child for child in self.elements() if child.name == name), None)

    def text(self) -> str:
        return "".join(child for child in self.children if isinstance(child, str))


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def split_name(expat_name: str) -> Name:
    """expat's "namespace local" (separator " ") as a Name; no namespace is ""."""
    namespace, _, local = expat_name.rpartition(" ")
    return namespace, local


class TreeBuilder:
    """expat handlers that build `Element`s and refuse DOCTYPE, entities and deep nesting."""

    def __init__(self) -> None:
        self.stack: list[Element] = []
        self.root: Element | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise Refused(f"XML nested deeper than {MAX_DEPTH} elements")
        element = Element(split_name(name), {split_name(k): v for k, v in attributes.items()})
        if self.stack:
            self.stack[-1].children.append(element)
        elif self.root is None:
            self.root = element
        self.stack.append(element)

    def end(self, name: str) -> None:
        self.stack.pop()

    def characters(self, data: str) -> None:
        if self.stack:
            children = self.stack[-1].children
            if children and isinstance(children[-1], str):
                children[-1] += data
            else:
                children.append(data)

    @staticmethod
    def doctype(*_: object) -> None:
        # A DOCTYPE is where entities are declared (internal ones expand into billions of
        # characters, external ones read files or URLs): no WebDAV body needs one.
        raise Refused("XML with a DOCTYPE is refused (no entities, internal or external)")

    @staticmethod
    def entity(*_: object) -> None:
        raise Refused("XML entity declarations and external entities are refused")


def new_parser(builder: TreeBuilder) -> expat.XMLParserType:
    parser = expat.ParserCreate(encoding=None, namespace_separator=" ")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    parser.StartDoctypeDeclHandler = builder.doctype
    parser.EntityDeclHandler = builder.entity
    parser.UnparsedEntityDeclHandler = builder.entity
    parser.ExternalEntityRefHandler = builder.entity
    return parser


def parse_xml(pieces: Iterable[bytes]) -> Element | None:
    """The tree of an XML document fed in pieces; None for an empty body (only
    whitespace). Raises `Refused` with the reason for a hostile or malformed one."""
    builder = TreeBuilder()
    parser = new_parser(builder)
    seen = False
    try:
        for piece in pieces:
            seen = seen or bool(piece.strip())
            if seen:
                parser.Parse(piece, False)
        if not seen:
            return None
        parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise Refused(f"malformed XML: {expat.ErrorString(error.code)} at line {error.lineno}") from None
    return builder.root


def parse_body(request: Request, settings: Settings) -> Element | None:
    """The request's XML body as a tree (None when empty): 413 over `--max-xml-body`
    (from Content-Length, before reading; else as soon as the body passes it), 400 with
    the reason for what `parse_xml` refuses."""
    limit = settings.limits.max_xml_body
    declared = request.body.declared_length
    if declared is not None and declared > limit:
        raise HTTPError(413, f"XML body of {declared} bytes is larger than the limit of {limit} bytes")
    try:
        return parse_xml(limited(request.body, limit))
    except Refused as error:
        raise HTTPError(400, str(error)) from None


def limited(pieces: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """The pieces of a body, 413 once they add up to more than `limit` bytes."""
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise HTTPError(413, f"XML body larger than the limit of {limit} bytes")
        yield piece


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Character data and attribute values (quoted with "), escaped for XML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def open_tag(name: Name, attributes: str = "") -> tuple[str, str]:
    """The opening text of an element named `name` (without its ">") and its closing
    tag: DAV: names with the "D:" prefix the multistatus declares, others declaring
    their namespace as the default on the element itself."""
    namespace, local = name
    if namespace == DAV:
        return f"<D:{local}{attributes}", f"</D:{local}>"
    return f'<{local} xmlns="{escape(namespace)}"{attributes}', f"</{local}>"


def empty_element(name: Name) -> str:
    start, _ = open_tag(name)
    return start + "/>"


def element_xml(name: Name, inner: str) -> str:
    """An element with `inner` (already XML) as its content."""
    start, end = open_tag(name)
    return f"{start}>{inner}{end}" if inner else start + "/>"


def attributes_xml(attributes: dict[Name, str]) -> str:
    """Attributes, each namespaced one with a prefix of its own declared beside it."""
    parts = []
    for index, ((namespace, local), value) in enumerate(attributes.items()):
        if namespace:
            parts.append(f' xmlns:a{index}="{escape(namespace)}" a{index}:{local}="{escape(value)}"')
        else:
            parts.append(f' {local}="{escape(value)}"')
    return "".join(parts)


def serialize(element: Element) -> str:
    """An element as self-contained XML (each element declares its own namespace)."""
    namespace, local = element.name
    start = f'<{local} xmlns="{escape(namespace)}"{attributes_xml(element.attributes)}'
    inner = serialize_inner(element)
    return f"{start}>{inner}</{local}>" if inner else start + "/>"


def serialize_inner(element: Element) -> str:
    """The content of an element (text and child elements) as self-contained XML."""
    return "".join(escape(child) if isinstance(child, str) else serialize(child) for child in element.children)


def status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {REASON_PHRASES[status]}"


# What a URL path keeps as it is (quote()'s always-safe characters and "/"): most names
# skip the percent-encoding call altogether.
URL_SAFE_RE = re.compile(r"[A-Za-z0-9_.~/-]*")


def href_for(url_path: str) -> str:
    """A `<D:href>` from a decoded URL path (percent-encoded again, "/" kept; what is
    left needs no XML escape)."""
    if URL_SAFE_RE.fullmatch(url_path) is None:
        url_path = quote(url_path, safe="/")
    return f"<D:href>{url_path}</D:href>"


OK_STATUS = "<D:status>HTTP/1.1 200 OK</D:status>"


def response_xml(url_path: str, propstats: Iterable[tuple[int, list[str]]]) -> str:
    """One `<D:response>`: the href, then one `<D:propstat>` per status that has
    properties (§14.22), each property already written as XML."""
    parts = ["<D:response>", href_for(url_path)]
    for status, properties in propstats:
        if properties:
            line = OK_STATUS if status == 200 else f"<D:status>{status_line(status)}</D:status>"
            parts.append(f"<D:propstat><D:prop>{''.join(properties)}</D:prop>{line}</D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


def status_response_xml(url_path: str, status: int, error: str = "") -> str:
    """One `<D:response>` naming a resource and its status (DELETE, COPY, MOVE)."""
    detail = f"<D:error><D:{error}/></D:error>" if error else ""
    return f"<D:response>{href_for(url_path)}<D:status>{status_line(status)}</D:status>{detail}</D:response>"


MULTISTATUS_OPEN = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
MULTISTATUS_CLOSE = "</D:multistatus>\n"


def gathered(responses: Iterable[str]) -> Iterator[bytes]:
    """The 207's body in pieces of about `STREAM_PIECE` bytes."""
    parts, size = [MULTISTATUS_OPEN], len(MULTISTATUS_OPEN)
    for text in responses:
        parts.append(text)
        size += len(text)
        if size >= STREAM_PIECE:
            yield "".join(parts).encode("utf-8")
            parts, size = [], 0
    parts.append(MULTISTATUS_CLOSE)
    yield "".join(parts).encode("utf-8")


def multistatus(responses: Iterable[str], headers: list[tuple[str, str]] | None = None) -> Response:
    """A 207 Multi-Status whose `<D:response>`s come from `responses` (an iterator is
    consumed while the body goes out: chunked, in constant memory)."""
    return Response(207, [XML_TYPE, *(headers or [])], StreamBody(gathered(responses)))


def error_response(status: int, condition: str, reason: str) -> Response:
    """A refusal with an RFC 4918 §16 precondition/postcondition code in `<D:error>`
    (e.g. 403 `propfind-finite-depth`) and the one-line reason as a comment-free
    `<D:responsedescription>`-like text node for humans."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<D:error xmlns:D="DAV:"><D:{condition}/><D:responsedescription>{escape(reason)}'
        "</D:responsedescription></D:error>\n"
    )
    return Response(status, [XML_TYPE], body.encode("utf-8"))
