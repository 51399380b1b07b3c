"""A folder swapped for a symlink under running requests (issue 23, part 5).

A swapper thread exchanges the real folder `DIR/S/b` with a symlink `DIR/S/b-link` to a
folder outside the root, atomically (`renameat2(RENAME_EXCHANGE)`), as fast as it can,
while every kind of request that touches `S/b` runs hundreds of times against the real
server: file reads, listings, zip and tar.gz archives, PUT, POST, form uploads, form
deletes and mkdirs, DELETE and MKCOL. The outside folder holds a secret under the same
name as a file inside, and a victim file under the same name as one the requests delete.

Asserted: no answer and no archive ever holds an outside byte or name; nothing outside
is created, changed or deleted; every answer is one the request may give (200s, or a
4xx with its one-line reason: 404 while the folder is a link's name, 400 for a link out),
never a 500; and the swapper really swapped, thousands of times. Bounded: a fixed number
of requests per kind, and a deadline.
"""

from __future__ import annotations

import ctypes
import io
import os
import tarfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerProcess

SECRET = b"OUTSIDE-SECRET-BYTES\n"
INSIDE = b"inside bytes\n"
ROUNDS = 150  # requests of each kind
DEADLINE = 120.0  # seconds for all of them
RENAME_EXCHANGE = 2  # <linux/fs.h>
AT_FDCWD = -100

libc = ctypes.CDLL(None, use_errno=True)


def exchange(first: Path, second: Path) -> None:
    """Swap two names atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    result = libc.renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


class Swapper(threading.Thread):
    """Flips `b` (a real folder) and `b-link` (a symlink out) until stopped."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.stopping = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            exchange(self.folder / "b", self.folder / "b-link")
            self.swaps += 1
            if self.swaps % 64 == 0:
                time.sleep(0)  # let the server's threads run too


def snapshot(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every name under `folder` with its bytes and modification time."""
    found = {}
    for path in sorted(folder.rglob("*")):
        status = path.lstat()
        found[str(path.relative_to(folder))] = (path.read_bytes() if path.is_file() else None, status.st_mtime_ns)
    return found


@pytest.fixture
def tree(tmp_path: Path):
    """`outside/` (secret.txt, victim.txt, outside-only.txt) and the root `files/S/`,
    whose `b/` holds files of the same names; `b-link` points to `outside/`."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret.txt", "victim.txt", "outside-only.txt"):
        (outside / name).write_bytes(SECRET)
    root = tmp_path / "files"
    real = root / "S" / "b"
    real.mkdir(parents=True)
    (real / "secret.txt").write_bytes(INSIDE)
    (real / "victim.txt").write_bytes(INSIDE)
    os.symlink(outside, root / "S" / "b-link")
    return root, outside


# What each kind of request may answer besides its success: the folder is, at that
# moment, a symlink out (400), or its name is the link's and the real folder is elsewhere.
LINK_OUT = "file name leads outside the served directory"


def check_answer(kind: str, response: requests.Response) -> None:
    assert response.status_code < 500, (kind, response.status_code, response.text)
    assert SECRET not in response.content, (kind, response.status_code)
    assert b"outside-only" not in response.content, kind


def check_archive(kind: str, response: requests.Response) -> None:
    """Read the whole archive (or what arrived of it: an entry swapped mid-way ends it)."""
    check_answer(kind, response)
    if kind == "tar.gz" and response.status_code == 200:
        try:
            with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
                for member in archive:
                    assert "outside-only" not in member.name
                    if member.isfile():
                        assert archive.extractfile(member).read() != SECRET
        except (tarfile.TarError, EOFError):
            pass  # cut short when a file changed under it; what arrived was checked
    if kind == "zip" and response.status_code == 200:
        try:
            names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
        except zipfile.BadZipFile:
            return
        assert not [name for name in names if "outside-only" in name]


