"""Desktop capture (X11) and the image pre-processing hook of the Python SDK.

::

    screen = ScreenCapture(":0", mode="smooth", region=(0, 0, 640, 360))
    await client.publish_video(screen, source="screen")

    hooked = ProcessedVideo(camera.track, invert)     # invert(frame) -> frame, before encoding
    hooked.on_preview = show                           # what I see is what the room sees
    await client.publish_video(hooked)

Capture runs FFmpeg's ``x11grab`` input through PyAV. The two modes are the Web SDK's
(``ilvb/web/static/ilvb/screen.js``): ``clear`` 1920×1200 at 10 fps (2.5 Mbps) for text,
``smooth`` 920×720 at 30 fps (1.2 Mbps) for motion. The full screen is scaled to the mode's
size; a region keeps its own size, scaled down (aspect kept) when larger than the mode's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from ilvb.errors import InvalidArgument, Unavailable


@dataclass(frozen=True)
class ScreenMode:
    """A desktop-capture profile: output size, frame rate and the bitrate it is meant for."""

    width: int
    height: int
    frame_rate: int
    max_bitrate: int


SCREEN_MODES: dict[str, ScreenMode] = {
    "clear": ScreenMode(1920, 1200, 10, 2_500_000),
    "smooth": ScreenMode(920, 720, 30, 1_200_000),
}

FrameHook = Callable[[VideoFrame], VideoFrame]


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def output_size(mode: ScreenMode, region: tuple[int, int, int, int] | None) -> tuple[int, int]:
    """The size a capture sends: the mode's for the full screen, else the region's (fitted)."""
    if region is None:
        return mode.width, mode.height
    _, _, w, h = region
    fit = min(1.0, mode.width / w, mode.height / h)
    return _even(w * fit), _even(h * fit)


class ScreenCapture(MediaStreamTrack):
    """An X11 display (or a region of it) as a video track, in ``clear`` or ``smooth`` mode."""

    kind = "video"

    def __init__(
        self,
        display: str,
        mode: str = "clear",
        region: tuple[int, int, int, int] | None = None,
        screen_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if mode not in SCREEN_MODES:
            raise InvalidArgument(message=f"unknown screen mode {mode!r} (clear or smooth)")
        self.mode = SCREEN_MODES[mode]
        options = {"framerate": str(self.mode.frame_rate), "draw_mouse": "0"}
        url = display
        if region is not None:
            x, y, w, h = region
            if min(x, y) < 0 or w < 16 or h < 16 or w % 2 or h % 2:
                raise InvalidArgument(message=f"bad region {region} (even sides of 16 or more)")
            options["video_size"] = f"{w}x{h}"
            url = f"{display}+{x},{y}"
        elif screen_size is not None:
            options["video_size"] = f"{screen_size[0]}x{screen_size[1]}"
        self.width, self.height = output_size(self.mode, region)
        try:
            self._player = MediaPlayer(url, format="x11grab", options=options)
        except Exception as exc:  # PyAV raises many error types for a missing display
            raise Unavailable("device_unavailable", f"cannot capture {url}: {exc}") from exc
        assert self._player.video is not None
        self._source: MediaStreamTrack = self._player.video

    async def recv(self) -> VideoFrame:
        """The next captured frame at the mode's (or region's) size."""
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._source.recv()
        assert isinstance(frame, VideoFrame)
        if (frame.width, frame.height) != (self.width, self.height):
            scaled = frame.reformat(width=self.width, height=self.height, format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            frame = scaled
        return frame

    def stop(self) -> None:
        """Stop capturing."""
        super().stop()
        self._source.stop()


class ProcessedVideo(MediaStreamTrack):
    """Any video track with ``hook(frame) -> frame`` applied before encoding.

    ``on_preview(frame)`` sees each processed frame (the local preview shows what the room
    gets). A hook that raises is an error of the app: the frame is sent unprocessed and the
    exception goes to ``on_error`` (or is re-raised when there is none).
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack, hook: FrameHook) -> None:
        super().__init__()
        if source.kind != "video":
            raise InvalidArgument(message="ProcessedVideo needs a video track")
        self.source = source
        self.hook = hook
        self.on_preview: Callable[[VideoFrame], None] | None = None
        self.on_error: Callable[[Exception], None] | None = None

    async def recv(self) -> VideoFrame:
        """The source's next frame, through the hook."""
        frame = await self.source.recv()
        assert isinstance(frame, VideoFrame)
        try:
            out = self.hook(frame)
        except Exception as exc:
            if self.on_error is None:
                raise
            self.on_error(exc)
            out = frame
        if not isinstance(out, VideoFrame):
            raise InvalidArgument(message="a pre-processing hook must return a VideoFrame")
        out.pts, out.time_base = frame.pts, frame.time_base
        if self.on_preview is not None:
            self.on_preview(out)
        return out

    def stop(self) -> None:
        """Stop this track and its source."""
        super().stop()
        self.source.stop()


def invert_colours(frame: VideoFrame) -> VideoFrame:
    """A pre-processing hook: the negative of the picture (255 - every Y, U and V sample)."""
    planes = frame.to_ndarray(format="yuv420p")
    return VideoFrame.from_ndarray(255 - planes, format="yuv420p")


async def wait_frames(track: MediaStreamTrack, count: int, timeout_s: float) -> list[VideoFrame]:
    """``count`` frames from ``track`` within ``timeout_s`` (a helper for previews and tests)."""
    frames: list[VideoFrame] = []
    async with asyncio.timeout(timeout_s):
        while len(frames) < count:
            frame = await track.recv()
            assert isinstance(frame, VideoFrame)
            frames.append(frame)
    return frames
