"""Our parser against h11 on generated requests (issue 14).

A seeded generator builds request-like byte strings from valid parts and mutates them
where parsers are known to disagree: whitespace bytes (SP, HTAB, VT, FF, 0xA0, 0x85)
around and inside Transfer-Encoding, Content-Length and Connection; duplicate and
conflicting framing fields; obs-fold; bare LF and CR; chunk-size spellings (signs,
prefixes, leading zeros, overflow, extensions); trailers; odd bytes in field names and
values; odd versions and targets. Each case goes to our parser (`parse_request`, whole,
one byte at a time, and with the next request behind it) and to h11, and:

- when both accept, the method, target, version, header fields, framing, decoded body,
  trailers and the start of the next request must be identical;
- when we accept and h11 does not (it refuses, or waits for more bytes), the test fails
  unless the case is in `ALLOWED`, where the RFC lets us differ (each rule quoted);
- when we refuse and h11 accepts, that is our strictness: counted by reason, shown;
- whole and byte-by-byte, our answer must be the same.

docs/parser-vs-h11.md explains the comparison and the counts (`pytest -s` prints them).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import h11
import pytest

from app.bodies import ChunkedDecoder
from app.errors import ClientDisconnected, ProtocolError
from app.fields import ascii_lower
from app.http import parse_request
from app.settings import Limits
from tests.conftest import FeedSource, RawClient

SEED = 14
CASES = 2500
LIMITS = Limits()
NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"


# ---------------------------------------------------------------------------------------
# What a parser made of the bytes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One parsed request, in a form both parsers can be reduced to."""

    method: bytes
    target: bytes
    version: bytes  # "1.1"
    fields: tuple[tuple[bytes, bytes], ...]  # names lowercased; Transfer-Encoding values too
    framing: str  # "chunked", or "length N" (N = 0 with neither field, RFC 9112 §6.3)
    body: bytes
    trailers: tuple[tuple[bytes, bytes], ...]
    rest: bytes  # what is left for the next request


@dataclass(frozen=True)
class Outcome:
    kind: str  # "accepted", "refused" or "incomplete"
    message: Message | None = None
    reason: str = ""


