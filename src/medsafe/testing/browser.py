"""Headless Chromium driven by Selenium, for checking HTML reports as a reader's browser sees them.

Uses the Debian ``chromium`` and ``chromium-driver`` binaries (no driver download) with the
flags that keep Chromium off the network, a fresh profile per browser, and the browser and
performance logs switched on so that console errors and every network request can be checked.
Needs the ``selenium`` package (the ``test`` extra).
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

OFFLINE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--disable-default-apps", "--disable-extensions",
                 "--metrics-recording-only", "--no-default-browser-check")

# URLs that never leave the machine: content carried in the page itself (data:, blob:, e.g. the
# images plotly draws heatmaps into) and Chromium's own pages, which may still be loading from
# start-up but are not requests of the page.
LOCAL_SCHEMES = ("data:", "blob:", "chrome://", "chrome-untrusted://", "devtools://")


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed, else None."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@dataclass
class PageLoad:
    """What happened while a page was open: console messages and requests."""

    url: str
    console: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and CSP violations."""
        return [e["message"] for e in self.console if e.get("level") == "SEVERE"]

    @property
    def other_requests(self) -> list[str]:
        """Every request except the page itself and URLs of :data:`LOCAL_SCHEMES`."""
        return [u for u in self.requests
                if u.split("#")[0] != self.url and not u.startswith(LOCAL_SCHEMES)]


class HeadlessChromium:
    """A headless Chromium session; use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        paths = chromium_paths()
        if paths is None:
            raise RuntimeError("chromium and chromedriver are not installed: "
                               "apt-get install chromium chromium-driver")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="medsafe-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = paths[0]
        for flag in (*OFFLINE_FLAGS, f"--user-data-dir={self.profile}",
                     f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=paths[1]),
                                           options=options)
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.get("about:blank")

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Quit the browser and delete its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, path: Path, ready_js: str | None = None, timeout: float = 60) -> PageLoad:
        """Load a file and wait until ``ready_js`` (a JS expression) is truthy."""
        self._drain()
        url = path.resolve().as_uri()
        self.driver.get(url)
        if ready_js:
            self.wait_for(ready_js, timeout)
        return self.collect(url)

    def wait_for(self, js_expression: str, timeout: float = 60) -> Any:
        """Poll a JS expression until it is truthy; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.driver.execute_script(f"return ({js_expression});")
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {js_expression}")
            time.sleep(0.02)

    def js(self, script: str, *args: Any) -> Any:
        """Run a script in the page and return its result."""
        return self.driver.execute_script(script, *args)

    def _drain(self) -> None:
        for kind in ("browser", "performance"):
            self.driver.get_log(kind)

    def collect(self, url: str) -> PageLoad:
        """Console messages and network requests logged since the last call."""
        load = PageLoad(url, console=list(self.driver.get_log("browser")))
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                load.requests.append(message["params"]["request"]["url"])
        return load

    def screenshot(self, path: Path, max_height: int = 12000) -> Path:
        """A PNG of the whole page (up to ``max_height`` pixels)."""
        size = self.js("return [document.documentElement.scrollWidth, "
                       "document.documentElement.scrollHeight];")
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": min(size[1], max_height),
                     "scale": 1},
        })
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
