"""The listing and its file manager in a real headless Chromium, with JavaScript on and
off (Emulation.setScriptExecutionDisabled): sort links, the filter, uploads of files and
of a folder, dropped files, a new folder, a delete that asks first, and dark mode."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

WAIT = 20  # seconds: an upper bound for the browser to get there, not a speed check
T = 1_700_000_000


def wait_until(condition, timeout: float = WAIT) -> bool:
    """Poll `condition` until true (an upper bound for the browser, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # the page is being replaced: look again
            pass
        time.sleep(0.05)
    return condition()


@pytest.fixture
def shared(start_server, tmp_path: Path):
    """A served folder with files of different sizes and ages, and two folders."""
    folder = tmp_path / "share"
    folder.mkdir()
    for name, size, age in (("b.txt", 300, 1), ("A.txt", 100, 3), ("c.txt", 200, 2)):
        (folder / name).write_bytes(b"x" * size)
        os.utime(folder / name, (T + age, T + age))
    (folder / "empty").mkdir()
    (folder / "full").mkdir()
    (folder / "full" / "keep.txt").write_bytes(b"keep")
    return start_server("--directory", str(folder)), folder


def rows(browser) -> list[str]:
    """The names of the entry rows shown (not hidden by the filter), in order."""
    links = browser.find_elements(By.CSS_SELECTOR, "#entries tr:not(.parent):not([hidden]) td:first-child a")
    return [link.text for link in links]


def check(browser, name: str) -> None:
    """Tick the selection box of the row named `name`."""
    for link in browser.find_elements(By.CSS_SELECTOR, "#entries td:first-child a"):
        if link.text == name:
            link.find_element(By.XPATH, "preceding-sibling::input").click()
            return
    raise AssertionError(f"no row {name}")


def javascript_off(browser) -> None:
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})


@pytest.fixture(params=["javascript", "no javascript"])
def mode(request, browser) -> str:
    if request.param == "no javascript":
        javascript_off(browser)
    return request.param


def test_sort_links_reorder_the_table_folders_first(browser, shared, mode):
    process, _ = shared
    browser.get(process.url + "/files/")
    assert rows(browser) == ["empty/", "full/", "A.txt", "b.txt", "c.txt"]
    browser.find_element(By.LINK_TEXT, "Size").click()
    assert wait_until(lambda: rows(browser) == ["empty/", "full/", "A.txt", "c.txt", "b.txt"])
    browser.find_element(By.PARTIAL_LINK_TEXT, "Size").click()
    assert wait_until(lambda: rows(browser) == ["full/", "empty/", "b.txt", "c.txt", "A.txt"])
    assert browser.current_url.endswith("/files/?sort=size&order=desc")
    assert browser.find_element(By.CSS_SELECTOR, "th[aria-sort]").text == "Size ▼"


def test_filter(browser, shared, mode):
    process, _ = shared
    browser.get(process.url + "/files/?sort=name&order=desc")
    box = browser.find_element(By.ID, "filter")
    box.send_keys(".TX")
    if mode == "no javascript":
        box.send_keys(Keys.ENTER)
    assert wait_until(lambda: rows(browser) == ["c.txt", "b.txt", "A.txt"])
    assert wait_until(lambda: "filter=.TX" in browser.current_url)
    shown = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#entries td:first-child a") if link.is_displayed()]
    assert shown == ["c.txt", "b.txt", "A.txt"]  # the rows left out are not displayed


