"""WebDAV class 1 on /files/ against the running server (issue 18): OPTIONS, PROPFIND,
PROPPATCH, COPY, MOVE, DELETE and MKCOL; hostile XML bodies, each refused; the write
policy and passwords on every method that writes; and the exact requests of Windows'
mini-redirector, macOS Finder and rclone's X-OC-Mtime. (litmus and cadaver, which need
Debian packages, are in tests/clients/; rclone, a Python package, in test_rclone.py.)"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

from tests.test_access import authorization
from tests.test_uploads import without_root_powers

D = "{DAV:}"
PROPFIND_ALL = b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


def dav(server, method: str, path: str, body: bytes | str = b"", **headers: str) -> requests.Response:
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    return requests.request(method, server.url + path, data=body, headers=fields, timeout=60)


def responses(answer: requests.Response) -> dict[str, dict[str, tuple[str, ET.Element]]]:
    """A 207's body as {href: {property tag: (status, element)}}."""
    assert answer.status_code == 207, answer.text
    result = {}
    for response in ET.fromstring(answer.content).iter(D + "response"):
        properties = {}
        for propstat in response.iter(D + "propstat"):
            status = propstat.find(D + "status").text.split(" ")[1]
            for element in propstat.find(D + "prop"):
                properties[element.tag] = (status, element)
        result[unquote(response.find(D + "href").text)] = properties
    return result


def prop(server, path: str, *names: str, depth: str = "0") -> dict:
    inner = "".join(f"<{name}/>" for name in names)
    body = f'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop>{inner}</D:prop></D:propfind>'
    return responses(dav(server, "PROPFIND", path, body, Depth=depth))


@pytest.fixture
def folder(server, server_directory, request) -> Path:
    """A fresh folder for one test under the shared server's directory."""
    path = server_directory / f"dav-{request.node.name}".replace("[", "-").replace("]", "")
    path.mkdir()
    return path


def url(folder: Path, name: str = "") -> str:
    return f"/files/{folder.name}/{name}"


# --- OPTIONS --------------------------------------------------------------------------------


def test_options_tells_webdav_on_the_root_and_on_files(server) -> None:
    for path in ("/", "/files/", "/files/any/thing"):
        answer = dav(server, "OPTIONS", path)
        assert answer.status_code == 200
        assert (answer.headers["DAV"], answer.headers["MS-Author-Via"]) == ("1, 2", "DAV")
        assert answer.headers["Allow"] == (
            "COPY, DELETE, GET, HEAD, LOCK, MKCOL, MOVE, OPTIONS, PATCH, POST, PROPFIND, PROPPATCH, PUT, UNLOCK"
        )
    assert dav(server, "OPTIONS", "/echo/abc").headers["Allow"] == "GET, HEAD, OPTIONS"
    assert "DAV" not in dav(server, "OPTIONS", "/echo/abc").headers


