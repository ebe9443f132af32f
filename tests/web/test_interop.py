"""Browser ↔ Python SDK interop through the SFU, both directions, VP8 and H.264: each side
decodes the other's frames (the browser reads back the Python source's frame tags; Python checks
the browser camera's frames are full-size, not black and moving)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import numpy as np
import pytest

from ilvb.client import Client
from ilvb.client.remote import audio_tone
from ilvb.client.sources import SyntheticVideoSource, ToneSource
from tests.web.pagekit import inbound, join, poll, read_tag

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

MARKER = 0x5A


async def python_client(origin: str, user: str, room: str) -> Client:
    async with httpx.AsyncClient(base_url=origin) as http:
        reply = await http.post("/demo/ticket", json={"user": user, "room": room})
        reply.raise_for_status()
    ws = origin.replace("http://", "ws://") + "/ws"
    client = await Client.connect(ws, reply.json()["ticket"])
    await client.enter(room)
    return client


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_browser_and_python_sdk_exchange_video(new_page, ilvb_origin, codec):
    room = f"interop-{codec.lower()}-{uuid.uuid4().hex[:6]}"
    page = await new_page(f"{ilvb_origin}/demo")
    await join(page, "web", room)
    await page.evaluate(
        "([codec]) => c.publish('microphone').then(() => c.publish('camera', {codec}))"
        ".then(() => 0)",
        [codec],
    )
    client = await python_client(ilvb_origin, "py", room)
    try:
        source = SyntheticVideoSource(marker=MARKER, fps=15, width=256, height=128)
        await client.publish_video(source, codec=codec)
        await client.publish_audio(ToneSource(660, amplitude=0.5))
        await client.request_views(["web"])
        await page.evaluate("c.requestViews(['py']).then(() => 0)")

        # Python decodes the browser's camera: 640×480, not black, moving.
        frames = []

        async def collect() -> None:
            async for user_id, frame in client.remote_video(["web"]):
                assert user_id == "web"
                frames.append(frame.to_ndarray(format="gray"))
                if len(frames) >= 30:
                    return

        await asyncio.wait_for(collect(), 40)
        assert all(f.shape == (480, 640) for f in frames), {f.shape for f in frames}
        first, last = frames[-10].astype(np.int16), frames[-1].astype(np.int16)
        # A picture, not a flat black frame: Chromium's fake camera draws a white shape on a
        # background of luma ~0 (green comes from chroma), so look for the bright shape.
        for f in (first, last):
            assert f.std() > 20 and (f > 150).mean() > 0.002, (f.mean(), f.std())
        assert np.abs(first - last).mean() > 1.0  # moving

        # The browser decodes the Python source: the frame tags read back from its pixels carry
        # the marker and advance; the codec is the one forced.
        tag1 = await poll(lambda: read_tag(page, "py"), within=30)
        stats1 = await _py_video(page)
        await asyncio.sleep(1.0)
        tag2 = await poll(lambda: read_tag(page, "py"), within=10)
        stats2 = await _py_video(page)
        assert tag1[1] == MARKER and tag2[1] == MARKER, (tag1, tag2)
        assert tag2[0] > tag1[0], (tag1, tag2)
        assert stats2["framesDecoded"] > stats1["framesDecoded"] >= 1
        assert (stats2["frameWidth"], stats2["frameHeight"]) == (256, 128)
        assert stats2["mimeType"] == f"video/{codec}", stats2
        sent = await page.evaluate(
            """async () => { const s = await c.sendPc.getStats();
                 for (const r of s.values()) if (r.type === 'outbound-rtp' && r.kind === 'video')
                   return s.get(r.codecId).mimeType; }"""
        )
        assert sent == f"video/{codec}"

        # Audio both ways: Python hears the browser's fake microphone (it beeps), the browser
        # receives Python's 660 Hz tone with its energy.
        loud = []

        async def hear() -> None:
            async for _user_id, frame in client.remote_audio(["web"]):
                _freq, rms = audio_tone(frame)
                if rms > 0.05:
                    loud.append(rms)
                    if len(loud) >= 5:
                        return

        await asyncio.wait_for(hear(), 20)
        energy = await poll(lambda: _audio_energy(page), within=20)
        assert energy > 0.01, energy
    finally:
        await client.close()


async def _py_video(page):
    mid = await page.evaluate("(() => { const v = c.remoteVideo('py'); return v && v.mid; })()")
    return (await inbound(page)).get(mid) if mid else None


async def _audio_energy(page):
    """Energy per second received over a second from the audio slots, once any arrives."""
    first = await inbound(page)
    await asyncio.sleep(1.0)
    second = await inbound(page)
    samples = sum(
        s["totalSamplesReceived"] - first.get(m, {}).get("totalSamplesReceived", 0)
        for m, s in second.items()
        if s["kind"] == "audio"
    )
    energy = sum(
        s["totalAudioEnergy"] - first.get(m, {}).get("totalAudioEnergy", 0)
        for m, s in second.items()
        if s["kind"] == "audio"
    )
    return energy / (samples / 48000) if samples > 0 and energy > 0 else None


async def test_browser_shows_each_python_sender_in_its_own_view(new_page, ilvb_origin):
    room = f"views-{uuid.uuid4().hex[:6]}"
    page = await new_page(f"{ilvb_origin}/demo")
    await join(page, "viewer", room)
    markers = {"p1": 0x11, "p2": 0x22, "p3": 0x33}
    clients = []
    try:
        for user, marker in markers.items():
            client = await python_client(ilvb_origin, user, room)
            clients.append(client)
            await client.publish_video(SyntheticVideoSource(marker=marker, fps=10))
        views = await page.evaluate("c.requestViews(['p1', 'p2', 'p3'])")
        assert [v["user_id"] for v in views] == ["p1", "p2", "p3"]
        # Each member's RemoteVideo shows that member's frames: the slot events were applied.
        for user, marker in markers.items():
            tag = await poll(lambda u=user: read_tag(page, u), within=30)
            assert tag[1] == marker, (user, tag)
        # Cancelling one view leaves the others showing the right members.
        await page.evaluate("c.cancelViews(['p2']).then(() => 0)")
        await page.wait_for_function("!c.remoteVideo('p2')", timeout=5000)
        for user in ("p1", "p3"):
            first = await poll(lambda u=user: read_tag(page, u), within=10)
            await asyncio.sleep(0.5)
            later = await poll(lambda u=user: read_tag(page, u), within=10)
            assert first[1] == later[1] == markers[user] and later[0] > first[0], (first, later)
    finally:
        for client in clients:
            await client.close()
