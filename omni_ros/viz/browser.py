"""Headless Chromium driven over the Chrome DevTools Protocol: open a page, wait until it has
received enough from a given origin (the rerun gRPC stream), take a screenshot. Used by
``omni-ros viz --screenshot`` and the viewer tests; needs Debian's ``chromium`` (or Chrome).

The flags keep it offline and stateless: no GPU (WebGL in software, SwiftShader), no QUIC, no
background networking / component updates / sync, a fresh profile directory each time."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
         "--use-angle=swiftshader", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


class BrowserError(RuntimeError):
    """No browser, or it did not start / answer; the message says which."""


def find_browser() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@dataclass
class PageLoad:
    """What the page received: bytes per origin (``http://host:port``) over the network,
    console errors, and the screenshot's path."""

    bytes_by_origin: dict[str, int] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    stream_after_s: float | None = None  # navigation -> ``min_bytes`` from ``wait_origin``
    capture_s: float = 0.0               # how long the screenshot itself took


def _origin(url: str) -> str:
    parts = url.split("/")
    return "/".join(parts[:3]) if len(parts) >= 3 else url


def screenshot(url: str, out: str | Path, *, wait_origin: str = "", min_bytes: int = 0,
               settle_s: float = 5.0, timeout_s: float = 120.0, size=(1280, 800),
               browser: str | None = None) -> PageLoad:
    """Open ``url`` in headless Chromium, wait until ``min_bytes`` arrived from ``wait_origin``
    (or ``timeout_s``), then ``settle_s`` more seconds for the page to draw, and save a PNG
    screenshot of ``size`` (width, height pixels) to ``out``. Returns what the page received."""
    import websocket

    exe = browser or find_browser()
    if exe is None:
        raise BrowserError(f"no Chromium-family browser on PATH (tried {', '.join(BROWSERS)}); "
                           "Debian/Ubuntu: apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="omni_viz_chromium_")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}",
                             f"--window-size={size[0]},{size[1]}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    load = PageLoad()
    try:
        ws_url = _devtools_url(proc, timeout_s)
        port = ws_url.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=30) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        conn = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                           suppress_origin=True)
        cdp = _Cdp(conn, load)
        cdp.call("Network.enable")
        # (no Runtime.enable: the viewer logs shader dumps by the thousand at debug level;
        # uncaught exceptions still arrive as Runtime events only with it, so they are skipped)
        cdp.call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                 deviceScaleFactor=1, mobile=False)
        cdp.call("Page.navigate", url=url)
        t0 = time.monotonic()
        end = t0 + timeout_s
        want = _origin(wait_origin) if wait_origin else ""
        while time.monotonic() < end and want and load.bytes_by_origin.get(want, 0) < min_bytes:
            cdp.pump(0.5)
        if load.bytes_by_origin.get(want, 0) >= min_bytes:
            load.stream_after_s = time.monotonic() - t0
        settle_end = time.monotonic() + settle_s
        while time.monotonic() < settle_end:
            cdp.pump(0.5)
        t1 = time.monotonic()
        shot = cdp.call("Page.captureScreenshot", format="png")
        load.capture_s = time.monotonic() - t1
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        load.screenshot = out
        conn.close()
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return load


def _devtools_url(proc: subprocess.Popen, timeout_s: float) -> str:
    end = time.monotonic() + timeout_s
    lines = []
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "DevTools listening on" in line:
            return line.split("listening on ", 1)[1].strip()
    raise BrowserError("chromium did not start its DevTools endpoint: " + "".join(lines[-5:]))


class _Cdp:
    def __init__(self, conn, load: PageLoad):
        self.conn, self.load, self.next_id = conn, load, 0
        self._requests: dict[str, str] = {}  # requestId -> origin

    def call(self, method: str, **params) -> dict:
        import websocket

        self.next_id += 1
        self.conn.settimeout(60)
        self.conn.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            try:
                msg = json.loads(self.conn.recv())
            except websocket.WebSocketTimeoutException:
                raise BrowserError(f"chromium did not answer {method}") from None
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def pump(self, wait_s: float) -> None:
        """Handle the events that arrive within ``wait_s`` seconds."""
        import websocket

        end = time.monotonic() + wait_s
        while (left := end - time.monotonic()) > 0:
            self.conn.settimeout(left)
            try:
                self._event(json.loads(self.conn.recv()))
            except websocket.WebSocketTimeoutException:
                return

    def _event(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self._requests[p["requestId"]] = _origin(p["request"]["url"])
        elif method == "Network.dataReceived":
            origin = self._requests.get(p["requestId"], "?")
            n = int(p.get("encodedDataLength") or 0) or int(p.get("dataLength") or 0)
            self.load.bytes_by_origin[origin] = self.load.bytes_by_origin.get(origin, 0) + n
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.load.console_errors.append(" ".join(
                str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            self.load.console_errors.append(str(p.get("exceptionDetails", {}).get("text")))
