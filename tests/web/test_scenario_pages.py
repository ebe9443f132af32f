"""The scenario pages (/class and /live, ilvb/web/static/scenario.js) driven by clicks in real
Chromium against the demo server: the teacher's screen share reaches the students, a raised hand
shows in the teacher's list, an invitation is accepted (the student then sends audio that another
student receives) or declined, and the teacher takes the student off stage; on /live a viewer
invited on stage becomes a co-host whose camera the host decodes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.web.pagekit import inbound, poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def open_page(new_page: Any, origin: str, path: str, user: str, room: str, role: str) -> Any:
    page = await new_page(f"{origin}{path}?user={user}&room={room}&role={role}&autojoin=1")
    await page.wait_for_selector("body[data-state=joined], #error:not([hidden])", timeout=20000)
    assert await page.get_attribute("body", "data-state") == "joined", await page.inner_text(
        "#error"
    )
    await page.evaluate("window.c = scenario.client")  # for pagekit.inbound
    return page


async def decoded(page: Any, kind: str) -> int:
    """Frames decoded (video) or audio energy x 1000 (audio) summed over the page's inbound."""
    stats = (await inbound(page)).values()
    if kind == "video":
        return sum(s["framesDecoded"] for s in stats if s["kind"] == "video")
    return int(1000 * sum(s["totalAudioEnergy"] for s in stats if s["kind"] == "audio"))


async def advancing(page: Any, kind: str) -> None:
    """The page's decoded video frames (or received audio energy) keep growing."""
    first = await poll(lambda: decoded(page, kind), within=20)
    await poll(lambda: _grew(page, kind, first), within=10)


async def _grew(page: Any, kind: str, before: int) -> bool:
    return await decoded(page, kind) > before


async def test_class_page_hand_invite_accept_speak_and_off_stage(new_page, ilvb_origin):
    room = "class-" + uuid.uuid4().hex[:8]
    teacher = await open_page(new_page, ilvb_origin, "/class", "teacher", room, "teacher")
    ann = await open_page(new_page, ilvb_origin, "/class", "ann", room, "student")
    bob = await open_page(new_page, ilvb_origin, "/class", "bob", room, "student")
    assert await teacher.inner_text("#title") == "online class"
    # the teacher's screen share is on the students' stage, shown large, with frames advancing
    await ann.wait_for_selector("#stage .tile.large[data-user=teacher][data-source=screen]")
    await advancing(ann, "video")
    assert await ann.is_hidden("#host-controls") and await teacher.is_visible("#host-controls")

    await ann.click("#hand-btn")
    await teacher.wait_for_selector("#members li[data-user=ann][data-hand=true]", timeout=5000)
    assert "✋" in await teacher.inner_text("#hand-count")
    await teacher.click("#members li[data-user=ann] button[data-action=invite]")
    await ann.wait_for_selector("#invite:not([hidden])", timeout=5000)
    assert "teacher invites you on stage (audio)" in await ann.inner_text("#invite-text")
    await ann.click("#accept-btn")
    await teacher.wait_for_selector(
        "#members li[data-user=ann][data-stage=true][data-audio=sending]", timeout=5000
    )
    await ann.wait_for_selector("#leave-stage-btn:not([hidden])")
    await bob.wait_for_selector("#members li[data-user=ann][data-audio=sending]", timeout=5000)
    await advancing(bob, "audio")  # bob hears the teacher and ann

    await teacher.click("#members li[data-user=ann] button[data-action=remove]")
    await bob.wait_for_selector(
        "#members li[data-user=ann][data-stage=false][data-audio=off]", timeout=5000
    )
    await ann.wait_for_selector("#hand-btn:not([hidden])", timeout=5000)
    assert await ann.evaluate("scenario.client.localTrack('microphone')") is None

    # the teacher records a few seconds; the replay link plays the file in the replay page
    await teacher.click("#record-btn")
    await teacher.wait_for_function(
        "document.getElementById('record-btn').textContent === 'Stop recording'", timeout=30000
    )
    await asyncio.sleep(3)  # a few seconds of class on the record
    await teacher.click("#record-btn")
    await teacher.wait_for_selector("#replay:not([hidden])", timeout=30000)
    replay = await new_page(f"{ilvb_origin}{await teacher.get_attribute('#replay-link', 'href')}")
    await replay.wait_for_function(
        "document.getElementById('player').currentTime > 0.5", timeout=30000
    )
    assert await replay.evaluate("replay.errors") == []
    width = await replay.evaluate("document.getElementById('player').videoWidth")
    assert width in (640, 1280), width

    # a declined invitation changes nothing
    await teacher.click("#members li[data-user=bob] button[data-action=invite]")
    await bob.wait_for_selector("#invite:not([hidden])", timeout=5000)
    await bob.click("#decline-btn")
    await teacher.wait_for_function(
        "document.getElementById('status').textContent.includes('bob declined')", timeout=5000
    )
    assert await teacher.get_attribute("#members li[data-user=bob]", "data-stage") == "false"
    for page in (teacher, ann, bob):
        assert await page.evaluate("scenario.errors") == []


async def test_live_page_viewer_becomes_a_co_host_the_host_decodes(new_page, ilvb_origin):
    room = "live-" + uuid.uuid4().hex[:8]
    host = await open_page(new_page, ilvb_origin, "/live", "star", room, "host")
    fan = await open_page(new_page, ilvb_origin, "/live", "fan", room, "viewer")
    assert await fan.inner_text("#title") == "host live stream"
    await fan.wait_for_selector("#stage .tile[data-user=star][data-source=camera]")
    await advancing(fan, "video")
    await host.click("#members li[data-user=fan] button[data-action=invite]")
    await fan.wait_for_selector("#invite:not([hidden])", timeout=5000)
    assert "(audio + video)" in await fan.inner_text("#invite-text")
    await fan.click("#accept-btn")
    await host.wait_for_selector("#stage .tile[data-user=fan][data-source=camera]", timeout=10000)
    await advancing(host, "video")
    await host.click("#mute-all-btn")
    await host.wait_for_selector("#members li[data-user=fan][data-audio=muted]", timeout=5000)
    # bypass live from the page: the demo app's server starts HLS; the link plays (a playlist)
    assert await fan.is_hidden("#broadcast-controls")
    await host.click("#live-btn")
    await host.wait_for_selector("#hls:not([hidden])", timeout=30000)
    url = await host.get_attribute("#hls-link", "href")
    async with httpx.AsyncClient(timeout=10) as http:
        playlist = await http.get(url)
        assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U"), playlist.text
        # a viewer's ticket may not start it (the demo app's server checks the role)
        ticket = await fan.evaluate("scenario.ticket")
        refused = await http.post(
            f"{ilvb_origin}/demo/rooms/{room}/live",
            json={"hls": True},
            headers={"Authorization": f"Bearer {ticket}"},
        )
        assert refused.status_code == 403, refused.text
    await host.click("#live-btn")
    await host.wait_for_selector("#hls", state="hidden", timeout=10000)
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(url)).status_code == 404  # the live ended: the URL is gone
    for page in (host, fan):
        assert await page.evaluate("scenario.errors") == []
