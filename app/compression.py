"""The content-coding decision, in one module: which responses are gzipped and how.

`use_gzip` decides for every response: the content must be of a type that compresses
(text, JSON, SVG, ...), no larger than the limit given, and the client must accept gzip
(`accepts_gzip`, RFC 9110 §12.5.3). Whenever the choice was possible the answer depends
on Accept-Encoding, so it carries `Vary: Accept-Encoding` (RFC 9110 §12.5.5) whichever
way it went: see `compressible`. For a static file with precompressed forms beside it
(`app.js.br`, `app.js.gz`), `choose_precompressed` picks the one the client accepts.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from app.fields import Headers
from app.negotiation import coding_weights

# Level 1, as nginx's gzip_comp_level defaults to: on text files here it compresses 2-3x
# faster than zlib's default 6 for output 10-16 % larger (docs/performance.md, "gzip").
GZIP_LEVEL = 1
# zlib's window and hash table for content no larger than this are sized to it: setting
# up the default 32 KiB window and 64 KiB hash costs more than compressing 1 KiB of text.
SMALL_CONTENT = 4 * 1024

# Types that are text underneath besides text/*.
TEXTUAL_TYPES = {"application/json", "application/javascript", "application/xml", "image/svg+xml"}

VARY_ACCEPT_ENCODING = ("Vary", "Accept-Encoding")

Precompressed = list[tuple[str, Path]]  # (content coding, path), best first


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
    """gzip (RFC 1952) with no timestamp inside (zlib writes 0), so the same content
    always compresses to the same bytes: a strong ETag on the compressed form promises
    exactly that. The window is no larger than the content (9 to 15 bits; 16 + bits asks
    zlib for the gzip wrapper), and small content gets zlib's smallest hash table."""
    window_bits = min(max((len(data) - 1).bit_length(), 9), 15)
    memory_level = 1 if len(data) <= SMALL_CONTENT else 8
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + window_bits, memory_level)
    return compressor.compress(data) + compressor.flush()


def accepts_gzip(headers: Headers) -> bool:
    """Whether gzip is an acceptable content coding: named with q > 0, or not named but
    covered by `*` with q > 0 (Accept-Encoding, RFC 9110 §12.5.3). Clients send the same
    few values over and over (`gzip, deflate, br`): the answer for a one-line value is
    remembered (`GZIP_BY_VALUE`), so parsing it is done once, not per request."""
    values = headers.index.get("accept-encoding")
    if values is None:
        return False
    if len(values) == 1 and (known := GZIP_BY_VALUE.get(values[0])) is not None:
        return known
    answer = parse_accepts_gzip(headers)
    if len(values) == 1 and len(GZIP_BY_VALUE) < GZIP_BY_VALUE_LIMIT:
        GZIP_BY_VALUE[values[0]] = answer
    return answer


# Accept-Encoding values seen, and whether each accepts gzip; at most this many are kept
# (a client sending a new value every time costs a parse each, and no memory).
GZIP_BY_VALUE: dict[str, bool] = {}
GZIP_BY_VALUE_LIMIT = 256


def parse_accepts_gzip(headers: Headers) -> bool:
    """`accepts_gzip`, parsed."""
    codings = coding_weights(headers)
    if "gzip" in codings:
        return codings["gzip"] > 0
    if "x-gzip" in codings:  # RFC 9110 §8.4.1.3: x-gzip is an alias of gzip
        return codings["x-gzip"] > 0
    return codings.get("*", 0) > 0


def accepts_coding(headers: Headers, coding: str) -> bool:
    """Whether a content coding (`br`, `gzip`) is acceptable: named with q > 0, or not
    named but covered by `*` with q > 0 (Accept-Encoding, RFC 9110 §12.5.3)."""
    if coding == "gzip":
        return accepts_gzip(headers)  # which knows the x-gzip alias too
    codings = coding_weights(headers)
    if coding in codings:
        return codings[coding] > 0
    return codings.get("*", 0) > 0


def choose_precompressed(headers: Headers, found: Precompressed) -> tuple[str, Path] | None:
    """The first precompressed file whose coding the client accepts; none for a Range
    request, since a range counts bytes of the file itself (RFC 9110 §14.1.2)."""
    if headers.get("range") is not None:
        return None
    return next(((coding, path) for coding, path in found if accepts_coding(headers, coding)), None)