def upload_result(browser, mode: str, stored: list[str], listed: list[str]) -> None:
    """Wait for the upload's outcome: progress bars done and the rows `listed` in the
    table (JavaScript), or the server's 201 page naming what was `stored` (a form post)."""
    if mode == "javascript":
        assert wait_until(lambda: [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#progress span")] == ["done"] * len(stored))
        assert wait_until(lambda: set(listed) <= set(rows(browser)))
        bars = browser.find_elements(By.CSS_SELECTOR, "#progress progress")
        assert [bar.get_attribute("value") for bar in bars] == ["100"] * len(stored)
    else:
        assert wait_until(lambda: browser.find_element(By.TAG_NAME, "h1").text == "Stored in /files/")
        assert sorted(item.text for item in browser.find_elements(By.CSS_SELECTOR, "li a")) == sorted(stored)


def test_upload_files(browser, shared, mode, tmp_path):
    process, folder = shared
    picked = tmp_path / "picked"
    picked.mkdir()
    (picked / "one.txt").write_bytes(b"first file\n")
    (picked / "two words é.bin").write_bytes(bytes(range(256)) * 1000)
    browser.get(process.url + "/files/")
    field = browser.find_element(By.CSS_SELECTOR, "#upload-files input[type=file]")
    field.send_keys(f"{picked / 'one.txt'}\n{picked / 'two words é.bin'}")
    browser.find_element(By.CSS_SELECTOR, "#upload-files button").click()
    upload_result(browser, mode, ["one.txt", "two words é.bin"], ["one.txt", "two words é.bin"])
    assert (folder / "one.txt").read_bytes() == b"first file\n"
    assert (folder / "two words é.bin").read_bytes() == bytes(range(256)) * 1000


def test_upload_a_folder(browser, shared, mode, tmp_path):
    process, folder = shared
    picked = tmp_path / "album"
    (picked / "2024").mkdir(parents=True)
    (picked / "cover.txt").write_bytes(b"cover")
    (picked / "2024" / "june.txt").write_bytes(b"june")
    browser.get(process.url + "/files/")
    browser.find_element(By.CSS_SELECTOR, "#upload-folder input[type=file]").send_keys(str(picked))
    browser.find_element(By.CSS_SELECTOR, "#upload-folder button").click()
    upload_result(browser, mode, ["album/2024/june.txt", "album/cover.txt"], ["album/"])
    assert (folder / "album" / "cover.txt").read_bytes() == b"cover"
    assert (folder / "album" / "2024" / "june.txt").read_bytes() == b"june"


def test_drop_files_on_the_drop_zone(browser, shared):
    process, folder = shared
    browser.get(process.url + "/files/")
    zone = browser.find_element(By.ID, "drop")
    assert zone.is_displayed()
    browser.execute_script(
        """
        const data = new DataTransfer();
        data.items.add(new File(["dropped bytes"], "dropped.txt"));
        arguments[0].dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        """,
        zone,
    )
    assert wait_until(lambda: "dropped.txt" in rows(browser))
    assert (folder / "dropped.txt").read_bytes() == b"dropped bytes"


def test_the_drop_zone_picks_and_uploads_at_once(browser, shared, tmp_path):
    process, folder = shared
    (tmp_path / "picked.txt").write_bytes(b"picked through the zone")
    browser.get(process.url + "/files/")
    browser.find_element(By.CSS_SELECTOR, "#drop input[type=file]").send_keys(str(tmp_path / "picked.txt"))
    assert wait_until(lambda: "picked.txt" in rows(browser))
    assert (folder / "picked.txt").read_bytes() == b"picked through the zone"


def test_the_drop_zone_is_hidden_without_javascript(browser, shared):
    process, _ = shared
    javascript_off(browser)
    browser.get(process.url + "/files/")
    assert not browser.find_element(By.ID, "drop").is_displayed()


def test_new_folder(browser, shared, mode):
    process, folder = shared
    browser.get(process.url + "/files/")
    field = browser.find_element(By.CSS_SELECTOR, "#mkdir input[name=mkdir]")
    field.send_keys("new one", Keys.ENTER)
    assert wait_until(lambda: "new one/" in rows(browser))
    assert (folder / "new one").is_dir()
    assert browser.current_url == process.url + "/files/"


def test_delete_asks_first_with_javascript(browser, shared):
    process, folder = shared
    browser.get(process.url + "/files/")
    delete = browser.find_element(By.CSS_SELECTOR, "#selection button[type=submit]")
    delete.click()  # nothing checked: nothing asked, nothing deleted
    assert wait_until(lambda: browser.find_element(By.ID, "status").text.startswith("nothing selected"))
    check(browser, "b.txt")
    delete.click()
    alert = Alert(browser)
    assert alert.text == "Delete b.txt?"
    alert.dismiss()
    assert (folder / "b.txt").exists()
    delete.click()
    Alert(browser).accept()
    assert wait_until(lambda: "b.txt" not in rows(browser))
    assert not (folder / "b.txt").exists()
    # A folder goes with everything in it (RFC 4918 §9.6.1): the question counts it.
    (folder / "full" / "inner").mkdir()
    (folder / "full" / "inner" / "deep.txt").write_bytes(b"deep")
    check(browser, "full/")
    check(browser, "c.txt")
    delete.click()
    assert wait_until(lambda: alert_text(browser) == "Delete full/ (and the 3 entries in it), c.txt?")
    Alert(browser).accept()
    assert wait_until(lambda: rows(browser) == ["empty/", "A.txt"])
    assert not (folder / "full").exists() and not (folder / "c.txt").exists()
    check(browser, "empty/")
    delete.click()
    assert wait_until(lambda: alert_text(browser) == "Delete empty/?")
    Alert(browser).accept()
    assert wait_until(lambda: rows(browser) == ["A.txt"])


def alert_text(browser) -> str | None:
    """The open alert's text, None while none is open (the count comes first)."""
    try:
        return Alert(browser).text
    except NoAlertPresentException:
        return None


def test_delete_asks_first_without_javascript(browser, shared):
    """Two steps: tick the boxes, then press the one button; the form posts the names."""
    process, folder = shared
    javascript_off(browser)
    browser.get(process.url + "/files/")
    check(browser, "b.txt")
    check(browser, "empty/")
    button = browser.find_element(By.CSS_SELECTOR, "#selection button[type=submit]")
    assert button.text == "Delete selected"
    button.click()
    assert wait_until(lambda: rows(browser) == ["full/", "A.txt", "c.txt"])
    assert not (folder / "b.txt").exists() and not (folder / "empty").exists()
    assert browser.current_url == process.url + "/files/"


@pytest.mark.parametrize("scheme, background", [("light", "rgb(255, 255, 255)"), ("dark", "rgb(18, 22, 31)")])
def test_dark_mode_follows_the_system(browser, shared, scheme, background):
    process, _ = shared
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
    )
    browser.get(process.url + "/files/")
    color = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert color == background


def test_names_with_line_breaks_survive_the_delete_form(browser, start_server, tmp_path):
    """Issue 23: a browser turns the CR and LF of a form value into CRLF, so a name sent as
    it is would name another file. The selection boxes carry the percent-encoded name:
    deleting `a\\nx` leaves `a\\r\\nx`, and the other way round (JavaScript off: the form)."""
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "a\nx").write_bytes(b"LF")
    (folder / "a\r\nx").write_bytes(b"CRLF")
    process = start_server("--directory", str(folder))
    javascript_off(browser)
    for gone, kept in (("a\nx", "a\r\nx"), ("a\r\nx", None)):
        browser.get(process.url + "/files/")
        encoded = gone.replace("\r", "%0D").replace("\n", "%0A")
        browser.find_element(By.CSS_SELECTOR, f'#entries input[name="{encoded}"]').click()
        browser.find_element(By.CSS_SELECTOR, "#selection button[type=submit]").click()
        assert wait_until(lambda: not (folder / gone).exists())
        if kept is not None:
            assert (folder / kept).read_bytes() == b"CRLF"
    assert list(folder.iterdir()) == []
