"""PulseAudio devices end to end through the real SFU: a tone played into a null sink reaches a
remote member through the microphone path (FFT at the far side), volume 0 silences it, the
input mixer's two tones arrive at their own volumes, the output mixer's per-member streams and
mix (played to a speaker whose monitor we record)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from ilvb.client import ToneSource
from ilvb.client.devices import DeviceManager, dominant
from ilvb.client.mixers import InputMixer, OutputMixer
from ilvb.client.pulse import PcmStream
from ilvb.client.remote import audio_samples
from tests.client.pulse_server import PulseServer, pulse_fixture, tone_wav  # noqa: F401
from tests.integration.harness import LiveServer
from tests.integration.media_checks import record_audio, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def band(samples: np.ndarray, freq: float, rate: int = 48000) -> float:
    """Spectral amplitude around ``freq`` (±25 Hz) of a float sample block."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    bins = np.fft.rfftfreq(samples.size, 1 / rate)
    return float(spectrum[(bins > freq - 25) & (bins < freq + 25)].max())


async def test_microphone_tone_reaches_remote_member_volume_zero_silences(
    pulse: PulseServer, tmp_path: Path
) -> None:
    pulse.null_sink("tone")
    pulse.source("mic", "tone.monitor")
    player = pulse.play("tone", tone_wav(tmp_path / "a.wav", 700, 0.4))
    devices = await DeviceManager.open(pulse.server)
    try:
        async with LiveServer() as server:
            pub = await server.client("pub")
            sub = await server.client("sub")
            await pub.enter("dev")
            await sub.enter("dev")
            log = record_audio(sub)
            mic = await devices.open_microphone("mic")
            peaks: list[float] = []
            mic.on_level = peaks.append
            await pub.publish_audio(mic)

            def loud(since: float) -> list[float]:
                return [f for f, rms in log.of("pub", since) if rms > 0.05]

            t0 = time.monotonic()
            await wait_until(lambda: len(loud(t0)) >= 50, 20, "1 s of the tone at the far side")
            tone = loud(t0)
            assert sum(abs(f - 700) <= 40 for f in tone) >= 0.9 * len(tone)
            assert 0.3 < max(peaks[-20:]) < 0.5  # the level follows the played amplitude

            mic.volume = 0.0
            t1 = time.monotonic() + 1.0
            await wait_until(lambda: len(log.of("pub", t1)) >= 50, 10, "1 s after volume 0")
            assert max(rms for _, rms in log.of("pub", t1)) < 0.01
            assert max(peaks[-20:]) == 0.0
    finally:
        player.terminate()
        player.wait(5)
        await devices.close()


async def test_input_mixer_tones_arrive_at_their_own_volumes(
    pulse: PulseServer, tmp_path: Path
) -> None:
    pulse.null_sink("tone")
    pulse.source("mic", "tone.monitor")
    player = pulse.play("tone", tone_wav(tmp_path / "a.wav", 600, 0.3))
    accompaniment = tone_wav(tmp_path / "b.wav", 1800, 0.3, seconds=10)
    devices = await DeviceManager.open(pulse.server)
    try:
        async with LiveServer() as server:
            pub = await server.client("pub")
            sub = await server.client("sub")
            await pub.enter("mix")
            await sub.enter("mix")
            received: list[tuple[float, np.ndarray]] = []
            sub.on_frame(
                "audio", lambda uid, f: received.append((time.monotonic(), audio_samples(f)))
            )
            mixer = InputMixer(
                await devices.open_microphone("mic"),
                microphone_volume=1.0,
                accompaniment_volume=0.5,
            )
            mixed: list[np.ndarray] = []
            mixer.on_mixed = lambda f: mixed.append(f.to_ndarray().reshape(-1))
            mixer.play_file(str(accompaniment))
            await pub.publish_audio(mixer)
            await wait_until(
                lambda: mixer.microphone_peak > 0.2 and mixer.accompaniment_peak > 0.1,
                15,
                "both inputs in the mix",
            )
            t0 = time.monotonic() + 1.0
            await wait_until(
                lambda: sum(1 for t, _ in received if t >= t0) >= 100, 20, "2 s of the mix"
            )
            block = np.concatenate([s for t, s in received if t >= t0][:100])
            a, b = band(block, 600), band(block, 1800)
            assert a > 0 and b > 0
            assert 1.8 < a / b < 2.2, f"600 Hz / 1800 Hz = {a / b:.2f}, set 2.0"
            assert 0.12 < mixer.accompaniment_peak < 0.18  # 0.3 × 0.5
            local = np.concatenate(mixed[-50:]).astype(np.float64) / 32768
            assert 1.8 < band(local, 600) / band(local, 1800) < 2.2
    finally:
        player.terminate()
        player.wait(5)
        await devices.close()


