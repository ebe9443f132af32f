"""Audio mixers of the Python SDK.

- :class:`InputMixer`: what I send — the microphone plus an accompaniment (a media file or PCM
  the app pushes), each with its own volume and level; the mix is the track to publish, and
  ``on_mixed`` shows it locally.
- :class:`OutputMixer`: what I hear — each remote member's decoded audio (``on_member``), their
  mix (``on_mix``), played to a :class:`~ilvb.client.devices.Speaker` when one is given.

Everything is 48 kHz mono s16 in 20 ms frames (inputs are resampled to that).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from ilvb.client.devices import Speaker, audio_resampler, check_volume, mono_s16, pcm_frame
from ilvb.client.pulse import FRAME_SAMPLES, RATE
from ilvb.errors import InvalidArgument

MAX_BUFFER = RATE // 2  # at most 500 ms of accompaniment / member audio waits


SILENT_AFTER_TICKS = 10  # 200 ms without samples: a member's level drops to 0


class _Buffer:
    """A FIFO of samples with a small reserve against jitter; the oldest are dropped past
    ``MAX_BUFFER``. Reading starts once ``prime`` samples wait, and after an underrun again."""

    def __init__(self, prime: int = 3 * FRAME_SAMPLES) -> None:
        self.samples = np.zeros(0, np.int16)
        self.prime = prime
        self.primed = False

    def push(self, samples: np.ndarray) -> None:
        self.samples = np.concatenate([self.samples, samples])[-MAX_BUFFER:]

    def take(self, n: int) -> np.ndarray | None:
        """``n`` samples, or ``None`` while (re)filling the reserve."""
        if not self.primed:
            if self.samples.size < max(n, self.prime):
                return None
            self.primed = True
        if self.samples.size < n:
            self.primed = False
            return None
        out, self.samples = self.samples[:n], self.samples[n:]
        return out


def _mix(parts: list[tuple[np.ndarray, float]], n: int) -> tuple[np.ndarray, list[float]]:
    total = np.zeros(n, np.float64)
    peaks = []
    for samples, volume in parts:
        scaled = samples.astype(np.float64) * volume
        peaks.append(float(np.abs(scaled).max() / 32768.0) if scaled.size else 0.0)
        total[: scaled.size] += scaled
    np.clip(total, -32768, 32767, out=total)
    return total.astype(np.int16), peaks


class InputMixer(MediaStreamTrack):
    """Microphone + accompaniment as one audio track (publish it instead of the microphone)."""

    kind = "audio"

    def __init__(
        self,
        microphone: MediaStreamTrack,
        *,
        microphone_volume: float = 1.0,
        accompaniment_volume: float = 1.0,
    ) -> None:
        super().__init__()
        if microphone.kind != "audio":
            raise InvalidArgument(message="InputMixer needs an audio track")
        self.microphone = microphone
        self._mic_volume = check_volume(microphone_volume)
        self._acc_volume = check_volume(accompaniment_volume)
        self.microphone_peak = 0.0
        self.accompaniment_peak = 0.0
        self.peak = 0.0
        self.on_mixed: Callable[[AudioFrame], None] | None = None
        self._mic_resampler = audio_resampler()
        self._acc = _Buffer()
        self._file: Any = None  # an av InputContainer while a file accompanies
        self._file_loop = True
        self._file_frames: Iterator[AudioFrame] = iter(())
        self._file_resampler = audio_resampler()
        self._samples = 0

    @property
    def microphone_volume(self) -> float:
        """Gain of the microphone in the mix (0–4)."""
        return self._mic_volume

    @microphone_volume.setter
    def microphone_volume(self, value: float) -> None:
        self._mic_volume = check_volume(value)

    @property
    def accompaniment_volume(self) -> float:
        """Gain of the accompaniment in the mix (0–4)."""
        return self._acc_volume

    @accompaniment_volume.setter
    def accompaniment_volume(self, value: float) -> None:
        self._acc_volume = check_volume(value)

    def play_file(self, path: str, *, loop: bool = True) -> None:
        """Use a media file (any format FFmpeg reads) as the accompaniment.

        The file is decoded as the microphone's frames need it (not on its own clock), so the
        two never drift apart and the accompaniment never runs dry mid-file.
        """
        self.stop_accompaniment()
        try:
            container = av.open(path)
        except (av.FFmpegError, OSError) as exc:
            raise InvalidArgument(message=f"cannot open media file {path}: {exc}") from exc
        if not container.streams.audio:
            container.close()
            raise InvalidArgument(message=f"{path} has no audio")
        self._file = container
        self._file_loop = loop
        self._file_frames = container.decode(audio=0)
        self._file_resampler = audio_resampler()

    def push_accompaniment(self, pcm: bytes) -> None:
        """Add PCM (48 kHz mono s16le) to the accompaniment."""
        if not isinstance(pcm, bytes | bytearray | memoryview) or len(pcm) % 2:
            raise InvalidArgument(message="pcm must be whole s16le samples")
        self._acc.push(np.frombuffer(bytes(pcm), dtype=np.int16))

    def stop_accompaniment(self) -> None:
        """Stop the file accompaniment and drop any pushed PCM."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._acc = _Buffer()

    def _decode_file(self, n: int) -> None:
        # Top the buffer up from the file to at least n samples (rewinding at its end).
        assert self._file is not None
        while self._acc.samples.size < n:
            try:
                frame = next(self._file_frames)
            except StopIteration:
                if not self._file_loop:
                    self.stop_accompaniment()
                    return
                self._file.seek(0)
                self._file_frames = self._file.decode(audio=0)
                continue
            self._acc.push(mono_s16(frame, self._file_resampler))

    async def recv(self) -> AudioFrame:
        """The microphone's next frame mixed with as much accompaniment."""
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.microphone.recv()
        assert isinstance(frame, AudioFrame)
        mic = mono_s16(frame, self._mic_resampler)
        if self._file is not None:
            self._decode_file(max(mic.size, self._acc.prime))
        acc = self._acc.take(mic.size)
        parts = [(mic, self._mic_volume)]
        if acc is not None:
            parts.append((acc, self._acc_volume))
        mixed, peaks = _mix(parts, mic.size)
        self.microphone_peak = peaks[0]
        self.accompaniment_peak = peaks[1] if len(peaks) > 1 else 0.0
        self.peak = float(np.abs(mixed.astype(np.float64)).max() / 32768.0) if mixed.size else 0.0
        out = pcm_frame(mixed, self._samples)
        self._samples += mixed.size
        if self.on_mixed is not None:
            self.on_mixed(out)
        return out

    def stop(self) -> None:
        """Stop the mix, the accompaniment and the microphone."""
        super().stop()
        self.stop_accompaniment()
        self.microphone.stop()


