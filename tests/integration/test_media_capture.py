"""Desktop capture from a real X server (Xvfb, started here) and the pre-processing hook,
measured at a remote member through the real SFU."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ilvb.client import SyntheticVideoSource, read_frame_tag
from ilvb.client.capture import SCREEN_MODES, ProcessedVideo, ScreenCapture, invert_colours
from tests.integration.harness import LiveServer
from tests.integration.media_checks import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(name="xvfb")
def xvfb_fixture(tmp_path: Path) -> Iterator[str]:
    """An Xvfb display 1920×1200 (fails on CI when Xvfb is missing, skips elsewhere)."""
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb missing on CI")
        pytest.skip("Xvfb missing")
    # -displayfd: Xvfb picks a free display number and writes it to us.
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb gave no display number"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(5)


def _received(log: list[tuple[float, int, int]], since: float) -> list[tuple[float, int, int]]:
    return [f for f in log if f[0] >= since]


async def _share_and_measure(
    server: LiveServer, capture: ScreenCapture, seconds: float
) -> tuple[set[tuple[int, int]], float]:
    pub = await server.client("pub")
    sub = await server.client("sub")
    await pub.enter("screen")
    await sub.enter("screen")
    log: list[tuple[float, int, int]] = []
    sub.on_frame("video", lambda uid, f: log.append((time.monotonic(), f.width, f.height)))
    await pub.publish_video(capture, source="screen")
    await sub.request_views(["pub"], source="screen")
    await wait_until(lambda: len(log) >= 5, 30, "the first shared frames")
    t0 = time.monotonic() + 1.0  # past the start-up burst
    await wait_until(lambda: time.monotonic() > t0 + seconds, seconds + 5, "the measure")
    window = [f for f in _received(log, t0) if f[0] <= t0 + seconds]
    return {(w, h) for _, w, h in window}, len(window) / seconds


async def test_region_share_arrives_at_the_chosen_size(xvfb: str) -> None:
    async with LiveServer() as server:
        capture = ScreenCapture(xvfb, "smooth", region=(100, 50, 640, 360))
        sizes, fps = await _share_and_measure(server, capture, 2.0)
        assert sizes == {(640, 360)}
        assert fps > 15, f"{fps:.1f} fps"


@pytest.mark.parametrize("mode", ["clear", "smooth"])
async def test_each_mode_resolution_and_frame_rate_at_the_receiver(xvfb: str, mode: str) -> None:
    spec = SCREEN_MODES[mode]
    async with LiveServer() as server:
        capture = ScreenCapture(xvfb, mode, screen_size=(1920, 1200))
        sizes, fps = await _share_and_measure(server, capture, 3.0)
        print(f"{mode}: {sizes} {fps:.1f} fps at the receiver (mode {spec.frame_rate})")
        assert sizes == {(spec.width, spec.height)}
        # Never faster than the mode. How close to it depends on the CPU (sender, SFU and
        # receiver share one process here): on the loaded 2-core test machine "clear" arrived
        # at 9.7 fps and "smooth" at 13.3 fps (load 10), both far lower at load 15.
        assert 0 < fps <= 1.2 * spec.frame_rate, f"{fps:.1f} fps"


async def test_preprocessing_hook_shows_in_remote_decoded_frames() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("hook")
        await sub.enter("hook")
        plain: list[object] = []
        inverted: list[object] = []

        def on_video(uid: str, frame: object) -> None:
            plain.append(read_frame_tag(frame))  # type: ignore[arg-type]
            inverted.append(read_frame_tag(invert_colours(frame)))  # type: ignore[arg-type]

        sub.on_frame("video", on_video)
        track = ProcessedVideo(SyntheticVideoSource(marker=42), invert_colours)
        previews: list[object] = []
        track.on_preview = lambda f: previews.append(read_frame_tag(invert_colours(f)))
        await pub.publish_video(track)
        await sub.request_views(["pub"])
        await wait_until(lambda: len(plain) >= 30, 20, "30 decoded frames")
        # Every bit of an inverted tag flips (its check too): the room reads marker 255 - 42,
        # and only after inverting back the marker that was drawn.
        seen = [t for t in plain if t is not None]
        assert len(seen) >= 0.9 * len(plain)
        assert {t.marker for t in seen} == {255 - 42}  # type: ignore[attr-defined]
        tags = [t for t in inverted if t is not None]
        assert len(tags) >= 0.9 * len(inverted)
        assert {t.marker for t in tags} == {42}  # type: ignore[attr-defined]
        assert previews and all(p is not None for p in previews)
