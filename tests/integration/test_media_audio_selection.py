"""Issue 4, must-show 4: 8 audio senders at different levels (the app's audio cap raised to 8);
every listener gets exactly the 6 loudest, never itself.

Each sender plays its own frequency, so what a listener decodes in each slot tells who it is;
``slot`` events must agree with the audio actually heard.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from ilvb.client import Client, ToneSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import AudioLog, record_audio, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

# Loudest first: amplitude 0.9 is about -4 dBov, 0.06 about -27 dBov (≥ 2.5 dB apart).
AMPLITUDES = [0.9, 0.65, 0.47, 0.34, 0.25, 0.18, 0.12, 0.06]
FREQS = [400.0 + 200.0 * i for i in range(8)]
SENDERS = [f"s{i}" for i in range(8)]


def expected_for(user_id: str) -> set[str]:
    """The 6 loudest senders other than ``user_id``."""
    return set([s for s in SENDERS if s != user_id][:6])


def votes(log: AudioLog, since: float) -> Counter[str]:
    """Decoded frames per sender since ``since``, the sender told by the audio's frequency."""
    counts: Counter[str] = Counter()
    for t, _, freq, rms in log.frames:
        if t < since or rms < 0.02:
            continue
        nearest = min(range(8), key=lambda i: abs(FREQS[i] - freq))
        if abs(FREQS[nearest] - freq) <= 60:
            counts[SENDERS[nearest]] += 1
    return counts


async def test_every_listener_gets_the_six_loudest_but_itself() -> None:
    async with LiveServer(app_caps={"audio_sender_cap": 8}) as server:
        listener = await server.client("listener")
        clients: list[Client] = [await server.client(s) for s in SENDERS]
        everyone = [listener, *clients]
        for c in everyone:
            await c.enter("choir")
        logs = {c.user_id: record_audio(c) for c in everyone}
        for c, amp, freq in zip(clients, AMPLITUDES, FREQS, strict=True):
            await c.publish_audio(ToneSource(freq, amplitude=amp))

        def slots_right(c: Client) -> bool:
            return set(c.remote.who("audio").values()) == expected_for(c.user_id)

        # Selection settles (levels need a moment), then what is heard must match.
        await wait_until(lambda: all(slots_right(c) for c in everyone), 15, "settled slots")

        # From now on no slot changes: count what each listener decodes until every expected
        # sender was heard 10 times (a loaded machine decodes slowly), then compare the sets.
        start = time.monotonic()

        def enough(c: Client) -> bool:
            counts = votes(logs[c.user_id], start)
            return all(counts[s] >= 10 for s in expected_for(c.user_id))

        await wait_until(lambda: all(enough(c) for c in everyone), 30, "10 frames per slot")
        for c in everyone:
            want = expected_for(c.user_id)
            in_slots = set(c.remote.who("audio").values())
            assert in_slots == want, (c.user_id, sorted(in_slots), sorted(want))
            counts = votes(logs[c.user_id], start)
            heard = {s for s, n in counts.items() if n >= 3}
            assert heard == want, (c.user_id, counts, sorted(want))
            # The slot bookkeeping attributes each frequency to the right sender.
            for t, uid, freq, rms in logs[c.user_id].frames:
                if t >= start and rms >= 0.02:
                    assert abs(FREQS[SENDERS.index(uid)] - freq) <= 60, (c.user_id, uid, freq)
