"""docs/walkthrough.md cannot go stale silently: every function it links to is defined in
the file linked and runs for the stage's request (a server records every call), every code
excerpt is part of the function linked just before it, every stage has its parts, each
`curl` command's URLs are the requests of the trace shown with it, and those requests, sent
again to a server started as the page says, make it print every trace line shown (timings,
ports and dates aside)."""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
import sys
from collections import Counter
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
# After this mark a stage may show what breaks without its rule: other commands, not traced.
BREAKS = "**What breaks without it.**"
# A trace line that stands for lines left out.
LEFT_OUT = "..."


def stages() -> dict[str, str]:
    """The text of each stage's section, by its heading."""
    headings = list(STAGE_RE.finditer(TEXT))
    ends = [heading.start() for heading in headings[1:]] + [len(TEXT)]
    return {heading.group(0)[3:]: TEXT[heading.start() : end] for heading, end in zip(headings, ends)}


STAGES = stages()


def traced_part(stage: str) -> str:
    """The stage before its "what breaks" example: the command and the trace it printed."""
    return STAGES[stage].split(BREAKS)[0]


def defined_object(name: str, path: str) -> object:
    """The function, method or class `name` of the module at `path`, looked up in the
    namespaces where it is defined (a module's or a class's own `__dict__`), so that a
    name the module merely imports is not found."""
    target: object = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    for part in name.split("."):
        assert part in vars(target), f"{name} is not defined in {path}"
        target = vars(target)[part]
    return target


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
    target = defined_object(name, path)
    assert callable(target), f"{name} in {path} is not a function or class"
    assert target.__module__ == module_name, f"{name} is defined in {target.__module__}, not {module_name}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_has_its_parts(stage: str) -> None:
    section = STAGES[stage]
    assert "**The stage asks**" in section
    assert CODE_LINK_RE.search(section), "no function named"
    assert re.search(r"RFC 9\d\d\d §\d", section), "no RFC rule"
    kinds = [kind for kind, _ in BLOCK_RE.findall(traced_part(stage))]
    assert "python" in kinds, "no code shown"
    assert [kind for kind in kinds if kind != "python"] == ["console", "text"], kinds
    if BREAKS in section:
        assert "console" in [kind for kind, _ in BLOCK_RE.findall(section.split(BREAKS)[1])]


def excerpts() -> list[tuple[str, str, str, str]]:
    """Each code excerpt with the stage it is in and the function linked last before it."""
    found = []
    for stage, section in STAGES.items():
        for block in BLOCK_RE.finditer(section):
            if block.group(1) == "python":
                name, path = CODE_LINK_RE.findall(section[: block.start()])[-1]
                found.append((stage, name, path, block.group(2)))
    return found


def test_every_stage_shows_code() -> None:
    assert {stage for stage, *_ in excerpts()} == set(STAGES)


@pytest.mark.parametrize("stage, name, path, code", excerpts(), ids=lambda value: str(value)[:30])
def test_every_excerpt_is_part_of_the_function_linked_before_it(stage: str, name: str, path: str, code: str) -> None:
    """Line for line, indentation included: an edit to those lines fails this test."""
    assert 5 <= len(code.splitlines()) <= 15
    source = inspect.getsource(defined_object(name, path))
    assert code in source, f"{stage}: the excerpt is no longer part of {name}() in {path}"