MemberCallback = Callable[[str, np.ndarray], None]
MixCallback = Callable[[np.ndarray], None]


class OutputMixer:
    """Remote members' audio, one stream each and mixed, every 20 ms.

    ``client`` is an :class:`~ilvb.client.Client` (anything with ``on_frame``). ``on_member``
    callbacks get ``(user_id, samples)`` per member frame, ``on_mix`` the mix; ``levels`` holds
    each member's last peak (0 once it has sent nothing for 200 ms). With a ``speaker`` the mix
    is played to it.
    """

    def __init__(self, client: Any, speaker: Speaker | None = None) -> None:
        self.speaker = speaker
        self.levels: dict[str, float] = {}
        self.volumes: dict[str, float] = {}
        self._missed: dict[str, int] = {}
        self._buffers: dict[str, _Buffer] = {}
        self._resamplers: dict[str, AudioResampler] = {}
        self._member_cbs: list[MemberCallback] = []
        self._mix_cbs: list[MixCallback] = []
        self._off = client.on_frame("audio", self._on_frame)
        self._task = asyncio.ensure_future(self._run())

    def on_member(self, callback: MemberCallback) -> None:
        """Call ``callback(user_id, samples)`` with each member's audio before mixing."""
        self._member_cbs.append(callback)

    def on_mix(self, callback: MixCallback) -> None:
        """Call ``callback(samples)`` with each 20 ms of the mix."""
        self._mix_cbs.append(callback)

    def set_volume(self, user_id: str, volume: float) -> None:
        """One member's gain in the mix (0–4)."""
        self.volumes[user_id] = check_volume(volume)

    def _on_frame(self, user_id: str, frame: AudioFrame) -> None:
        resampler = self._resamplers.setdefault(user_id, audio_resampler())
        samples = mono_s16(frame, resampler)
        self._buffers.setdefault(user_id, _Buffer()).push(samples)
        for callback in self._member_cbs:
            callback(user_id, samples)

    async def _run(self) -> None:
        start = time.monotonic()
        tick = 0
        while True:
            tick += 1
            due = start + tick * 0.02
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            parts = []
            for user_id, buffer in self._buffers.items():
                samples = buffer.take(FRAME_SAMPLES)
                if samples is None:
                    # A short underrun (a late burst) keeps the last peak; a member silent for
                    # longer than SILENT_AFTER_TICKS reads 0.
                    missed = self._missed[user_id] = self._missed.get(user_id, 0) + 1
                    if missed > SILENT_AFTER_TICKS:
                        self.levels[user_id] = 0.0
                    continue
                self._missed[user_id] = 0
                parts.append((samples, self.volumes.get(user_id, 1.0)))
                peak = float(np.abs(samples.astype(np.float64)).max() / 32768.0)
                self.levels[user_id] = peak
            if not parts:
                continue
            mix, _ = _mix(parts, FRAME_SAMPLES)
            if self.speaker is not None and not self.speaker.closed:
                self.speaker.play(mix)
            for callback in self._mix_cbs:
                callback(mix)

    async def close(self) -> None:
        """Stop mixing (the speaker stays open)."""
        self._off()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