def test_plain_launch_options_is_unchanged(start_server) -> None:
    process = start_server()
    for path in ("/", "/echo/abc", "/user-agent"):
        with process.connect() as client:
            response = client.exchange(f"OPTIONS {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert response.raw == b"HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n"


# --- PROPFIND -------------------------------------------------------------------------------


def test_propfind_live_properties_of_a_file(server, folder) -> None:
    (folder / "a.txt").write_bytes(b"hello")
    names = ("D:resourcetype", "D:getcontentlength", "D:getcontenttype", "D:getetag", "D:getlastmodified",
             "D:creationdate", "D:displayname", "D:supportedlock", "D:lockdiscovery",
             "D:quota-available-bytes", "D:quota-used-bytes", "Z:nothing")
    found = prop(server, url(folder, "a.txt"), *names)[url(folder, "a.txt")]
    get = requests.get(server.url + url(folder, "a.txt"))
    assert found[D + "getetag"] == ("200", found[D + "getetag"][1]) and found[D + "getetag"][1].text == get.headers["ETag"]
    assert found[D + "getcontentlength"][1].text == "5"
    assert found[D + "getcontenttype"][1].text == get.headers["Content-Type"]
    assert found[D + "getlastmodified"][1].text == get.headers["Last-Modified"]
    assert found[D + "displayname"][1].text == "a.txt"
    assert list(found[D + "resourcetype"][1]) == []
    assert len(found[D + "supportedlock"][1].findall(D + "lockentry")) == 2
    assert int(found[D + "quota-available-bytes"][1].text) > 0 and int(found[D + "quota-used-bytes"][1].text) > 0
    assert found["{urn:z}nothing"][0] == "404"
    assert {status for status, _ in found.values()} == {"200", "404"}


def test_propfind_depth_1_lists_like_the_listing(start_server, tmp_path) -> None:
    # A server of its own: the upload-in-progress file and the symlink stay out of the shared one.
    folder = tmp_path / "share"
    folder.mkdir()
    server = start_server("--directory", str(tmp_path))
    (folder / "sub").mkdir()
    (folder / "shown.txt").write_bytes(b"1")
    (folder / ".hidden").write_bytes(b"2")
    (folder / "._shown.txt").write_bytes(b"finder")
    (folder / ".shown.txt.host-1-0123456789ab.part").write_bytes(b"in progress")
    (folder / ".http-server-state").mkdir()
    os.symlink("/etc", folder / "link")
    listed = responses(dav(server, "PROPFIND", url(folder), Depth="1"))
    assert sorted(listed) == [url(folder), url(folder, "shown.txt"), url(folder, "sub/")]
    assert listed[url(folder, "sub/")][D + "resourcetype"][1].find(D + "collection") is not None
    assert D + "getcontentlength" not in listed[url(folder, "sub/")]
    # A hidden file named directly is there (Finder PROPFINDs its ._ files one by one).
    assert url(folder, "._shown.txt") in prop(server, url(folder, "._shown.txt"), "D:getetag")
    # The state folder's name is refused at every depth, as by every other way in (403).
    assert dav(server, "PROPFIND", url(folder, ".http-server-state/"), Depth="0").status_code == 403


def test_show_hidden_shows_dot_files_never_the_state_folder(start_server, tmp_path) -> None:
    (tmp_path / ".hidden").write_bytes(b"2")
    process = start_server("--directory", str(tmp_path), "--show-hidden")
    assert dav(process, "PROPPATCH", "/files/.hidden", PROPPATCH_SET).status_code == 207  # makes the state folder
    assert (tmp_path / ".http-server-state").is_dir()
    assert sorted(responses(dav(process, "PROPFIND", "/files/", Depth="1"))) == ["/files/", "/files/.hidden"]


@pytest.mark.parametrize("depth", ["infinity", None])
def test_propfind_depth_infinity_is_403_finite_depth(server, depth) -> None:
    answer = dav(server, "PROPFIND", "/files/", PROPFIND_ALL, **({"Depth": depth} if depth else {}))
    assert answer.status_code == 403
    assert ET.fromstring(answer.content).find(D + "propfind-finite-depth") is not None


def test_propfind_propname_and_allprop(server, folder) -> None:
    (folder / "f").write_bytes(b"x")
    names = responses(dav(server, "PROPFIND", url(folder, "f"), '<propfind xmlns="DAV:"><propname/></propfind>', Depth="0"))
    assert {D + "getetag", D + "quota-used-bytes", D + "lockdiscovery"} <= set(names[url(folder, "f")])
    assert all(len(element) == 0 and not element.text for _, element in names[url(folder, "f")].values())
    every = responses(dav(server, "PROPFIND", url(folder, "f"), PROPFIND_ALL, Depth="0"))[url(folder, "f")]
    assert D + "getetag" in every and D + "quota-used-bytes" not in every  # RFC 4331 §3
    assert responses(dav(server, "PROPFIND", url(folder, "f"), Depth="0"))[url(folder, "f")].keys() == every.keys()


def test_propfind_of_what_is_not_there_is_404(server) -> None:
    assert dav(server, "PROPFIND", "/files/no-such-thing", Depth="0").status_code == 404


def test_a_big_folder_is_streamed_in_flat_memory(start_server, tmp_path) -> None:
    """100,000 entries: the 207 goes out chunked, and the server's peak memory grows by a
    few MiB, not by the answer's ~40 MB."""
    for index in range(100_000):
        os.close(os.open(tmp_path / f"file-{index:06d}.bin", os.O_CREAT | os.O_WRONLY, 0o644))
    process = start_server("--directory", str(tmp_path))
    dav(process, "PROPFIND", "/files/", Depth="0")  # warm up: state and imports loaded
    before = int(process.status("VmHWM").split()[0])
    size, count = 0, 0
    with requests.request("PROPFIND", process.url + "/files/", headers={"Depth": "1"}, stream=True, timeout=120) as answer:
        assert (answer.status_code, answer.headers["Transfer-Encoding"]) == (207, "chunked")
        for piece in answer.iter_content(1 << 16):
            size += len(piece)
            count += piece.count(b"<D:response>")
    growth_kib = int(process.status("VmHWM").split()[0]) - before
    assert count == 100_001 and size > 30_000_000
    assert growth_kib < 8 * 1024, f"peak memory grew by {growth_kib} KiB"


# --- hostile XML bodies, refused by the running server ---------------------------------------

HOSTILE = [
    ("billion-laughs", '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
     '<D:propfind xmlns:D="DAV:"><D:prop><x>&d;&d;&d;&d;&d;&d;</x></D:prop></D:propfind>',
     "XML with a DOCTYPE is refused (no entities, internal or external)"),
    ("external-entity", '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     '<D:propfind xmlns:D="DAV:"><D:prop><x>&e;</x></D:prop></D:propfind>',
     "XML with a DOCTYPE is refused (no entities, internal or external)"),
    ("doctype", '<!DOCTYPE propfind SYSTEM "http://127.0.0.1:9/dtd"><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
     "XML with a DOCTYPE is refused (no entities, internal or external)"),
    ("deeper-than-100", '<D:propfind xmlns:D="DAV:">' + "<a>" * 100 + "</a>" * 100 + "</D:propfind>",
     "XML nested deeper than 100 elements"),
    ("malformed", '<D:propfind xmlns:D="DAV:"><D:allprop></D:propfind>', "malformed XML: mismatched tag at line 1"),
    ("undefined-entity", '<D:propfind xmlns:D="DAV:">&x;</D:propfind>', "malformed XML: undefined entity at line 1"),
]


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH"])
@pytest.mark.parametrize("body, reason", [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_xml_is_400(server, method, body, reason) -> None:
    started = time.monotonic()
    answer = dav(server, method, "/files/", body, Depth="0")
    assert (answer.status_code, answer.text) == (400, reason + "\n")
    assert time.monotonic() - started < 5


def test_xml_body_over_the_limit_is_413(start_server, tmp_path) -> None:
    process = start_server("--directory", str(tmp_path), "--max-xml-body", "1000")
    padding = "<x/>" * 300
    declared = dav(process, "PROPFIND", "/files/", f'<D:propfind xmlns:D="DAV:"><D:allprop/>{padding}</D:propfind>', Depth="0")
    assert (declared.status_code, declared.text) == (413, "XML body of 1252 bytes is larger than the limit of 1000 bytes\n")
    chunked = requests.request("PROPFIND", process.url + "/files/", headers={"Depth": "0"},
                               data=iter([b'<D:propfind xmlns:D="DAV:">', padding.encode(), b"</D:propfind>"]))
    assert (chunked.status_code, chunked.text) == (413, "XML body larger than the limit of 1000 bytes\n")
    assert dav(process, "PROPFIND", "/files/", PROPFIND_ALL, Depth="0").status_code == 207


# --- PROPPATCH and dead properties -----------------------------------------------------------

PROPPATCH_SET = ('<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>'
                 '<Z:colour>blue <b xmlns="urn:b">bold</b></Z:colour></D:prop></D:set></D:propertyupdate>')


def test_dead_properties_live_and_die_with_their_resource(server, folder) -> None:
    (folder / "d").mkdir()
    (folder / "d" / "f").write_bytes(b"x")
    patched = responses(dav(server, "PROPPATCH", url(folder, "d/f"), PROPPATCH_SET))
    assert patched[url(folder, "d/f")]["{urn:z}colour"][0] == "200"
    value = prop(server, url(folder, "d/f"), "Z:colour")[url(folder, "d/f")]["{urn:z}colour"][1]
    assert (value.text, value.find("{urn:b}b").text) == ("blue ", "bold")
    assert dav(server, "COPY", url(folder, "d/"), Destination=url(folder, "copy/")).status_code == 201
    assert dav(server, "MOVE", url(folder, "d/"), Destination=url(folder, "moved/")).status_code == 201
    for place in ("copy/f", "moved/f"):
        assert prop(server, url(folder, place), "Z:colour")[url(folder, place)]["{urn:z}colour"][0] == "200"
    assert dav(server, "DELETE", url(folder, "moved/")).status_code == 204
    (folder / "moved").mkdir()
    (folder / "moved" / "f").write_bytes(b"new")
    assert prop(server, url(folder, "moved/f"), "Z:colour")[url(folder, "moved/f")]["{urn:z}colour"][0] == "404"


def test_dead_properties_survive_a_restart(start_server, tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    first = start_server("--directory", str(tmp_path))
    assert dav(first, "PROPPATCH", "/files/f", PROPPATCH_SET).status_code == 207
    first.stop()
    second = start_server("--directory", str(tmp_path))
    assert prop(second, "/files/f", "Z:colour")["/files/f"]["{urn:z}colour"][0] == "200"


def test_proppatch_of_a_live_property_changes_nothing(server, folder) -> None:
    (folder / "f").write_bytes(b"x")
    body = ('<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:a xmlns:Z="urn:z">1</Z:a>'
            "<D:getetag>forged</D:getetag></D:prop></D:set></D:propertyupdate>")
    statuses = {tag: status for tag, (status, _) in responses(dav(server, "PROPPATCH", url(folder, "f"), body))[url(folder, "f")].items()}
    assert statuses == {"{urn:z}a": "424", D + "getetag": "403"}
    assert prop(server, url(folder, "f"), "Z:a")[url(folder, "f")]["{urn:z}a"][0] == "404"


# --- COPY and MOVE --------------------------------------------------------------------------


def test_copy_and_move_statuses(server, folder) -> None:
    (folder / "a").write_bytes(b"A")
    (folder / "b").write_bytes(b"B")
    host = server.url.removeprefix("http://")
    table = [
        ("COPY", "a", {"Destination": url(folder, "c")}, 201),
        ("COPY", "a", {"Destination": f"http://{host}{url(folder, 'c')}"}, 204),
        ("COPY", "a", {"Destination": url(folder, "b"), "Overwrite": "F"}, 412),
        ("COPY", "a", {"Destination": url(folder, "missing/c")}, 409),
        ("COPY", "a", {"Destination": url(folder, "a")}, 403),
        ("COPY", "a", {"Destination": f"http://elsewhere.example{url(folder, 'x')}"}, 502),
        ("COPY", "a", {"Destination": url(folder, "x"), "Overwrite": "maybe"}, 400),
        ("COPY", "a", {}, 400),
        ("COPY", "nothing", {"Destination": url(folder, "x")}, 404),
        ("MOVE", "c", {"Destination": url(folder, "b")}, 204),
        ("MOVE", "b", {"Destination": url(folder, "d"), "Overwrite": "F"}, 201),
    ]
    for method, source, headers, status in table:
        assert dav(server, method, url(folder, source), **headers).status_code == status, (method, source, headers)
    assert sorted(path.name for path in folder.iterdir()) == ["a", "d"]
    assert (folder / "d").read_bytes() == b"A"


def test_copy_of_a_folder_depth_0_and_infinity_and_move_is_one_rename(server, folder) -> None:
    (folder / "tree" / "in").mkdir(parents=True)
    (folder / "tree" / "in" / "f").write_bytes(b"deep")
    (folder / "tree" / ".dot").write_bytes(b"dot")
    assert dav(server, "COPY", url(folder, "tree/"), Destination=url(folder, "shallow/"), Depth="0").status_code == 201
    assert list((folder / "shallow").iterdir()) == []
    assert dav(server, "COPY", url(folder, "tree/"), Destination=url(folder, "full/")).status_code == 201
    assert (folder / "full" / "in" / "f").read_bytes() == b"deep" and (folder / "full" / ".dot").is_file()
    assert dav(server, "COPY", url(folder, "tree/"), Destination=url(folder, "tree/in/x/")).status_code == 403
    assert dav(server, "MOVE", url(folder, "tree/"), Destination=url(folder, "x/"), Depth="0").status_code == 400
    inode = (folder / "tree").stat().st_ino
    assert dav(server, "MOVE", url(folder, "tree/"), Destination=url(folder, "renamed/")).status_code == 201
    assert (folder / "renamed").stat().st_ino == inode  # rename(2), not copy and delete


# --- DELETE and MKCOL -----------------------------------------------------------------------


def test_delete_names_what_it_could_not_delete(start_server, tmp_path) -> None:
    (tmp_path / "d" / "stuck").mkdir(parents=True)
    (tmp_path / "d" / "stuck" / "kept.txt").write_bytes(b"k")
    (tmp_path / "d" / "free.txt").write_bytes(b"f")
    os.chmod(tmp_path / "d" / "stuck", 0o555)
    try:
        process = start_server("--directory", str(tmp_path), wrapper=without_root_powers())
        answer = dav(process, "DELETE", "/files/d/")
        statuses = {r.find(D + "href").text: r.find(D + "status").text for r in ET.fromstring(answer.content).iter(D + "response")}
    finally:
        os.chmod(tmp_path / "d" / "stuck", 0o755)
    assert answer.status_code == 207
    assert statuses == {"/files/d/stuck/kept.txt": "HTTP/1.1 403 Forbidden"}
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["stuck"]


def test_mkcol_follows_rfc_4918(server, folder) -> None:
    assert dav(server, "MKCOL", url(folder, "new/")).status_code == 201
    assert dav(server, "MKCOL", url(folder, "new/")).status_code == 405
    assert dav(server, "MKCOL", url(folder, "no/parent/")).status_code == 409
    assert dav(server, "MKCOL", url(folder, "body/"), "<x/>").status_code == 415
    assert dav(server, "MKCOL", "/files/.http-server-state/").status_code == 403


# --- who may do what ------------------------------------------------------------------------


def test_read_only_refuses_every_write_and_lets_propfind_read(start_server, tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    process = start_server("--directory", str(tmp_path), "--read-only")
    refused = [dav(process, "PROPPATCH", "/files/f", PROPPATCH_SET), dav(process, "COPY", "/files/f", Destination="/files/g"),
               dav(process, "MOVE", "/files/f", Destination="/files/g"), dav(process, "DELETE", "/files/f"),
               dav(process, "MKCOL", "/files/new/"), dav(process, "PUT", "/files/g", "x")]
    assert {(r.status_code, r.text) for r in refused} == {(403, "writes are off: the server was started with --read-only\n")}
    assert dav(process, "PROPFIND", "/files/", Depth="1").status_code == 207
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f"]


def test_passwords_cover_every_webdav_write(start_server, tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    process = start_server("--directory", str(tmp_path), "--auth", "alice:secret-words")
    good = {"Authorization": authorization("alice", "secret-words")}
    assert dav(process, "PROPFIND", "/files/", Depth="1").status_code == 401
    assert dav(process, "PROPFIND", "/files/", Depth="1", **good).status_code == 207
    assert dav(process, "COPY", "/files/f", Destination="/files/g").status_code == 401
    assert dav(process, "COPY", "/files/f", Destination="/files/g", **good).status_code == 201


# --- clients' exact requests ----------------------------------------------------------------

WINDOWS_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><D:name/><D:parentname/><D:href/>'
    "<D:ishidden/><D:isreadonly/><D:getcontenttype/><D:contentclass/><D:getcontentlanguage/><D:creationdate/>"
    "<D:lastaccessed/><D:getlastmodified/><D:getcontentlength/><D:iscollection/><D:isstructureddocument/>"
    "<D:defaultdocument/><D:displayname/><D:isroot/><D:resourcetype/></D:prop></D:propfind>"
)
WINDOWS_PROPPATCH = (
    '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">'
    "<D:set><D:prop><Z:Win32CreationTime>Wed, 02 Dec 2026 10:00:00 GMT</Z:Win32CreationTime>"
    "<Z:Win32LastAccessTime>Wed, 02 Dec 2026 10:00:00 GMT</Z:Win32LastAccessTime>"
    "<Z:Win32LastModifiedTime>Wed, 02 Dec 2026 10:00:00 GMT</Z:Win32LastModifiedTime>"
    "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"
)
WINDOWS = {"User-Agent": "Microsoft-WebDAV-MiniRedir/10.0.19045", "translate": "f"}


def test_windows_explorer_maps_the_folder_and_copies_a_file(server, folder) -> None:
    assert dav(server, "OPTIONS", "/", **WINDOWS).status_code == 200
    assert dav(server, "PROPFIND", url(folder).rstrip("/"), WINDOWS_PROPFIND, Depth="0", **WINDOWS).status_code == 207
    assert dav(server, "PROPFIND", url(folder), WINDOWS_PROPFIND, Depth="1", **WINDOWS).status_code == 207
    assert dav(server, "PUT", url(folder, "New Text Document.txt"), "", **WINDOWS).status_code == 201
    assert dav(server, "PUT", url(folder, "New Text Document.txt"), "words", **WINDOWS).status_code == 204
    patched = responses(dav(server, "PROPPATCH", url(folder, "New Text Document.txt"), WINDOWS_PROPPATCH, **WINDOWS))
    assert {status for status, _ in patched[url(folder, "New Text Document.txt")].values()} == {"200"}
    assert (folder / "New Text Document.txt").stat().st_mtime == 1796205600  # Wed, 02 Dec 2026 10:00:00 GMT


def test_macos_finder_files_are_stored_and_hidden(server, folder) -> None:
    finder = {"User-Agent": "WebDAVFS/3.0.0 (03008000) Darwin/23.0.0 (arm64)"}
    assert dav(server, "PUT", url(folder, "photo.jpg"), b"jpeg", **finder).status_code == 201
    assert dav(server, "PUT", url(folder, "._photo.jpg"), b"\x00\x05\x16\x07resource", **finder).status_code == 201
    assert dav(server, "PUT", url(folder, ".DS_Store"), b"Bud1", **finder).status_code == 201
    assert (folder / "._photo.jpg").read_bytes() == b"\x00\x05\x16\x07resource"
    assert sorted(responses(dav(server, "PROPFIND", url(folder), Depth="1", **finder))) == [url(folder), url(folder, "photo.jpg")]
    assert url(folder, ".DS_Store") in prop(server, url(folder, ".DS_Store"), "D:getcontentlength")
    assert requests.get(server.url + url(folder), headers={"Accept": "application/json"}).json()[0]["name"] == "photo.jpg"


def test_rclone_x_oc_mtime_sets_the_modification_time(server, folder) -> None:
    answer = dav(server, "PUT", url(folder, "kept.bin"), b"data", **{"X-OC-Mtime": "1600000000"})
    assert (answer.status_code, answer.headers["X-OC-Mtime"]) == (201, "accepted")
    assert (folder / "kept.bin").stat().st_mtime == 1600000000
    bad = dav(server, "PUT", url(folder, "bad.bin"), b"data", **{"X-OC-Mtime": "soon"})
    assert (bad.status_code, bad.text) == (400, "X-OC-Mtime must be seconds since 1970, not 'soon'\n")
    assert not (folder / "bad.bin").exists()


def test_symlinks_out_of_the_folder_are_never_followed(start_server, tmp_path) -> None:
    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    (outside / "secret" / "key.txt").write_bytes(b"secret")
    served = tmp_path / "served"
    served.mkdir()
    os.symlink(outside / "secret", served / "out")
    os.symlink(outside / "secret" / "key.txt", served / "key-link")
    process = start_server("--directory", str(served))
    assert dav(process, "PROPFIND", "/files/out/", Depth="1").status_code == 400
    assert dav(process, "COPY", "/files/out/", Destination="/files/stolen/").status_code == 400
    assert dav(process, "COPY", "/files/key-link", Destination="/files/stolen.txt").status_code == 400
    assert dav(process, "MOVE", "/files/key-link", Destination="/files/moved.txt").status_code == 400
    assert sorted(responses(dav(process, "PROPFIND", "/files/", Depth="1"))) == ["/files/"]  # links not listed
    refused = dav(process, "DELETE", "/files/out")
    assert (refused.status_code, refused.text) == (400, "file name leads outside the served directory\n")
    assert (outside / "secret" / "key.txt").read_bytes() == b"secret"
    assert not (served / "stolen").exists() and not (served / "stolen.txt").exists()
