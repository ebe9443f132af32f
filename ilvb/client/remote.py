"""The "remote virtual devices": every remote member's audio and video as decoded frames.

The receive transport has fixed slots (``a0…``, ``v0…``); ``slot`` events say which member's
source each slot carries now. :class:`RemoteMedia` reads each slot's decoded frames and hands
them out as ``(user_id, frame)``: per-frame callbacks (``on_frame``) and async iterators
(``frames``). Frames from a slot that carries nobody are dropped.

Helpers read back what the synthetic sources put in: :func:`read_frame_tag` (frame index and
marker drawn by ``SyntheticVideoSource``) and :func:`audio_tone` (dominant frequency and RMS).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from ilvb.client.sources import TAG_COLS, TAG_ROWS, tag_check

log = logging.getLogger(__name__)

Kind = Literal["audio", "video"]
FrameCallback = Callable[[str, Any], Awaitable[None] | None]

_END = object()


@dataclass
class SlotState:
    """What one receive slot carries now."""

    mid: str
    kind: Kind
    user_id: str | None = None
    source: str | None = None
    frames: int = 0


class RemoteMedia:
    """Decoded frames of each remote member, keyed by user id (fed by the receive transport)."""

    def __init__(self) -> None:
        self.slots: dict[str, SlotState] = {}
        self._callbacks: dict[Kind, list[FrameCallback]] = {"audio": [], "video": []}
        self._streams: list[FrameStream] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def set_slot(self, mid: str, kind: Kind, user_id: str | None, source: str | None) -> None:
        """Apply a ``slot`` event."""
        slot = self.slots.setdefault(mid, SlotState(mid, kind))
        slot.user_id = user_id
        slot.source = source

    def who(self, kind: Kind | None = None) -> dict[str, str]:
        """``{mid: user_id}`` of the slots that carry someone now (of ``kind`` when given)."""
        return {
            mid: s.user_id
            for mid, s in self.slots.items()
            if s.user_id is not None and (kind is None or s.kind == kind)
        }

    def attach(self, mid: str, kind: Kind, track: MediaStreamTrack) -> None:
        """Start reading the decoded frames of the slot ``mid``."""
        self.slots.setdefault(mid, SlotState(mid, kind))
        old = self._tasks.pop(mid, None)
        if old is not None:
            old.cancel()
        self._tasks[mid] = asyncio.ensure_future(self._read(mid, kind, track))

    def on_frame(self, kind: Kind, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback(user_id, frame)`` for every decoded frame of ``kind``."""
        self._callbacks[kind].append(callback)
        return lambda: self._callbacks[kind].remove(callback)

    def frames(
        self, kind: Kind, user_ids: Iterable[str] | None = None, max_queued: int = 256
    ) -> FrameStream:
        """``async for user_id, frame in ...``: decoded frames of ``kind`` (from ``user_ids``)."""
        stream = FrameStream(
            self, kind, set(user_ids) if user_ids is not None else None, max_queued
        )
        if self._closed:
            stream.queue.put_nowait(_END)
        else:
            self._streams.append(stream)
        return stream

    async def reset(self) -> None:
        """Stop reading every slot and forget them (the room was left); iterators stay open."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self.slots.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def close(self) -> None:
        """Stop reading and end every iterator. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.reset()
        for stream in self._streams:
            stream.queue.put_nowait(_END)

    async def _read(self, mid: str, kind: Kind, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            slot = self.slots[mid]
            if slot.user_id is None:
                continue  # nobody in this slot (frames still in flight from before a switch)
            slot.frames += 1
            self._dispatch(kind, slot.user_id, frame)

    def _dispatch(self, kind: Kind, user_id: str, frame: Any) -> None:
        for callback in list(self._callbacks[kind]):
            try:
                result = callback(user_id, frame)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception:
                log.exception("on_frame callback failed")
        for stream in self._streams:
            if stream.kind == kind and (stream.user_ids is None or user_id in stream.user_ids):
                stream.offer((user_id, frame))

    def _detach(self, stream: FrameStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)


class FrameStream:
    """An async iterator of ``(user_id, frame)``; the oldest frames are dropped if not read."""

    def __init__(self, owner: RemoteMedia, kind: Kind, user_ids: set[str] | None, max_queued: int):
        self.kind = kind
        self.user_ids = user_ids
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.max_queued = max_queued
        self.dropped = 0
        self._owner = owner

    def offer(self, item: tuple[str, Any]) -> None:
        """Queue a frame, dropping the oldest past ``max_queued``."""
        if self.queue.qsize() >= self.max_queued:
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)

    def __aiter__(self) -> FrameStream:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        item = await self.queue.get()
        if item is _END:
            self._owner._detach(self)
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop receiving frames."""
        self._owner._detach(self)


@dataclass(frozen=True)
class FrameTag:
    """What a ``SyntheticVideoSource`` drew into a frame."""

    index: int
    marker: int


def read_frame_tag(frame: VideoFrame) -> FrameTag | None:
    """Read (index, marker) back from a decoded frame; ``None`` if the check bits disagree."""
    luma = frame.to_ndarray(format="gray")
    height, width = luma.shape
    bh, bw = height // TAG_ROWS, width // TAG_COLS
    word = 0
    for row in range(TAG_ROWS):
        for col in range(TAG_COLS):
            # The middle half of each block: away from edges the codec may blur.
            block = luma[
                row * bh + bh // 4 : (row + 1) * bh - bh // 4,
                col * bw + bw // 4 : (col + 1) * bw - bw // 4,
            ]
            word = (word << 1) | int(block.mean() > 125)
    index, marker, check = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    if tag_check(index, marker) != check:
        return None
    return FrameTag(index, marker)


def audio_samples(frame: AudioFrame) -> np.ndarray:
    """The frame's first channel as float samples in [-1, 1]."""
    array: np.ndarray = frame.to_ndarray()
    if frame.format.is_planar:
        mono = array[0]
    else:
        mono = array.reshape(-1, len(frame.layout.channels))[:, 0]
    samples: np.ndarray = mono.astype(np.float64)
    return samples / 32768.0 if mono.dtype == np.int16 else samples


def audio_tone(frame: AudioFrame) -> tuple[float, float]:
    """(dominant frequency in Hz, RMS in [0, 1]) of a decoded audio frame."""
    samples = audio_samples(frame)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    if samples.size < 2:
        return 0.0, rms
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    peak = int(np.argmax(spectrum[1:]) + 1)
    return peak * frame.sample_rate / samples.size, rms