def normalized(fields: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    """Field names lowercased; Transfer-Encoding values lowercased as h11 stores them."""
    lowered = [(name.lower(), value) for name, value in fields]
    return tuple((name, value.lower() if name == b"transfer-encoding" else value) for name, value in lowered)


def ours(data: bytes, how: str = "whole") -> Outcome:
    """`parse_request` on `data` fed whole or one byte at a time, the body read."""
    source = FeedSource.split(data, how)
    try:
        while (request := parse_request(source, LIMITS)) is None:
            source.receive_more()
        framing = "chunked" if isinstance(request.body.decoder, ChunkedDecoder) else f"length {request.body.declared_length}"
        body = b"".join(request.body)
    except ProtocolError as error:
        return Outcome("refused", reason=f"{error.status} {error.reason}")
    except ClientDisconnected:
        return Outcome("incomplete")
    fields = [(name.encode(), value.encode("latin-1")) for name, value in request.headers.fields]
    trailers = [(name.encode(), value.encode("latin-1")) for name, value in request.body.trailers.fields]
    version = request.version.removeprefix("HTTP/").encode()
    rest = bytes(source.buffer) + b"".join(source.pieces)
    message = Message(request.method.encode(), request.target.encode(), version, normalized(fields), framing, body, normalized(trailers), rest)
    return Outcome("accepted", message)


def h11_framing(fields: tuple[tuple[bytes, bytes], ...]) -> str:
    """h11's documented rule: Transfer-Encoding (only `chunked`) beats Content-Length."""
    names = dict(fields)
    if b"transfer-encoding" in names:
        return "chunked"
    return f"length {int(names.get(b'content-length', b'0'))}"


def theirs(data: bytes) -> Outcome:
    """h11 (server side) on `data`: events up to the end of the first message."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    request, body = None, b""
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                return Outcome("incomplete")
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    except h11.RemoteProtocolError as error:
        return Outcome("refused", reason=str(error))
    fields = normalized(list(request.headers))
    message = Message(
        request.method, request.target, processed_version(request.http_version), fields, h11_framing(fields), body,
        normalized(list(event.headers)), connection.trailing_data[0],
    )
    return Outcome("accepted", message)


def processed_version(version: bytes) -> bytes:
    """The version h11 read, as we process it: RFC 9110 §2.5, a higher minor version of
    HTTP/1 "SHOULD [be processed] as if the highest minor version ... implemented", so
    h11's 1.2 is our 1.1 (h11 reports the version as sent)."""
    major, _, minor = version.partition(b".")
    return b"1.1" if major == b"1" and minor != b"0" else version


# ---------------------------------------------------------------------------------------
# Where the RFC lets us accept what h11 refuses
# ---------------------------------------------------------------------------------------


def leading_empty_lines(data: bytes, message: Message) -> bool:
    return data.startswith(b"\r\n")


def empty_list_elements(data: bytes, message: Message) -> bool:
    """Transfer-Encoding whose elements are `chunked` and empty ones (h11 wants the
    value `chunked` exactly, on one line)."""
    codings = [value for name, value in message.fields if name == b"transfer-encoding"]
    return b"".join(codings).strip(b" \t,") == b"chunked" and codings != [b"chunked"]


def whitespace_before_chunk_extension(data: bytes, message: Message) -> bool:
    """h11 reads a chunk extension as `;.*` right after the size, so no BWS before ";"."""
    return message.framing == "chunked" and re.search(rb"\n[0-9A-Fa-f]+[ \t]+;", data) is not None


# (rule, the RFC's words, test of a case we accept and h11 does not)
ALLOWED: list[tuple[str, str, Callable[[bytes, Message], bool]]] = [
    (
        "RFC 9112 §2.2, empty lines before the request line",
        "a server that is expecting to receive and parse a request-line SHOULD ignore at "
        "least one empty line (CRLF) received prior to the request-line",
        leading_empty_lines,
    ),
    (
        "RFC 9110 §5.6.1, empty list elements",
        "a recipient MUST parse and ignore a reasonable number of empty list elements",
        empty_list_elements,
    ),
    (
        "RFC 9112 §7.1.1, whitespace before a chunk extension",
        'chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )',
        whitespace_before_chunk_extension,
    ),
]


def allowed_rule(data: bytes, message: Message) -> str | None:
    return next((rule for rule, _, fits in ALLOWED if fits(data, message)), None)


# (rule, an exact request that we accept, h11 refuses, and the rule covers)
ALLOWED_EXAMPLES = [
    ("RFC 9112 §2.2, empty lines before the request line", b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("RFC 9110 §5.6.1, empty list elements", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n"),
    ("RFC 9110 §5.6.1, empty list elements",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n"),
    ("RFC 9112 §7.1.1, whitespace before a chunk extension",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a=b\r\nx\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("rule, data", ALLOWED_EXAMPLES)
def test_each_allowed_difference_is_one_we_mean(rule: str, data: bytes) -> None:
    mine = ours(data + NEXT_REQUEST)
    assert mine.kind == "accepted" and mine.message.rest == NEXT_REQUEST
    assert theirs(data + NEXT_REQUEST).kind == "refused"
    assert allowed_rule(data, mine.message) == rule


# ---------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------

# The bytes Python's str.strip() or bytes.strip() take for whitespace and the RFC does not
# (VT, FF, 0xA0 and 0x85 as ISO-8859-1), and the RFC's own (SP, HTAB); rarely NUL, CR, LF.
WHITESPACE = [b" ", b"\t", b"\x0b", b"\x0c", b"\xa0", b"\x85"] * 3 + [b"\x00", b"\r", b"\n"]
METHODS = [b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"DELETE", b"CONNECT", b"get", b"G(T", b"GE T", b""]
TARGETS = [b"/", b"/files/a.txt", b"/echo/abc?x=1", b"http://h/p", b"*", b"h:80", b"/a\x7fb", b"/\xff", b"//x", b"/%00"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b"HTTP/1.10", b"HTTP/01.1"]
TE_VALUES = [
    b"chunked", b"Chunked", b"CHUNKED", b"chunked,", b", chunked", b"chunked , ", b"gzip, chunked",
    b"chunked, gzip", b"chunked;a=b", b"chunked;", b"identity", b"chunked, chunked", b"x-chunked",
    b'"chunked"', b"chunk ed", b"", b"\tchunked\t", b"chunked\tx",
    b"\xa0chunked", b"chunked\x85", b"\x85chunked", b"chunked\xa0", b"gzip,\xa0chunked", b"chunked,\x85",
]
TE_NAMES = [b"Transfer-Encoding", b"transfer-encoding", b"TRANSFER-ENCODING", b"Transfer-Encoding ", b"Transfer_Encoding"]
CONNECTION_VALUES = [
    b"close", b"keep-alive", b"Close", b"upgrade, close", b"close,", b"clo se", b"close;x", b"",
    b"\xa0close", b"close\x85", b"keep-alive,\xa0close",
]
FIELD_NAMES = [b"X-A", b"User-Agent", b"Accept", b"X A", b"X\x00A", b"X\x7fA", b"X\x80", b"(X)", b"X:A", b"", b"Expect"]
FIELD_VALUES = [b"v", b"a b", b"a\tb", b"caf\xe9", b"\x00", b"a\x7fb", b"a\x0bb", b"\x01", b"100-continue", b""]
CHUNK_EXTENSIONS = [b"", b";a", b";a=b", b';a="x y"', b";", b"; a", b";a b", b";\x00", b" ", b"\t"]
TRAILERS = [b"X-T: 1", b"Content-Length: 5", b"Host: y", b"Transfer-Encoding: chunked", b" folded", b"No colon", b"X-T:\xa0v"]


def size_line(rng: random.Random, size: int) -> bytes:
    """A chunk-size line for `size`, usually plain, sometimes in a spelling to test."""
    spellings = [
        b"%x" % size, b"%X" % size, b"000%x" % size, b"+%x" % size, b"-%x" % size, b"0x%x" % size,
        b" %x" % size, b"%x " % size, b"%017x" % size, b"%x\xa0" % size, b"1%016x" % size,
    ]
    spelling = spellings[0] if rng.random() < 0.85 else rng.choice(spellings)
    extension = b"" if rng.random() < 0.8 else rng.choice(CHUNK_EXTENSIONS)
    return spelling + extension + b"\r\n"


def chunked(rng: random.Random, body: bytes) -> bytes:
    """`body` in chunks, the last chunk, and maybe trailers."""
    cuts = sorted(rng.sample(range(1, len(body)), min(rng.randint(0, 3), len(body) - 1))) if len(body) > 1 else []
    pieces = [body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)]) if end > start]
    encoded = b"".join(size_line(rng, len(piece)) + piece + b"\r\n" for piece in pieces)
    trailers = rng.sample(TRAILERS, rng.randint(0, 2)) if rng.random() < 0.3 else []
    return encoded + size_line(rng, 0) + b"".join(trailer + b"\r\n" for trailer in trailers) + b"\r\n"


def framing_fields(rng: random.Random, body: bytes) -> tuple[list[bytes], bytes]:
    """Field lines that frame `body`, and the body as sent."""
    kind = rng.choice(["none", "none", *["length"] * 4, *["chunked"] * 6, "both", "two-lengths", "two-te"])
    length = b"Content-Length: %d" % len(body)
    te = rng.choice(TE_NAMES[:3]) + b": " + (b"chunked" if rng.random() < 0.5 else rng.choice(TE_VALUES))
    if kind == "none":
        return [], b""
    if kind == "length":
        return [length], body
    if kind == "both":
        return rng.sample([length, te], 2), chunked(rng, body)
    if kind == "two-lengths":
        return [length, rng.choice([length, b"Content-Length: %d" % (len(body) + 1), b"Content-Length: "])], body
    if kind == "two-te":
        return [te, b"Transfer-Encoding: " + rng.choice(TE_VALUES)], chunked(rng, body)
    return [te], chunked(rng, body)


def whitespace_mutation(rng: random.Random, line: bytes) -> bytes:
    """A whitespace byte around or inside the value of a field line."""
    name, colon, value = line.partition(b":")
    space = rng.choice(WHITESPACE)
    value = value.strip(b" ")
    where = rng.choice(["before", "after", "inside"])
    if where == "before":
        value = space + value
    elif where == "after":
        value = value + space
    else:
        middle = rng.randint(0, len(value))
        value = value[:middle] + space + value[middle:]
    return name + colon + b" " + value


def length_mutation(rng: random.Random, line: bytes) -> bytes:
    """Content-Length in a spelling some integer parser might take."""
    digits = line.partition(b":")[2].strip()
    spellings = [b"+" + digits, b"-" + digits, b"0" + digits, b"0x" + digits, digits + b", " + digits,
                 digits + b"_0", "\u0663".encode(), b"99999999999999999999", digits + b".0", b"1e1"]
    return b"Content-Length: " + rng.choice(spellings)


def mutate_lines(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """Zero to three mutations of the field lines (not the request line)."""
    for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2])):
        index = rng.randrange(1, len(lines)) if len(lines) > 1 else 0
        kind = rng.choice(["space", "space", "space", "length", "fold", "name-space", "duplicate", "drop"])
        if kind == "space" and index:
            lines[index] = whitespace_mutation(rng, lines[index])
        elif kind == "length" and lines[index].lower().startswith(b"content-length"):
            lines[index] = length_mutation(rng, lines[index])
        elif kind == "fold":
            lines.insert(index + 1, rng.choice([b" x", b"\tchunked", b" chunked"]))
        elif kind == "name-space" and index:
            lines[index] = lines[index].replace(b":", rng.choice([b" :", b"\t:", b"\xa0:"]), 1)
        elif kind == "duplicate" and index:
            lines.insert(index, lines[index])
        elif kind == "drop" and index:
            del lines[index]
    return lines


def line_end_mutation(rng: random.Random, head: bytes) -> bytes:
    """Sometimes one CRLF of the head becomes a bare LF or a bare CR."""
    ends = [match.start() for match in re.finditer(rb"\r\n", head)]
    if not ends or rng.random() < 0.95:
        return head
    at = rng.choice(ends)
    return head[:at] + rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]) + head[at + 2 :]


