"""Loading a report in a real headless Chromium: console messages, images, viewers, a screenshot.

Used by the tests and ``scripts/make_sample_report.py``; needs the ``selenium`` package (the
``dev`` extra) and a Chromium with its chromedriver (Debian: ``apt-get install chromium
chromium-driver``). Selenium is pointed at those two programs, so it never downloads a browser.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from livseg.errors import LivsegError
from livseg.io.atomic import atomic_path

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_NAMES = ("chromedriver",)
# Every image that has not finished loading, or loaded as nothing (a broken image has width 0).
_IMAGES_SCRIPT = """
return Array.from(document.images).map(function (img) {
  return {alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight};
});
"""


@dataclass(frozen=True)
class BrowserCheck:
    """What the browser saw.

    Attributes:
        console: (level, message) of every browser console entry (levels as Chromium names
            them: "SEVERE", "WARNING", "INFO", ...).
        images: one dict per <img>: alt, complete, width, height (natural size, pixels).
        title: the document's title.
        page_height: the document's scroll height in CSS pixels.
        viewers: element id -> state ("ready", "error", "loading") of each slice viewer.
    """

    console: list[tuple[str, str]]
    images: list[dict]
    title: str
    page_height: int
    viewers: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        """Console entries at error level (SEVERE)."""
        return [message for level, message in self.console if level == "SEVERE"]

    @property
    def broken_images(self) -> list[str]:
        """Alt texts of images that did not load."""
        return [img["alt"] for img in self.images if not img["complete"] or img["width"] <= 0]


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths on PATH, or None when either is missing."""
    browser = next((shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name)), None)
    driver = next((shutil.which(name) for name in CHROMEDRIVER_NAMES if shutil.which(name)), None)
    return (browser, driver) if browser and driver else None


@contextmanager
def chromium(*, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by selenium (a ``webdriver.Chrome``), quit on leaving.

    The browser console is recorded at every level (``driver.get_log("browser")``).

    Raises:
        LivsegError: selenium, Chromium or chromedriver is missing.
    """
    found = find_chromium()
    if found is None:
        raise LivsegError("chromium", expected="Chromium and chromedriver on PATH",
                          found="at least one missing", fix="apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise LivsegError("selenium", expected="the selenium package", found="it is not installed",
                          fix="pip install -e '.[dev]'") from exc
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


_VIEWERS_SCRIPT = """
var out = {};
document.querySelectorAll(".viewer").forEach(function (v) { out[v.id] = v.dataset.state; });
return out;
"""


def wait_for_viewers(driver: Any, timeout_s: float = 60.0) -> dict[str, str]:
    """Wait until every slice viewer of the loaded page has started (or failed); id -> state."""
    deadline = time.monotonic() + timeout_s
    while True:
        states: dict[str, str] = driver.execute_script(_VIEWERS_SCRIPT)
        if all(state != "loading" for state in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


def check_in_chromium(page: str | Path, *, screenshot: str | Path | None = None, width: int = 1280,
                      height: int = 900, full_page: bool = False, screenshot_from: str | None = None,
                      timeout_s: float = 60.0) -> BrowserCheck:
    """Open ``page`` (a local HTML file) in headless Chromium and report what it saw.

    Waits for the page's slice viewers to start before the screenshot and the console.

    Args:
        page: the HTML file.
        screenshot: write a PNG of the top ``width`` x ``height`` pixels of the page here (the
            whole page with ``full_page``).
        width, height: window size in CSS pixels.
        screenshot_from: a CSS selector: the screenshot starts at the top of that element (the
            page's top when None or not found).
        timeout_s: limit for loading the page (and again for its viewers).

    Raises:
        LivsegError: selenium, Chromium or chromedriver is missing.
    """
    with chromium(width=width, height=height) as driver:
        driver.set_page_load_timeout(timeout_s)
        driver.get(Path(page).resolve().as_uri())
        viewers = wait_for_viewers(driver, timeout_s)
        images = driver.execute_script(_IMAGES_SCRIPT)
        page_height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        title = driver.title
        if screenshot is not None:
            top = 0
            if screenshot_from is not None:
                top = int(driver.execute_script(
                    "var e = document.querySelector(arguments[0]);"
                    "return e ? Math.max(0, e.getBoundingClientRect().top + window.scrollY - 8) : 0;",
                    screenshot_from))
            png = _capture(driver, width, page_height - top if full_page else height, top)
            with atomic_path(screenshot) as tmp:
                tmp.write_bytes(png)
        console = [(entry.get("level", ""), entry.get("message", "")) for entry in driver.get_log("browser")]
    return BrowserCheck(console=console, images=list(images), title=title, page_height=page_height,
                        viewers=viewers)


def _capture(driver, width: int, height: int, top: int = 0) -> bytes:
    """``width`` x ``height`` CSS pixels of the page from ``top`` down, as a PNG.

    Chrome DevTools' ``Page.captureScreenshot`` with a clip gives exactly that size (a window
    screenshot is smaller than the window by the headless browser's frame) and reaches
    beyond the viewport for whole pages.
    """
    import base64

    result = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}})
    return base64.b64decode(result["data"])
