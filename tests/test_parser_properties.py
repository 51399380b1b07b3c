"""Property tests of the parser (hypothesis): whatever bytes arrive, the parser answers with
a request or a `ProtocolError`, never another exception; and a valid request parses the
same however the bytes are split across `recv()` calls."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from app.bodies import FORBIDDEN_TRAILERS
from app.errors import ClientDisconnected, ProtocolError
from app.framing import REASON_PHRASES
from app.http import parse_request
from app.request import parse_common_head, parse_head
from app.settings import Limits
from tests.conftest import FeedSource

# Small limits, so that generated inputs reach them too.
LIMITS = Limits(max_request_line=200, max_header_bytes=1000, max_header_fields=10, max_body=1000, max_upload=1000)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_all(pieces: list[bytes]) -> list[tuple]:
    """Every request in the input, in order, each with its body read; ends with the
    refusal if there is one, or an "incomplete" marker if the input stops mid-request."""
    source = FeedSource(pieces)
    results: list[tuple] = []
    while True:
        try:
            request = parse_request(source, LIMITS)
            if request is None:
                if not source.pieces:
                    if source.buffer:
                        results.append(("incomplete head",))
                    return results
                source.receive_more()
                continue
            body = b"".join(request.body)
        except ProtocolError as error:
            assert error.status in REASON_PHRASES and error.reason and "\n" not in error.reason
            results.append(("refused", error.status))
            return results
        except ClientDisconnected:
            results.append(("incomplete body",))
            return results
        results.append(
            (request.method, request.target, request.version, request.headers.fields, body,
             request.body.trailers.fields, request.wants_keep_alive)
        )


# --- Arbitrary bytes -----------------------------------------------------------------------

FRAGMENTS = [
    b"GET", b"POST", b" ", b"  ", b"/", b"/echo", b"?a=b", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0",
    b"\r\n", b"\r", b"\n", b"\t", b"\x00", b"\x7f", b"\xff", b":", b",", b";", b"=", b'"',
    b"Host", b"Host: localhost", b"Content-Length", b"Transfer-Encoding", b"chunked", b"gzip",
    b"Expect: 100-continue", b"Connection: close", b"0", b"5", b"-1", b"+", b"ffffffffffffffff",
    b"hello", b"x" * 300,
]
request_like_bytes = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)


@EXAMPLES
@given(st.one_of(st.binary(max_size=600), request_like_bytes))
def test_arbitrary_bytes_give_a_request_or_a_protocol_error(data: bytes) -> None:
    parse_all([data])


@EXAMPLES
@given(request_like_bytes, st.data())
def test_arbitrary_bytes_split_anywhere_give_the_same_answer(data: bytes, draw) -> None:
    """Refusals may come earlier when bytes arrive one by one, but never differ in kind:
    the split input is refused exactly when the whole input is."""
    whole = parse_all([data])
    split = parse_all(split_at(data, draw))
    assert [result[0] == "refused" for result in whole] == [result[0] == "refused" for result in split]


# --- Valid requests ------------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
path_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@/?", max_size=30)
field_values = st.text(alphabet="".join(map(chr, range(0x21, 0x7F))) + " \t", max_size=30).map(str.strip)
reserved = {"host", "content-length", "transfer-encoding", "expect", "connection"}
other_fields = st.lists(
    st.tuples(tokens.filter(lambda name: name.lower() not in reserved), field_values), max_size=6
)


@st.composite
def valid_requests(draw) -> tuple[bytes, tuple]:
    """Bytes of one valid request, and what parsing it must give."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]))
    target = "/" + draw(path_chars)
    fields = [("host", draw(st.sampled_from(["localhost", "localhost:4221", "127.0.0.1", "[::1]:80"])))]
    fields += [(name.lower(), value) for name, value in draw(other_fields)]
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["none", "content-length", "chunked"])) if body else "none"
    trailers: list[tuple[str, str]] = []
    if framing == "content-length":
        fields.append(("content-length", str(len(body))))
        encoded_body = body
    elif framing == "chunked":
        fields.append(("transfer-encoding", "chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        chunks = [body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)]) if end > start]
        extension = draw(st.sampled_from(["", ";x", ";x=y", ' ; name="quoted \\" value"']))
        # RFC 9110 §6.5.1: fields that frame, route or authenticate are never trailers.
        trailers = [(name.lower(), value) for name, value in draw(other_fields) if name.lower() not in FORBIDDEN_TRAILERS]
        encoded_body = b"".join(b"%x%s\r\n%s\r\n" % (len(chunk), extension.encode(), chunk) for chunk in chunks)
        encoded_body += b"0\r\n" + b"".join(f"{n}: {v}\r\n".encode() for n, v in trailers) + b"\r\n"
    else:
        encoded_body = b""
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields)
    data = head.encode() + b"\r\n" + encoded_body
    return data, (method, target, "HTTP/1.1", fields, body if framing != "none" else b"", trailers, True)


def split_at(data: bytes, draw) -> list[bytes]:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)])]