async def test_output_mixer_gives_member_streams_and_a_mix_played_to_the_speaker(
    pulse: PulseServer,
) -> None:
    pulse.null_sink("spk")
    devices = await DeviceManager.open(pulse.server)
    recorder = await PcmStream.record("spk.monitor", pulse.server)
    try:
        async with LiveServer() as server:
            a = await server.client("a")
            b = await server.client("b")
            listener = await server.client("listener")
            for c in (a, b, listener):
                await c.enter("out")
            speaker = await devices.open_speaker("spk")
            mixer = OutputMixer(listener, speaker)
            members: dict[str, list[np.ndarray]] = {"a": [], "b": []}
            mix: list[np.ndarray] = []
            mixer.on_member(lambda uid, s: members.setdefault(uid, []).append(s))
            mixer.on_mix(mix.append)
            await a.publish_audio(ToneSource(500, 0.3))
            await b.publish_audio(ToneSource(1500, 0.3))
            await wait_until(
                lambda: len(members["a"]) > 100 and len(members["b"]) > 100 and len(mix) > 100,
                20,
                "2 s of each member and of the mix",
            )

            def spectrum_of(parts: list[np.ndarray]) -> tuple[float, float]:
                x = np.concatenate(parts[-50:]).astype(np.float64) / 32768
                return band(x, 500), band(x, 1500)

            a5, a15 = spectrum_of(members["a"])
            b5, b15 = spectrum_of(members["b"])
            assert a5 > 10 * a15 and b15 > 10 * b5  # each member's stream holds its own tone
            m5, m15 = spectrum_of(mix)
            assert m5 > 0.5 * a5 and m15 > 0.5 * b15  # the mix holds both
            assert mixer.levels["a"] > 0.2 and mixer.levels["b"] > 0.2

            # And the mix was played to the speaker: its monitor holds both tones.
            chunks = []
            async with asyncio.timeout(10):
                while len(chunks) < 150:
                    chunk = await recorder.read_frame()
                    assert chunk is not None
                    chunks.append(chunk)
            heard = np.frombuffer(b"".join(chunks[-50:]), dtype=np.int16).astype(np.float64) / 32768
            h5, h15 = band(heard, 500), band(heard, 1500)
            assert h5 > 0 and h15 > 0 and 0.4 < h5 / h15 < 2.5, (h5, h15)
            assert dominant((heard * 32768).astype(np.int16))[1] > 0.1
            await mixer.close()
    finally:
        await recorder.close()
        await devices.close()


async def test_hotplug_during_a_call_falls_back_and_the_far_side_keeps_hearing(
    pulse: PulseServer, tmp_path: Path
) -> None:
    """The published microphone's source is unplugged mid-call: the SDK says ``removed`` with
    the fallback, the stream goes on from the default source (another tone at the far side),
    and the member never left the room."""
    pulse.null_sink("room_a")
    pulse.null_sink("room_b")
    pulse.pactl("set-default-source", "room_b.monitor")
    plugged = pulse.source("headset", "room_a.monitor")
    players = [
        pulse.play("room_a", tone_wav(tmp_path / "a.wav", 700, 0.4)),
        pulse.play("room_b", tone_wav(tmp_path / "b.wav", 1100, 0.4)),
    ]
    devices = await DeviceManager.open(pulse.server)
    removed: list[dict] = []
    devices.on("removed", lambda ev: removed.append(ev.data))
    try:
        async with LiveServer() as server:
            pub = await server.client("pub")
            sub = await server.client("sub")
            await pub.enter("plug")
            await sub.enter("plug")
            exits: list[object] = []
            sub.on("members.exited", exits.append)
            log = record_audio(sub)
            mic = await devices.open_microphone("headset")
            await pub.publish_audio(mic)

            def heard(freq: float, since: float) -> int:
                return sum(
                    abs(f - freq) <= 40 and rms > 0.05 for f, rms in log.of("pub", since)
                )

            t0 = time.monotonic()
            await wait_until(lambda: heard(700, t0) >= 25, 20, "the headset's tone far away")
            pulse.unload(plugged)
            t1 = time.monotonic()
            await wait_until(lambda: bool(removed), 2, "a removed event within 2 s")
            assert removed[0]["device"].id == "headset"
            assert removed[0]["fallback"] == "room_b.monitor" == mic.device_id
            await wait_until(lambda: heard(1100, t1) >= 25, 5, "the default source's tone")
            print(f"fallback tone heard {time.monotonic() - t1:.2f} s after the unplug")
            assert exits == [] and (await sub.member("pub"))["connected"] is True
    finally:
        for p in players:
            p.terminate()
            p.wait(5)
        await devices.close()
