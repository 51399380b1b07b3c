"""Content negotiation (RFC 9110 §12): the weights a client gives content codings
(`coding_weights`, Accept-Encoding) and media types (`media_range_weights`, Accept), as
exact thousandths, with no `float()` of received text. What to do with them is decided
elsewhere (`compression.py` for gzip, the handlers for the listing's format)."""

from __future__ import annotations

import re

from app.fields import PARAMETERS, QUOTED_STRING_STR, TOKEN_STR, Headers, ascii_lower, list_elements

# RFC 9110 §12.4.2:  weight = OWS ";" OWS "q=" qvalue      ("q=" is case-insensitive:
#                    qvalue = ( "0" [ "." 0*3DIGIT ] )        a quoted ABNF string is,
#                           / ( "1" [ "." 0*3("0") ] )        RFC 5234 §2.3)
QVALUE = r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)"
QVALUE_RE = re.compile(QVALUE)
# RFC 9110 §12.5.3:  Accept-Encoding = #( codings [ weight ] )
#                    codings = content-coding / "identity" / "*"     (all three are tokens)
CODINGS_ELEMENT_RE = re.compile(r"(%s)(?:[ \t]*;[ \t]*[Qq]=(%s))?" % (TOKEN_STR, QVALUE))
# RFC 9110 §12.5.1:  Accept = #( media-range [ weight ] )
#   media-range = ( "*/*" / ( type "/" "*" ) / ( type "/" subtype ) ) parameters
# "*" is a tchar, so type "/" subtype covers all three. The weight is a parameter named q,
# read from the parameters one by one (`parameters_weight`).
MEDIA_RANGE_ELEMENT_RE = re.compile(r"(%s/%s)(%s)" % (TOKEN_STR, TOKEN_STR, PARAMETERS))
PARAMETER_RE = re.compile(r"[ \t]*;[ \t]*(?:(%s)=(%s|%s))?" % (TOKEN_STR, TOKEN_STR, QUOTED_STRING_STR))


def qvalue_weight(qvalue: str | None) -> int:
    """A qvalue already matched by QVALUE, in thousandths ("0.5" → 500); no weight is 1000.
    Exact, and no `float()` of received text."""
    if qvalue is None:
        return 1000
    whole, _, fraction = qvalue.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def parameters_weight(parameters: str) -> int | None:
    """The weight among a media range's parameters (1000 without q), None for a q that is
    not a qvalue."""
    for parameter in PARAMETER_RE.finditer(parameters):
        if parameter.group(1) is not None and ascii_lower(parameter.group(1)) == "q":
            qvalue = parameter.group(2)
            return qvalue_weight(qvalue) if QVALUE_RE.fullmatch(qvalue) else None
    return 1000


def coding_weights(headers: Headers) -> dict[str, int]:
    """Accept-Encoding as {coding, lowercased: weight in thousandths}. A field outside the
    grammar is ignored as a whole, as if absent (we then send identity, always acceptable)."""
    try:
        elements = list_elements(headers.get_all("accept-encoding"), CODINGS_ELEMENT_RE)
    except ValueError:
        return {}
    return {ascii_lower(element.group(1)): qvalue_weight(element.group(2)) for element in elements}


def media_range_weights(headers: Headers) -> dict[str, int]:
    """Accept as {type/subtype, lowercased: weight in thousandths}, parameters other than q
    left out; {} (as if absent) for a field outside the grammar."""
    try:
        elements = list_elements(headers.get_all("accept"), MEDIA_RANGE_ELEMENT_RE)
    except ValueError:
        return {}
    weights = [(ascii_lower(element.group(1)), parameters_weight(element.group(2))) for element in elements]
    return {} if any(weight is None for _, weight in weights) else dict(weights)
