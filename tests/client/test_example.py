"""examples/two_people.py works: two people hear and see each other through a real server,
one of them sending a media file (PyAV) instead of synthetic sources."""

from __future__ import annotations

import asyncio
import fractions
import importlib.util
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from ilvb.client.sources import tagged_frame
from tests.integration.harness import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_people.py"


def load_example():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("two_people", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_clip(path: Path, seconds: float = 4.0) -> None:
    """A small WebM: tagged VP8 frames (marker 99) and a 440 Hz Opus tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libvpx", rate=15)
        video.width, video.height, video.pix_fmt = 256, 128, "yuv420p"
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        for i in range(int(seconds * 15)):
            frame = tagged_frame(i, 99)
            frame.pts = i
            frame.time_base = fractions.Fraction(1, 15)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        t = np.arange(int(seconds * 48000)) / 48000
        pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
        for start in range(0, pcm.size, 960):
            chunk = pcm[start : start + 960].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


async def test_two_people_hear_and_see_each_other(tmp_path: Path) -> None:
    example = load_example()
    clip = tmp_path / "clip.webm"
    write_clip(clip)
    lines: dict[str, list[str]] = {"alice": [], "bob": []}
    async with LiveServer() as server:
        base = server.url.removeprefix("ws://").removesuffix("/ws")
        alice, bob = await asyncio.gather(
            example.run(
                f"http://{base}",
                server.ticket("alice"),
                "hello",
                seconds=6,
                out=lines["alice"].append,
            ),
            example.run(
                f"http://{base}",
                server.ticket("bob"),
                "hello",
                audio_file=str(clip),
                video_file=str(clip),
                seconds=6,
                out=lines["bob"].append,
            ),
        )
    # Each received the other's audio and video, nothing from itself.
    assert set(alice.audio_frames) == {"bob"} and set(alice.video_frames) == {"bob"}
    assert set(bob.audio_frames) == {"alice"} and set(bob.video_frames) == {"alice"}
    assert alice.video_frames["bob"] >= 15 and bob.video_frames["alice"] >= 15
    assert alice.level["bob"] > 0.05 and bob.level["alice"] > 0.05
    # Bob sent the file: alice's decoded frames carry the file's tags.
    assert alice.frame_index.get("bob") is not None and alice.size["bob"] == "256x128"
    assert any(line.startswith("hear bob") and "see bob" in line for line in lines["alice"])
    assert any("hear alice" in line for line in lines["bob"])
    assert "bob entered" in lines["alice"] or "alice entered" in lines["bob"]
