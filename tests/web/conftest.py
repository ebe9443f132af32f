"""Browser fixtures: one headless Debian Chromium per session (Playwright), a context per test.

Pages must come from http://127.0.0.1:PORT so getUserMedia works (a secure context). Tests that
need only the static files (devices, pre-call) use ``static_origin``, a tiny HTTP server serving
``ilvb/web/static`` under ``/sdk/`` (and ``/precall``); room tests use the real server.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

STATIC = Path(__file__).resolve().parents[2] / "ilvb" / "web" / "static"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--auto-select-desktop-capture-source=Entire screen",
    "--autoplay-policy=no-user-gesture-required",
    # Gather 127.0.0.1 ICE candidates: all media stays on the loopback interface.
    "--allow-loopback-in-peer-connection",
    # Keep media flowing in pages that are not in front.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--window-size=1920,1200",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/web that uses the browser is marked ``browser`` (``pytest -m
    browser`` runs them alone); the type check (test_types.py) is not."""
    for item in items:
        in_web = "tests/web/" in str(item.fspath).replace("\\", "/")
        if in_web and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves /sdk/<file> and /precall from ilvb/web/static, quietly."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path == "/precall":
            return str(STATIC / "precall.html")
        if path.startswith("/sdk/"):
            return str(STATIC / path[len("/sdk/") :])
        return str(STATIC / "__missing__")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


_StaticHandler.extensions_map = {
    **http.server.SimpleHTTPRequestHandler.extensions_map,
    ".js": "text/javascript",
}


@pytest.fixture(scope="session")
def static_origin() -> Iterator[str]:
    """http://127.0.0.1:PORT serving the Web SDK's static files (no signaling)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_StaticHandler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[object]:
    """One Chromium for the whole session."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser: object) -> AsyncIterator[object]:
    """A factory of pages, each in its own context (own cookies, own devices); closed after."""
    contexts = []

    async def make(url: str | None = None, enforce_csp: bool = False) -> object:
        # bypass_csp: the tests' own string predicates (wait_for_function) are evaluated in the
        # page, which the server's CSP forbids; tests/web/test_csp.py checks the pages under it.
        ctx = await browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": 1280, "height": 800},
            permissions=["microphone", "camera"],
            bypass_csp=not enforce_csp,
        )
        contexts.append(ctx)
        page = await ctx.new_page()
        page.on("console", lambda m: m.type in ("error", "warning") and print("page:", m.text))
        page.on("pageerror", lambda e: print("page error:", e))
        if url:
            await page.goto(url)
        return page

    yield make
    for ctx in contexts:
        await ctx.close()


class ServerProcess:
    """``ilvb serve --demo`` in a child process; ``origin`` is its http://127.0.0.1:PORT."""

    def __init__(
        self, extra_env: dict[str, str] | None = None, data_dir: str | None = None
    ) -> None:
        # data_dir: keep the store across a restart (the caller owns and removes it).
        self._tmp = tempfile.TemporaryDirectory(prefix="ilvb-web-")
        self.data_dir = data_dir or self._tmp.name
        env = {**os.environ, **(extra_env or {})}
        cmd = [sys.executable, "-m", "ilvb", "serve", "--demo", "--port", "0"]
        cmd += ["--data-dir", self.data_dir, "--workers", "0", "--log-level", "warning"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self.origin = ""
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith("ilvb listening on "):
                    self.origin = line.split("ilvb listening on ", 1)[1].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while not ready.wait(0.2) and time.monotonic() < deadline:
            pass
        if not self.origin:
            self.close()
            raise RuntimeError("ilvb serve did not start:\n" + "\n".join(self.lines[-40:]))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._tmp.cleanup()


@pytest.fixture(scope="session")
def ilvb_origin() -> Iterator[str]:
    """A real ilvb server (signaling + SFU) with the demo app, shared by the browser tests."""
    server = ServerProcess()
    yield server.origin
    server.close()
    tail = [line for line in server.lines if "Traceback" in line or "ERROR" in line]
    if tail:
        print("server log (errors):\n" + "\n".join(server.lines[-80:]))
