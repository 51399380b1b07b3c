"""WebDAV class 2 against the real server (RFC 4918 §6, §7, §9.10, §9.11, §10.4): LOCK
and UNLOCK, the If header on every method that writes, 423, the locks in the state
database (shared by --workers, kept over a restart), the write policy and passwords, and
the exact request sequences of davfs2, Windows and macOS Finder."""

from __future__ import annotations

import re

import base64
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerProcess

DAV = "{DAV:}"


def lockinfo(scope: str = "exclusive", owner: str = "<D:href>mailto:tests@example.org</D:href>") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:">'
        f"<D:lockscope><D:{scope}/></D:lockscope><D:locktype><D:write/></D:locktype>"
        f"<D:owner>{owner}</D:owner></D:lockinfo>"
    )


def lock(url: str, scope: str = "exclusive", depth: str = "0", timeout: str = "Second-600", **kw) -> requests.Response:
    headers = {"Depth": depth, "Timeout": timeout, "Content-Type": "application/xml", **kw.pop("headers", {})}
    return requests.request("LOCK", url, data=lockinfo(scope), headers=headers, **kw)


def token_of(response: requests.Response) -> str:
    assert response.status_code in (200, 201), response.text
    value = response.headers["Lock-Token"]
    assert value.startswith("<urn:uuid:") and value.endswith(">")
    return value[1:-1]


def url_path(url: str) -> str:
    return "/files/" + url.split("/files/", 1)[1]


def activelocks(body: bytes) -> list[ET.Element]:
    return ET.fromstring(body).findall(f".//{DAV}activelock")


def error_condition(response: requests.Response) -> tuple[str, list[str]]:
    """The precondition element of an RFC 4918 §16 `<D:error>` body, and its hrefs."""
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    condition = next(child for child in root if child.tag != f"{DAV}responsedescription")
    return condition.tag.removeprefix(DAV), [href.text for href in condition.findall(f"{DAV}href")]


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    served = tmp_path_factory.mktemp("davlocks")
    process = ServerProcess("--directory", str(served))
    process.served = served
    yield process
    process.stop()


@pytest.fixture
def folder(dav: ServerProcess) -> tuple[str, Path]:
    """A fresh folder of the module's server for one test: its URL (ending "/") and path."""
    name = uuid.uuid4().hex[:8]
    (dav.served / name).mkdir()
    return f"{dav.url}/files/{name}/", dav.served / name


# ---------------------------------------------------------------------------------------
# LOCK (§9.10) and UNLOCK (§9.11)
# ---------------------------------------------------------------------------------------


def test_exclusive_lock_answers_its_lockdiscovery_and_token(folder):
    url, path = folder
    (path / "a.txt").write_bytes(b"x")
    response = lock(url + "a.txt", timeout="Second-120")
    assert response.status_code == 200
    token = token_of(response)
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    (active,) = activelocks(response.content)
    assert active.find(f"{DAV}lockscope/{DAV}exclusive") is not None
    assert active.find(f"{DAV}locktype/{DAV}write") is not None
    assert active.findtext(f"{DAV}depth") == "0"
    assert active.findtext(f"{DAV}timeout") == "Second-120"
    assert active.findtext(f"{DAV}locktoken/{DAV}href") == token
    assert active.findtext(f"{DAV}lockroot/{DAV}href") == url_path(url) + "a.txt"
    assert active.findtext(f"{DAV}owner/{DAV}href") == "mailto:tests@example.org"


def test_lock_on_an_unmapped_url_creates_an_empty_file(folder):
    url, path = folder
    response = lock(url + "new.txt")
    assert response.status_code == 201
    assert (path / "new.txt").read_bytes() == b""
    assert len(activelocks(response.content)) == 1


@pytest.mark.parametrize("name", ["missing/new.txt", "newfolder/"])
def test_lock_on_an_unmapped_url_needs_its_parent_and_is_a_file(folder, name):
    url, path = folder
    assert lock(url + name).status_code == 409
    assert list(path.iterdir()) == []


