"""The device manager against a real PulseAudio daemon: listing, opening, exclusivity,
microphone volume and level, pre-call tests, hot-plug with fallback."""

from __future__ import annotations

import asyncio
import time

import pytest

from ilvb.client.devices import (
    DeviceManager,
    precall_camera,
    precall_microphone,
    precall_speaker,
)
from ilvb.errors import InvalidState, NotFound, Unavailable
from tests.client.pulse_server import PulseServer, pulse_fixture, tone_wav  # noqa: F401

pytestmark = pytest.mark.timeout(60)


async def test_manager_lists_the_test_devices_with_ids_names_types(
    pulse: PulseServer, tmp_path
) -> None:
    pulse.null_sink("spk")
    pulse.null_sink("tone")
    pulse.source("mic", "tone.monitor")
    devices = await DeviceManager.open(pulse.server)
    try:
        inputs = {d.id: d for d in devices.list("input")}
        outputs = {d.id: d for d in devices.list("output")}
        assert {"mic", "spk.monitor", "tone.monitor"} <= set(inputs)
        assert {"spk", "tone", "default_out"} <= set(outputs)
        assert inputs["mic"].name == "mic-mic" and inputs["mic"].type == "input"
        assert outputs["spk"].name == "spk-sink" and outputs["spk"].type == "output"
        assert devices.count("input") == len(inputs) and devices.count() == len(inputs) + len(
            outputs
        )
        assert devices.opened() == [] and not inputs["mic"].opened

        mic = await devices.open_microphone("mic")
        speaker = await devices.open_speaker("spk")
        assert devices.get("mic").opened and devices.get("spk").opened
        assert {(d.id, d.type) for d in devices.opened()} == {("mic", "input"), ("spk", "output")}
        with pytest.raises(NotFound) as missing:
            devices.get("nope")
        assert missing.value.code == "device_not_found"
        with pytest.raises(NotFound):
            await devices.open_microphone("spk")  # a sink is not an input

        # Exclusivity: microphone vs external audio, camera vs external video.
        with pytest.raises(InvalidState) as busy:
            devices.external_audio()
        assert busy.value.code == "device_busy"
        with pytest.raises(InvalidState):
            await devices.open_microphone("tone.monitor")
        ext_video = devices.external_video()
        with pytest.raises(InvalidState) as busy:
            devices.open_camera("lavfi:testsrc=size=160x120:rate=10")
        assert busy.value.code == "device_busy"
        ext_video.stop()
        camera = devices.open_camera("lavfi:testsrc=size=160x120:rate=10")
        frame = await precall_camera(camera)
        assert (frame.width, frame.height) == (160, 120)
        with pytest.raises(InvalidState) as unsupported:
            camera.set_zoom(2.0)
        assert unsupported.value.code == "unsupported_feature"
        with pytest.raises(InvalidState):
            devices.external_video()
        camera.close()

        with pytest.raises(InvalidState) as unsupported:
            mic.set_processing("aec")
        assert unsupported.value.code == "unsupported_feature"
        mic.stop()
        await speaker.close()
        assert devices.opened() == []
        devices.external_audio().stop()
    finally:
        await devices.close()


async def test_microphone_level_follows_the_signal_and_precall_checks(
    pulse: PulseServer, tmp_path
) -> None:
    pulse.null_sink("tone")
    pulse.null_sink("spk")
    pulse.source("mic", "tone.monitor")
    devices = await DeviceManager.open(pulse.server)
    player = None
    try:
        mic = await devices.open_microphone("mic")
        with pytest.raises(Unavailable):  # nothing plays: under the threshold
            await precall_microphone(mic, threshold=0.05, seconds=0.4)
        player = pulse.play("tone", tone_wav(tmp_path / "t.wav", 800, 0.4))
        level = await precall_microphone(mic, threshold=0.2, seconds=1.5)
        assert 0.3 < level < 0.5
        mic.volume = 0.5
        peaks = []
        for _ in range(25):
            await mic.recv()
            peaks.append(mic.peak)
        assert 0.15 < max(peaks[-10:]) < 0.25
        mic.volume = 0
        for _ in range(5):
            await mic.recv()
        assert mic.peak == 0.0
        heard = await precall_speaker(devices, "spk", frequency=1200)
        assert abs(heard - 1200) < 30
    finally:
        if player is not None:
            player.terminate()
            player.wait(5)
        await devices.close()


async def test_hotplug_added_and_in_use_removed_falls_back(pulse: PulseServer) -> None:
    pulse.null_sink("tone")
    devices = await DeviceManager.open(pulse.server)
    try:
        events: list[tuple[float, str, dict]] = []
        devices.on("added", lambda ev: events.append((time.monotonic(), "added", ev.data)))
        devices.on("removed", lambda ev: events.append((time.monotonic(), "removed", ev.data)))
        t0 = time.monotonic()
        module = pulse.source("plugged", "tone.monitor")
        while not any(e[1] == "added" and e[2]["device"].id == "plugged" for e in events):
            assert time.monotonic() - t0 < 2.0, f"no added event within 2 s: {events}"
            await asyncio.sleep(0.02)
        mic = await devices.open_microphone("plugged")
        pulse.unload(module)
        t1 = time.monotonic()
        while not any(e[1] == "removed" and e[2]["device"].id == "plugged" for e in events):
            assert time.monotonic() - t1 < 2.0, f"no removed event within 2 s: {events}"
            await asyncio.sleep(0.02)
        removed = next(e[2] for e in events if e[1] == "removed")
        default_source, _ = devices.defaults()
        assert removed["fallback"] == default_source != "plugged"
        assert mic.device_id == default_source
        await asyncio.wait_for(mic.recv(), 2)  # still delivering frames
        assert devices.get(default_source).opened
    finally:
        await devices.close()
