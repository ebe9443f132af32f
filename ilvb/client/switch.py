"""``TrackSwitch``: the one track a send m-line ever sees, fed by whatever source is current.

aiortc's sender keeps one encoder per m-line. Swapping the sender's track for a new source
(unpublish → publish again, or camera → file) hands the encoder frames whose timestamps start
over at 0. Once a bandwidth estimate (REMB) has made aiortc re-create the VP8 codec, a pts below
that codec's first one is refused (``avcodec_send_frame()``: invalid data) and the sender's loop
dies for good: the member publishes but nothing more is sent. So each published source goes
through a ``TrackSwitch``:

1. ``set(track)`` makes ``track`` current; ``set(None)`` pauses (no frames, so no packets).
2. ``recv()`` waits for the current track's next frame, giving up on it at once when the track
   is replaced (a pushed source may never deliver again).
3. Timestamps are rebased so the output is continuous: video's first frame from a new track is
   placed one frame (1/30 s) after the last frame sent and later ones keep their own spacing,
   always strictly increasing; audio is made sample-continuous.
4. A source that ends (``MediaStreamError``, e.g. a file without loop) pauses the switch; it
   never ends the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

log = logging.getLogger(__name__)

# Output clocks: RTP's video clock; audio keeps samples at the frame's own rate.
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
DEFAULT_VIDEO_STEP_S = 1 / 30


class TrackSwitch(MediaStreamTrack):
    """A track of ``kind`` that forwards the current source's frames with continuous pts."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._changed = asyncio.Event()
        self._rebase = True
        self._offset_s = 0.0  # video: output seconds = input seconds + offset
        self._last_s: float | None = None  # video: output time of the last frame
        self._audio_s = 0.0  # audio: output time of the next frame
        self.frames = 0
        # Applied to each outgoing frame (ilvb.client.quality: size, frame rate, encoder cap);
        # returning None drops the frame.
        self.shape: Callable[[Any], Any | None] | None = None

    @property
    def source(self) -> MediaStreamTrack | None:
        """The current source (``None`` while paused)."""
        return self._source

    def set(self, source: MediaStreamTrack | None) -> None:
        """Make ``source`` current (``None``: pause)."""
        self._source = source
        self._rebase = True
        self._changed.set()

    async def recv(self) -> Any:
        """The next frame of the current source, pts rebased."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._source
            self._changed.clear()
            if source is None:
                await self._changed.wait()
                continue
            frame = await self._next_of(source)
            if frame is None or source is not self._source:
                continue  # replaced (or ended) while waiting
            out = self._rebased(frame)
            if self.shape is not None:
                out = self.shape(out)
                if out is None:
                    continue
            return out

    async def _next_of(self, source: MediaStreamTrack) -> Any:
        receiving = asyncio.ensure_future(source.recv())
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            done, _ = await asyncio.wait({receiving, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
        if receiving not in done:
            receiving.cancel()
            with contextlib.suppress(BaseException):
                await receiving
            return None
        try:
            return receiving.result()
        except MediaStreamError:
            log.info("a published source ended; pausing until another is set")
            if self._source is source:
                self._source = None
            return None

    def _rebased(self, frame: Any) -> Any:
        if isinstance(frame, AudioFrame):
            # Audio: sample-continuous, whatever the source's own pts.
            time_base = fractions.Fraction(1, frame.sample_rate)
            frame.pts = round(self._audio_s / time_base)
            frame.time_base = time_base
            self._audio_s += frame.samples / frame.sample_rate
            self.frames += 1
            return frame
        if frame.pts is None or frame.time_base is None:
            return frame
        in_s = float(frame.pts * frame.time_base)
        if self._rebase:
            start = 0.0 if self._last_s is None else self._last_s + DEFAULT_VIDEO_STEP_S
            self._offset_s = start - in_s
            self._rebase = False
        out_s = in_s + self._offset_s
        if self._last_s is not None:
            out_s = max(out_s, self._last_s + float(VIDEO_TIME_BASE))  # strictly increasing
        frame.pts = round(out_s / VIDEO_TIME_BASE)
        frame.time_base = VIDEO_TIME_BASE
        self._last_s = out_s
        self.frames += 1
        return frame

    def stop(self) -> None:
        """End this track (the sender stops); the current source is left to its owner."""
        super().stop()
        self._changed.set()
