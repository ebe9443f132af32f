"""The demo page with two members: preview, remote tile, member list, meters, device pickers.

Set ``ILVB_DEMO_PNG=docs/demo.png`` to write the screenshot used in docs/web-sdk.md.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.web.pagekit import poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_demo_page_with_two_members(new_page, ilvb_origin, tmp_path: Path):
    room = "class-" + uuid.uuid4().hex[:4]
    pages = {}
    for user in ("alice", "bob"):
        pages[user] = await new_page(f"{ilvb_origin}/demo?user={user}&room={room}&autojoin=1")
        await pages[user].set_viewport_size({"width": 1360, "height": 760})
    for page in pages.values():
        await page.wait_for_selector("body[data-state=joined]", timeout=20000)
        assert await page.is_hidden("#error")
    alice = pages["alice"]
    # Bob's camera shows in Alice's grid and plays.
    await alice.wait_for_selector("#grid .tile[data-user=bob][data-source=camera] video")
    await alice.wait_for_function(
        "(() => { const v = document.querySelector('#grid .tile[data-user=bob] video');"
        " return v && v.videoWidth === 640 && v.currentTime > 0.5; })()",
        timeout=20000,
    )
    # The member list shows both with microphone and camera sending.
    for user in ("alice", "bob"):
        li = f"#members li[data-user={user}][data-audio=sending][data-video=sending]"
        await alice.wait_for_selector(li, timeout=5000)
    assert await alice.inner_text("#member-count") == "(2)"
    # Device pickers list Chromium's fake devices.
    mics = await alice.eval_on_selector_all("#mic-select option", "os => os.map(o => o.text)")
    cams = await alice.eval_on_selector_all("#cam-select option", "os => os.map(o => o.text)")
    assert "Fake Default Audio Input" in mics and cams[0].startswith("fake_device_")
    # The meters move: the microphone (fake beep) and the speaker (bob's beep, received).
    for meter in ("#mic-level", "#speaker-level"):
        await poll(lambda m=meter: alice.eval_on_selector(m, "el => el.value > 0.01"), within=10)
    await alice.wait_for_function(
        "document.querySelector('#preview').videoWidth === 640", timeout=5000
    )
    png = await alice.screenshot(path=str(tmp_path / "demo.png"))
    assert len(png) > 20_000
    target = os.environ.get("ILVB_DEMO_PNG")
    if target:
        shutil.copyfile(tmp_path / "demo.png", target)


async def test_the_documented_example_runs_with_two_members(new_page, ilvb_origin):
    room = "example-" + uuid.uuid4().hex[:4]
    pages = {
        u: await new_page(f"{ilvb_origin}/sdk/example.html?user={u}&room={room}")
        for u in ("alice", "bob")
    }
    for user, page in pages.items():
        other = "bob" if user == "alice" else "alice"
        await page.wait_for_function(
            f"document.getElementById('status').textContent === 'in {room} as {user}'",
            timeout=20000,
        )
        await page.wait_for_function(
            f"(() => {{ const v = document.querySelector('#others video[data-user={other}]');"
            " return v && v.videoWidth === 640 && v.currentTime > 0.3; })()",
            timeout=20000,
        )
