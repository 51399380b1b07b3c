"""Field grammar (RFC 9110 §5, §5.6): the ABNF of tokens, quoted strings, field values and
list-valued fields as compiled regexes, the `Headers` of a message, one field line
(`parse_field_line`), the one place a field is split into elements (`list_elements`,
`token_list`), and ASCII case-folding (`ascii_lower`).

Whatever decides something on the wire uses the RFC's ASCII rules only: OWS is SP and
HTAB, DIGIT is 0-9, case is ASCII's; never `str.strip()`, `str.split()`, `str.lower()` on
received text, `int()` or `float()` of unvalidated text, whose Unicode notions differ
(docs/parser-vs-h11.md)."""

from __future__ import annotations

import re

from app.errors import ProtocolError

# RFC 9110 §5.6.2:
#   token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
TOKEN_RE = re.compile(TOKEN)

# RFC 9112 §3.2: request-target, in its four forms. We accept printable ASCII only:
# no control characters, no space (it separates the request line), no bytes >= 0x80
# (a URI is ASCII; clients percent-encode everything else, RFC 3986 §2.1).
REQUEST_TARGET_RE = re.compile(rb"[\x21-\x7e]+")

# RFC 9112 §2.3:  HTTP-version = HTTP-name "/" DIGIT "." DIGIT ;  HTTP-name = %s"HTTP"
HTTP_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")

# RFC 9110 §5.5:
#   field-value   = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar   = VCHAR / obs-text          ; obs-text = %x80-FF
# Once leading and trailing whitespace are stripped, a value is valid exactly when it
# holds no control character other than HTAB (so no NUL, CR, LF or DEL).
FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

# RFC 9110 §7.2:  Host = uri-host [ ":" port ]  (uri-host from RFC 3986 §3.2.2:
# IP-literal / IPv4address / reg-name). This accepts their union of characters.
URI_HOST = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])"
HOST_RE = re.compile(rb"%s(?::[0-9]*)?" % URI_HOST)
# RFC 9112 §3.2.3:  authority-form = uri-host ":" port  (the target of CONNECT). The port
# is 1*DIGIT here (RFC 3986 allows it empty, but a tunnel to no port is no tunnel).
AUTHORITY_FORM_RE = re.compile(rb"(?=[^:])%s:[0-9]{1,5}" % URI_HOST)

# RFC 9112 §7.1:
#   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size = 1*HEXDIG
# RFC 9112 §7.1.1:
#   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token
#   chunk-ext-val  = token / quoted-string
# RFC 9110 §5.6.4:
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
# At most 16 hex digits: a size that does not fit in 64 bits is an attack, not a body
# (§7.1: recipients MUST anticipate large numerals and prevent integer overflow).
QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_EXT = rb"(?:[ \t]*;[ \t]*%s(?:[ \t]*=[ \t]*(?:%s|%s))?)*" % (TOKEN, TOKEN, QUOTED_STRING)
CHUNK_SIZE_LINE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})(%s)" % CHUNK_EXT)

# RFC 9112 §6.1 (Content-Length = 1*DIGIT). 18 digits keeps the value below 2**63.
CONTENT_LENGTH_RE = re.compile(rb"[0-9]{1,18}")

# Header values are kept as `str` (ISO-8859-1), so the list grammars below are `str`
# regexes, written with explicit ASCII classes only: never `\s`, `\d`, `\w`, `str.strip()`
# or `str.isdigit()`, whose Unicode notion of whitespace and digits (U+00A0, U+0085,
# U+0663, ...) is not the RFC's, and would let `Transfer-Encoding: \xa0chunked` pass.
TOKEN_STR = TOKEN.decode("ascii")
QUOTED_STRING_STR = QUOTED_STRING.decode("latin-1")
TOKEN_STR_RE = re.compile(TOKEN_STR)

# RFC 9110 §5.6.1 (recipient form):  #element => [ element ] *( OWS "," OWS [ element ] )
#                 §5.6.3:            OWS = *( SP / HTAB )
OWS = " \t"
LIST_GAP_RE = re.compile(r"[ \t,]*")  # OWS and empty elements before the next element
LIST_END_RE = re.compile(r"[ \t]*(?:,|\Z)")  # OWS, then "," or the end of the value

# RFC 9112 §7:  transfer-coding    = token *( OWS ";" OWS transfer-parameter )
#               transfer-parameter = token BWS "=" BWS ( token / quoted-string )
TRANSFER_CODING_RE = re.compile(
    r"(%s)((?:[ \t]*;[ \t]*%s[ \t]*=[ \t]*(?:%s|%s))*)" % (TOKEN_STR, TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR)
)
# RFC 9110 §10.1.1:  expectation = token [ "=" ( token / quoted-string ) parameters ]
#        §5.6.6:     parameters  = *( OWS ";" OWS [ parameter ] )
#                    parameter   = parameter-name "=" parameter-value
PARAMETERS = r"(?:[ \t]*;[ \t]*(?:%s=(?:%s|%s))?)*" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR)
EXPECTATION_RE = re.compile(r"%s(?:=(?:%s|%s)%s)?" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR, PARAMETERS))

