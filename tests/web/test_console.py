"""The web console in Chromium against a real ``ilvb serve``: sign-in, apps, key rotation,
settings with a field error, live members with kick, usage drawn from a room's samples, billing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from ilvb.auth.tickets import sign_server_token, sign_ticket
from ilvb.cli import ADMIN_KEY_FILE_PREFIX
from tests.web.conftest import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def _admin_key(data_dir: str) -> str:
    """A fresh admin key for the server using ``data_dir`` (``ilvb admin-key reset`` writes it
    to the 0600 file whose path it prints)."""
    out = subprocess.run(
        [sys.executable, "-m", "ilvb", "admin-key", "reset", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith(ADMIN_KEY_FILE_PREFIX):
            return Path(line[len(ADMIN_KEY_FILE_PREFIX) :].strip()).read_text().strip()
    raise AssertionError(f"ilvb admin-key reset named no key file: {out}")


class Console:
    """A server of our own (its data dir survives restarts), its admin key and REST helpers."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ilvb-console-")
        self.server = ServerProcess(data_dir=self._dir.name)
        self.key = _admin_key(self._dir.name)

    @property
    def origin(self) -> str:
        return self.server.origin

    def rest(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        hdrs = headers or {"X-Admin-Key": self.key}
        return httpx.request(method, self.origin + path, json=body, headers=hdrs, timeout=10)

    def restart(self) -> None:
        """SIGTERM (graceful: the usage of the minute so far is written), then start again."""
        self.server.proc.send_signal(signal.SIGTERM)
        self.server.proc.wait(30)
        self.server.close()
        self.server = ServerProcess(data_dir=self._dir.name)

    def close(self) -> None:
        self.server.close()
        self._dir.cleanup()


@pytest.fixture
def console() -> Iterator[Console]:
    c = Console()
    yield c
    c.close()


def _member(origin: str, app: dict[str, Any], user: str, room: str) -> ClientConnection:
    ws = connect(origin.replace("http", "ws") + "/ws", open_timeout=10)
    ticket = sign_ticket(app["app_id"], app["secret"], user)
    ws.send(json.dumps({"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": ticket}}))
    ws.send(json.dumps({"id": 2, "type": "room.enter", "data": {"room": room}}))
    while json.loads(ws.recv(timeout=10)).get("id") != 2:
        pass
    return ws


