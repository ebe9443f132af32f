"""The console's quality-profile and SDK-download pages in Chromium against a real server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.test_console import Console, _member, _next_event, _signin

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def console() -> Iterator[Console]:
    c = Console()
    yield c
    c.close()


async def test_edit_a_profile_and_see_a_validation_error(new_page: Any, console: Console) -> None:
    app = console.rest("POST", "/v1/apps", {"name": "live"}).json()
    page = await new_page(enforce_csp=True)
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/apps/{app['app_id']}")
    await page.click("#quality-link")
    await page.wait_for_selector("#quality-form")
    form = "#quality-form"
    await page.select_option(f"{form} select[name=platform]", "web")
    await page.fill(f"{form} input[name=role]", "host")
    await page.select_option(f"{form} select[name=template]", "interactive_live")
    await page.wait_for_selector(f"{form} #differs[data-count='0']")
    assert await page.input_value(f"{form} input[name='video.width']") == "1280"
    # Out of range: the server's error shows at that field, and nothing is stored.
    await page.fill(f"{form} input[name='video.fps']", "500")
    await page.wait_for_selector(f"{form} label[data-field='video.fps'].differs")
    await page.click(f"{form} button[type=submit]")
    err = f"{form} label[data-field='video.fps'] .field-error[data-code=invalid_quality_profile]"
    await page.wait_for_selector(err)
    assert "video.fps" in (await page.text_content(err) or "")
    assert (
        await page.locator(f"{form} label[data-field='video.width'] .field-error").text_content()
        == ""
    )
    base = f"/v1/apps/{app['app_id']}/quality"
    assert console.rest("GET", base).json()["profiles"] == []
    # Fixed: stored as the template plus the two differing fields, listed with its difference.
    await page.fill(f"{form} input[name='video.fps']", "20")
    await page.fill(f"{form} input[name='video.width']", "960")
    await page.uncheck(f"{form} input[name='audio.agc']")  # already off in interactive_live
    await page.check(f"{form} input[name='video.fec']")
    await page.wait_for_selector(f"{form} #differs[data-count='3']")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("#saved[data-version='1']")
    (stored,) = console.rest("GET", base).json()["profiles"]
    assert (stored["platform"], stored["role"], stored["template"]) == (
        "web",
        "host",
        "interactive_live",
    )
    assert stored["differs"] == {"video.fps": 20, "video.width": 960, "video.fec": True}
    row = "#profiles tr[data-key='web/host'] .differs-list"
    assert await page.text_content(row) == "video.width = 960, video.fps = 20, video.fec = true"
    # Editing it again starts from the stored values and makes version 2.
    await page.click("#profiles tr[data-key='web/host'] button")
    assert await page.input_value(f"{form} input[name='video.width']") == "960"
    await page.fill(f"{form} input[name='video.width']", "1280")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("#saved[data-version='2']")
    assert console.rest("GET", base).json()["profiles"][0]["differs"] == {
        "video.fps": 20,
        "video.fec": True,
    }


async def test_a_console_edit_reaches_a_member_in_a_room(new_page: Any, console: Console) -> None:
    app = console.rest("POST", "/v1/apps", {"name": "push"}).json()
    member = _member(console.origin, app, "m1", "r")  # hello without a platform: web
    page = await new_page(enforce_csp=True)
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/apps/{app['app_id']}/quality")
    form = "#quality-form"
    await page.wait_for_selector(form)
    await page.fill(f"{form} input[name='video.height']", "240")
    await page.fill(f"{form} input[name='video.width']", "320")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("#saved[data-version='1']")
    pushed = _next_event(member, "quality.changed")
    assert pushed["source"] == "web/*"
    assert (pushed["profile"]["video"]["width"], pushed["profile"]["video"]["height"]) == (320, 240)
    member.close()


def _install_and_import(wheel: Path) -> None:
    """pip-install ``wheel`` into a directory of its own; the copy there imports."""
    target = wheel.parent / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=120,
    )
    # The installed copy (not this checkout) imports, with the SDK and its fast path.
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ilvb, ilvb.client, ilvb.sfu.fastpath._fastpath as f; print(ilvb.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=wheel.parent,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip().startswith(str(target)), out


def _sha256(url: str) -> str:
    return hashlib.sha256(httpx.get(url, timeout=10).content).hexdigest()


async def test_sdk_downloads_page_serves_an_installable_wheel_and_the_web_sdk(
    new_page: Any, console: Console
) -> None:
    page = await new_page(enforce_csp=True)
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/sdk")
    await page.wait_for_selector("#python-wheel")
    href = await page.get_attribute("#python-wheel", "href")
    assert href and href.endswith(".whl")
    async with page.expect_download() as info:
        await page.click("#python-wheel")
    download = await info.value
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(tmp) / download.suggested_filename
        await download.save_as(wheel)
        _install_and_import(wheel)
    # Every Web SDK file listed is served with the listed digest.
    rows = await page.locator("#web-sdk tr[data-file] a").evaluate_all(
        "(links) => links.map((a) => a.getAttribute('href'))"
    )
    listing = console.rest("GET", "/v1/sdk").json()
    assert {f["url"] for f in listing["web"]["files"]} == set(rows)
    assert "/sdk/ilvb.js" in rows and "/sdk/ilvb.d.ts" in rows
    for f in listing["web"]["files"]:
        assert _sha256(console.origin + f["url"]) == f["sha256"], f["url"]
    assert console.rest("GET", "/v1/sdk", **{"Origin": "http://evil.example"}).status_code == 401


def _hello(origin: str, ticket: str) -> dict[str, Any]:
    """The reply to ``hello`` with ``ticket`` on a new signaling socket."""
    import json

    from websockets.sync.client import connect

    with connect(origin.replace("http", "ws") + "/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": ticket}}))
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame.get("id") == 1:
                return frame  # type: ignore[no-any-return]


async def test_a_key_rotated_in_the_console_refuses_login_tickets_of_the_old_one(
    new_page: Any, console: Console
) -> None:
    from ilvb.auth.tickets import sign_ticket

    app = console.rest("POST", "/v1/apps", {"name": "rot"}).json()
    old = sign_ticket(app["app_id"], app["secret"], "alice")
    assert _hello(console.origin, old)["type"] == "response"
    page = await new_page(enforce_csp=True)
    page.on("dialog", lambda d: d.accept())
    await _signin(page, console)
    await page.goto(f"{console.origin}/console#/apps/{app['app_id']}")
    await page.click("#rotate")
    await page.wait_for_selector("#secret[data-rotated='1']")
    new_secret = (await page.text_content("#secret") or "").strip()
    refused = _hello(console.origin, old)
    assert refused["type"] == "error" and refused["error"]["code"] == "ticket_bad_signature", (
        refused
    )
    fresh = sign_ticket(app["app_id"], new_secret, "alice")
    assert _hello(console.origin, fresh)["type"] == "response"