def test_timeout_is_capped_and_infinite_gets_the_cap(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--max-lock-timeout", "50")
    for asked in ("Infinite", "Second-4100000000", "Infinite, Second-10"):
        response = lock(f"{server.url}/files/{uuid.uuid4().hex}", timeout=asked)
        assert activelocks(response.content)[0].findtext(f"{DAV}timeout") == "Second-50"
    response = lock(f"{server.url}/files/short", timeout="Second-10")
    assert activelocks(response.content)[0].findtext(f"{DAV}timeout") == "Second-10"


def test_an_expired_lock_is_gone(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--max-lock-timeout", "1")
    url = f"{server.url}/files/brief.txt"
    token_of(lock(url))
    assert requests.put(url, data=b"x").status_code == 423
    time.sleep(1.2)
    assert requests.put(url, data=b"x").status_code == 204
    assert lock(url).status_code == 200  # a new lock: the old one no longer conflicts


@pytest.mark.parametrize(
    "headers, body, status",
    [
        ({"Depth": "1"}, lockinfo(), 400),
        ({"Timeout": "forever"}, lockinfo(), 400),
        ({}, "<D:lockinfo xmlns:D='DAV:'><D:lockscope>", 400),
        ({}, '<!DOCTYPE x [<!ENTITY a "b">]><D:lockinfo xmlns:D="DAV:"/>', 400),
        ({}, '<D:propfind xmlns:D="DAV:"/>', 422),
        ({}, '<D:lockinfo xmlns:D="DAV:"><D:locktype><D:write/></D:locktype></D:lockinfo>', 422),
        ({}, lockinfo("everyone"), 422),
        ({}, lockinfo().replace("<D:write/>", "<D:read/>"), 422),
    ],
    ids=["depth-1", "bad-timeout", "malformed-xml", "doctype", "not-lockinfo", "no-lockscope", "bad-scope", "bad-type"],
)
def test_bad_lock_requests(folder, headers, body, status):
    url, path = folder
    (path / "a.txt").write_bytes(b"x")
    response = requests.request("LOCK", url + "a.txt", data=body, headers=headers)
    assert response.status_code == status, response.text
    assert lock(url + "a.txt").status_code == 200  # nothing was locked


def test_unlock(folder):
    url, path = folder
    token = token_of(lock(url + "new.txt"))
    wrong = requests.request("UNLOCK", url + "new.txt", headers={"Lock-Token": "<urn:uuid:00000000-0000-4000-8000-000000000000>"})
    assert wrong.status_code == 409
    assert error_condition(wrong)[0] == "lock-token-matches-request-uri"
    assert requests.request("UNLOCK", url + "new.txt").status_code == 400
    assert requests.request("UNLOCK", url + "new.txt", headers={"Lock-Token": token}).status_code == 400  # no <>
    other = requests.request("UNLOCK", url, headers={"Lock-Token": f"<{token}>"})
    assert other.status_code == 409  # the folder is not in that lock's scope
    assert requests.request("UNLOCK", url + "new.txt", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert requests.put(url + "new.txt", data=b"free").status_code == 204
    again = requests.request("UNLOCK", url + "new.txt", headers={"Lock-Token": f"<{token}>"})
    assert again.status_code == 409


def test_unlock_from_a_member_of_a_depth_infinity_lock(folder):
    url, path = folder
    (path / "d").mkdir()
    (path / "d" / "f").write_bytes(b"x")
    token = token_of(lock(url + "d/", depth="infinity"))
    assert requests.request("UNLOCK", url + "d/f", headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert requests.put(url + "d/f", data=b"y").status_code == 204


def test_refresh(folder):
    url, path = folder
    token = token_of(lock(url + "r.txt", timeout="Second-100"))
    response = requests.request("LOCK", url + "r.txt", headers={"If": f"(<{token}>)", "Timeout": "Second-500"})
    assert response.status_code == 200
    assert "Lock-Token" not in response.headers  # §9.10.2: only a new lock's answer has it
    (active,) = activelocks(response.content)
    assert active.findtext(f"{DAV}timeout") == "Second-500"
    assert active.findtext(f"{DAV}locktoken/{DAV}href") == token
    bogus = requests.request("LOCK", url + "r.txt", headers={"If": "(<urn:uuid:00000000-0000-4000-8000-000000000000>)"})
    assert bogus.status_code == 412
    assert requests.request("LOCK", url + "r.txt").status_code == 400  # no body, no If


def test_indirect_refresh_through_a_member(folder):
    url, path = folder
    (path / "d").mkdir()
    token = token_of(lock(url + "d/", depth="infinity"))
    response = requests.request("LOCK", url + "d/inner", headers={"If": f"(<{token}>)"})
    assert response.status_code == 200
    assert activelocks(response.content)[0].findtext(f"{DAV}lockroot/{DAV}href").endswith("/d/")


def test_shared_locks_share_exclusive_ones_do_not(folder):
    url, path = folder
    first = token_of(lock(url + "s.txt", scope="shared"))
    second = token_of(lock(url + "s.txt", scope="shared"))
    assert first != second
    refused = lock(url + "s.txt")
    assert refused.status_code == 423
    assert error_condition(refused)[0] == "no-conflicting-lock"
    discovery = requests.request("PROPFIND", url + "s.txt", headers={"Depth": "0"}, data=(
        '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'))
    assert len(activelocks(discovery.content)) == 2
    assert requests.put(url + "s.txt", data=b"x", headers={"If": f"(<{second}>)"}).status_code == 204


def test_conflicts_between_a_folder_and_its_members(folder):
    url, path = folder
    (path / "d").mkdir()
    token_of(lock(url + "d/f.txt"))
    refused = lock(url + "d/", depth="infinity")  # §9.10.9: the member in the way (423), the folder (424)
    assert refused.status_code == 207
    statuses = re.findall(r"<D:href>([^<]*)</D:href><D:status>([^<]*)</D:status>", refused.text)
    prefix = url_path(url)
    assert statuses == [(prefix + "d/f.txt", "HTTP/1.1 423 Locked"), (prefix + "d/", "HTTP/1.1 424 Failed Dependency")]
    assert "<D:no-conflicting-lock/>" in refused.text
    assert lock(url + "d/", depth="0").status_code == 200  # depth 0 does not reach f.txt


# ---------------------------------------------------------------------------------------
# 423 and the If header on every write (§7.5, §10.4)
# ---------------------------------------------------------------------------------------


def test_a_locked_file_refuses_writes_without_its_token(folder):
    url, path = folder
    (path / "f.txt").write_bytes(b"x")
    (path / "other.txt").write_bytes(b"y")
    token_of(lock(url + "f.txt"))
    put = requests.put(url + "f.txt", data=b"z")
    assert put.status_code == 423
    assert error_condition(put) == ("lock-token-submitted", [url_path(url) + "f.txt"])
    refused = {
        "DELETE": requests.delete(url + "f.txt"),
        "PROPPATCH": requests.request("PROPPATCH", url + "f.txt", data=(
            '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>')),
        "MOVE": requests.request("MOVE", url + "f.txt", headers={"Destination": url + "moved.txt"}),
        "COPY onto": requests.request("COPY", url + "other.txt", headers={"Destination": url + "f.txt"}),
        "MOVE onto": requests.request("MOVE", url + "other.txt", headers={"Destination": url + "f.txt"}),
        "POST": requests.post(url + "f.txt", data=b"z"),
        "form": requests.post(url, files={"file": ("f.txt", b"z")}),
        "form delete": requests.post(url, data={"delete": "f.txt"}),
    }
    assert {method: response.status_code for method, response in refused.items()} == dict.fromkeys(refused, 423)
    assert (path / "f.txt").read_bytes() == b"x"
    assert (path / "other.txt").read_bytes() == b"y"


def test_the_token_lets_the_writes_through(folder):
    url, path = folder
    (path / "f.txt").write_bytes(b"x")
    token = token_of(lock(url + "f.txt"))
    if_header = {"If": f"(<{token}>)"}
    assert requests.put(url + "f.txt", data=b"1", headers=if_header).status_code == 204
    assert requests.post(url + "f.txt", data=b"2", headers=if_header).status_code == 204
    patch = requests.request("PROPPATCH", url + "f.txt", headers=if_header, data=(
        '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>'))
    assert patch.status_code == 207
    # a form posts to the folder: the untagged list would be the folder's; the tag names the file
    tagged = {"If": f"<{url}f.txt> (<{token}>)"}
    assert requests.post(url, files={"file": ("f.txt", b"3")}, headers=if_header).status_code == 412
    assert requests.post(url, files={"file": ("f.txt", b"3")}, headers=tagged).status_code == 201
    assert (path / "f.txt").read_bytes() == b"3"
    assert requests.delete(url + "f.txt", headers=if_header).status_code == 204
    # §9.6: the lock went with the file: a new f.txt is free
    assert requests.put(url + "f.txt", data=b"4").status_code == 201


def test_a_tagged_if_header_submits_the_token(folder):
    url, path = folder
    token = token_of(lock(url + "t.txt"))
    assert requests.put(url + "t.txt", data=b"1", headers={"If": f"<{url}t.txt> (<{token}>)"}).status_code == 204
    absolute_path = url_path(url) + "t.txt"
    assert requests.put(url + "t.txt", data=b"2", headers={"If": f"<{absolute_path}> (<{token}>)"}).status_code == 204


def test_another_token_is_not_the_token(folder):
    url, path = folder
    token_of(lock(url + "a.txt"))
    other = token_of(lock(url + "b.txt"))
    assert requests.put(url + "a.txt", data=b"1", headers={"If": f"<{url}b.txt> (<{other}>)"}).status_code == 423
    # untagged, the other lock's token is not a lock of a.txt: the If header is false
    assert requests.put(url + "a.txt", data=b"1", headers={"If": f"(<{other}>)"}).status_code == 412


def test_a_depth_infinity_folder_lock_protects_everything_inside(folder):
    url, path = folder
    (path / "d" / "e").mkdir(parents=True)
    (path / "d" / "e" / "f.txt").write_bytes(b"x")
    token = token_of(lock(url + "d/", depth="infinity"))
    assert requests.put(url + "d/e/f.txt", data=b"y").status_code == 423
    assert requests.put(url + "d/new.txt", data=b"y").status_code == 423
    assert requests.request("MKCOL", url + "d/sub/").status_code == 423
    assert requests.delete(url + "d/").status_code == 423
    assert requests.request("MOVE", url + "d/", headers={"Destination": url + "gone/"}).status_code == 423
    # neon's lock store names the lock's root in a tagged list (litmus lock_collection)
    assert requests.put(url + "d/new.txt", data=b"y", headers={"If": f"<{url}d/> (<{token}>)"}).status_code == 201
    assert requests.put(url + "d/e/f.txt", data=b"y", headers={"If": f"(<{token}>)"}).status_code == 204
    assert (path / "d" / "e" / "f.txt").read_bytes() == b"y"


def test_a_depth_0_folder_lock_protects_its_members_list_only(folder):
    url, path = folder
    (path / "d").mkdir()
    (path / "d" / "f.txt").write_bytes(b"x")
    token = token_of(lock(url + "d/", depth="0"))
    assert requests.put(url + "d/f.txt", data=b"y").status_code == 204  # content: not protected
    assert requests.put(url + "d/new.txt", data=b"y").status_code == 423  # a new member
    assert requests.delete(url + "d/f.txt").status_code == 423  # a member removed
    assert requests.request("MKCOL", url + "d/sub/").status_code == 423
    assert requests.post(url + "d/", files={"file": ("n.txt", b"z")}).status_code == 423
    assert requests.put(url + "d/new.txt", data=b"y", headers={"If": f"<{url}d/> (<{token}>)"}).status_code == 201


def test_removing_a_folder_needs_the_tokens_inside_it(folder):
    url, path = folder
    (path / "d" / "e").mkdir(parents=True)
    (path / "d" / "e" / "f.txt").write_bytes(b"x")
    token = token_of(lock(url + "d/e/f.txt"))
    assert requests.delete(url + "d/").status_code == 423
    assert (path / "d" / "e" / "f.txt").exists()
    assert requests.delete(url + "d/", headers={"If": f"<{url}d/e/f.txt> (<{token}>)"}).status_code == 204
    assert not (path / "d").exists()
    assert requests.put(url + "d/e/f.txt", data=b"x").status_code == 409  # its folders went too
    (path / "d" / "e").mkdir(parents=True)
    assert requests.put(url + "d/e/f.txt", data=b"x").status_code == 201  # and its lock


def test_move_leaves_the_lock_behind_and_copy_does_not_copy_it(folder):
    url, path = folder
    (path / "f.txt").write_bytes(b"x")
    token = token_of(lock(url + "f.txt"))
    copied = requests.request("COPY", url + "f.txt", headers={"Destination": url + "copy.txt"})
    assert copied.status_code == 201
    assert requests.put(url + "copy.txt", data=b"y").status_code == 204  # §7.6: not locked
    moved = requests.request("MOVE", url + "f.txt", headers={"Destination": url + "moved.txt", "If": f"(<{token}>)"})
    assert moved.status_code == 201
    assert requests.put(url + "moved.txt", data=b"y").status_code == 204
    assert requests.put(url + "f.txt", data=b"y").status_code == 201


@pytest.mark.parametrize(
    "method, target, headers",
    [
        ("PUT", "f.txt", {}),
        ("POST", "f.txt", {}),
        ("DELETE", "f.txt", {}),
        ("MKCOL", "new/", {}),
        ("PROPPATCH", "f.txt", {}),
        ("COPY", "f.txt", {"Destination": "copy.txt"}),
        ("MOVE", "f.txt", {"Destination": "moved.txt"}),
        ("LOCK", "f.txt", {}),
        ("UNLOCK", "f.txt", {"Lock-Token": "<urn:uuid:00000000-0000-4000-8000-000000000000>"}),
    ],
)
@pytest.mark.parametrize(
    "if_header, status",
    [("(<DAV:no-lock>)", 412), ('(["bogus"])', 412), ("(Not <DAV:no-lock>) (", 400), ("<x:y>", 400)],
    ids=["no-lock", "wrong-etag", "malformed", "tag-without-list"],
)
def test_every_write_evaluates_the_if_header(folder, method, target, headers, if_header, status):
    url, path = folder
    (path / "f.txt").write_bytes(b"x")
    headers = {key: url + value if key == "Destination" else value for key, value in headers.items()}
    body = {
        "PROPPATCH": '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>',
        "LOCK": lockinfo(),
    }.get(method, b"y" if method in ("PUT", "POST") else None)
    response = requests.request(method, url + target, headers={**headers, "If": if_header}, data=body)
    assert response.status_code == status, response.text
    assert sorted(entry.name for entry in path.iterdir()) == ["f.txt"]
    assert (path / "f.txt").read_bytes() == b"x"


def test_the_etag_of_get_makes_the_if_header_true(folder):
    url, path = folder
    (path / "e.txt").write_bytes(b"hello")
    etag = requests.get(url + "e.txt").headers["ETag"]
    gzipped = requests.get(url + "e.txt", headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    assert requests.put(url + "e.txt", data=b"one", headers={"If": f"([{etag}])"}).status_code == 204
    assert requests.put(url + "e.txt", data=b"two", headers={"If": f"([{etag}])"}).status_code == 412  # changed
    etag = requests.get(url + "e.txt").headers["ETag"]
    assert requests.put(url + "e.txt", data=b"three", headers={"If": f"(Not [{etag}])"}).status_code == 412
    assert requests.put(url + "e.txt", data=b"four", headers={"If": f"([W/{etag}])"}).status_code == 204
    assert gzipped  # the gzipped representation's tag is accepted too (same file, same state)


# ---------------------------------------------------------------------------------------
# PROPFIND: lockdiscovery and supportedlock (§15.8, §15.10)
# ---------------------------------------------------------------------------------------


def test_propfind_shows_the_locks(folder):
    url, path = folder
    (path / "d").mkdir()
    (path / "d" / "a.txt").write_bytes(b"x")
    (path / "d" / "b.txt").write_bytes(b"x")
    token = token_of(lock(url + "d/a.txt"))
    response = requests.request("PROPFIND", url + "d/", headers={"Depth": "1"})
    assert response.status_code == 207
    found = {}
    for each in ET.fromstring(response.content).findall(f"{DAV}response"):
        href = each.findtext(f"{DAV}href")
        found[href.rsplit("/", 2)[-2] if href.endswith("/") else href.rsplit("/", 1)[-1]] = each
    assert [a.findtext(f"{DAV}locktoken/{DAV}href") for a in activelocks(ET.tostring(found["a.txt"]))] == [token]
    assert activelocks(ET.tostring(found["b.txt"])) == []
    scopes = {entry[0][0].tag for entry in found["b.txt"].iter(f"{DAV}lockentry")}
    assert scopes == {f"{DAV}exclusive", f"{DAV}shared"}


# ---------------------------------------------------------------------------------------
# The state database: every worker and a restart see the locks
# ---------------------------------------------------------------------------------------


def test_locks_are_shared_by_workers_and_survive_a_restart(start_server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    server = start_server("--directory", str(served), "--workers", "2")
    token = token_of(lock(f"{server.url}/files/kept.txt"))
    # new connections land on either worker (SO_REUSEPORT): each must see the lock
    statuses = {requests.put(f"{server.url}/files/kept.txt", data=b"x", headers={"Connection": "close"}).status_code
                for _ in range(12)}
    assert statuses == {423}
    server.stop()
    again = start_server("--directory", str(served))
    assert requests.put(f"{again.url}/files/kept.txt", data=b"x").status_code == 423
    assert requests.put(f"{again.url}/files/kept.txt", data=b"x", headers={"If": f"(<{token}>)"}).status_code == 204


def test_writes_that_never_meet_a_lock_never_create_the_state_database(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path))
    assert requests.put(f"{server.url}/files/a.txt", data=b"x").status_code == 201
    assert requests.put(f"{server.url}/files/a.txt", data=b"y", headers={"If": "(Not <DAV:no-lock>)"}).status_code == 204
    assert requests.request("MKCOL", f"{server.url}/files/d/").status_code == 201
    assert requests.post(f"{server.url}/files/d/", files={"file": ("b.txt", b"z")}).status_code == 201
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["a.txt", "d"]


# ---------------------------------------------------------------------------------------
# Who may lock: the write policy, passwords, the lock creator (§6.4)
# ---------------------------------------------------------------------------------------


def test_read_only_refuses_lock_and_unlock(start_server, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"x")
    server = start_server("--directory", str(tmp_path), "--read-only")
    assert lock(f"{server.url}/files/a.txt").status_code == 403
    assert lock(f"{server.url}/files/new.txt").status_code == 403
    unlock = requests.request("UNLOCK", f"{server.url}/files/a.txt", headers={"Lock-Token": "<urn:uuid:1>"})
    assert unlock.status_code == 403
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["a.txt"]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_passwords_cover_lock_and_unlock_and_a_lock_is_its_creators(start_server, tmp_path):
    server = start_server("--directory", str(tmp_path), "--auth", "ann:pw1", "--auth", "bob:pw2", "--auth-writes-only")
    url = f"{server.url}/files/shared.txt"
    assert lock(url).status_code == 401
    token = token_of(lock(url, headers=basic("ann", "pw1")))
    assert requests.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207  # a read
    with_token = {"If": f"(<{token}>)"}
    assert requests.put(url, data=b"b", headers={**basic("bob", "pw2"), **with_token}).status_code == 423
    unlock = {"Lock-Token": f"<{token}>"}
    assert requests.request("UNLOCK", url, headers=unlock).status_code == 401
    assert requests.request("UNLOCK", url, headers={**basic("bob", "pw2"), **unlock}).status_code == 403
    assert requests.put(url, data=b"a", headers={**basic("ann", "pw1"), **with_token}).status_code == 204
    assert requests.request("UNLOCK", url, headers={**basic("ann", "pw1"), **unlock}).status_code == 204


# ---------------------------------------------------------------------------------------
# Clients, with the requests they send
# ---------------------------------------------------------------------------------------


def test_davfs2_locks_before_it_puts(folder):
    """davfs2 (neon) opens a new file with LOCK (it creates the empty file), PUTs with
    the token in a tagged If (neon's lock store), then UNLOCKs."""
    url, path = folder
    response = requests.request("LOCK", url + "notes.txt", headers={
        "User-Agent": "davfs2/1.7.0 neon/0.33.0", "Timeout": "Second-1800", "Depth": "0",
        "Content-Type": "application/xml", "Accept-Encoding": "gzip",
    }, data=(
        '<?xml version="1.0" encoding="utf-8"?>\n<lockinfo xmlns=\'DAV:\'>\n <lockscope><exclusive/></lockscope>\n'
        "<locktype><write/></locktype><owner>root</owner>\n</lockinfo>\n"
    ))
    assert response.status_code == 201
    token = token_of(response)
    assert (path / "notes.txt").read_bytes() == b""
    put = requests.put(url + "notes.txt", data=b"written by davfs2", headers={
        "User-Agent": "davfs2/1.7.0 neon/0.33.0", "If": f"<{url}notes.txt> (<{token}>)",
    })
    assert put.status_code == 204
    unlock = requests.request("UNLOCK", url + "notes.txt", headers={"Lock-Token": f"<{token}>"})
    assert unlock.status_code == 204
    assert (path / "notes.txt").read_bytes() == b"written by davfs2"


def test_windows_explorer_lock_put_proppatch_unlock(folder):
    """The Windows mini-redirector saving a new file: LOCK (opaque token in an untagged
    If from then on), PUT, the Win32 times by PROPPATCH, a refresh, UNLOCK."""
    url, path = folder
    agent = {"User-Agent": "Microsoft-WebDAV-MiniRedir/10.0.19045", "translate": "f"}
    response = requests.request("LOCK", url + "Report.docx", headers={
        **agent, "Content-Type": 'text/xml; charset="utf-8"', "Timeout": "Second-3600", "Depth": "0",
    }, data=(
        '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>DESKTOP\\ann</D:href></D:owner>"
        "</D:lockinfo>"
    ))
    assert response.status_code == 201
    token = token_of(response)
    submitted = {**agent, "If": f"(<{token}>)"}
    assert requests.put(url + "Report.docx", data=b"PK\x03\x04", headers=submitted).status_code == 204
    patch = requests.request("PROPPATCH", url + "Report.docx", headers={**submitted, "Content-Type": "text/xml"}, data=(
        '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        "<Z:Win32LastModifiedTime>Mon, 07 Dec 2026 10:00:00 GMT</Z:Win32LastModifiedTime>"
        "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"
    ))
    assert patch.status_code == 207 and b"200 OK" in patch.content
    refresh = requests.request("LOCK", url + "Report.docx", headers={**submitted, "Timeout": "Second-3600"})
    assert refresh.status_code == 200
    unlock = requests.request("UNLOCK", url + "Report.docx", headers={**agent, "Lock-Token": f"<{token}>"})
    assert unlock.status_code == 204
    assert (path / "Report.docx").read_bytes() == b"PK\x03\x04"


def test_macos_finder_lock_write_unlock(folder):
    """Finder (WebDAVFS) copying a file in: LOCK with Timeout Second-600 and its own owner
    href, PUT with the token, the ._ AppleDouble file beside it the same way, UNLOCK."""
    url, path = folder
    agent = {"User-Agent": "WebDAVFS/3.0.0 (03008000) Darwin/22.6.0 (x86_64)"}
    tokens = {}
    for name in ("photo.jpg", "._photo.jpg"):
        response = requests.request("LOCK", url + name, headers={
            **agent, "Content-Type": "text/xml; charset=\"utf-8\"", "Timeout": "Second-600", "Depth": "0",
        }, data=(
            '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:">\n<D:lockscope><D:exclusive/>'
            "</D:lockscope>\n<D:locktype><D:write/></D:locktype>\n<D:owner>\n"
            "<D:href>http://www.apple.com/webdav_fs/</D:href>\n</D:owner>\n</D:lockinfo>\n"
        ))
        assert response.status_code == 201
        tokens[name] = token_of(response)
        put = requests.put(url + name, data=b"bytes of " + name.encode(), headers={**agent, "If": f"(<{tokens[name]}>)"})
        assert put.status_code == 204
    for name, token in tokens.items():
        assert requests.request("UNLOCK", url + name, headers={**agent, "Lock-Token": f"<{token}>"}).status_code == 204
    assert (path / "photo.jpg").read_bytes() == b"bytes of photo.jpg"
    assert (path / "._photo.jpg").read_bytes() == b"bytes of ._photo.jpg"


def test_the_state_folder_cannot_be_locked(dav):
    for name in (".http-server-state", ".http-server-state/state.sqlite3", ".http-server-state/new"):
        assert lock(f"{dav.url}/files/{name}").status_code == 404
    assert not (dav.served / ".http-server-state" / "new").exists()