def request_line(rng: random.Random) -> bytes:
    method = b"POST" if rng.random() < 0.85 else rng.choice(METHODS)
    target = b"/files/a.txt" if rng.random() < 0.85 else rng.choice(TARGETS)
    version = b"HTTP/1.1" if rng.random() < 0.85 else rng.choice(VERSIONS)
    return b" ".join([method, target, version])


def other_fields(rng: random.Random) -> list[bytes]:
    fields = [b"Host: " + (b"x" if rng.random() < 0.9 else rng.choice([b"", b"a b", b"x:1", b"\xa0x"]))]
    if rng.random() < 0.3:
        fields.append(b"Connection: " + rng.choice(CONNECTION_VALUES))
    if rng.random() < 0.2:
        fields.append(b"Expect: 100-continue")
    for _ in range(rng.choice([0, 0, 1, 2])):
        name = rng.choice(FIELD_NAMES[:3] if rng.random() < 0.9 else FIELD_NAMES)
        fields.append(name + b": " + rng.choice(FIELD_VALUES[:4] if rng.random() < 0.9 else FIELD_VALUES))
    return fields


def generated_request(rng: random.Random) -> bytes:
    body = rng.choice([b"", b"abc", b"hello world", bytes(range(256))[: rng.randint(1, 40)]])
    framing, encoded_body = framing_fields(rng, body)
    fields = other_fields(rng) + framing
    rng.shuffle(fields)
    lines = mutate_lines(rng, [request_line(rng), *fields])
    head = line_end_mutation(rng, b"\r\n".join(lines) + b"\r\n\r\n")
    leading = b"\r\n" if rng.random() < 0.03 else b""
    return leading + head + encoded_body


