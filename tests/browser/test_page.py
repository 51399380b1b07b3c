"""The shipped page (www/index.html) and media, in a real headless Chromium."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until


WAIT = 20  # seconds: an upper bound for the browser to get there, not a speed check


@pytest.fixture
def site(start_server, tmp_path: Path):
    """The shipped page, with `--directory` set to a fresh folder holding one file."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "hello world.txt").write_bytes(b"hello from the server\n")
    return start_server("--directory", str(folder)), folder


def wait_until(condition, timeout: float = WAIT) -> bool:
    """Poll `condition` until true (an upper bound for the browser, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def file_row_names(browser) -> list[str]:
    return [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#files a")]


def test_page_renders_and_tries_echo_and_user_agent(browser, site):
    process, _ = site
    browser.get(process.url + "/")
    assert browser.title == "HTTP/1.1 server from scratch"
    assert browser.find_element(By.TAG_NAME, "h1").text == "An HTTP/1.1 server, from scratch"
    wait = WebDriverWait(browser, WAIT)
    # The page echoes its sample text on load; Chromium accepts gzip, so it came gzipped.
    wait.until(lambda driver: driver.find_element(By.ID, "echo-out").text == "Hello, HTTP/1.1!")
    badges = browser.find_element(By.ID, "echo-badges")
    assert badges.get_attribute("data-encoding") == "gzip"
    assert "gzipped" in badges.text
    # Typing another text and pressing Enter echoes it.
    field = browser.find_element(By.ID, "echo-text")
    field.clear()
    field.send_keys("é & <b>", Keys.ENTER)
    wait.until(lambda driver: driver.find_element(By.ID, "echo-out").text == "é & <b>")
    user_agent = browser.execute_script("return navigator.userAgent")
    wait.until(lambda driver: driver.find_element(By.ID, "ua-out").text == user_agent)
    wait.until(lambda driver: file_row_names(driver) == ["hello world.txt"])


def test_upload_from_the_page_lands_on_disk(browser, site, tmp_path):
    process, folder = site
    local = tmp_path / "to upload.bin"
    content = bytes(range(256)) * 4000  # ~1 MB, so progress events fire
    local.write_bytes(content)
    browser.get(process.url + "/")
    WebDriverWait(browser, WAIT).until(lambda driver: file_row_names(driver) == ["hello world.txt"])
    browser.find_element(By.ID, "file-input").send_keys(str(local))
    WebDriverWait(browser, WAIT).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, "#uploads .state").text == "uploaded"
    )
    assert (folder / "to upload.bin").read_bytes() == content
    assert browser.find_element(By.CSS_SELECTOR, "#uploads progress").get_attribute("value") == str(len(content))
    WebDriverWait(browser, WAIT).until(lambda driver: "to upload.bin" in file_row_names(driver))


# Runs in the page: drop a file on the drop zone, as a drag from the desktop does.
DROP_A_FILE = """
const transfer = new DataTransfer();
transfer.items.add(new File(["dropped bytes"], "dropped file.txt", { type: "text/plain" }));
const zone = document.getElementById("drop");
zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


def test_a_file_dropped_on_the_page_lands_on_disk(browser, site):
    process, folder = site
    browser.get(process.url + "/")
    WebDriverWait(browser, WAIT).until(lambda driver: file_row_names(driver) == ["hello world.txt"])
    browser.execute_script(DROP_A_FILE)
    WebDriverWait(browser, WAIT).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, "#uploads .state").text == "uploaded"
    )
    assert (folder / "dropped file.txt").read_bytes() == b"dropped bytes"
    WebDriverWait(browser, WAIT).until(lambda driver: "dropped file.txt" in file_row_names(driver))


def test_a_listed_file_downloads(browser, site, downloads):
    process, _ = site
    browser.get(process.url + "/")
    WebDriverWait(browser, WAIT).until(lambda driver: file_row_names(driver) == ["hello world.txt"])
    browser.find_element(By.LINK_TEXT, "hello world.txt").click()
    target = downloads / "hello world.txt"
    assert wait_until(lambda: target.exists() and target.read_bytes() == b"hello from the server\n", timeout=WAIT)


def test_delete_works_from_the_keyboard(browser, site):
    process, folder = site
    browser.get(process.url + "/")
    WebDriverWait(browser, WAIT).until(lambda driver: file_row_names(driver) == ["hello world.txt"])
    for _ in range(30):  # Tab through the page until the Delete button has the focus
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("aria-label") == "Delete hello world.txt":
            break
    else:
        pytest.fail("Tab never reached the Delete button")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert wait_until(lambda: not (folder / "hello world.txt").exists(), timeout=WAIT)
    WebDriverWait(browser, WAIT).until(lambda driver: file_row_names(driver) == [])


VIDEO_PAGE = """<!doctype html>
<meta charset="utf-8"><title>video</title>
<video id="video" src="clip.webm" muted preload="auto" width="320" height="240"></video>
"""

# Runs in the page: wait for metadata, seek to 6 s, wait for `seeked`, then play and
# wait until the playhead moves on; report what the element says.
SEEK_AND_PLAY = """
const done = arguments[arguments.length - 1];
const video = document.getElementById("video");
const once = (name) => new Promise((resolve) => video.addEventListener(name, resolve, { once: true }));
(async () => {
  if (video.readyState < 1) await once("loadedmetadata");
  const seeked = once("seeked");
  video.currentTime = 6;
  await seeked;
  const afterSeek = video.currentTime;
  await video.play();
  while (video.currentTime < afterSeek + 0.5) await once("timeupdate");
  video.pause();
  done({ duration: video.duration, afterSeek, playedTo: video.currentTime, error: video.error && video.error.code });
})().catch((error) => done({ error: String(error) }));
"""


def test_video_plays_and_seeks(browser, start_server, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "video.html").write_text(VIDEO_PAGE)
    # A 10-second VP8 test pattern with a keyframe every second, made here by ffmpeg.
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=10:size=320x240:rate=25",
         "-c:v", "libvpx", "-b:v", "300k", "-g", "25", str(www / "clip.webm")],
        check=True,
    )
    process = start_server("--www", str(www))
    browser.get(process.url + "/video.html")
    result = browser.execute_async_script(SEEK_AND_PLAY)
    assert result.get("error") is None, result
    assert result["duration"] == pytest.approx(10, abs=0.1)
    assert result["afterSeek"] == pytest.approx(6, abs=0.05)
    assert result["playedTo"] >= 6.5
    # Chromium fetched the video in ranges (access lines are written within a second).
    assert wait_until(lambda: '"GET /clip.webm HTTP/1.1" 206' in process.log)
