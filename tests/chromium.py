"""A headless Chromium driven over the DevTools protocol, for the browser tests.

Debian's ``chromium`` package (``/usr/bin/chromium``; ``make test`` installs it) is started
with a fresh profile and ``--remote-debugging-port=0``; the test talks to one page over the
protocol's WebSocket (``websockets``' synchronous client): navigate, evaluate JavaScript,
type and click with real input events, take screenshots. Every request the page makes is
recorded (``Network.requestWillBeSent``), so a test can check that none left the machine.

``browser_missing()`` says why no browser can run here (None when one can). With
``CDP_REQUIRE_BROWSER`` set (CI), a missing browser fails the tests instead of skipping them.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CDP_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT = 30.0  # seconds for Chromium to open its DevTools port
COMMAND_TIMEOUT = 30.0  # seconds for one protocol command


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (Debian: apt-get install chromium; `make test` does it)"
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        return "the websockets package is not installed (pip install -e '.[test]')"
    return None


class BrowserError(AssertionError):
    """Chromium did not start, a command failed, or a wait ran out of time."""


class Chromium:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="cdp-chromium-"))
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
             "--metrics-recording-only", "--dns-prefetch-disable", "--disable-features=Translate,OptimizationHints",
             # Defence in depth: any name but loopback fails to resolve (the tests also check).
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.requests: list[str] = []  # URL of every request the page made
        self.console: list[str] = []  # console messages and uncaught exceptions
        self._ids = itertools.count(1)
        self._events: list[dict] = []
        try:
            self._ws = self._connect()
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Any:
        from websockets.sync.client import connect

        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
                raise BrowserError(f"Chromium did not open its DevTools port: {err[-2000:]}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        return connect(f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024, open_timeout=START_TIMEOUT)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------

    def _call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer within {COMMAND_TIMEOUT} s")
            reply = json.loads(self._ws.recv(timeout=left))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._note(reply)

    def send(self, method: str, params: dict | None = None) -> dict:
        """Send one protocol command to the page; its result."""
        return self._call(method, params, self._session)

    def _note(self, event: dict) -> None:
        method = event.get("method")
        params = event.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.console.append("exception: " + json.dumps(params["exceptionDetails"])[:2000])
        self._events.append(event)

    def pump(self, seconds: float = 0.05) -> None:
        """Read the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._note(json.loads(self._ws.recv(timeout=left)))
            except TimeoutError:
                return

    # -- page -------------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for_event("Page.loadEventFired")

    def wait_for_event(self, method: str, timeout: float = COMMAND_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self._events:
                if event.get("method") == method:
                    self._events.remove(event)
                    return event
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} within {timeout} s")
            self.pump(0.1)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = COMMAND_TIMEOUT, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; its value. Raises ``BrowserError``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"waited {timeout} s for {what or expression[:200]}; console: {self.console[-10:]}")
            self.pump(0.1)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element ``selector`` picks."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def insert_text(self, text: str) -> None:
        """Type ``text`` into the focused element (one input event, as a paste gives)."""
        self.send("Input.insertText", {"text": text})

    def type_keys(self, text: str) -> None:
        """Type ``text`` key by key (keydown, char, keyup), as a person would."""
        for char in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": char, "key": char})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": char})

    def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        """Press and release one named key (``modifiers``: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code, "modifiers": modifiers,
                                                 "windowsVirtualKeyCode": key_code})

    def screenshot(self, target: Path | None = None, selector: str | None = None) -> bytes:
        """A PNG of the page (or of the element ``selector`` picks), written to ``target`` when given; its bytes."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                                ".getBoundingClientRect(); return [r.x + window.scrollX, r.y + window.scrollY,"
                                " r.width, r.height]; })()")
            params["clip"] = {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        if target is not None:
            target.write_bytes(data)
        return data


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are), row by row.

    Raises ``ValueError`` for another kind of PNG. (No imaging library is needed for the
    screenshot checks: PNG is zlib-compressed rows, each with one of five filters.)
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or interlace or color not in (2, 6):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color}, interlace {interlace}")
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(bytes(idat))
    pixels: list[tuple[int, int, int]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                up_left = previous[i - channels] if i >= channels else 0
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 255
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)]
        previous = line
    return pixels


def share_near(pixels: list[tuple[int, int, int]], colour: tuple[int, int, int], tolerance: int = 24) -> float:
    """The share of ``pixels`` within ``tolerance`` of ``colour`` on every channel."""
    r, g, b = colour
    near = sum(1 for p in pixels if abs(p[0] - r) <= tolerance and abs(p[1] - g) <= tolerance
               and abs(p[2] - b) <= tolerance)
    return near / max(1, len(pixels))
