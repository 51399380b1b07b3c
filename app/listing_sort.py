"""A listing's order for a folder of any size, in bounded memory: an external merge sort.

Why a module of its own (issue 20): a listing is sorted before its first row goes out,
and a sort needs every entry. Kept in a list, a folder's entries cost ~250 bytes each
at the sort's peak (the tuple, its name, its sort key): 200,000 entries were +47 MiB
of the server's RSS, memory that grew with the folder. Here it does not:

1. The entries come in the order the folder is read and gather into a *run* of at most
   `RUN_SIZE`. A full run is sorted in memory and *spilled*: written to a temporary
   file, then the next run starts.
2. When the page is written, the runs are *merged* lazily (`heapq.merge`): memory holds
   one block of `BLOCK_SIZE` entries of each run, and the first of their heads goes out
   next.
3. At most `FAN_IN` runs are merged at once (as many open files and blocks in memory):
   when `FAN_IN` runs of one length have piled up, they are merged into one longer run
   at once, as a counter carries a digit; before the last merge, the shortest runs are
   merged until `FAN_IN` are left.

So memory holds one run while the folder is read, then one block a run (at most
`FAN_IN`) while the page goes out: a bound that does not depend on the folder. A folder
of at most `RUN_SIZE` entries (nearly every folder) is one run, sorted in memory when
the page is written, and never touches a file (nor is it sorted at all for a 304).

The files: `tempfile.TemporaryFile`, in the system's temporary folder (`TMPDIR`, never
the served folder). On Linux such a file has no name at all (`O_TMPFILE`; elsewhere it
is unlinked right after it is made): no other process can see or open it, and its space
is freed when it is closed, or when the process ends however it ends. `close()` closes
them all; the listing calls it when the page is sent, refused (304, 412), failed, or cut
short by a client gone (the response's `StreamBody.close()`).

A record is the entry as a plain tuple `(name, is_dir, size, modified_ns)`; a block is
`marshal.dumps()` of a list of them, after its length in 4 bytes. A name may hold any
byte but "/" and NUL, a CR or LF too: marshal writes a string with its length, so
nothing needs escaping, and it reads and writes at C speed (the file is our own, read
back by the same process: marshal is not for data from elsewhere).
"""

from __future__ import annotations

import heapq
import marshal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import islice, repeat
from operator import itemgetter
from typing import IO, Any

from app.listing_view import Entry, View

RUN_SIZE = 10_000  # entries sorted in memory at a time (~2.5 MB at the sort's peak)
BLOCK_SIZE = 128  # entries read from a run at a time while merging (~25 KB)
FAN_IN = 32  # runs merged at once: open files, and blocks in memory
LENGTH_BYTES = 4  # a block's length, before it


def sort_run(run: list[Entry], view: View) -> None:
    """Put a run in the view's order, in place, by stable passes, the last key first:
    the name as it is, then without regard to case (`a` and `A` both exist), then the
    size or time, then the kind (folders first, in either order). Each pass compares
    plain strings or integers (C key functions but for the case), which is 2.5 times as
    fast as one pass comparing `sort_key`'s tuples."""
    descending = view.order == "desc"
    run.sort(key=BY_NAME, reverse=descending)
    run.sort(key=folded_name, reverse=descending)
    if view.sort != "name":
        run.sort(key=BY_SIZE if view.sort == "size" else BY_MODIFIED, reverse=descending)
    run.sort(key=BY_KIND, reverse=True)  # True first; a stable pass keeps the rest in order


BY_NAME, BY_KIND, BY_SIZE, BY_MODIFIED = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)  # Entry's


def folded_name(entry: Entry) -> str:
    return entry.name.casefold()


def sort_key(view: View) -> Callable[[Entry], tuple[Any, ...]]:
    """The same order as one key, for the merge (`heapq.merge` compares the heads of
    the runs), with `reverse=True` for `desc`: folders first (in either order:
    `is_dir == descending`), then the column, then the name without and with case."""
    descending = view.order == "desc"
    if view.sort == "name":
        return lambda entry: (entry.is_dir == descending, entry.name.casefold(), entry.name)
    column = 2 if view.sort == "size" else 3  # Entry.size, Entry.modified_ns
    return lambda entry: (entry.is_dir == descending, entry[column], entry.name.casefold(), entry.name)


