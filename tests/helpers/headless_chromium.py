"""Drive Debian's Chromium headless over the DevTools protocol, stdlib only.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands (JSON, each ended by a
NUL byte) from its fd 3 and writes answers and events to its fd 4, so no port, websocket or
extra package is needed. Clicks and key presses go through ``Input.dispatch*Event``: the page
receives them as a user's, with real hit-testing.

Example:
    >>> with HeadlessChromium(download_dir=tmp) as browser:
    ...     browser.open(page.as_uri())
    ...     browser.click("button#export")
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """The browser failed, quit, or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable on PATH (``$VOLTA_CHROMIUM`` first), or None."""
    explicit = os.environ.get("VOLTA_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _above_ten(fd: int) -> int:
    """``fd`` moved to a number of at least 10 (the original is closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class HeadlessChromium:
    """One headless Chromium with one page, driven over ``--remote-debugging-pipe``.

    Args:
        download_dir: where downloads (``Blob`` links clicked by the page) are saved.
        width, height: the page's viewport in CSS pixels.
        executable: the browser; default :func:`find_chromium`.
        timeout_s: how long one command or wait may take (generous: a loaded machine is slow).
    """

    def __init__(self, *, download_dir: Path | None = None, width: int = 1400, height: int = 1000,
                 executable: str | None = None, timeout_s: float = 240.0) -> None:
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("no chromium on PATH (Debian: apt-get install chromium)")
        self.download_dir = Path(download_dir) if download_dir else None
        self.width, self.height = width, height
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="volta-chromium-")
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._session = ""
        self._process: subprocess.Popen[bytes] | None = None

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> HeadlessChromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # the browser's ends get numbers >= 10 first, so putting them on fd 3 and 4 clobbers nothing
        to_browser_read, from_browser_write = (_above_ten(to_browser_read), _above_ten(from_browser_write))
        args = [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--allow-file-access-from-files", f"--window-size={self.width},{self.height}", "about:blank"]
        # bash puts the pipe ends on the browser's fd 3 (it reads) and fd 4 (it writes), then execs it
        wiring = (f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write} '
                  f'{to_browser_read}<&- {from_browser_write}>&-')
        self._process = subprocess.Popen(["bash", "-c", wiring, "chromium", *args], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         pass_fds=(to_browser_read, from_browser_write))
        os.close(to_browser_read)
        os.close(from_browser_write)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False})
        if self.download_dir is not None:
            self.download_dir.mkdir(parents=True, exist_ok=True)
            self.call("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(self.download_dir),
                                                      "eventsEnabled": True}, browser=True)

    def close(self) -> None:
        if self._process is not None:
            try:
                self.call("Browser.close", browser=True, timeout_s=5)
            except BrowserError:
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False,
             timeout_s: float | None = None) -> dict[str, Any]:
        """Send one command (to the page's session unless ``browser``) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session and not browser:
            message["sessionId"] = self._session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"chromium is gone ({exc})") from exc
        wanted = self._next_id
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for reply in self._read(deadline, method):
                if reply.get("id") == wanted:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                if "method" in reply:
                    self._events.append(reply)

    def wait_event(self, method: str, *, where: Any = None, timeout_s: float | None = None) -> dict[str, Any]:
        """The first event ``method`` (whose params satisfy ``where``) seen since the last wait."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and (where is None or where(event.get("params", {}))):
                    del self._events[: index + 1]
                    return event.get("params", {})
            self._events.extend(m for m in self._read(deadline, method) if "method" in m)

    def _read(self, deadline: float, waiting_for: str) -> list[dict[str, Any]]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError(f"chromium did not answer {waiting_for} in time")
        ready, _, _ = select.select([self._from_browser], [], [], remaining)
        if not ready:
            raise BrowserError(f"chromium did not answer {waiting_for} in time")
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            raise BrowserError("chromium quit")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in messages if m]

    # -- page helpers -----------------------------------------------------------------------
    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def wait_images(self) -> list[int]:
        """Wait until every image of the page has loaded or failed; their natural widths (0: failed)."""
        return self.evaluate(
            "Promise.all(Array.from(document.images).map(i => i.complete ? 0 : new Promise(r => "
            "{ i.onload = i.onerror = r; }))).then(() => Array.from(document.images).map(i => i.naturalWidth))")

    def click(self, selector: str) -> None:
        """A left mouse click in the middle of the first element matching ``selector``."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; })()")
        if box is None or box[2] == 0 or box[3] == 0:
            raise BrowserError(f"nothing visible to click at {selector!r}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def press(self, key: str) -> None:
        """Press and release one printable key (``"j"``) or ``"Escape"``."""
        text = key if len(key) == 1 else ""
        code = f"Key{key.upper()}" if len(key) == 1 and key.isalpha() else key
        down = {"type": "keyDown" if text else "rawKeyDown", "key": key, "code": code, "text": text}
        if key == "Escape":
            down["windowsVirtualKeyCode"] = 27
        self.call("Input.dispatchKeyEvent", down)
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code})

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused field (as typing does: ``input`` events follow)."""
        self.call("Input.insertText", {"text": text})

    def wait_download(self) -> Path:
        """Wait for the next download to finish; the file it wrote (in ``download_dir``)."""
        if self.download_dir is None:
            raise BrowserError("start the browser with download_dir to receive downloads")
        done = self.wait_event("Browser.downloadProgress",
                               where=lambda p: p.get("state") in ("completed", "canceled"))
        if done["state"] != "completed" or not done.get("filePath"):
            raise BrowserError(f"the download did not complete: {done}")
        return Path(done["filePath"])

    def screenshot(self, out: Path, *, full_page: bool = True) -> Path:
        """Save the page as a PNG (all of it with ``full_page``)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
            self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": height,
                                                             "deviceScaleFactor": 1, "mobile": False})
            self.evaluate("new Promise(r => setTimeout(r, 300))")  # layout at the new size (rAF may not run headless)
        data = self.call("Page.captureScreenshot", params)["data"]
        if full_page:
            self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                             "deviceScaleFactor": 1, "mobile": False})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out
