"""WebDAV methods that act on a whole folder (COPY, MOVE, DELETE) follow the access rules
member by member (issue 22): a member the user may not read is left out of a copy, a
folder holding what the user may not move is not moved, and what the user may not delete
stays, named in the 207. Against the real server, with the disk checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

RULES = (
    "--allow", "/team:*=rwdl", "--allow", "/team/hidden:*=-", "--allow", "/team/kept:*=rl", "--allow", "/open:*=rwdl",
)  # fmt: skip


@pytest.fixture
def tree(start_server, tmp_path: Path):
    (tmp_path / "team" / "hidden").mkdir(parents=True)
    (tmp_path / "team" / "f.txt").write_bytes(b"shared")
    (tmp_path / "team" / "hidden" / "secret.txt").write_bytes(b"secret")
    (tmp_path / "team" / "kept").mkdir()
    (tmp_path / "team" / "kept" / "notes.txt").write_bytes(b"notes")
    (tmp_path / "open").mkdir()
    return start_server("--directory", str(tmp_path), *RULES), tmp_path


def dav(server, method: str, path: str, **headers: str) -> requests.Response:
    return requests.request(method, server.url + path, headers=headers, timeout=30)


def test_a_copy_leaves_out_what_the_user_may_not_read(tree) -> None:
    server, root = tree
    answer = dav(server, "COPY", "/files/team/", Destination="/files/open/team/")
    assert answer.status_code == 201, answer.text
    assert (root / "open" / "team" / "f.txt").read_bytes() == b"shared"
    assert not (root / "open" / "team" / "hidden").exists()


def test_a_move_of_a_folder_holding_what_the_user_may_not_move_is_refused(tree) -> None:
    server, root = tree
    answer = dav(server, "MOVE", "/files/team/", Destination="/files/open/team/")
    assert answer.status_code == 403, answer.text
    # team/hidden is hidden from the user (no right on it): the refusal does not name it.
    assert answer.text == "team holds a member, which you may not move\n"
    assert (root / "team" / "hidden" / "secret.txt").read_bytes() == b"secret"
    assert list((root / "open").iterdir()) == []


def test_a_delete_keeps_what_the_user_may_not_delete(tree) -> None:
    server, root = tree
    answer = dav(server, "DELETE", "/files/team/")
    assert answer.status_code == 207, answer.text
    # team/kept is seen (read, list) but not deletable: named. team/hidden is not seen:
    # its failure is named by the folder the user sees, never by its own name.
    hrefs = re.findall(r"<D:href>([^<]*)</D:href>\s*<D:status>([^<]*)</D:status>", answer.text)
    assert sorted(hrefs) == [("/files/team/", "HTTP/1.1 403 Forbidden"), ("/files/team/kept/", "HTTP/1.1 403 Forbidden")]
    assert "hidden" not in answer.text and "secret" not in answer.text
    assert not (root / "team" / "f.txt").exists()
    assert (root / "team" / "hidden" / "secret.txt").read_bytes() == b"secret"
    assert (root / "team" / "kept" / "notes.txt").read_bytes() == b"notes"


def test_without_rules_a_folder_moves_whole(start_server, tmp_path: Path) -> None:
    (tmp_path / "team" / "hidden").mkdir(parents=True)
    (tmp_path / "team" / "hidden" / "secret.txt").write_bytes(b"secret")
    server = start_server("--directory", str(tmp_path))
    assert dav(server, "MOVE", "/files/team/", Destination="/files/moved/").status_code == 201
    assert (tmp_path / "moved" / "hidden" / "secret.txt").read_bytes() == b"secret"
