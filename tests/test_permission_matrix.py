"""The permission matrix: 4 users (anonymous included) × 6 folders with different rules ×
every way in (GET of a file, the listings, the archives, PUT, POST raw and multipart, the
page's forms, MKCOL, DELETE; COPY and MOVE across rule boundaries once WebDAV answers
them). Each cell asserts the status AND what happened on disk: the tree after the
request is the tree before it, changed exactly as the answer says, and nothing of a file
reached a client that may not read it.

The expected rights are written out by hand below (`RIGHTS`), not computed by the
server's code; the expected status follows from them by the rules of
docs/permissions.md: 401 for an anonymous request refused (the server has passwords), 404
for a read or list refused where the user may not list the parent, else 403.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from app.handlers import IMPLEMENTED_METHODS
from tests.conftest import ServerProcess

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", None: None}
RULES = [
    "/team:alice=rwdl", "/team:*=rl",
    "/team/hidden:alice=rl", "/team/hidden:*=-",
    "/private:alice=rwdl", "/private:*=-",
    "/inbox:*=w", "/inbox:alice=rwdl",
    "/notes:*=r", "/notes:carol=rwd",
]  # "open" has no rule: the server's behaviour without rules
FOLDERS = ["open", "team", "team/hidden", "private", "inbox", "notes"]
EVERYONE_ELSE = {"alice": None, "bob": None, "carol": None, None: None}

# The rights each user has in each folder, by hand from RULES (None: anonymous).
RIGHTS: dict[str, dict[str | None, str]] = {
    "": {"alice": "rlwd", "bob": "rlwd", "carol": "rlwd", None: ""},  # no rule: logged in is all
    "open": {"alice": "rlwd", "bob": "rlwd", "carol": "rlwd", None: ""},
    "team": {"alice": "rlwd", "bob": "rl", "carol": "rl", None: "rl"},
    "team/hidden": {"alice": "rl", "bob": "", "carol": "", None: ""},
    "private": {"alice": "rlwd", "bob": "", "carol": "", None: ""},
    "inbox": {"alice": "rlwd", "bob": "w", "carol": "w", None: "w"},
    "notes": {"alice": "r", "bob": "r", "carol": "rwd", None: "r"},
}


def parent(folder: str) -> str:
    return folder.rpartition("/")[0]


def refused(user: str | None, folder: str, right: str, listed_in: str) -> int:
    """The status of a refused right: 401 anonymous, 404 a read or list where the parent
    (`listed_in`) may not be listed, else 403."""
    if user is None:
        return 401
    if right in "rl" and "l" not in RIGHTS[listed_in][user]:
        return 404
    return 403


def expect(user: str | None, folder: str, rights: str, listed_in: str | None = None) -> int | None:
    """None when `user` has every right of `rights` in `folder`, else the refusal of the
    first one missing."""
    for right in rights:
        if right not in RIGHTS[folder][user]:
            return refused(user, folder, right, folder if listed_in is None else listed_in)
    return None


# ---------------------------------------------------------------------------------------
# The tree, reset before each cell, and a snapshot of it
# ---------------------------------------------------------------------------------------


def content(folder: str) -> bytes:
    return f"the content of {folder}/f.txt, which only readers may see".encode()


def build_tree(root: Path) -> None:
    for entry in root.iterdir():
        if not entry.name.startswith("."):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "f.txt").write_bytes(content(folder))


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root but the state folder: path -> digest ("dir" for folders)."""
    tree = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("."):
            continue
        tree[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return tree


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("matrix")
    build_tree(root)
    options = ["--directory", str(root), "-q"]
    for user, password in USERS.items():
        if user:
            options += ["--auth", f"{user}:{password}"]
    for rule in RULES:
        options += ["--allow", rule]
    server = ServerProcess(*options)
    yield server, root
    server.stop()


@pytest.fixture
def cell(matrix_server: tuple[ServerProcess, Path]) -> Iterator[Cell]:
    server, root = matrix_server
    build_tree(root)
    with requests.Session() as session:
        yield Cell(server, root, session)


class Cell:
    def __init__(self, server: ServerProcess, root: Path, session: requests.Session) -> None:
        self.server, self.root, self.session = server, root, session
        self.before = snapshot(root)

    def send(self, user: str | None, method: str, path: str, **keywords: object) -> requests.Response:
        auth = (user, USERS[user]) if user else None
        return self.session.request(method, self.server.url + path, auth=auth, allow_redirects=False, **keywords)

    def changes(self) -> tuple[set[str], set[str], set[str]]:
        """(added, removed, changed) paths since the cell began."""
        after = snapshot(self.root)
        added = set(after) - set(self.before)
        removed = set(self.before) - set(after)
        changed = {path for path in set(after) & set(self.before) if after[path] != self.before[path]}
        return added, removed, changed


def url(folder: str, name: str = "") -> str:
    return "/files/" + folder + "/" + name


def tag(user: str | None) -> str:
    return user or "anon"


CELLS = [(user, folder) for user in USERS for folder in FOLDERS]
IDS = [f"{tag(user)}-{folder}" for user, folder in CELLS]


# ---------------------------------------------------------------------------------------
# Reads: a file, the listings (HTML, JSON, text), the archives
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_get_file(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "GET", url(folder, "f.txt"))
    status = expect(user, folder, "r") or 200
    assert answer.status_code == status, answer.text
    assert (answer.content == content(folder)) == (status == 200)
    assert content(folder) not in answer.content or status == 200
    assert cell.changes() == (set(), set(), set())


def listing_status(user: str | None, folder: str) -> int:
    rights = RIGHTS[folder][user]
    if "l" in rights or "w" in rights:
        return 200  # with w alone: the drop box's page, no entries
    return refused(user, folder, "l", parent(folder))


@pytest.mark.parametrize("accept", ["application/json", "text/plain", "text/html"])
@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_listing(cell: Cell, user: str | None, folder: str, accept: str) -> None:
    answer = cell.send(user, "GET", url(folder), headers={"Accept": accept})
    status = listing_status(user, folder)
    assert answer.status_code == status, answer.text
    lists = "l" in RIGHTS[folder][user]
    if status == 200 and accept == "application/json":
        names = {item["name"] for item in answer.json()}
        expected = {"f.txt"} if lists else set()
        if folder == "team" and lists and RIGHTS["team/hidden"][user]:
            expected.add("hidden/")  # a folder is shown to whoever has a right in it
        assert names == expected
    assert ("f.txt" in answer.text) == (status == 200 and lists)
    assert cell.changes() == (set(), set(), set())


def archive_members(user: str | None, top: str) -> set[str]:
    """What an archive of `top` holds for `user`: folders it may read and list (with
    what is in them), files it may read."""
    members = set()
    for folder in FOLDERS:
        if top and not (folder == top or folder.startswith(top + "/")):
            continue
        chain = [f for f in FOLDERS if folder == f or folder.startswith(f + "/")]
        below = [f for f in chain if not top or f != top and (f + "/").startswith(top + "/")]
        if not all("r" in RIGHTS[f][user] and "l" in RIGHTS[f][user] for f in below):
            continue
        name = folder[len(top) + 1 :] if top else folder
        if name:
            members.add(name + "/")
        if "r" in RIGHTS[folder][user]:
            members.add((name + "/" if name else "") + "f.txt")
    return members


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("user, folder", CELLS + [(user, "") for user in USERS], ids=IDS + [f"{tag(u)}-root" for u in USERS])
def test_archive(cell: Cell, user: str | None, folder: str, kind: str) -> None:
    """A folder's archive leaves out every folder the user may not read, with all it
    holds; the root's archive (the parent of every folder) likewise."""
    answer = cell.send(user, "GET", (url(folder) if folder else "/files/") + f"?download={kind}")
    status = expect(user, folder, "lr", parent(folder)) or 200
    assert answer.status_code == status, answer.text
    if status == 200:
        names = archive_names(answer.content, kind)
        top = names and sorted(names)[0].split("/")[0]
        assert {name.split("/", 1)[1] for name in names if "/" in name and name.split("/", 1)[1]} == archive_members(user, folder)
        for hidden in [f for f in FOLDERS if "r" not in RIGHTS[f][user]]:
            assert content(hidden) not in answer.content or kind == "tar.gz"
        assert top
    assert cell.changes() == (set(), set(), set())


def archive_names(data: bytes, kind: str) -> set[str]:
    if kind == "zip":
        return set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {member.name + ("/" if member.isdir() else "") for member in archive.getmembers()}


# ---------------------------------------------------------------------------------------
# Writes: PUT, POST raw, multipart, the forms, MKCOL, DELETE
# ---------------------------------------------------------------------------------------


def write_cell(cell: Cell, answer: requests.Response, status: int, added: set[str], removed=frozenset(), changed=frozenset()) -> None:
    assert answer.status_code == status, answer.text
    if status < 300 or status == 303:
        assert cell.changes() == (set(added), set(removed), set(changed))
    else:
        assert cell.changes() == (set(), set(), set())


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_upload_new_file(cell: Cell, user: str | None, folder: str, method: str) -> None:
    answer = cell.send(user, method, url(folder, "new.txt"), data=b"new bytes")
    write_cell(cell, answer, expect(user, folder, "w") or 201, {f"{folder}/new.txt"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_replace_file(cell: Cell, user: str | None, folder: str) -> None:
    """Replacing destroys the old bytes: it needs delete as well as write."""
    answer = cell.send(user, "PUT", url(folder, "f.txt"), data=b"replaced")
    write_cell(cell, answer, expect(user, folder, "wd") or 204, set(), changed={f"{folder}/f.txt"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_multipart_upload(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "POST", url(folder), files={"file": ("up.txt", b"uploaded")})
    write_cell(cell, answer, expect(user, folder, "w") or 201, {f"{folder}/up.txt"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_form_mkdir(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "POST", url(folder), data={"mkdir": "made"})
    write_cell(cell, answer, expect(user, folder, "w") or 303, {f"{folder}/made"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_form_delete(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "POST", url(folder), data={"delete": "f.txt"})
    write_cell(cell, answer, expect(user, folder, "d") or 303, set(), {f"{folder}/f.txt"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_mkcol(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "MKCOL", url(folder, "made/"))
    write_cell(cell, answer, expect(user, folder, "w") or 201, {f"{folder}/made"})


@pytest.mark.parametrize("user, folder", CELLS, ids=IDS)
def test_delete(cell: Cell, user: str | None, folder: str) -> None:
    answer = cell.send(user, "DELETE", url(folder, "f.txt"))
    write_cell(cell, answer, expect(user, folder, "d") or 204, set(), {f"{folder}/f.txt"})


# ---------------------------------------------------------------------------------------
# COPY and MOVE across rule boundaries: source r (and d for MOVE), destination w. These
# cells exist once WebDAV answers the methods (app/webdav.py, branch dav).
# ---------------------------------------------------------------------------------------

CROSSINGS = [(user, source, target) for user in USERS for source in FOLDERS for target in ("team", "inbox", "private", "notes")]
DAV_CELLS = [(method, *crossing) for method in ("COPY", "MOVE") if method in IMPLEMENTED_METHODS for crossing in CROSSINGS]


if DAV_CELLS:  # defined only when there are cells: an empty parameter set would be a skip

    @pytest.mark.parametrize("method, user, source, target", DAV_CELLS, ids=[f"{m}-{tag(u)}-{s}-{t}" for m, u, s, t in DAV_CELLS])
    def test_copy_move(cell: Cell, method: str, user: str | None, source: str, target: str) -> None:
        destination = cell.server.url + url(target, "moved.txt")
        answer = cell.send(user, method, url(source, "f.txt"), headers={"Destination": destination})
        refusal = expect(user, source, "rd" if method == "MOVE" else "r") or expect(user, target, "w")
        if refusal is None:
            assert answer.status_code == 201, answer.text
            removed = {f"{source}/f.txt"} if method == "MOVE" else set()
            assert cell.changes() == ({f"{target}/moved.txt"}, removed, set())
        else:
            assert answer.status_code == 401 if user is None else answer.status_code in (403, 404), answer.text
            assert cell.changes() == (set(), set(), set())


# PROPFIND (r for Depth 0, l for a folder's Depth 1) and PROPPATCH (w), likewise.
PROP_CELLS = CELLS if "PROPFIND" in IMPLEMENTED_METHODS else []
PROPPATCH_BODY = (
    b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:matrix">'
    b"<D:set><D:prop><Z:note>hi</Z:note></D:prop></D:set></D:propertyupdate>"
)

if PROP_CELLS:

    @pytest.mark.parametrize("user, folder", PROP_CELLS, ids=[f"{tag(u)}-{f}" for u, f in PROP_CELLS])
    def test_propfind_file(cell: Cell, user: str | None, folder: str) -> None:
        answer = cell.send(user, "PROPFIND", url(folder, "f.txt"), headers={"Depth": "0"})
        assert answer.status_code == (expect(user, folder, "r") or 207), answer.text
        assert cell.changes() == (set(), set(), set())

    @pytest.mark.parametrize("user, folder", PROP_CELLS, ids=[f"{tag(u)}-{f}" for u, f in PROP_CELLS])
    def test_propfind_folder(cell: Cell, user: str | None, folder: str) -> None:
        """Depth 1 lists like the listing: only entries the user has a right on."""
        answer = cell.send(user, "PROPFIND", url(folder), headers={"Depth": "1"})
        status = expect(user, folder, "l", parent(folder)) or 207
        assert answer.status_code == status, answer.text
        if status == 207:
            assert "f.txt" in answer.text
            if folder == "team":  # names the user has no right on are not listed
                assert ("/files/team/hidden/" in answer.text) == bool(RIGHTS["team/hidden"][user])
        assert cell.changes() == (set(), set(), set())

    @pytest.mark.parametrize("user, folder", PROP_CELLS, ids=[f"{tag(u)}-{f}" for u, f in PROP_CELLS])
    def test_proppatch(cell: Cell, user: str | None, folder: str) -> None:
        answer = cell.send(user, "PROPPATCH", url(folder, "f.txt"), data=PROPPATCH_BODY)
        assert answer.status_code == (expect(user, folder, "w") or 207), answer.text
        assert cell.changes() == (set(), set(), set())  # properties live in the state folder


# tus (resumable uploads): a creation-with-upload POST to the folder needs w on the file.
TUS_CELLS = CELLS if "PATCH" in IMPLEMENTED_METHODS else []

if TUS_CELLS:

    @pytest.mark.parametrize("user, folder", TUS_CELLS, ids=[f"{tag(u)}-{f}" for u, f in TUS_CELLS])
    def test_tus_upload(cell: Cell, user: str | None, folder: str) -> None:
        import base64

        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "9",
            "Upload-Metadata": "filename " + base64.b64encode(b"tus.txt").decode(),
            "Content-Type": "application/offset+octet-stream",
        }
        answer = cell.send(user, "POST", url(folder), headers=headers, data=b"resumable")
        status = expect(user, folder, "w") or 201
        assert answer.status_code == status, answer.text
        if status == 201:
            assert cell.changes() == ({f"{folder}/tus.txt"}, set(), set())
            assert (cell.root / folder / "tus.txt").read_bytes() == b"resumable"
        else:
            assert cell.changes() == (set(), set(), set())


# WebDAV locks: LOCK and UNLOCK are writes (a lock is a promise about the file), so they
# need w; the lock taken is released by its own user, leaving nothing behind.
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
)
LOCK_CELLS = CELLS if "LOCK" in IMPLEMENTED_METHODS else []

if LOCK_CELLS:

    @pytest.mark.parametrize("user, folder", LOCK_CELLS, ids=[f"{tag(u)}-{f}" for u, f in LOCK_CELLS])
    def test_lock_and_unlock(cell: Cell, user: str | None, folder: str) -> None:
        answer = cell.send(user, "LOCK", url(folder, "f.txt"), data=LOCK_BODY, headers={"Timeout": "Second-60"})
        status = expect(user, folder, "w") or 200
        assert answer.status_code == status, answer.text
        if status == 200:
            token = answer.headers["Lock-Token"]
            unlocked = cell.send(user, "UNLOCK", url(folder, "f.txt"), headers={"Lock-Token": token})
            assert unlocked.status_code == 204, unlocked.text
        assert cell.changes() == (set(), set(), set())


def test_matrix_covers_every_way_in() -> None:
    """The methods the /files/ route answers are all in the matrix (a new one must be added)."""
    covered = {
        "GET", "HEAD", "OPTIONS", "PUT", "POST", "MKCOL", "DELETE", "COPY", "MOVE", "PROPFIND", "PROPPATCH", "PATCH",
        "LOCK", "UNLOCK",
    }
    from app.handlers import ROUTES

    files_route = next(route for route in ROUTES if route.path == "/files/")
    assert set(files_route.handlers) <= covered, set(files_route.handlers) - covered
