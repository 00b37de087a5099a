"""Headless Chromium over the DevTools protocol, with aiohttp only.

Enough for the demo page test: a fixed viewport, open a URL, evaluate
JavaScript, poll a condition, take a PNG screenshot. Chromium writes the
DevTools port it picked to <profile>/DevToolsActivePort.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import aiohttp

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
)


def find_chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    def __init__(self, binary: str, profile: Path, *, width: int = 1280, height: int = 900) -> None:
        self.binary, self.profile = binary, profile
        self.width, self.height = width, height
        self.proc: Optional[subprocess.Popen] = None
        self.http: Optional[aiohttp.ClientSession] = None
        self.ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self._next_id = 0

    async def __aenter__(self) -> "Chromium":
        self.profile.mkdir(parents=True, exist_ok=True)  # a fresh --user-data-dir per test
        self.proc = subprocess.Popen(
            [self.binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            port_file = self.profile / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"chromium did not start (exit code {self.proc.poll()})")
                await asyncio.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            async with self.http.get(f"http://127.0.0.1:{port}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            self.ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
            await self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                            deviceScaleFactor=1, mobile=False)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def send(self, method: str, **params: Any) -> dict:
        self._next_id += 1
        mid = self._next_id
        await self.ws.send_json({"id": mid, "method": method, "params": params})
        while True:  # skip events and answers to nothing we wait for
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def eval(self, expression: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_until(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll a JS condition until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except RuntimeError:
                value = None  # still navigating
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> bytes:
        res = await self.send("Page.captureScreenshot", format="png")
        png = base64.b64decode(res["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png