def _next_event(ws: ClientConnection, name: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The data of the next ``name`` event on ``ws`` (other frames are skipped)."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        frame = json.loads(ws.recv(timeout=left))
        if frame.get("type") == "event" and frame.get("event") == name:
            return frame["data"]  # type: ignore[no-any-return]
    raise AssertionError(f"no {name} event within {timeout_s} s")


async def _signin(page: Any, console: Console) -> None:
    await page.goto(f"{console.origin}/console")
    await page.wait_for_selector("#signin")
    await page.fill("#signin input[name=key]", "wrong-key")
    await page.click("#signin button")
    await page.wait_for_selector("#signin .field-error[data-code=admin_key_required]")
    await page.fill("#signin input[name=key]", console.key)
    await page.click("#signin button")
    await page.wait_for_selector("#apps")


async def test_no_page_shows_data_without_signing_in(new_page: Any, console: Console) -> None:
    page = await new_page(f"{console.origin}/console#/apps", enforce_csp=True)
    await page.wait_for_selector("#signin")
    assert await page.is_hidden("#nav")
    assert await page.locator("#apps").count() == 0
    # The REST the pages use refuses a cross-origin request that has no key: nothing ambient
    # (no cookie) is sent, so another site cannot act as the console.
    r = console.rest("GET", "/v1/apps", **{"Origin": "http://evil.example"})
    assert r.status_code == 401


async def test_create_rotate_and_edit_an_app(new_page: Any, console: Console) -> None:
    page = await new_page(enforce_csp=True)
    page.on("dialog", lambda d: d.accept())
    await _signin(page, console)
    name = "made-" + uuid.uuid4().hex[:6]
    await page.fill("#create-app input[name=name]", name)
    await page.click("#create-app button")
    secret = (await page.text_content("#new-secret") or "").strip()
    apps = console.rest("GET", "/v1/apps").json()["apps"]
    (app,) = [a for a in apps if a["name"] == name]
    assert len(secret) >= 32
    await page.click(f"#apps a:text('{name}')")
    await page.wait_for_selector("#rotate")
    old = sign_server_token(app["app_id"], secret)
    rooms = f"/v1/apps/{app['app_id']}/rooms"
    assert console.rest("GET", rooms, Authorization=f"Bearer {old}").status_code == 200
    await page.click("#rotate")
    await page.wait_for_selector("#secret[data-rotated='1']")
    new_secret = (await page.text_content("#secret") or "").strip()
    assert new_secret != secret
    assert console.rest("GET", rooms, Authorization=f"Bearer {old}").status_code == 401
    fresh = sign_server_token(app["app_id"], new_secret)
    assert console.rest("GET", rooms, Authorization=f"Bearer {fresh}").status_code == 200
    # A value the server refuses shows its error at the form.
    await page.fill("#app-settings input[name=audio_sender_cap]", "999")
    await page.click("#app-settings button")
    await page.wait_for_selector("#app-settings .field-error[data-code=invalid_argument]")
    await page.fill("#app-settings input[name=audio_sender_cap]", "3")
    await page.click("#app-settings button")
    await page.wait_for_function(
        "document.querySelector('#app-settings input[name=audio_sender_cap]').value === '3'"
    )
    assert console.rest("GET", f"/v1/apps/{app['app_id']}").json()["audio_sender_cap"] == 3


async def test_live_members_kick_and_the_usage_chart(new_page: Any, console: Console) -> None:
    app = console.rest("POST", "/v1/apps", {"name": "school"}).json()
    members = [_member(console.origin, app, u, "math") for u in ("teacher", "ann", "bob")]
    page = await new_page()
    page.on("dialog", lambda d: d.accept())
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/apps/{app['app_id']}")
    for user in ("teacher", "ann", "bob"):
        await page.wait_for_selector(f".room[data-room=math] tr[data-user={user}]")
    await page.click(".room[data-room=math] tr[data-user=bob] button:text('Kick')")
    await page.wait_for_selector(".room[data-room=math] tr[data-user=bob]", state="detached")
    assert _next_event(members[2], "room.exited")["reason"] == "kicked"
    for ws in members:
        ws.close()
    # The room's minute is written when the server stops; after a restart the chart shows it.
    console.restart()
    page = await new_page()
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/apps/{app['app_id']}")
    # One minute of samples, or two when the room's life crossed a minute boundary (the test
    # takes 10-40 s on a loaded machine); exact minutes are tests/server/test_usage_scenario.py's.
    await page.wait_for_function(
        "['1', '2'].includes(document.querySelector('#usage')?.dataset.points)"
    )
    assert (await page.text_content("#peak") or "").startswith("peak 3.0")


async def test_billing_pages_show_balance_and_site_messages(
    new_page: Any, console: Console
) -> None:
    body = {"email": "ops@a.test", "name": "Acme"}
    account = console.rest("POST", "/v1/accounts", body).json()
    page = await new_page(enforce_csp=True)
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/accounts")
    await page.wait_for_selector(f"#accounts tr[data-account={account['account_id']}]")
    await page.goto(f"{console.origin}/console#/accounts/{account['account_id']}")
    await page.fill("#topup input[name=amount]", "12.5x")
    await page.fill("#topup input[name=key]", "ref-1")
    await page.click("#topup button")
    await page.wait_for_selector("#topup .field-error[data-code=invalid_amount]")
    await page.fill("#topup input[name=amount]", "120.50")
    await page.click("#topup button")
    # (locator waits: string predicates would be eval, which the console's CSP forbids)
    await page.locator("#balance", has_text="balance 120.50").wait_for()
    assert await page.locator("#ledger tr").count() == 2  # header + the top-up
