"""What a client can publish: synthetic test sources, media files, and frames the app pushes.

Every source is an aiortc ``MediaStreamTrack`` (give it to ``Client.publish_audio`` /
``Client.publish_video``):

- :class:`SyntheticVideoSource`: I420 frames whose pixels encode the frame index and a marker
  as big black/white blocks (32×32 at 256×128, aligned to VP8 macroblocks, so they survive lossy
  coding); :func:`ilvb.client.remote.read_frame_tag` reads them back from a decoded frame.
- :class:`ToneSource`: a sine tone, 48 kHz mono, 20 ms frames, frequency and amplitude settable.
- :class:`FileSource`: a media file's audio and video through PyAV (``MediaPlayer``).
- :class:`ExternalAudioSource` / :class:`ExternalVideoSource`: the app pushes PCM (s16le,
  ~20 ms) or I420 frames from any capture of its own.
- :class:`GainTrack`: wraps any audio track with a digital volume and a per-frame peak meter.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable

import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from ilvb.errors import InvalidArgument

AUDIO_RATE = 48_000
AUDIO_PTIME_S = 0.020
VIDEO_CLOCK = 90_000

# Frame tag layout: TAG_COLS × TAG_ROWS blocks, one bit each, row-major, most significant first.
TAG_COLS = 8
TAG_ROWS = 4
INDEX_BITS = 16
MARKER_BITS = 8
CHECK_BITS = 8


def tag_bits(index: int, marker: int) -> list[int]:
    """The 32 bits drawn for (index, marker): 16-bit index, 8-bit marker, 8-bit check."""
    index &= (1 << INDEX_BITS) - 1
    marker &= (1 << MARKER_BITS) - 1
    check = tag_check(index, marker)
    word = (index << 16) | (marker << 8) | check
    return [(word >> (31 - i)) & 1 for i in range(32)]


def tag_check(index: int, marker: int) -> int:
    """An 8-bit check over index and marker, so a garbled decode is not read as a valid tag."""
    return ((index & 0xFF) ^ (index >> 8) ^ marker ^ 0xA5) & 0xFF


def tagged_frame(
    index: int,
    marker: int,
    width: int = 256,
    height: int = 128,
    noise: int = 0,
    rng: np.random.Generator | None = None,
) -> VideoFrame:
    """A yuv420p frame showing (index, marker) as black/white blocks.

    ``noise`` (0–60) adds random luma texture of that amplitude, which makes the encoder spend
    its whole bitrate (more packets per frame) without changing what :func:`read_frame_tag`
    reads (blocks are 16 or 235, the threshold 125).
    """
    if width % (2 * TAG_COLS) or height % (2 * TAG_ROWS):
        raise InvalidArgument(
            message=f"frame size must be a multiple of {2 * TAG_COLS}×{2 * TAG_ROWS}"
        )
    bw, bh = width // TAG_COLS, height // TAG_ROWS
    bits = np.array(tag_bits(index, marker), dtype=np.uint8).reshape(TAG_ROWS, TAG_COLS)
    luma = np.kron(bits, np.ones((bh, bw), dtype=np.int16)) * (235 - 16) + 16
    if noise:
        gen = rng if rng is not None else np.random.default_rng(index)
        luma += gen.integers(-noise, noise + 1, size=luma.shape, dtype=np.int16)
        np.clip(luma, 0, 255, out=luma)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    yuv = np.vstack([luma.astype(np.uint8), chroma])
    return VideoFrame.from_ndarray(yuv, format="yuv420p")


class SyntheticVideoSource(MediaStreamTrack):
    """Video whose every frame carries its index (and this source's ``marker``) in its pixels."""

    kind = "video"

    def __init__(
        self,
        marker: int = 0,
        fps: float = 15.0,
        width: int = 256,
        height: int = 128,
        noise: int = 0,
    ) -> None:
        super().__init__()
        self.marker = marker
        self.noise = noise
        self._rng = np.random.default_rng(marker)
        self.fps = fps
        self.width = width
        self.height = height
        self.frames_sent = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        """The next tagged frame, paced at ``fps``."""
        if self.readyState != "live":
            raise MediaStreamError
        index = self.frames_sent
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        frame = tagged_frame(
            index, self.marker, self.width, self.height, noise=self.noise, rng=self._rng
        )
        frame.pts = int(index * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        return frame


class ToneSource(MediaStreamTrack):
    """A sine tone (48 kHz mono s16, 20 ms frames). ``frequency`` and ``amplitude`` (0–1) may
    be changed while it plays."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.5) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._samples = 0
        self._phase = 0.0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        """The next 20 ms of tone, paced in real time."""
        if self.readyState != "live":
            raise MediaStreamError
        n = int(AUDIO_RATE * AUDIO_PTIME_S)
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._samples / AUDIO_RATE
        if due > now:
            await asyncio.sleep(due - now)
        step = 2 * math.pi * self.frequency / AUDIO_RATE
        phases = self._phase + step * np.arange(n)
        self._phase = float((self._phase + step * n) % (2 * math.pi))
        amp = max(0.0, min(1.0, self.amplitude)) * 32767
        pcm = (np.sin(phases) * amp).astype(np.int16).reshape(1, n)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += n
        return frame


class FileSource:
    """A media file (anything PyAV/FFmpeg reads) as ``audio`` and ``video`` tracks.

    ``loop`` restarts the file at its end. Either track is ``None`` when the file has none.
    """

    def __init__(self, path: str, *, loop: bool = True, options: dict[str, str] | None = None):
        try:
            self._player = MediaPlayer(path, loop=loop, options=options or {})
        except Exception as exc:  # PyAV raises many error types for unreadable files
            raise InvalidArgument(message=f"cannot open media file {path}: {exc}") from exc
        self.audio: MediaStreamTrack | None = self._player.audio
        self.video: MediaStreamTrack | None = self._player.video

    def stop(self) -> None:
        """Stop reading the file."""
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


class ExternalAudioSource(MediaStreamTrack):
    """Audio the app pushes: PCM s16le frames of ~20 ms (mutually exclusive with a microphone).

    ``push`` never blocks; at most ``max_queued`` frames wait, older ones are dropped first.
    """

    kind = "audio"

    def __init__(self, sample_rate: int = AUDIO_RATE, channels: int = 1, max_queued: int = 50):
        super().__init__()
        if sample_rate not in (8000, 16000, 24000, 32000, 44100, 48000):
            raise InvalidArgument(message=f"unsupported sample rate {sample_rate}")
        if channels not in (1, 2):
            raise InvalidArgument(message="channels must be 1 or 2")
        self.sample_rate = sample_rate
        self.channels = channels
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_queued)
        self._samples = 0
        self.frames_dropped = 0

    def push(self, pcm: bytes) -> None:
        """Queue one frame of interleaved s16le PCM (10–60 ms worth of samples)."""
        frame_bytes = 2 * self.channels
        if not isinstance(pcm, bytes | bytearray | memoryview) or len(pcm) % frame_bytes:
            raise InvalidArgument(message="pcm must be whole s16le sample frames")
        ms = 1000 * len(pcm) / frame_bytes / self.sample_rate
        if not 10 <= ms <= 60:
            raise InvalidArgument(message=f"a pushed frame must hold 10–60 ms, not {ms:.1f}")
        if self._queue.full():
            self._queue.get_nowait()
            self.frames_dropped += 1
        self._queue.put_nowait(bytes(pcm))

    async def recv(self) -> AudioFrame:
        """The next pushed frame (waits for the app)."""
        if self.readyState != "live":
            raise MediaStreamError
        pcm = await self._queue.get()
        n = len(pcm) // (2 * self.channels)
        layout = "mono" if self.channels == 1 else "stereo"
        array = np.frombuffer(pcm, dtype=np.int16).reshape(1, n * self.channels)
        frame = AudioFrame.from_ndarray(array, format="s16", layout=layout)
        frame.sample_rate = self.sample_rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._samples += n
        return frame


class ExternalVideoSource(MediaStreamTrack):
    """Video the app pushes as I420 frames (mutually exclusive with a camera).

    Sides must be even (the paper asks for multiples of 4, up to 640×480; we take any even size).
    The newest ``max_queued`` frames are kept; timestamps follow the push time.
    """

    kind = "video"

    def __init__(self, max_queued: int = 5) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[VideoFrame, float]] = asyncio.Queue(max_queued)
        self._t0: float | None = None
        self.frames_dropped = 0

    def push(self, i420: bytes, width: int, height: int) -> None:
        """Queue one I420 frame (Y plane, then U, then V; ``width*height*3/2`` bytes)."""
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise InvalidArgument(message=f"bad frame size {width}×{height}")
        if len(i420) != width * height * 3 // 2:
            raise InvalidArgument(
                message=f"an I420 {width}×{height} frame has {width * height * 3 // 2} bytes",
            )
        array = np.frombuffer(i420, dtype=np.uint8).reshape(height * 3 // 2, width)
        frame = VideoFrame.from_ndarray(array, format="yuv420p")
        if self._queue.full():
            self._queue.get_nowait()
            self.frames_dropped += 1
        self._queue.put_nowait((frame, time.monotonic()))

    async def recv(self) -> VideoFrame:
        """The next pushed frame (waits for the app)."""
        if self.readyState != "live":
            raise MediaStreamError
        frame, pushed_at = await self._queue.get()
        if self._t0 is None:
            self._t0 = pushed_at
        frame.pts = int((pushed_at - self._t0) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class GainTrack(MediaStreamTrack):
    """Any audio track with a digital ``volume`` (0–4, 1 = unchanged) and a level meter.

    ``peak`` is the last frame's peak (0–1, after the volume), for drawing a level meter;
    ``on_level(peak)`` is called for every frame (a microphone volume that the app may change
    while sending).
    """

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, volume: float = 1.0) -> None:
        super().__init__()
        if source.kind != "audio":
            raise InvalidArgument(message="GainTrack needs an audio track")
        self.source = source
        self.volume = volume
        self.peak = 0.0
        self.on_level: Callable[[float], None] | None = None

    @property
    def volume(self) -> float:
        """The digital gain applied to every sample."""
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        if not 0.0 <= value <= 4.0:
            raise InvalidArgument(message=f"volume must be within 0–4, not {value}")
        self._volume = value

    async def recv(self) -> AudioFrame:
        """The source's next frame, scaled (s16, clipped)."""
        frame = await self.source.recv()
        if not isinstance(frame, AudioFrame) or frame.format.name != "s16":
            raise InvalidArgument(message="GainTrack needs s16 audio frames")
        samples = frame.to_ndarray().astype(np.float64) * self._volume
        np.clip(samples, -32768, 32767, out=samples)
        out = AudioFrame.from_ndarray(
            samples.astype(np.int16), format="s16", layout=frame.layout.name
        )
        out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
        self.peak = float(np.abs(samples).max() / 32768.0) if samples.size else 0.0
        if self.on_level is not None:
            self.on_level(self.peak)
        return out

    def stop(self) -> None:
        """Stop this track and its source."""
        super().stop()
        self.source.stop()