class SortedEntries:
    """Entries in a view's order: `extend()` with them, then iterate (`len()` says how
    many). A context manager: `close()` removes the temporary files, if any."""

    def __init__(self, view: View, run_size: int = RUN_SIZE, fan_in: int = FAN_IN) -> None:
        self.view, self.key = view, sort_key(view)
        self.reverse = view.order == "desc"
        self.run_size, self.fan_in = run_size, fan_in
        self.run: list[Entry] = []  # the run being gathered, in the order read
        self.runs: list[tuple[int, IO[bytes]]] = []  # spilled: (level, file), level n of ~run_size * fan_in**n
        self.spilled = 0  # entries written to files

    def __enter__(self) -> SortedEntries:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close (and so free) every temporary file; safe to call more than once."""
        while self.runs:
            self.runs.pop()[1].close()
        self.run = []

    def __len__(self) -> int:
        return self.spilled + len(self.run)

    def extend(self, entries: list[Entry]) -> None:
        """Add entries in the order read (a batch of them: no call per entry). A run is
        filled up to `run_size`, then sorted and spilled when more come."""
        start = 0
        while start < len(entries):
            if len(self.run) == self.run_size:
                self.spill()
            end = start + self.run_size - len(self.run)
            self.run.extend(entries[start:end])
            start = end

    def spill(self) -> None:
        """Sort the run in memory, write it to a new temporary file, empty it."""
        sort_run(self.run, self.view)
        self.keep(write_run(self.run), 0)
        self.spilled += len(self.run)
        self.run.clear()

    def keep(self, file: IO[bytes], level: int) -> None:
        """Add a spilled run; when it makes `fan_in` runs of its level, merge them into
        one of the next level (they are the last ones: levels only fall along the list)."""
        self.runs.append((level, file))
        last = self.runs[-self.fan_in :]
        if len(last) == self.fan_in and all(each == level for each, _ in last):
            self.keep(self.merge_last(self.fan_in), level + 1)

    def merge_last(self, count: int) -> IO[bytes]:
        """The last `count` runs merged into a new one; they are closed (and freed)."""
        files = [file for _, file in self.runs[-count:]]
        try:
            return write_run(heapq.merge(*map(read_run, files), key=self.key, reverse=self.reverse))
        finally:
            del self.runs[-count:]
            for file in files:
                file.close()

    def __iter__(self) -> Iterator[Entry]:
        if not self.runs:  # one run, never spilled: sorted here
            sort_run(self.run, self.view)
            return iter(self.run)
        if self.run:
            self.spill()
        while len(self.runs) > self.fan_in:  # the shortest runs are the last ones
            level = self.runs[-1][0]
            self.runs.append((level + 1, self.merge_last(self.fan_in)))
        return heapq.merge(*(read_run(file) for _, file in self.runs), key=self.key, reverse=self.reverse)


def write_run(entries: Iterable[Entry]) -> IO[bytes]:
    """A new temporary file holding `entries` (in order), in blocks of `BLOCK_SIZE`."""
    file = tempfile.TemporaryFile()
    try:
        iterator = iter(entries)
        while block := list(map(tuple, islice(iterator, BLOCK_SIZE))):  # marshal takes plain tuples
            data = marshal.dumps(block)
            file.write(len(data).to_bytes(LENGTH_BYTES, "little"))
            file.write(data)
        file.flush()
    except BaseException:
        file.close()
        raise
    return file


def read_run(file: IO[bytes]) -> Iterator[Entry]:
    """The entries of a run file, from its start, a block at a time."""
    file.seek(0)
    make = tuple.__new__  # a C call, where Entry(...) would run NamedTuple's Python __new__
    while length := file.read(LENGTH_BYTES):
        yield from map(make, repeat(Entry), marshal.loads(file.read(int.from_bytes(length, "little"))))
