"""The external sort of big listings (`listing_sort.SortedEntries`): the same order as a
sort in memory for every view, whatever the run size and fan-in (runs of one entry,
merged two at a time, make every path run: spills, merges of merged runs, the last
merge), names with CR, LF and any other byte; its temporary files are nameless, at
most `fan_in` are open while merging, and none is left once it is closed, read to the
end or not."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest

from app.listing_sort import SortedEntries, sort_key, sort_run
from app.listing_view import SORT_KEYS, Entry, View

VIEWS = [View(sort, order) for sort in SORT_KEYS for order in ("asc", "desc")]
NAMES = ["a", "A", "b", "B.txt", "two\nlines", "cr\r", "crlf\r\nx", "%41", "é", "É", "z" * 200, "日本", " ", "~"]


def entries(count: int, seed: int) -> list[Entry]:
    """`count` entries with unique names, folders among them, sizes and times that tie."""
    generator = random.Random(seed)
    names = NAMES + [f"{generator.choice(NAMES)}-{number}" for number in range(count)]
    generator.shuffle(names)
    return [
        Entry(name, is_dir, 0 if is_dir else generator.randrange(5), generator.randrange(4) * 10**9)
        for name in names[:count]
        for is_dir in [generator.random() < 0.2]
    ]


def expected(items: list[Entry], view: View) -> list[Entry]:
    """The order, written the plain way: folders, then files, each group sorted."""
    column = {"name": lambda e: (), "size": lambda e: (e.size,), "modified": lambda e: (e.modified_ns,)}[view.sort]
    descending = view.order == "desc"
    groups = ([e for e in items if e.is_dir], [e for e in items if not e.is_dir])
    return [e for group in groups for e in sorted(group, key=lambda e: (*column(e), e.name.casefold(), e.name), reverse=descending)]


def open_temporary_files() -> int:
    """How many of this process's descriptors are files in the temporary folder."""
    folder = tempfile.gettempdir() + "/"
    count = 0
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{descriptor}").startswith(folder)
        except OSError:
            pass  # the descriptor listdir itself had open
    return count


@pytest.mark.parametrize("view", VIEWS, ids=str)
@pytest.mark.parametrize("run_size, fan_in", [(10_000, 32), (1, 2), (3, 2), (7, 3), (5, 4)])
def test_the_order_is_the_order_in_memory(view: View, run_size: int, fan_in: int) -> None:
    items = entries(150, seed=run_size * 100 + fan_in)
    with SortedEntries(view, run_size, fan_in) as ordered:
        for start, end in [(0, 1), (1, 3), (3, 40), (40, 150)]:  # batches of any length
            ordered.extend(items[start:end])
        assert len(ordered) == 150
        assert list(ordered) == expected(items, view)


@pytest.mark.parametrize("view", VIEWS, ids=str)
def test_the_runs_passes_and_the_merges_key_agree_with_the_plain_order(view: View) -> None:
    items = entries(60, seed=1)
    assert sorted(items, key=sort_key(view), reverse=view.order == "desc") == expected(items, view)
    run = list(items)
    sort_run(run, view)
    assert run == expected(items, view)


def test_a_folder_of_one_run_never_touches_a_file() -> None:
    before = open_temporary_files()
    with SortedEntries(View(), run_size=100) as ordered:
        ordered.extend(entries(100, seed=2))
        assert ordered.runs == [] and open_temporary_files() == before
        assert len(list(ordered)) == 100


def test_runs_are_nameless_bounded_and_closed_when_read_half_way() -> None:
    before = open_temporary_files()
    folder = Path(tempfile.gettempdir())
    names = set(os.listdir(folder))
    ordered = SortedEntries(View("size", "desc"), run_size=2, fan_in=3)
    ordered.extend(entries(200, seed=3))
    merged = iter(ordered)
    assert 0 < open_temporary_files() - before <= 3  # at most fan_in runs in the last merge
    assert set(os.listdir(folder)) == names  # no name: nobody else can open them
    next(merged)
    ordered.close()
    assert open_temporary_files() == before


def test_no_file_is_left_when_reading_fails_half_way() -> None:
    before = open_temporary_files()
    with pytest.raises(OSError), SortedEntries(View(), run_size=4, fan_in=2) as ordered:
        for batch in range(10):
            ordered.extend(entries(5, seed=batch))
        assert open_temporary_files() > before
        raise OSError("the folder went away")
    assert ordered.runs == [] and open_temporary_files() == before