def make_requests(base: str, real: Path) -> dict[str, object]:
    """One function per kind of request; each returns the response it got."""
    session_local = threading.local()

    def session() -> requests.Session:
        if not hasattr(session_local, "session"):
            session_local.session = requests.Session()
        return session_local.session

    def get(path: str) -> requests.Response:
        return session().get(base + path, timeout=30)

    def archive(path: str) -> requests.Response:
        """An archive, kept as far as it arrived: the server ends it early (the connection
        closes) when a file changes under it, and what came before is checked too."""
        response = session().get(base + path, timeout=30, stream=True)
        pieces = []
        try:
            for piece in response.iter_content(65536):
                pieces.append(piece)
        except requests.exceptions.RequestException:
            session_local.session = requests.Session()
        response._content = b"".join(pieces)
        return response

    def form(fields: dict[str, str]) -> requests.Response:
        return session().post(base + "/files/S/b/", data=fields, allow_redirects=False, timeout=30)

    return {
        "read": lambda i: get("/files/S/b/secret.txt"),
        "listing": lambda i: get("/files/S/b/"),
        "json-listing": lambda i: session().get(
            base + "/files/S/b/", headers={"Accept": "application/json"}, timeout=30
        ),
        "zip": lambda i: archive("/files/S/?download=zip"),
        "tar.gz": lambda i: archive("/files/S/?download=tar.gz"),
        "put": lambda i: session().put(base + f"/files/S/b/put-{i}.txt", data=b"uploaded", timeout=30),
        "post": lambda i: session().post(base + f"/files/S/b/post-{i}.txt", data=b"uploaded", timeout=30),
        "form-upload": lambda i: session().post(
            base + "/files/S/b/", files={"file": (f"form-{i}.txt", b"uploaded")}, timeout=30
        ),
        "form-mkdir": lambda i: form({"mkdir": f"made-{i}"}),
        "form-delete": lambda i: form({"delete": "victim.txt"}),
        "delete": lambda i: session().delete(base + "/files/S/b/victim.txt", timeout=30),
        "mkcol": lambda i: session().request("MKCOL", base + f"/files/S/b/col-{i}/", timeout=30),
    }


def test_a_folder_swapped_for_a_symlink_never_leads_outside(tree) -> None:
    root, outside = tree
    before = snapshot(outside)
    real_fd = os.open(root / "S" / "b", os.O_RDONLY | os.O_DIRECTORY)  # follows the real folder
    server = ServerProcess("--directory", str(root))
    swapper = Swapper(root / "S")
    counts: dict[str, int] = {}
    statuses: dict[str, dict[int, int]] = {}
    try:
        kinds = make_requests(server.url, root / "S" / "b")
        swapper.start()
        deadline = time.monotonic() + DEADLINE
        with ThreadPoolExecutor(max_workers=4) as pool:
            for round_number in range(ROUNDS):
                if time.monotonic() > deadline:
                    break
                # The victim comes back inside after each delete, through the real folder.
                victim = os.open("victim.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=real_fd)
                os.write(victim, INSIDE)
                os.close(victim)
                jobs = {kind: pool.submit(call, round_number) for kind, call in kinds.items()}
                for kind, job in jobs.items():
                    response = job.result()
                    try:
                        check_archive(kind, response) if kind in ("zip", "tar.gz") else check_answer(kind, response)
                    except AssertionError as failure:
                        raise AssertionError(f"{failure}\nserver log:\n{server.log[-3000:]}") from None
                    counts[kind] = counts.get(kind, 0) + 1
                    by_status = statuses.setdefault(kind, {})
                    by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
    finally:
        swapper.stopping.set()
        swapper.join(timeout=10)
        os.close(real_fd)
        server.stop()
    print(f"swaps: {swapper.swaps}; requests: {counts}; statuses: {statuses}")
    assert snapshot(outside) == before, "something outside the root was created, changed or deleted"
    assert swapper.swaps > 1000
    assert min(counts.values()) >= 100, counts
    # The requests really met the real folder (successes) and the link (refusals) both.
    assert statuses["read"].get(200, 0) > 0, statuses["read"]
    assert sum(count for status, count in statuses["read"].items() if status != 200) > 0
    assert not list(root.rglob("*.part")), "a temporary upload file was left behind"