def generated_cases() -> list[bytes]:
    rng = random.Random(SEED)
    return [generated_request(rng) for _ in range(CASES)]


# ---------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------


def reason_bucket(reason: str) -> str:
    """Our refusal reasons with the names in them taken out, to count them."""
    reason = re.sub(r"header field \S+", "header field NAME", reason)
    reason = re.sub(r"coding \S+ is", "coding X is", reason)
    reason = re.sub(r"^(\d+) \S+ is not allowed in the trailer", r"\1 NAME is not allowed in the trailer", reason)
    return re.sub(r"HTTP version \S+", "HTTP version X", reason)


def compare(data: bytes, counts: Counter[str], bytewise: bool) -> str | None:
    """Compare one case (alone, then with the next request behind), and our answer to it
    whole and byte by byte (for every case we accept, and when `bytewise`); a failure
    message or None."""
    answers = {sent: (ours(sent), theirs(sent)) for sent in (data, data + NEXT_REQUEST)}
    for sent, (mine, other) in answers.items():
        problem = judge(sent, mine, other, counts)
        if problem is not None:
            return f"{problem}\n  sent: {sent!r}\n  ours: {mine}\n  h11:  {other}"
    whole = answers[data][0]
    if whole.kind == "accepted" or bytewise:
        split = ours(data, "bytewise")
        if (split.kind, split.message) != (whole.kind, whole.message):
            return f"whole and byte by byte differ: {data!r}: {whole} / {split}"
        counts["(ours whole = byte by byte)"] += 1
    return None


