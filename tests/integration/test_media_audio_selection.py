"""Audio selection with real media: more audio senders than slots; every listener decodes
exactly the loudest ones, never itself.

1. The app's audio-sender cap raised to 8, ``rooms.audio_slots`` at its default 6: 8 senders.
2. ``rooms.audio_slots = 8`` (the app's cap 9): 9 senders, each listener gets the 8 loudest —
   the setting reaches the SFU's selector, not only the number of m-lines.

Each sender plays its own frequency, so what a listener decodes in each slot tells who it is;
``slot`` events must agree with the audio actually heard.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from ilvb.client import Client, ToneSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import AudioLog, record_audio, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Loudest first: amplitude 0.9 is about -4 dBov, 0.06 about -27 dBov (≥ 2.5 dB apart).
AMPLITUDES_8 = [0.9, 0.65, 0.47, 0.34, 0.25, 0.18, 0.12, 0.06]
# Nine: the eighth (0.14) is ~10 dB above the ninth (0.045), past the selector's 6 dB margin.
AMPLITUDES_9 = [0.9, 0.7, 0.55, 0.43, 0.34, 0.26, 0.2, 0.14, 0.045]
FREQ_TOLERANCE_HZ = 60


def freqs(n: int) -> list[float]:
    """One distinct tone per sender, 200 Hz apart (a 20 ms frame resolves 50 Hz)."""
    return [400.0 + 200.0 * i for i in range(n)]


def votes(log: AudioLog, since: float, senders: list[str]) -> Counter[str]:
    """Decoded frames per sender since ``since``, the sender told by the audio's frequency."""
    tones = freqs(len(senders))
    counts: Counter[str] = Counter()
    for t, _, freq, rms in log.frames:
        if t < since or rms < 0.02:
            continue
        nearest = min(range(len(tones)), key=lambda i: abs(tones[i] - freq))
        if abs(tones[nearest] - freq) <= FREQ_TOLERANCE_HZ:
            counts[senders[nearest]] += 1
    return counts


async def check_choir(server: LiveServer, amplitudes: list[float], slots: int) -> None:
    """Senders ``s0``… (loudest first) plus a silent ``listener``: each hears the ``slots``
    loudest senders other than itself, by slot events and by decoded tone."""
    senders = [f"s{i}" for i in range(len(amplitudes))]
    tones = freqs(len(senders))

    def expected_for(user_id: str) -> set[str]:
        return set([s for s in senders if s != user_id][:slots])

    listener = await server.client("listener")
    clients: list[Client] = [await server.client(s) for s in senders]
    everyone = [listener, *clients]
    for c in everyone:
        await c.enter("choir")
        assert c.audio_slots == slots
    logs = {c.user_id: record_audio(c) for c in everyone}
    for c, amp, freq in zip(clients, amplitudes, tones, strict=True):
        await c.publish_audio(ToneSource(freq, amplitude=amp))

    def slots_right(c: Client) -> bool:
        return set(c.remote.who("audio").values()) == expected_for(c.user_id)

    # Selection settles (levels need a moment), then what is heard must match.
    await wait_until(lambda: all(slots_right(c) for c in everyone), 20, "settled slots")

    # From now on no slot changes: count what each listener decodes until every expected
    # sender was heard 10 times (a loaded machine decodes slowly), then compare the sets.
    start = time.monotonic()

    def enough(c: Client) -> bool:
        counts = votes(logs[c.user_id], start, senders)
        return all(counts[s] >= 10 for s in expected_for(c.user_id))

    await wait_until(lambda: all(enough(c) for c in everyone), 40, "10 frames per slot")
    for c in everyone:
        want = expected_for(c.user_id)
        assert c.user_id not in want
        in_slots = set(c.remote.who("audio").values())
        assert in_slots == want, (c.user_id, sorted(in_slots), sorted(want))
        counts = votes(logs[c.user_id], start, senders)
        heard = {s for s, n in counts.items() if n >= 3}
        assert heard == want, (c.user_id, counts, sorted(want))
        # The slot bookkeeping attributes each frequency to the right sender.
        for t, uid, freq, rms in logs[c.user_id].frames:
            if t >= start and rms >= 0.02:
                assert abs(tones[senders.index(uid)] - freq) <= FREQ_TOLERANCE_HZ, (
                    c.user_id,
                    uid,
                    freq,
                )


async def test_every_listener_gets_the_six_loudest_but_itself() -> None:
    async with LiveServer(app_caps={"audio_sender_cap": 8}) as server:
        await check_choir(server, AMPLITUDES_8, 6)


async def test_with_eight_audio_slots_nine_senders_each_listener_gets_the_eight_loudest() -> None:
    rooms: dict[str, Any] = {"audio_slots": 8}
    async with LiveServer(app_caps={"audio_sender_cap": 9}, rooms=rooms) as server:
        await check_choir(server, AMPLITUDES_9, 8)
        # the SFU picked 8 per listener: 10 listeners x 8 slots, nothing more
        stats = await server.router_stats("choir")
        assert stats["consumers"] == 10 * 8, stats
