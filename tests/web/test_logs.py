"""The Web SDK's logs and crash reports against a real server (ilvb/web/static/ilvb/logs.js): the
level is respected, lines carry the ids, ``uploadLogs()`` is accepted and listed over REST, a
crash in an SDK event listener and an uncaught error are kept and uploaded by the next page, and
no ticket, key or secret appears in anything uploaded (the test searches every stored bundle)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.test_console import Console

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.")

CONNECT_JS = """async ([room, level]) => {
  const sdk = await import('/sdk/ilvb.js');
  window.sdk = sdk;
  window.logs = new sdk.SdkLogs({level, console: false}).install();
  const res = await fetch('/demo/ticket', {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({user: 'ann', room})});
  window.ticket = (await res.json()).ticket;
  window.c = await sdk.Client.connect(location.origin, window.ticket);
  logs.contextFrom(c);
  return window.ticket;
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[Console]:
    s = Console()
    yield s
    s.close()


def bundles(server: Console, app_id: str) -> list[dict[str, Any]]:
    listed = server.rest("GET", f"/v1/apps/{app_id}/logs")
    assert listed.status_code == 200, listed.text
    return [
        server.rest("GET", f"/v1/apps/{app_id}/logs/{b['id']}").json()
        for b in listed.json()["bundles"]
    ]


async def test_level_ids_upload_and_no_secret_in_the_bundle(new_page, server):
    page = await new_page(f"{server.origin}/demo")
    ticket = await page.evaluate(CONNECT_JS, ["logs-room", "info"])
    await page.evaluate("c.enter('logs-room', {receive: false})")
    lines = [json.loads(line) for line in await page.evaluate("logs.lines")]
    assert [x["msg"] for x in lines][:2] == ["connected", "entered"], lines
    assert all(x["level"] != "debug" for x in lines)  # info level: no request lines
    assert lines[1]["user_id"] == "ann" and len(lines[1]["session_id"]) == 12
    await page.evaluate("logs.setLevel('debug'); c.member('ann')")
    await page.wait_for_function("logs.lines.some(l => JSON.parse(l).level === 'debug')")
    # a secret in a log line is redacted before it is kept
    await page.evaluate("logs.context({note: 'ticket=' + ticket}); c.member('ann')")
    app_id = await page.evaluate("c.appId")
    bundle_id = await page.evaluate("c.uploadLogs({stats: {rtt_ms: 3, ticket: 'x'}})")
    stored = server.rest("GET", f"/v1/apps/{app_id}/logs/{bundle_id}").json()
    assert stored["user_id"] == "ann" and stored["kind"] == "logs"
    assert '"msg":"entered"' in stored["logs"] and "ticket=***" in stored["logs"]
    assert stored["stats"] == {"rtt_ms": 3, "ticket": "***"}
    assert stored["environment"]["sdk"] == "web" and "Chrome" in stored["environment"]["userAgent"]
    listed = server.rest("GET", f"/v1/apps/{app_id}/logs").json()["bundles"]
    assert bundle_id in [b["id"] for b in listed]
    text = json.dumps(stored)
    assert ticket not in text and not JWT.search(text)
    # without the ticket the upload endpoint refuses
    refused = server.rest("POST", "/client-logs", {"logs": "x"}, accept="application/json")
    assert refused.status_code == 401


async def test_a_crash_in_a_listener_is_uploaded_by_the_next_page(new_page, server):
    page = await new_page(f"{server.origin}/demo")
    ticket = await page.evaluate(CONNECT_JS, ["crash-room", "info"])
    await page.evaluate(
        "localStorage.clear();"
        " c.on('room.entered', () => { throw new Error('listener boom ticket=' + ticket); });"
        " c.enter('crash-room', {receive: false})"
    )
    await page.evaluate("setTimeout(() => { throw new Error('uncaught boom'); }, 0); 0")
    await page.wait_for_function("logs.pendingCrashes().length === 2", timeout=5000)
    app_id = await page.evaluate("c.appId")
    # the next start of the page (same browser profile): a new SdkLogs uploads what is waiting
    await page.reload()
    await page.evaluate(CONNECT_JS, ["crash-room", "info"])
    ids = await page.evaluate("logs.uploadPending(c)")
    assert len(ids) == 2
    assert await page.evaluate("logs.pendingCrashes().length") == 0
    crashes = [b for b in bundles(server, app_id) if b["id"] in ids]
    assert {b["kind"] for b in crashes} == {"crash"}
    by_where = {b["crash"]["where"]: b for b in crashes}
    assert set(by_where) == {"listener for room.entered failed", "window.onerror"}, by_where
    listener = by_where["listener for room.entered failed"]
    assert listener["crash"]["message"] == "listener boom ticket=***"
    assert "listener boom" in listener["crash"]["stack"]
    assert '"msg":"connected"' in listener["logs"]  # the recent lines came with it
    for b in bundles(server, app_id):
        text = json.dumps(b)
        assert ticket not in text and not JWT.search(text), b["id"]