def judge(sent: bytes, mine: Outcome, other: Outcome, counts: Counter[str]) -> str | None:
    """Count the case under its category; a failure message when we must not differ."""
    if mine.kind == "accepted" and other.kind == "accepted":
        counts["both accept, identical"] += 1
        return None if mine.message == other.message else "both accept, but differently"
    if mine.kind == "accepted":
        rule = allowed_rule(sent, mine.message)
        counts[f"we accept, h11 {other.kind}: allowed by {rule}" if rule else "NOT ALLOWED"] += 1
        return None if rule else f"we accept, h11 says {other.kind}"
    if mine.kind == "refused":
        counts[("both refuse" if other.kind == "refused" else f"we refuse, h11 {other.kind}: " + reason_bucket(mine.reason))] += 1
        return None
    counts[f"we wait for more, h11 {other.kind}"] += 1  # we never accept what we have not read
    return "h11 accepts what we still wait for" if other.kind == "accepted" else None


def test_our_parser_agrees_with_h11_or_is_stricter() -> None:
    counts: Counter[str] = Counter()
    # Byte by byte costs a parser call per byte: every accepted case, and one in four others.
    cases = generated_cases()
    failures = [problem for i, data in enumerate(cases) if (problem := compare(data, counts, i % 4 == 0))]
    print(f"\n{CASES} cases (x2: alone and with the next request behind), seed {SEED}:")
    for category, count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{count:6d}  {category}")
    assert not failures, f"{len(failures)} disagreements, the first:\n" + "\n".join(failures[:3])
    assert counts["both accept, identical"] > CASES // 3  # the generator reaches valid requests
    assert sum(count for category, count in counts.items() if category.startswith("we refuse")) > 0


@pytest.mark.parametrize(
    "data",
    [
        b"POST /files/te.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\xa0chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /files/te.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x85\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
    ids=["nbsp-before", "nel-after"],
)
def test_the_issue_request_is_refused_by_us_and_by_h11(data: bytes) -> None:
    assert ours(data).kind == ours(data, "bytewise").kind == theirs(data).kind == "refused"
    assert ours(data).reason.startswith("400 invalid Transfer-Encoding header")


# (id, what follows the request line and Host, the one-line reason of the 400)
SMUGGLED_UPLOADS = [
    ("te-nbsp-before", b"Transfer-Encoding:\xa0chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     "invalid Transfer-Encoding header: codings are tokens separated by commas"),
    ("te-nel-after", b"Transfer-Encoding: chunked\x85\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     "invalid Transfer-Encoding header: codings are tokens separated by commas"),
    ("content-length-trailer", b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 3\r\n\r\n",
     "content-length is not allowed in the trailer section"),
]


@pytest.mark.parametrize("rest, reason", [case[1:] for case in SMUGGLED_UPLOADS], ids=[case[0] for case in SMUGGLED_UPLOADS])
def test_the_issue_request_end_to_end_is_400_and_stores_nothing(start_server, tmp_path, rest: bytes, reason: str) -> None:
    process = start_server("--directory", str(tmp_path))
    with RawClient(process.port) as client:
        response = client.exchange(b"POST /files/te.txt HTTP/1.1\r\nHost: x\r\n" + rest)
        assert (response.status, response.body) == (400, reason.encode() + b"\n")
        assert client.is_closed_by_server()
    assert list(tmp_path.iterdir()) == []


def test_the_comparison_finds_the_issue_bug_when_it_is_put_back(monkeypatch) -> None:
    """The generator reaches the bug of issue 14: with Transfer-Encoding split and
    trimmed by Python's `str.strip()` again, the comparison fails."""

    def stripped_codings(headers) -> list[str]:
        values = ",".join(headers.get_all("transfer-encoding")).split(",")
        return [ascii_lower(value.strip()) for value in values if value.strip()]

    monkeypatch.setattr("app.request.transfer_codings", stripped_codings)
    counts: Counter[str] = Counter()
    failures = [problem for data in generated_cases()[:1000] if (problem := compare(data, counts, False))]
    assert failures and all("we accept, h11 says refused" in failure for failure in failures)
