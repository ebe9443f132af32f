"""Media between real Chromium pages through the SFU: video decoded and moving, audio received
with energy, and desktop sharing arriving at each mode's resolution."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.web.pagekit import changed_fraction, inbound, join, poll, sample

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


SCREEN_CLEAR_FPS = 10


def room_name() -> str:
    return "media-" + uuid.uuid4().hex[:8]


async def video_stats(page, user: str, source: str = "camera"):
    mid = await page.evaluate(
        "([u, s]) => { const v = c.remoteVideo(u, s); return v ? v.mid : null; }", [user, source]
    )
    if mid is None:
        return None
    return (await inbound(page)).get(mid)


async def audio_totals(page):
    """Sum over audio slots: (totalSamplesReceived, totalAudioEnergy)."""
    stats = await inbound(page)
    audio = [s for s in stats.values() if s["kind"] == "audio"]
    return (
        sum(s["totalSamplesReceived"] for s in audio),
        sum(s["totalAudioEnergy"] for s in audio),
    )


async def test_two_pages_receive_each_others_video_and_audio(new_page, ilvb_origin):
    room = room_name()
    pages = {}
    for user in ("alice", "bob"):
        page = await new_page(f"{ilvb_origin}/demo")
        await join(page, user, room)
        await page.evaluate("c.publish('microphone').then(() => c.publish('camera')).then(() => 0)")
        pages[user] = page
    for me, other in (("alice", "bob"), ("bob", "alice")):
        views = await pages[me].evaluate(f"c.requestViews(['{other}'])")
        assert [v["user_id"] for v in views] == [other]

    loud = {}
    for me, other in (("alice", "bob"), ("bob", "alice")):
        page = pages[me]
        first = await poll(lambda p=page, o=other: _decoded(p, o, 5), within=30)
        # Frames keep being decoded...
        later = await poll(lambda p=page, o=other, n=first["framesDecoded"]: _decoded(p, o, n + 10))
        assert later["frameWidth"] == 640 and later["frameHeight"] == 480, later
        # ...and the picture is not black and not frozen (Chromium's fake camera animates).
        a = await poll(lambda p=page, o=other: sample(p, o))
        await asyncio.sleep(1.0)
        b = await sample(page, other)
        assert a["mean"] > 20 and b["mean"] > 20, (a["mean"], b["mean"])
        # (the fake camera's clock digits and its animated shape change; ~1 % of the frame)
        moved = changed_fraction(a, b)
        print(f"{me} sees {other}: mean {b['mean']:.0f}, {moved:.2%} of pixels changed in 1 s")
        assert moved > 0.001, moved
        # Audio: samples keep arriving and carry energy (the fake microphone beeps).
        s0, e0 = await poll(lambda p=page: _audio_flowing(p), within=20)
        s1, e1 = await poll(lambda p=page, s=s0: _audio_more(p, s + 96000), within=20)
        # Energy per second of received audio (totalAudioEnergy sums level² × seconds): the
        # beep gives ~1e-2, digital silence ~0.
        power = (e1 - e0) / ((s1 - s0) / 48000)
        print(f"{me} hears {other}: {s1 - s0} samples, energy/s {power:.2e}")
        assert s1 > s0 and power > 1e-2, (s0, s1, e0, e1)
        loud[me] = power
    # Each member's audio before mixing: the slot that carries bob.
    bob_audio = await pages["alice"].evaluate(
        "(() => { const a = c.remoteAudio('bob'); return a && [a.mid, a.track.readyState]; })()"
    )
    assert bob_audio and bob_audio[0].startswith("a") and bob_audio[1] == "live", bob_audio
    # Bob's microphone volume 0 (gain before sending): Alice then receives silence.
    await pages["bob"].evaluate("c.devices.microphoneVolume = 0")
    # (polled over 1 s windows: on a loaded machine the jitter buffer may still hold loud audio)
    quiet = await poll(lambda: _quiet_window(pages["alice"], loud["alice"] / 100), within=15)
    print(f"alice hears bob at volume 0: energy/s {quiet[0]:.2e}")
    await pages["bob"].evaluate("c.devices.microphoneVolume = 1")
    # Raw frames: one event per rendered frame, at the decoded size.
    frames = await pages["alice"].evaluate(
        """async () => { const v = c.remoteVideo('bob'); const seen = [];
             const off = v.onFrame(f => seen.push([f.width, f.height]));
             await new Promise(r => setTimeout(r, 2000)); off();
             const img = v.captureFrame();
             return {n: seen.length, sizes: [...new Set(seen.map(String))],
                     raw: [img.width, img.height, img.data.length]}; }"""
    )
    assert frames["n"] >= 10 and frames["sizes"] == ["640,480"], frames
    assert frames["raw"] == [640, 480, 640 * 480 * 4]
    # What is played reaches the speaker level meter.
    level = await pages["alice"].evaluate(
        """async () => { let p = 0; for (let i = 0; i < 150; i++) {
             p = Math.max(p, c.devices.speakerLevel()); await new Promise(r => setTimeout(r, 10)); }
           return p; }"""
    )
    assert level > 0.01, level
    # Speaker volume 0: what is played is silent.
    silent = await pages["alice"].evaluate(
        """async () => { c.devices.speakerVolume = 0; await new Promise(r => setTimeout(r, 100));
             let p = 0; for (let i = 0; i < 150; i++) {
               p = Math.max(p, c.devices.speakerLevel());
               await new Promise(r => setTimeout(r, 10)); }
             return p; }"""
    )
    assert silent < 1e-4, silent
    # Cancelling the view empties the slot; stopping listening frees bob's audio slot.
    alice = pages["alice"]
    await alice.evaluate(
        "window.gone = []; c.on('video.removed', e => gone.push(e.userId));"
        " window.audioSlots = []; c.on('audio.slot', e => audioSlots.push(e.userId)); 0"
    )
    assert await alice.evaluate("c.cancelViews(['bob'])") == []
    await alice.wait_for_function("gone.includes('bob') && !c.remoteVideo('bob')", timeout=5000)
    assert await alice.evaluate("c.listenStop(['bob'])") == ["bob"]
    await alice.wait_for_function("audioSlots.includes(null)", timeout=5000)
    assert await alice.evaluate("c.listenResume()") == []
    await alice.wait_for_function("audioSlots.at(-1) === 'bob'", timeout=5000)


async def _decoded(page, user, at_least):
    s = await video_stats(page, user)
    return s if s and s["framesDecoded"] >= at_least else None


async def _quiet_window(page, below: float):
    """(energy per second, samples) of the audio received over the next second, if below
    ``below`` (and below 1e-3) with samples still flowing; else None."""
    s0, e0 = await audio_totals(page)
    await asyncio.sleep(1.0)
    s1, e1 = await audio_totals(page)
    if s1 <= s0:
        return None
    power = (e1 - e0) / ((s1 - s0) / 48000)
    return (power, s1 - s0) if power < min(below, 1e-3) else None


async def _audio_flowing(page):
    samples, energy = await audio_totals(page)
    return (samples, energy) if samples > 0 and energy > 0 else None


async def _audio_more(page, at_least):
    samples, energy = await audio_totals(page)
    return (samples, energy) if samples >= at_least else None


@pytest.mark.parametrize(
    ("mode", "size", "region"),
    [
        ("clear", (1920, 1200), None),
        ("smooth", (920, 720), None),
        ("smooth", (920, 720), {"x": 100, "y": 50, "width": 800, "height": 600}),
    ],
    ids=["clear", "smooth", "smooth-region"],
)
async def test_screen_share_arrives_at_the_modes_resolution(
    new_page, ilvb_origin, mode, size, region
):
    room = room_name()
    teacher = await new_page(f"{ilvb_origin}/demo")
    student = await new_page(f"{ilvb_origin}/demo")
    await join(teacher, "teacher", room, receive=False)
    await join(student, "student", room)
    sent = await teacher.evaluate(
        f"""async () => {{
          await c.publish('screen', {{mode: '{mode}', region: {json.dumps(region)}}});
          const t = c.localTrack('screen'); const s = t.getSettings();
          const tr = c.sendPc.getTransceivers().find(x => x.sender.track === t);
          const e = tr.sender.getParameters().encodings[0];
          return {{width: s.width, height: s.height, hint: t.contentHint,
                   maxBitrate: e.maxBitrate, maxFramerate: e.maxFramerate}};
        }}"""
    )
    mode_js = await teacher.evaluate(f"sdk.SCREEN_MODES['{mode}']")
    assert [sent["width"], sent["height"]] == list(size)
    assert sent["maxBitrate"] == mode_js["maxBitrate"]
    assert sent["maxFramerate"] == mode_js["frameRate"]
    assert sent["hint"] == mode_js["contentHint"]
    await student.evaluate("c.requestViews(['teacher'], 'screen')")
    got = await poll(lambda: _screen_frames(student, size), within=40)
    assert (got["frameWidth"], got["frameHeight"]) == size, got
    # Frame rate: measured over 3 s at the receiver; clear is capped at 10 fps, smooth runs
    # above that cap (30 fps asked; a loaded CI machine may not reach all of it).
    await asyncio.sleep(3.0)
    later = await video_stats(student, "teacher", "screen")
    fps = (later["framesDecoded"] - got["framesDecoded"]) / 3.0
    print(f"screen {mode}: {size[0]}x{size[1]} at {fps:.1f} fps received")
    if mode == "clear":
        assert 1 <= fps <= mode_js["frameRate"] + 1.5, fps
    else:
        assert fps > SCREEN_CLEAR_FPS + 2, fps


async def _screen_frames(page, size):
    s = await video_stats(page, "teacher", "screen")
    if s and s["framesDecoded"] >= 3 and (s["frameWidth"], s["frameHeight"]) == size:
        return s
    return None


async def test_camera_unpublished_and_published_again_reaches_the_viewer(new_page, ilvb_origin):
    room = room_name()
    alice = await new_page(f"{ilvb_origin}/demo")
    bob = await new_page(f"{ilvb_origin}/demo")
    await join(alice, "alice", room, receive=False)
    await join(bob, "bob", room)
    await alice.evaluate("c.publish('camera').then(() => 0)")
    await bob.evaluate("c.requestViews(['alice']).then(() => 0)")
    await poll(lambda: _decoded(bob, "alice", 10), within=30)
    await alice.evaluate("c.unpublish('camera')")
    await bob.wait_for_function("c.member('alice').then(m => !m.sending.video)", timeout=5000)
    await alice.evaluate("c.publish('camera').then(() => 0)")
    await bob.evaluate("c.requestViews(['alice']).then(() => 0)")
    before = await poll(lambda: _decoded(bob, "alice", 1), within=15)
    await poll(lambda: _decoded(bob, "alice", before["framesDecoded"] + 15), within=30)
