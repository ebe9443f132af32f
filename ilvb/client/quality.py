"""The member's quality profile, pushed by the server (``room.enter``'s ``quality``, the event
``quality.changed``): applied to what is sent without rejoining, reported with ``quality.report``.

What the Python SDK sets, on each published camera/screen m-line (its
:class:`~ilvb.client.switch.TrackSwitch`):

- **size**: a frame larger than ``video.width × video.height`` is scaled down to fit it, aspect
  kept (PyAV ``reformat``); a smaller one is sent as it is, as a browser's
  ``scaleResolutionDownBy`` does;
- **frame rate**: frames beyond ``video.fps`` are dropped (by their timestamps);
- **bitrate**: aiortc's encoder ``target_bitrate`` is held at or below
  ``min(video.bitrate_kbps, network.max_send_kbps)``, set before each frame is encoded, so a
  receiver's bandwidth estimate (REMB, which aiortc applies to the encoder directly) can lower
  it but not raise it past the profile.

aiortc's VP8 and H.264 encoders are PyAV codec contexts, but they fix the QP range and keyframe
interval themselves each time they (re)create the context (VP8: ``qmin`` 2, ``qmax`` 56,
``gop_size`` 3000) and take no options from outside, so ``video.min_qp``, ``max_qp`` and ``gop``
are reported unsupported, as are FEC and sharpening (not implemented), AGC/NS/AEC (no DSP
library in the SDK) and the Opus settings (aiortc's Opus encoder has a fixed configuration).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpSender
from av import VideoFrame

log = logging.getLogger(__name__)

Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

UNSUPPORTED: tuple[str, ...] = (
    "video.min_qp",
    "video.max_qp",
    "video.gop",
    "video.fec",
    "video.sharpen",
    "video.sharpen_strength",
    "audio.sample_rate",
    "audio.channels",
    "audio.packet_ms",
    "audio.bitrate_kbps",
    "audio.agc",
    "audio.ns",
    "audio.aec",
    "network.max_recv_kbps",
    "network.degradation",
)


def sender_encoder(sender: RTCRtpSender) -> Any | None:
    """The encoder aiortc made for ``sender`` (after its first frame), or None.

    aiortc keeps it private (``RTCRtpSender.__encoder``); it is read here, in one place."""
    return getattr(sender, "_RTCRtpSender__encoder", None)


class VideoShaper:
    """Scales, paces and caps the frames of one video m-line (a ``TrackSwitch.shape``)."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.width = 0
        self.height = 0
        self.fps = 0.0
        self.max_bitrate = 0  # bits per second; 0: no cap
        self._next_s: float | None = None

    def configure(self, width: int, height: int, fps: float, max_bitrate: int) -> None:
        """The profile's size, frame rate and bitrate cap (bps)."""
        self.width, self.height, self.fps, self.max_bitrate = width, height, fps, max_bitrate
        self._next_s = None

    def __call__(self, frame: Any) -> Any | None:
        if not isinstance(frame, VideoFrame):
            return frame
        if self.fps > 0 and frame.pts is not None and frame.time_base is not None:
            at = float(frame.pts * frame.time_base)
            if self._next_s is not None and at < self._next_s - 0.25 / self.fps:
                return None  # over the frame rate
            step = 1 / self.fps
            self._next_s = at + step if self._next_s is None else max(self._next_s + step, at)
        encoder = sender_encoder(self.sender)
        if self.max_bitrate and encoder is not None and hasattr(encoder, "target_bitrate"):
            if encoder.target_bitrate > self.max_bitrate:
                encoder.target_bitrate = self.max_bitrate
        size = self.size_for(frame.width, frame.height)
        if size != (frame.width, frame.height):
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            return scaled
        return frame

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size sent for a ``width × height`` frame: scaled down (aspect kept, even sides)
        to fit the profile's size; a smaller frame is sent as it is, never scaled up."""
        if not self.width or (width <= self.width and height <= self.height):
            return width, height
        scale = max(width / self.width, height / self.height)
        return max(2, round(width / scale / 2) * 2), max(2, round(height / scale / 2) * 2)


class QualityApplier:
    """Applies the current profile to the published video m-lines and reports it."""

    def __init__(self, request: Request, senders: Callable[[], dict[str, Any]]) -> None:
        """``senders()``: source -> (RTCRtpSender, TrackSwitch) of what is published."""
        self._request = request
        self._senders = senders
        self.current: dict[str, Any] | None = None  # {source, version, profile}
        self.last_report: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def set(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """A profile from the server: apply it now; returns the report sent."""
        self.current = update
        return await self.reapply()

    async def reapply(self) -> dict[str, Any] | None:
        """Apply the current profile again (after a publish); returns the report sent."""
        async with self._lock:
            update = self.current
            if update is None:
                return None
            profile = update["profile"]
            video, network = profile["video"], profile["network"]
            kbps = min(int(video["bitrate_kbps"]), int(network["max_send_kbps"]))
            applied: dict[str, Any] = {}
            for source, (sender, switch) in self._senders().items():
                if source != "camera":
                    continue  # the screen keeps its mode's size (ilvb.client.capture)
                shaper = switch.shape
                if not isinstance(shaper, VideoShaper):
                    shaper = VideoShaper(sender)
                    switch.shape = shaper
                shaper.configure(
                    int(video["width"]), int(video["height"]), float(video["fps"]), kbps * 1000
                )
                applied.update(
                    {
                        "video.width": shaper.width,
                        "video.height": shaper.height,
                        "video.fps": video["fps"],
                        "video.bitrate_kbps": kbps,
                        "network.max_send_kbps": network["max_send_kbps"],
                    }
                )
            report = {
                "version": int(update["version"]),
                "applied": applied,
                "unsupported": list(UNSUPPORTED),
            }
            await self._request("quality.report", report)
            self.last_report = report
            return report
