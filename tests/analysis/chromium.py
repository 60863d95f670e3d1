"""Load a page in real headless Chromium over the DevTools protocol (`--remote-debugging-pipe`).

Chromium reads JSON commands from fd 3 and writes replies and events to fd 4, each message ending
in a NUL byte. Enough of the protocol to load a file, collect console errors and exceptions, check
images and take a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, error log entries
    images: list[dict[str, Any]] = field(default_factory=list)  # src prefix, complete, naturalWidth
    title: str = ""


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_chrome: int, from_chrome: int):
        self.proc, self.w, self.r = proc, to_chrome, from_chrome
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buf:
            chunk = os.read(self.r, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)


def load_page(path: Path, screenshot: Path, width: int = 1200, height: int = 1600) -> PageResult:
    """Open `path` in headless Chromium; return console errors and image states; save a screenshot."""
    assert CHROMIUM is not None
    r1, w1 = os.pipe()  # us -> chromium (its fd 3)
    r2, w2 = os.pipe()  # chromium -> us (its fd 4)

    def child_fds() -> None:
        a, b = os.dup(r1), os.dup(w2)  # out of the way of 3 and 4 before placing them
        os.dup2(a, 3)
        os.dup2(b, 4)

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
         f"--user-data-dir={profile}", f"--window-size={width},{height}", "--no-first-run", "about:blank"],
        # close_fds would close the 3 and 4 that preexec_fn placed (it runs before the close)
        preexec_fn=child_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(r1)
    os.close(w2)
    pipe = _Pipe(proc, w1, r2)
    result = PageResult()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")
        check = (
            "JSON.stringify({title: document.title, images: Array.from(document.images).map(i =>"
            " ({src: i.src.slice(0, 30), complete: i.complete, naturalWidth: i.naturalWidth}))})"
        )
        value = pipe.send("Runtime.evaluate", {"expression": check, "returnByValue": True}, session=session)
        page = json.loads(value["result"]["value"])
        result.images, result.title = page["images"], page["title"]
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        for ev in pipe.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                result.errors.append(json.dumps(params.get("exceptionDetails", {}))[:300])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                result.errors.append(json.dumps(params.get("args", []))[:300])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                result.errors.append(params["entry"].get("text", "")[:300])
        with contextlib.suppress(RuntimeError):
            pipe.send("Browser.close")
    finally:
        os.close(w1)
        os.close(r2)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return result