CRLF = b"\r\n"
BARE_LF_RE = re.compile(rb"(?<!\r)\n")
BARE_CR_RE = re.compile(rb"\r(?!\n)(?=.)", re.DOTALL)


class Headers:
    """The header fields of a message, in the order received.

    Names are compared case-insensitively (RFC 9110 §5.1), so they are stored lowercased;
    values are kept as received, decoded as ISO-8859-1 so that obs-text survives.
    `fields` keeps the order; an index by name answers lookups (a request asks for half
    a dozen fields, most of them absent) without scanning the list each time. Add
    fields with `add()`, which keeps both. `index` ({lowercase name: values}) is the
    index itself, read-only for others: on the hot path `"expect" in headers.index`
    asks whether a field is present without a Python call (issue 20).
    """

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        self.fields: list[tuple[str, str]] = []
        self._by_name: dict[str, list[str]] = {}
        self.index = self._by_name
        for name, value in fields or ():
            self.add(name, value)

    @classmethod
    def from_lines(cls, lines: list[tuple[str, str]]) -> Headers:
        """The fields of `(name, value)` pairs already matched by the field-line grammar
        (`request.COMMON_HEAD_RE`, on the head decoded as ISO-8859-1), the value with its
        OWS: names lowercased (`str.lower()` is ASCII's on a token, which is ASCII),
        values stripped of SP and HTAB only. One call for the whole head."""
        headers = cls.__new__(cls)  # not cls(): its __init__ would be one more call
        headers.fields = fields = []
        headers._by_name = headers.index = index = {}
        for raw_name, raw_value in lines:
            name, value = raw_name.lower(), raw_value.strip(" \t")
            fields.append((name, value))
            values = index.get(name)
            if values is None:
                index[name] = [value]
            else:
                values.append(value)
        return headers

    def add(self, name: str, value: str) -> None:
        """Append a field; `name` must already be lowercase."""
        self.fields.append((name, value))
        self._by_name.setdefault(name, []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a field, or `default` when it is absent."""
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"Headers({self.fields!r})"


def list_elements(values: list[str], element: re.Pattern[str]) -> list[re.Match[str]]:
    """The elements of a list-valued field (RFC 9110 §5.6.1), across all its field lines,
    each a match of the field's own `element` grammar: separated by ",", trimmed of OWS
    (SP and HTAB, nothing else), empty elements skipped. Matching the element at its
    position (rather than splitting first) keeps a "," inside a quoted-string in its
    element. `ValueError` for an element that does not match: the field is invalid."""
    elements = []
    for value in values:
        position = LIST_GAP_RE.match(value).end()
        while position < len(value):
            match = element.match(value, position)
            end = match and LIST_END_RE.match(value, match.end())
            if not end:
                raise ValueError(f"invalid list element at {value[position:position + 40]!r}")
            elements.append(match)
            position = LIST_GAP_RE.match(value, end.end()).end()
    return elements


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """`text` with A-Z lowercased and nothing else changed: the case-insensitivity of
    tokens is ASCII's (RFC 9110 §5.6.2), not Unicode's (`str.lower()` also maps `À`)."""
    return text.translate(_ASCII_LOWER)


def parse_field_line(line: bytes) -> tuple[str, str]:
    """RFC 9112 §5:  field-line = field-name ":" OWS field-value OWS"""
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obs-fold. A server MUST reject it or unfold it; we reject. (On the
        # first field line this is whitespace after the start-line, §2.2: reject too.)
        raise ProtocolError(400, "obsolete line folding (obs-fold) in header section")
    name, colon, value = line.partition(b":")
    if not colon:
        raise ProtocolError(400, "header field line without a colon")
    if not TOKEN_RE.fullmatch(name):
        if name.rstrip(b" \t") != name:
            # RFC 9112 §5.1: no whitespace is allowed between the field name and colon;
            # a server MUST reject such a message with 400.
            raise ProtocolError(400, "whitespace between header field name and colon")
        raise ProtocolError(400, "invalid character in header field name")
    value = value.strip(b" \t")
    # RFC 9110 §5.5: CR, LF and NUL in a field value are "invalid and dangerous"; a
    # recipient MUST reject the message or replace them. We reject every control byte.
    if not FIELD_VALUE_RE.fullmatch(value):
        raise ProtocolError(400, f"invalid character in value of header field {name.decode()}")
    return name.decode("ascii").lower(), value.decode("latin-1")


def token_list(headers: Headers, name: str, element: re.Pattern[str] = TOKEN_STR_RE) -> list[str]:
    """A list field whose elements begin with a token (Connection, Expect), each element
    lowercased; 400 for a value outside the field's grammar."""
    try:
        return [ascii_lower(match.group()) for match in list_elements(headers.get_all(name), element)]
    except ValueError:
        raise ProtocolError(400, f"invalid {name.title()} header: expected tokens separated by commas") from None
