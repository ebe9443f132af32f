"""Helpers for the media integration tests: collect decoded frames, judge index sequences,
record the RTP packets a subscriber's receiver gets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ilvb.client import Client, audio_tone, read_frame_tag


@dataclass
class VideoLog:
    """Decoded video frames seen by one subscriber: (arrival time, user_id, tag or None)."""

    frames: list[tuple[float, str, Any]] = field(default_factory=list)

    def indices(self, marker: int | None = None, since: float = 0.0) -> list[int]:
        """Frame indices read back (of one marker), in arrival order."""
        return [
            tag.index
            for t, _, tag in self.frames
            if tag is not None and t >= since and (marker is None or tag.marker == marker)
        ]

    def unreadable(self) -> int:
        """Decoded frames whose tag did not check out (garbled pictures)."""
        return sum(1 for _, _, tag in self.frames if tag is None)


@dataclass
class AudioLog:
    """Decoded audio frames seen by one subscriber: (arrival time, user_id, freq Hz, rms)."""

    frames: list[tuple[float, str, float, float]] = field(default_factory=list)

    def of(self, user_id: str, since: float = 0.0) -> list[tuple[float, float]]:
        """(frequency, rms) of ``user_id``'s frames since ``since``."""
        return [(f, r) for t, u, f, r in self.frames if u == user_id and t >= since]


def record_video(client: Client) -> VideoLog:
    """Start logging every decoded remote video frame of ``client``."""
    log = VideoLog()
    client.on_frame(
        "video",
        lambda uid, frame: log.frames.append((time.monotonic(), uid, read_frame_tag(frame))),
    )
    return log


def record_audio(client: Client) -> AudioLog:
    """Start logging every decoded remote audio frame of ``client``."""
    log = AudioLog()

    def on_audio(uid: str, frame: Any) -> None:
        freq, rms = audio_tone(frame)
        log.frames.append((time.monotonic(), uid, freq, rms))

    client.on_frame("audio", on_audio)
    return log


@dataclass(frozen=True)
class SequenceVerdict:
    """How a run of received frame indices compares with what was sent."""

    first: int
    last: int
    received: int
    in_order: bool
    duplicates: int

    @property
    def span(self) -> int:
        """Indices sent from the first received to the last received."""
        return self.last - self.first + 1

    @property
    def present(self) -> float:
        """Share of the sent indices in the span that arrived."""
        return self.received / self.span if self.span > 0 else 0.0


def judge(indices: list[int]) -> SequenceVerdict:
    """In order? Duplicates? Share present between the first and last index received."""
    assert indices, "no frame index was read back"
    duplicates = len(indices) - len(set(indices))
    in_order = all(b > a for a, b in zip(indices, indices[1:], strict=False))
    return SequenceVerdict(indices[0], indices[-1], len(set(indices)), in_order, duplicates)


async def wait_until(
    predicate: Callable[[], object], timeout_s: float, what: str, step_s: float = 0.05
) -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(step_s)


@dataclass
class RtpCapture:
    """RTP headers one receive slot got, in arrival order: (time, ssrc, seq, timestamp)."""

    packets: list[tuple[float, int, int, int]] = field(default_factory=list)


def capture_rtp(client: Client, mid: str) -> RtpCapture:
    """Record the RTP packets that reach the receiver of slot ``mid`` (before the jitter buffer)."""
    pc = client.media.recv_pc
    assert pc is not None, "receive transport not open"
    transceiver = next(t for t in pc.getTransceivers() if t.mid == mid)
    receiver = transceiver.receiver
    capture = RtpCapture()
    original = receiver._handle_rtp_packet

    async def handle(packet: Any, arrival_time_ms: int) -> None:
        capture.packets.append(
            (time.monotonic(), packet.ssrc, packet.sequence_number, packet.timestamp)
        )
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return capture


@dataclass
class CodecSpy:
    """Records every aiortc decoder/encoder constructed in this process, and whether the SFU
    (a frame under ``ilvb/sfu/``) was on the constructing stack."""

    made: list[tuple[str, bool]] = field(default_factory=list)
    _undo: list[tuple[type, Any]] = field(default_factory=list)

    def install(self) -> CodecSpy:
        """Wrap ``__init__`` of every codec class aiortc has."""
        import inspect
        import os

        from aiortc.codecs import g711, g722, h264, opus, vpx

        marker = f"{os.sep}ilvb{os.sep}sfu{os.sep}"
        classes = [
            getattr(module, name)
            for module in (g711, g722, h264, opus, vpx)
            for name in dir(module)
            if name.endswith(("Decoder", "Encoder")) and name not in ("Decoder", "Encoder")
        ]
        for cls in {c for c in classes if isinstance(c, type)}:
            original = cls.__dict__.get("__init__")
            if original is None:
                continue

            def wrapped(self_: Any, *a: Any, __orig: Any = original, **kw: Any) -> None:
                in_sfu = any(marker in f.filename for f in inspect.stack(0))
                self.made.append((type(self_).__name__, in_sfu))
                __orig(self_, *a, **kw)

            cls.__init__ = wrapped
            self._undo.append((cls, original))
        return self

    def uninstall(self) -> None:
        """Put the original constructors back."""
        for cls, original in self._undo:
            cls.__init__ = original
        self._undo.clear()

    def by_sfu(self) -> list[str]:
        """Codec objects constructed with SFU code on the stack (must stay empty)."""
        return [name for name, in_sfu in self.made if in_sfu]
