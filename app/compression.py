"""gzip content coding: which responses are compressed, and how.

One function decides for every response (`use_gzip`): the content must be of a type
that compresses (text, JSON, SVG, ...), no larger than the limit given, and the client
must accept gzip (`http.accepts_gzip`, RFC 9110 §12.5.3). Whenever the choice was
possible the answer depends on Accept-Encoding, so it carries `Vary: Accept-Encoding`
(RFC 9110 §12.5.5) whichever way it went: see `compressible`.
"""

from __future__ import annotations

import gzip

from app.http import Headers, accepts_gzip, coding_weights

# gzip level 6 is zlib's default: most of level 9's size for a fraction of its time.
GZIP_LEVEL = 6

# Types that are text underneath besides text/*.
TEXTUAL_TYPES = {"application/json", "application/javascript", "application/xml", "image/svg+xml"}

VARY_ACCEPT_ENCODING = ("Vary", "Accept-Encoding")


def is_textual(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip()
    return media_type.startswith("text/") or media_type in TEXTUAL_TYPES or media_type.endswith("+json")


def compressible(content_type: str, size: int, max_size: int) -> bool:
    """Whether content of this type and size is gzipped for clients that accept it."""
    return size <= max_size and is_textual(content_type)


def use_gzip(headers: Headers, content_type: str, size: int, max_size: int) -> bool:
    """Whether to send this content gzipped to the client that sent `headers`."""
    return compressible(content_type, size, max_size) and accepts_gzip(headers)


def gzip_compress(data: bytes) -> bytes:
    """gzip with no timestamp inside (mtime=0), so the same content always compresses to
    the same bytes: a strong ETag on the compressed form promises exactly that."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def accepts_coding(headers: Headers, coding: str) -> bool:
    """Whether a content coding (`br`, `gzip`) is acceptable: named with q > 0, or not
    named but covered by `*` with q > 0 (Accept-Encoding, RFC 9110 §12.5.3)."""
    if coding == "gzip":
        return accepts_gzip(headers)  # which knows the x-gzip alias too
    codings = coding_weights(headers)
    if coding in codings:
        return codings[coding] > 0
    return codings.get("*", 0) > 0