@EXAMPLES
@given(valid_requests(), st.data())
def test_valid_request_split_anywhere_parses_the_same(request, draw) -> None:
    data, expected = request
    assert parse_all([data]) == [expected]
    assert parse_all(split_at(data, draw)) == [expected]


@EXAMPLES
@given(valid_requests(), valid_requests(), st.data())
def test_pipelined_requests_split_anywhere_parse_the_same(first, second, draw) -> None:
    data = first[0] + second[0]
    assert parse_all(split_at(data, draw)) == [first[1], second[1]]
    assert parse_all([data[i : i + 1] for i in range(len(data))]) == [first[1], second[1]]


# --- The whole-head fast path gives what the line-by-line parser gives ----------------------

HEAD_FRAGMENTS = [
    b"GET", b"POST", b"G\xe9T", b" ", b"  ", b"/", b"/echo/abc", b"?a=b", b"*", b"http://x/",
    b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/3.0", b"#", b"/a#b",
    b"\r\n", b"\r", b"\n", b"\t", b"\x00",
    b"\x7f", b"\xff", b":", b": ", b" :", b"Host", b"Host: x", b"Accept-Encoding: gzip, br",
    b"X-Empty:", b"X-Pad: \t v \t ", b"\xe9", b"a" * 120,
]
head_like_bytes = st.lists(st.sampled_from(HEAD_FRAGMENTS), max_size=30).map(lambda parts: b"".join(parts) + b"\r\n\r\n")


def parse_head_or_error(raw_head: bytes) -> tuple:
    try:
        method, target, version, headers = parse_head(raw_head, LIMITS)
    except ProtocolError as error:
        return ("refused", error.status, error.reason)
    return method, target, version, headers.fields


@EXAMPLES
@given(st.one_of(head_like_bytes, valid_requests().map(lambda request: request[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n")))
def test_the_fast_path_parses_a_head_as_the_full_parser_does(raw_head: bytes) -> None:
    fast = parse_common_head(raw_head, LIMITS)
    if fast is not None:  # else the full parser decides alone
        method, target, version, headers = fast
        assert (method, target, version, headers.fields) == parse_head_or_error(raw_head)


COMMON_HEADS = [
    (b"GET /echo/hello HTTP/1.1\r\nHost: 127.0.0.1:4221\r\n\r\n",
     ("GET", "/echo/hello", "HTTP/1.1", [("host", "127.0.0.1:4221")])),
    (b"GET / HTTP/1.0\r\n\r\n", ("GET", "/", "HTTP/1.0", [])),
    (b"POST /files/a?x=1 HTTP/1.1\r\nHOST:x\r\nX-Pad: \t v w \t\r\nX-Empty:\r\nX-Latin: caf\xe9\r\n\r\n",
     ("POST", "/files/a?x=1", "HTTP/1.1", [("host", "x"), ("x-pad", "v w"), ("x-empty", ""), ("x-latin", "caf\xe9")])),
]


@pytest.mark.parametrize(("raw_head", "parsed"), COMMON_HEADS)
def test_common_heads_take_the_fast_path(raw_head: bytes, parsed: tuple) -> None:
    fast = parse_common_head(raw_head, LIMITS)
    assert fast is not None
    assert (*fast[:3], fast[3].fields) == parsed == parse_head_or_error(raw_head)


UNCOMMON_HEADS = [
    b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",  # absolute-form
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",  # asterisk-form
    b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",  # a higher minor version: processed as HTTP/1.1
    b"GET / HTTP/3.0\r\nHost: x\r\n\r\n",  # another major version: 505
    b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n",  # a fragment in the target: 400
    b"GET /# HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",  # whitespace before the colon: 400
    b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  # obs-fold: 400
    b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",  # NUL in a value: 400
    b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n",  # request line over the limit: 414
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 11 + b"\r\n",  # too many fields: 431
]


@pytest.mark.parametrize("raw_head", UNCOMMON_HEADS)
def test_other_heads_take_the_full_parser(raw_head: bytes) -> None:
    assert parse_common_head(raw_head, LIMITS) is None