def normalized(lines: list[str]) -> list[str]:
    """Trace lines with what changes from run to run replaced, sorted (concurrent
    connections take turns in any order)."""
    replacements = [
        (r"\d+\.\d\d ms", "T ms"),
        (r"port \d+ opened", "port P opened"),
        (r"\[c\d+\]", "[c]"),
        (r"(Last-Modified|ETag|Date): .*\\r\\n", r"\1: ...\\r\\n"),
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
    """The request heads a trace shows, as bytes, by connection, in order (a trace may
    leave lines out, never those of a request head)."""
    connections: dict[str, list[bytes]] = {}
    for line in trace.splitlines():
        if not line.startswith("> "):
            continue
        connection, text = line[3:].split("]")[0], line.split("] ", 1)[1]
        if re.fullmatch(r"[A-Z]+ \S+ HTTP/1\.[01]\\r\\n", text):
            connections.setdefault(connection, []).append(b"")
        connections[connection][-1] += unescape(text)
    return connections


def send_again(server: ServerProcess, command: str, shown: str) -> int:
    """Send the requests of a trace again, byte for byte, on as many connections; how many."""
    connections = requests_shown(shown).values()
    for heads in connections:
        with server.connect() as client:
            for head in heads:
                assert head.endswith(b"\r\n\r\n"), head
                client.exchange(head + body_of(command, head), head_request=head.startswith(b"HEAD "))
    return len(connections)


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
    console, shown = command_and_trace(stage)
    commands = [line[2:] for line in console.splitlines() if line.startswith("$ curl ")]
    assert len(commands) == 1
    paths = re.findall(r"http://localhost:4221(/[^\s';&|]*)", commands[0])
    targets = re.findall(r"^> \[c\d+\] [A-Z]+ (\S+) HTTP/1\.1\\r\\n$", shown, re.M)
    assert paths and sorted(paths) == sorted(targets)


def command_and_trace(stage: str) -> tuple[str, str]:
    (_, console), (_, shown) = [block for block in BLOCK_RE.findall(traced_part(stage)) if block[0] != "python"]
    return console, shown


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_trace_shown_is_what_the_server_prints(documented_server: ServerProcess, stage: str) -> None:
    """The requests of each trace on the page, sent again byte for byte (on as many
    connections), make the server print every line of that trace the page shows (the
    page leaves lines out, marked `...`, never adds or changes one). (Raw sockets, not
    curl: the tests need only Python.)"""
    console, shown = command_and_trace(stage)
    server = documented_server
    before = len(server.log)
    connections = send_again(server, console.splitlines()[0], shown)

    def all_closed() -> bool:
        new = server.log[before:]
        return new.count(" opened\n") == connections == new.count(" closed after ")

    assert wait_until(all_closed), server.log[before:]
    printed = Counter(normalized(server.log[before:].splitlines()))
    lines = [line for line in shown.splitlines() if line != LEFT_OUT]
    missing = Counter(normalized(lines)) - printed
    assert not missing, f"shown but not printed: {list(missing)}"


@pytest.fixture(scope="module")
def recording_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """The server as the page starts it, without the trace (which swaps in its own
    connection class), every call into `app` recorded by tests/call_recorder.py."""
    share = tmp_path_factory.mktemp("share")
    (share / "hello.txt").write_bytes(b"Hello, World!")
    calls = tmp_path_factory.mktemp("calls") / "calls.txt"
    recorder = (sys.executable, str(ROOT / "tests" / "call_recorder.py"), str(calls))
    process = ServerProcess("--directory", str(share), "--www", "", "-q", wrapper=recorder)
    yield process, calls
    process.stop()


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_function_linked_runs_for_the_stage(recording_server: tuple[ServerProcess, Path], stage: str) -> None:
    """Not merely defined: called while the server starts (`main()`, the accept loop) or
    while it answers the stage's requests. A name of another code path fails here."""
    server, calls = recording_server
    before = calls.read_text().splitlines()
    console, shown = command_and_trace(stage)
    connections = send_again(server, console.splitlines()[0], shown)
    closing = "app.connection.Connection.close"

    def all_closed() -> bool:
        return calls.read_text().splitlines()[len(before) :].count(closing) == connections

    assert wait_until(all_closed)
    after = calls.read_text().splitlines()
    startup = after[: after.index("app.server.Server.serve_forever") + 1]
    ran = set(startup) | set(after[len(before) :])
    for name, path in set(CODE_LINK_RE.findall(STAGES[stage])):
        qualified = path.removesuffix(".py").replace("/", ".") + "." + name
        if inspect.isclass(defined_object(name, path)):
            assert any(call.startswith(qualified + ".") for call in ran), f"{name} never used"
        else:
            assert qualified in ran, f"{name}() does not run for this stage"
