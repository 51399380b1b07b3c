"""docs/walkthrough.md cannot go stale silently: every function it links to exists, every
stage has its parts, each `curl` command's URLs are the requests of the trace shown with
it, and those requests, sent again to a server started as the page says, make it print
that trace (timings, ports and dates aside)."""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServerProcess, wait_until

PAGE = ROOT / "docs" / "walkthrough.md"
TEXT = PAGE.read_text()

# A link to a function, method or class: [`name()`](../app/module.py)
CODE_LINK_RE = re.compile(r"\[`([A-Za-z_][\w.]*)(?:\(\))?`\]\(\.\./(app/\w+\.py)\)")
ANY_APP_LINK_RE = re.compile(r"\]\(\.\./app/[^)]*\)")
STAGE_RE = re.compile(r"^## (\d+)\. (.+)$", re.M)
BLOCK_RE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def stages() -> dict[str, str]:
    """The text of each stage's section, by its heading."""
    headings = list(STAGE_RE.finditer(TEXT))
    ends = [heading.start() for heading in headings[1:]] + [len(TEXT)]
    return {heading.group(0)[3:]: TEXT[heading.start() : end] for heading, end in zip(headings, ends)}


STAGES = stages()


def test_the_page_has_the_fourteen_stages_in_order() -> None:
    assert [int(number) for number, _ in STAGE_RE.findall(TEXT)] == list(range(1, 15))


def test_every_link_into_app_names_a_function() -> None:
    """No link into the code escapes the check below (a line number, a bare file)."""
    assert len(ANY_APP_LINK_RE.findall(TEXT)) == len(CODE_LINK_RE.findall(TEXT)) > 30


@pytest.mark.parametrize("name, path", sorted(set(CODE_LINK_RE.findall(TEXT))))
def test_every_function_named_is_defined_in_the_file_linked(name: str, path: str) -> None:
    """Defined there, not merely importable from there: a name a module imports (or
    re-exports, as `http.py` does) would pass a `getattr` check from the wrong file."""
    assert (ROOT / path).is_file()
    module_name = path.removesuffix(".py").replace("/", ".")
    target = importlib.import_module(module_name)
    for part in name.split("."):
        target = getattr(target, part)
    assert callable(target), f"{name} in {path} is not a function or class"
    assert target.__module__ == module_name, f"{name} is defined in {target.__module__}, not {module_name}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_has_its_parts(stage: str) -> None:
    section = STAGES[stage]
    assert "**The stage asks**" in section
    assert CODE_LINK_RE.search(section), "no function named"
    assert re.search(r"RFC 9\d\d\d §\d", section), "no RFC rule"
    kinds = [kind for kind, _ in BLOCK_RE.findall(section)]
    assert kinds == ["console", "text"], kinds


def normalized(lines: list[str]) -> list[str]:
    """Trace lines with what changes from run to run replaced, sorted (concurrent
    connections take turns in any order)."""
    replacements = [
        (r"\d+\.\d\d ms", "T ms"),
        (r"port \d+ opened", "port P opened"),
        (r"\[c\d+\]", "[c]"),
        (r"(Last-Modified|ETag): .*\\r\\n", r"\1: ...\\r\\n"),
    ]
    result = []
    for line in lines:
        for pattern, replacement in replacements:
            line = re.sub(pattern, replacement, line)
        result.append(line)
    return sorted(result)


@pytest.fixture(scope="module")
def documented_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server as the page starts it: `--directory /tmp/share --www '' --trace -q`."""
    share = tmp_path_factory.mktemp("share")
    (share / "hello.txt").write_bytes(b"Hello, World!")
    process = ServerProcess("--directory", str(share), "--www", "", "--trace", "-q")
    yield process
    process.stop()


def unescape(shown: str) -> bytes:
    """The bytes a trace line shows (the inverse of `trace.escape_head_bytes`)."""
    return re.sub(
        rb"\\(x[0-9a-f]{2}|.)",
        lambda match: {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}.get(match.group(1))
        or bytes([int(match.group(1)[1:], 16)]),
        shown.encode("latin-1"),
    )


def requests_shown(trace: str) -> dict[str, list[bytes]]:
    """The request heads a trace shows, as bytes, by connection, in order."""
    connections: dict[str, list[bytes]] = {}
    for line in trace.splitlines():
        marker, connection, text = line[0], line[3:].split("]")[0], line.split("] ", 1)[1]
        if marker == "*" and re.fullmatch(r"request \d+ on this connection.*", text):
            connections.setdefault(connection, []).append(b"")
        elif marker == ">":
            connections[connection][-1] += unescape(text)
    return connections


def body_of(command: str, head: bytes) -> bytes:
    """The body the command sends (its `--data-binary`), checked against Content-Length."""
    length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    if length is None:
        return b""
    arguments = shlex.split(command)
    body = arguments[arguments.index("--data-binary") + 1].encode()
    assert len(body) == int(length.group(1))
    return body


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_command_is_the_one_traced(stage: str) -> None:
    """Each URL of the command is a request of the trace shown below it."""
    (_, console), (_, shown) = BLOCK_RE.findall(STAGES[stage])
    commands = [line[2:] for line in console.splitlines() if line.startswith("$ curl ")]
    assert len(commands) == 1
    paths = re.findall(r"http://localhost:4221(/[^\s';&|]*)", commands[0])
    targets = re.findall(r"^> \[c\d+\] [A-Z]+ (\S+) HTTP/1\.1\\r\\n$", shown, re.M)
    assert paths and sorted(paths) == sorted(targets)


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_trace_shown_is_what_the_server_prints(documented_server: ServerProcess, stage: str) -> None:
    """The requests of each trace on the page, sent again byte for byte (on as many
    connections), make the server print that trace: the page shows what the server does.
    (Raw sockets, not curl: the tests need only Python.)"""
    (_, console), (_, shown) = BLOCK_RE.findall(STAGES[stage])
    command = console.splitlines()[0]
    server = documented_server
    before = len(server.log)
    for heads in requests_shown(shown).values():
        with server.connect() as client:
            for head in heads:
                client.exchange(head + body_of(command, head), head_request=head.startswith(b"HEAD "))
    opened = shown.count(" opened\n")

    def all_closed() -> bool:
        new = server.log[before:]
        return new.count(" opened\n") == opened == new.count(" closed after ")

    assert wait_until(all_closed), server.log[before:]
    printed = server.log[before:].splitlines()
    assert normalized(printed) == normalized(shown.splitlines())
