"""VideoShaper: what the Python SDK sends of a frame under a quality profile."""

from __future__ import annotations

import fractions
from typing import Any

from av import VideoFrame

from ilvb.client.quality import VideoShaper


def _frame(width: int, height: int, at_s: float) -> VideoFrame:
    frame = VideoFrame(width, height, "yuv420p")
    frame.time_base = fractions.Fraction(1, 90_000)
    frame.pts = round(at_s * 90_000)
    return frame


def test_frames_are_scaled_down_to_fit_never_up() -> None:
    shaper = VideoShaper(sender=object())  # type: ignore[arg-type]
    shaper.configure(640, 480, 0, 0)
    assert shaper.size_for(256, 128) == (256, 128)
    assert shaper.size_for(1280, 720) == (640, 360)
    assert shaper.size_for(1280, 960) == (640, 480)
    out: Any = shaper(_frame(1280, 720, 0.0))
    assert (out.width, out.height, out.pts) == (640, 360, 0)


def test_frames_beyond_the_profiles_rate_are_dropped() -> None:
    shaper = VideoShaper(sender=object())  # type: ignore[arg-type]
    shaper.configure(640, 480, 10, 0)
    kept = [i for i in range(60) if shaper(_frame(320, 240, i / 30)) is not None]
    assert len(kept) == 20 and kept[:3] == [0, 3, 6]
