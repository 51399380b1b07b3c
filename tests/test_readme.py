"""README.md cannot go stale silently: it keeps its teaching order and its length, every
module and function it names exists where it says (`module.function()` is defined in
`app/module.py`, compared by `__module__`, not found by `getattr`), every module of app/
is named, its code excerpt is the code, and the request and response bytes it shows are
what the real server answers. Nor can tests/README.md, the map of the tests: every module
of app/ has its row, and every test file it names exists."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, RawClient, ServerProcess

README = ROOT / "README.md"
TEXT = README.read_text()
APP_MODULES = sorted(path.stem for path in (ROOT / "app").glob("*.py") if path.stem != "__init__")

# `module.name()`, `module.Class.method()` or `module.Class(arguments)`, inside backticks.
QUALIFIED_RE = re.compile(r"`([a-z_]\w*)\.([A-Za-z_][\w.]*?)(\([^`]*\))?`")
# Modules of the standard library the README names calls of (`os.replace()`).
STANDARD_MODULES = {"os"}
MODULE_PATH_RE = re.compile(r"`app/(\w+)\.py`")
LINK_RE = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")
SECTION_RE = re.compile(r"^## (\d)\. (.+)$", re.M)
BLOCK_RE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def section(number: int) -> str:
    start = re.search(rf"^## {number}\. .*$", TEXT, re.M)
    assert start is not None, f"no section {number}"
    following = re.compile(r"^## ", re.M).search(TEXT, start.end())
    return TEXT[start.start() : following.start() if following else len(TEXT)]


def test_the_readme_teaches_in_the_order_of_the_issue() -> None:
    """Set-up, the bytes, the glossary, how it works, then where to change what (issue 21)."""
    titles = [title for _, title in SECTION_RE.findall(TEXT)]
    assert [number for number, _ in SECTION_RE.findall(TEXT)] == ["1", "2", "3", "4", "5"]
    expected = ["Set-up", "One request and its response", "Glossary", "How it works", "To change X, open Y"]
    assert [title.startswith(start) for title, start in zip(titles, expected)] == [True] * 5, titles


def test_the_readme_is_short() -> None:
    assert len(TEXT.splitlines()) <= 250


def test_the_two_setup_commands_are_there_word_for_word() -> None:
    """The lines `.ci/run` runs (it greps them with -x)."""
    lines = TEXT.splitlines()
    assert "mkdir -p /tmp/share && ./your_program.sh --directory /tmp/share" in lines
    test_command = (
        "python3 -m venv .venv && .venv/bin/pip install --quiet pipenv && "
        ".venv/bin/pipenv sync --dev && .venv/bin/pipenv run pytest"
    )
    assert test_command in lines
    assert "python3-venv" in section(1)


def test_every_module_named_exists() -> None:
    for name in MODULE_PATH_RE.findall(TEXT):
        assert (ROOT / "app" / f"{name}.py").is_file(), f"app/{name}.py"


def test_every_module_of_app_is_named() -> None:
    named = set(MODULE_PATH_RE.findall(section(4)))
    assert [module for module in APP_MODULES if module not in named] == []


def qualified_names() -> list[tuple[str, str]]:
    names = set()
    for module, name, _ in QUALIFIED_RE.findall(TEXT):
        if module in STANDARD_MODULES or module in ("app", "self"):
            continue
        names.add((module, name))
    return sorted(names)


def test_the_readme_names_functions_by_module() -> None:
    assert len(qualified_names()) > 40


@pytest.mark.parametrize("module, name", qualified_names())
def test_every_function_named_is_defined_in_the_module_named(module: str, name: str) -> None:
    """`request.parse_common_head()` is defined in app/request.py, not merely imported
    there; `connection.Connection.exchange()` is defined in the class itself."""
    assert module in APP_MODULES, f"{module}.{name}: no app/{module}.py"
    module_name = f"app.{module}"
    owner = importlib.import_module(module_name)
    target = owner
    for part in name.split("."):
        assert part in vars(target), f"{name} is not defined in {module_name}"
        owner, target = target, vars(target)[part]
    if isinstance(target, (staticmethod, classmethod, property)):
        target = target.__func__ if not isinstance(target, property) else target.fget
    if inspect.isfunction(target) or inspect.isclass(target):
        assert target.__module__ == module_name, f"{name} is defined in {target.__module__}"


def test_every_link_leads_to_a_file_and_every_docs_page_is_linked() -> None:
    targets = {target for target in LINK_RE.findall(TEXT) if "://" not in target}
    for target in targets:
        assert (ROOT / target).exists(), target
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert sorted(pages - targets) == []
    assert "tests/README.md" in targets


def test_the_code_shown_is_the_code() -> None:
    """Each Python excerpt appears verbatim in the module that defines it."""
    excerpts = [code for kind, code in BLOCK_RE.findall(TEXT) if kind == "python"]
    assert excerpts
    for code in excerpts:
        defined = re.search(r"def (\w+)", code)
        assert defined is not None
        holders = [path.name for path in (ROOT / "app").glob("*.py") if code in path.read_text()]
        assert holders, f"the excerpt of {defined.group(1)}() is no longer in app/"


def shown_bytes(block: str) -> bytes:
    """The bytes an annotated block of section 2 shows: each line up to its `←` note,
    `\\r\\n` standing for CR LF; a line without it (a body) is sent as it is."""
    data = b""
    for line in block.splitlines():
        shown = line.split("←", 1)[0].rstrip(" ")
        data += shown.replace("\\r\\n", "\r\n").encode("utf-8")
    return data


def exchanges() -> list[tuple[bytes, bytes]]:
    blocks = [shown_bytes(code) for kind, code in BLOCK_RE.findall(section(2)) if kind == "text"]
    assert len(blocks) == 4
    return [(blocks[0], blocks[1]), (blocks[2], blocks[3])]


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The README's server: `--directory` an empty folder, nothing else."""
    process = ServerProcess("--directory", str(tmp_path_factory.mktemp("share")))
    yield process
    process.stop()


def test_the_bytes_shown_are_what_the_server_answers(fresh_server: ServerProcess) -> None:
    for request, response in exchanges():
        assert b"Host: localhost:4221\r\n" in request
        with RawClient(fresh_server.port) as client:
            answer = client.exchange(request).raw
        # The Date differs from run to run (RFC 9110 §6.6.1, an IMF-fixdate): the page's.
        shown_date = re.search(rb"Date: [^\r]*\r\n", response)
        assert shown_date is not None
        answer = re.sub(rb"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n", shown_date.group(0), answer)
        assert answer == response
    text = section(2)
    (request, response), _ = exchanges()
    assert f"The request, {len(request)} bytes:" in text
    assert f"The response, {len(response)} bytes:" in text


# tests/README.md: the map of the tests.
TEST_MAP = (ROOT / "tests" / "README.md").read_text()


def test_the_test_map_has_a_row_for_every_module_of_app() -> None:
    rows = set(re.findall(r"^\| `app/(\w+)\.py` \|", TEST_MAP, re.M))
    assert [module for module in APP_MODULES if module not in rows] == []


def test_every_test_file_the_map_names_exists() -> None:
    named = {name.removeprefix("tests/") for name in re.findall(r"`((?:\w+/)*test_\w+\.py)`", TEST_MAP)}
    assert len(named) > 30
    assert sorted(name for name in named if not (ROOT / "tests" / name).is_file()) == []
