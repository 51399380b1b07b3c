"""The upload endpoints as a browser with JavaScript off uses them: plain HTML forms
(multipart/form-data with several files, a folder picked with `webkitdirectory`, the
url-encoded mkdir and delete actions) and a folder downloaded as zip through a link.

The forms here are a minimal page of the test's own (served with `--www`), so these
tests check the server's side of the contract whatever the shipped page looks like."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_page import wait_until

FORMS = """<!doctype html>
<meta charset="utf-8">
<title>forms</title>
<form method="post" action="/files/" enctype="multipart/form-data">
  <input type="file" name="file" id="files" multiple>
  <input name="mkdir" id="new-folder">
  <button id="upload">Upload</button>
</form>
<form method="post" action="/files/" enctype="multipart/form-data">
  <input type="file" name="file" id="folder" webkitdirectory>
  <button id="upload-folder">Upload folder</button>
</form>
<form method="post" action="/files/">
  <input name="delete" id="delete-name">
  <button id="delete">Delete</button>
</form>
<a id="zip" href="/files/album/?download=zip">album as zip</a>
"""


@pytest.fixture
def served(start_server, tmp_path: Path, browser):
    """A server whose site is the forms above and whose files go to a fresh folder;
    the browser runs with JavaScript off (as a user may have it)."""
    site, files = tmp_path / "site", tmp_path / "files"
    site.mkdir()
    files.mkdir()
    (site / "index.html").write_text(FORMS, encoding="utf-8")
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    return start_server("--directory", str(files), "--www", str(site)), files


def test_a_form_uploads_several_files_and_makes_a_folder(browser, served, tmp_path):
    process, files = served
    (tmp_path / "été.txt").write_bytes("accents\n".encode())
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 100)
    browser.get(process.url + "/")
    browser.find_element(By.ID, "files").send_keys(f"{tmp_path / 'été.txt'}\n{tmp_path / 'data.bin'}")
    browser.find_element(By.ID, "new-folder").send_keys("made by the form")
    browser.find_element(By.ID, "upload").click()
    assert wait_until(lambda: browser.find_elements(By.TAG_NAME, "h1") and "Stored in" in browser.find_element(By.TAG_NAME, "h1").text)
    assert (files / "été.txt").read_bytes() == "accents\n".encode()
    assert (files / "data.bin").read_bytes() == bytes(range(256)) * 100
    assert (files / "made by the form").is_dir()
    links = [link.text for link in browser.find_elements(By.TAG_NAME, "a")]
    assert links == ["été.txt", "data.bin", "made by the form/", "Back to /files/"]
    browser.find_element(By.LINK_TEXT, "Back to /files/").click()
    assert wait_until(lambda: browser.current_url == process.url + "/files/")


def test_a_folder_picked_with_webkitdirectory_keeps_its_tree(browser, served, tmp_path):
    process, files = served
    album = tmp_path / "album"
    (album / "2026").mkdir(parents=True)
    (album / "cover.jpg").write_bytes(b"cover")
    (album / "2026" / "beach.jpg").write_bytes(b"beach")
    browser.get(process.url + "/")
    browser.find_element(By.ID, "folder").send_keys(str(album))
    browser.find_element(By.ID, "upload-folder").click()
    assert wait_until(lambda: (files / "album" / "2026" / "beach.jpg").is_file())
    assert (files / "album" / "cover.jpg").read_bytes() == b"cover"
    assert (files / "album" / "2026" / "beach.jpg").read_bytes() == b"beach"


def test_delete_form_comes_back_to_the_folder_and_zip_downloads(browser, served, downloads):
    process, files = served
    (files / "album").mkdir()
    (files / "album" / "a.txt").write_bytes(b"in the zip")
    (files / "gone.txt").write_bytes(b"to delete")
    browser.get(process.url + "/")
    browser.find_element(By.ID, "delete-name").send_keys("gone.txt")
    browser.find_element(By.ID, "delete").click()
    assert wait_until(lambda: browser.current_url == process.url + "/files/")  # the 303
    assert not (files / "gone.txt").exists()
    browser.get(process.url + "/")
    browser.find_element(By.ID, "zip").click()
    assert wait_until(lambda: (downloads / "album.zip").is_file() and not list(downloads.glob("*.crdownload")))
    assert zipfile.ZipFile(downloads / "album.zip").read("album/a.txt") == b"in the zip"
