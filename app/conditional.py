"""Conditional requests and ranges (RFC 9110 §8.8, §13, §14): a file's strong entity tag
(`etag_for`), the preconditions in the order §13.2.2 evaluates them
(`precondition_status`, `check_write_preconditions`), and a single byte range
(`parse_range`, `if_range_allows`). Pure functions of header values and a file's stat."""

from __future__ import annotations

import os
import re

from app.dates import parse_http_date
from app.errors import HTTPError
from app.fields import OWS, Headers, ascii_lower, list_elements
from app.request import Request

def etag_for(status: os.stat_result, suffix: str = "") -> str:
    """A strong entity tag from size and modification time in nanoseconds (as nginx
    does): any write changes one of them. `suffix` tells representations apart (the
    gzipped bytes are not the file's bytes, so they need a tag of their own)."""
    return f'"{status.st_size:x}-{status.st_mtime_ns:x}{suffix}"'


# RFC 9110 §8.8.3:  entity-tag = [ weak ] opaque-tag ;  weak = %s"W/"
#                   opaque-tag = DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
ENTITY_TAG_RE = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


def etag_list(value: str) -> list[tuple[bool, str]] | None:
    """If-Match / If-None-Match (§13.1.1: "*" / #entity-tag) as [(weak, opaque-tag)], or
    None for `*`. A value outside the grammar is [], which matches nothing: If-Match
    then fails (412) rather than letting a write through, If-None-Match never matches."""
    if value.strip(OWS) == "*":
        return None
    try:
        tags = list_elements([value], ENTITY_TAG_RE)
    except ValueError:
        return []
    return [(tag.group(1) is not None, tag.group(2)) for tag in tags]


def matches(header: str, etag: str | None, weak_comparison: bool) -> bool:
    """Whether an If-Match / If-None-Match value matches the current `etag` (None: no
    current representation). §8.8.3.2: strong comparison needs both tags strong."""
    tags = etag_list(header)
    if tags is None:  # "*": any current representation
        return etag is not None
    if etag is None:
        return False
    return any(tag == etag and (weak_comparison or not weak) for weak, tag in tags)


def precondition_status(
    headers: Headers, method: str, etag: str | None, modified: float | None
) -> int | None:
    """RFC 9110 §13.2.2: evaluate the preconditions in order; 412, 304, or None to go on.
    `etag` and `modified` describe the current representation (None: there is none)."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if not matches(if_match, etag, weak_comparison=False):
            return 412
    else:
        since = parse_http_date(headers.get("if-unmodified-since"))
        if since is not None and (modified is None or int(modified) > since):
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if matches(if_none_match, etag, weak_comparison=True):
            return 304 if safe else 412
    elif safe and modified is not None:
        since = parse_http_date(headers.get("if-modified-since"))
        if since is not None and int(modified) <= since:
            return 304
    return None


def check_write_preconditions(request: Request, current: os.stat_result | None, name: str) -> None:
    """412 when If-Match / If-None-Match / If-Unmodified-Since refuse a PUT or DELETE
    of the file whose current state is `current` (None: there is no file yet)."""
    etag = etag_for(current) if current is not None else None
    modified = current.st_mtime if current is not None else None
    if precondition_status(request.headers, request.method, etag, modified) == 412:
        raise HTTPError(412, f"precondition failed for {name}")


# §14.1.1:  ranges-specifier = range-unit "=" range-set ;  range-unit = token
#           range-set  = 1#range-spec
#           range-spec = int-range / suffix-range / other-range
#           int-range  = first-pos "-" [ last-pos ] ;  suffix-range = "-" suffix-length
#           other-range = 1*( %x21-2B / %x2D-7E )   ; any VCHAR but ","
# No whitespace inside a range-spec; OWS only around the commas of the list. At most 18
# digits, so a position always fits in 63 bits.
OTHER_RANGE_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
RANGE_SPEC_RE = re.compile(r"([0-9]{1,18})?-([0-9]{1,18})?")


class Unsatisfiable(Exception):
    """No range in the request overlaps the file: 416."""


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A `Range: bytes=...` value as (first, last) inclusive, or None to ignore it and
    answer the whole file. Raises `Unsatisfiable` for a range wholly past the end.

    Several ranges in one request are answered with the whole file (200): §14.2 lets a
    server ignore Range, and multipart/byteranges buys little (browsers and download
    tools ask for one range at a time) for a good deal of framing code."""
    unit, equals, range_set = value.partition("=")
    if not equals or ascii_lower(unit) != "bytes":
        return None  # §14.2: an unknown range unit is ignored (§14.1: case-insensitive)
    try:
        specs = list_elements([range_set], OTHER_RANGE_RE)
    except ValueError:
        return None
    if len(specs) != 1:
        return None
    match = RANGE_SPEC_RE.fullmatch(specs[0].group())
    if match is None or (match.group(1) is None and match.group(2) is None):
        return None  # not valid syntax: ignored
    first, last = match.group(1), match.group(2)
    if first is None:  # suffix-range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last is None else min(int(last), size - 1)
    if last is not None and int(last) < start:
        return None  # §14.1.1: invalid when last-pos < first-pos
    if start >= size:
        raise Unsatisfiable
    return start, end


def if_range_allows(headers: Headers, etag: str, modified: float) -> bool:
    """§13.1.5: with If-Range, the range applies only if the validator still matches
    (an entity-tag by strong comparison, or exactly the Last-Modified date)."""
    value = headers.get("if-range")  # If-Range = entity-tag / HTTP-date
    if value is None:
        return True
    if ENTITY_TAG_RE.fullmatch(value):
        return value == etag  # a weak tag never matches strongly
    return parse_http_date(value) == float(int(modified))
