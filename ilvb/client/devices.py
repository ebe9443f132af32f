"""Local devices of the Python SDK: the device manager, microphone, speaker and camera.

::

    devices = await DeviceManager.open()            # PulseAudio ($PULSE_SERVER or default)
    devices.list("input")                          # [Device(id, name, type, opened), ...]
    mic = await devices.open_microphone()          # default source, or an id
    mic.volume = 0.5; mic.peak                     # digital volume, last frame's peak (0-1)
    await client.publish_audio(mic)
    devices.on("removed", cb)                      # hot-plug: "added" / "removed" events

An opened microphone whose device disappears falls back to the default source and the
``removed`` event says so (``data["fallback"]``). The microphone and external audio
(:meth:`DeviceManager.external_audio`) exclude each other, as do the camera and external video
(``device_busy``). AGC, noise suppression and echo cancellation are not available (no
maintained Python library for them installs cleanly): :meth:`Microphone.set_processing` raises
``unsupported_feature``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler, VideoFrame

from ilvb.client.events import Callback, Event, EventHub
from ilvb.client.pulse import FRAME_SAMPLES, RATE, DeviceType, PcmStream, PulseBackend
from ilvb.client.sources import ExternalAudioSource, ExternalVideoSource
from ilvb.errors import InvalidArgument, InvalidState, NotFound, Unavailable

PROCESSING = ("agc", "ns", "aec")


@dataclass(frozen=True)
class Device:
    """A device as the manager lists it: ``type`` is ``input``, ``output`` or ``camera``."""

    id: str
    name: str
    type: str
    opened: bool


def check_volume(value: float) -> float:
    """A digital volume: 0 (silent) to 4, 1 leaves the samples unchanged."""
    if not isinstance(value, int | float) or not 0.0 <= value <= 4.0:
        raise InvalidArgument(message=f"volume must be within 0–4, not {value!r}")
    return float(value)


def scale(pcm: np.ndarray, volume: float) -> tuple[np.ndarray, float]:
    """s16 samples times ``volume`` (clipped) and their peak in 0–1."""
    samples = pcm.astype(np.float64) * volume
    np.clip(samples, -32768, 32767, out=samples)
    peak = float(np.abs(samples).max() / 32768.0) if samples.size else 0.0
    return samples.astype(np.int16), peak


def audio_resampler() -> AudioResampler:
    """A resampler to packed s16 at 48 kHz, keeping the channels (see :func:`mono_s16`)."""
    return AudioResampler(format="s16", rate=RATE)


def mono_s16(frame: AudioFrame, resampler: AudioResampler) -> np.ndarray:
    """Any audio frame as 48 kHz mono s16 samples: the channels' mean, so a stereo frame with
    the same signal on both sides keeps its level (FFmpeg's downmix would take 3 dB off)."""
    out = []
    for f in resampler.resample(frame):
        channels = len(f.layout.channels)
        out.append(f.to_ndarray().reshape(-1, channels).astype(np.int32).mean(axis=1))
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def pcm_frame(samples: np.ndarray, pts: int) -> AudioFrame:
    """48 kHz mono s16 samples as an AudioFrame at ``pts`` (in samples)."""
    frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, RATE)
    return frame


class PulseEndpoint:
    """What a microphone and a speaker share: a PulseAudio stream on a device, a digital
    volume, and switching to another device (the subclass opens the stream in ``_open``)."""

    device_id: str
    _volume: float
    _stream: PcmStream | None

    @property
    def volume(self) -> float:
        """Digital gain (0–4)."""
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        self._volume = check_volume(value)

    async def _open(self) -> None:
        raise NotImplementedError

    async def switch(self, device_id: str) -> None:
        """Use another device from now on (a published stream stays continuous)."""
        old, self._stream = self._stream, None
        self.device_id = device_id
        if old is not None:
            await old.close()
        await self._open()


class Microphone(PulseEndpoint, MediaStreamTrack):
    """An opened PulseAudio source as an audio track (publish it), with volume and level.

    ``peak`` is the last frame's peak after the volume; ``on_level(peak)`` is called per frame.
    While its device is gone (between a removal and the fallback) it sends silence.
    """

    kind = "audio"

    def __init__(self, manager: DeviceManager, device_id: str, volume: float = 1.0) -> None:
        super().__init__()
        self._manager = manager
        self.device_id = device_id
        self._volume = check_volume(volume)
        self.peak = 0.0
        self.on_level: Callable[[float], None] | None = None
        self._stream: PcmStream | None = None
        self._samples = 0
        self._start: float | None = None

    async def _open(self) -> None:
        self._stream = await PcmStream.record(self.device_id, self._manager.server)

    def set_processing(self, feature: str, enabled: bool = True) -> None:
        """AGC / NS / AEC: unsupported in the Python SDK (raises ``unsupported_feature``)."""
        if feature not in PROCESSING:
            raise InvalidArgument(message=f"unknown audio processing {feature!r}")
        if enabled:
            raise InvalidState(
                "unsupported_feature", f"{feature} is not supported by the Python SDK"
            )

    async def recv(self) -> AudioFrame:
        """The next 20 ms from the device (silence while it is missing)."""
        if self.readyState != "live":
            raise MediaStreamError
        pcm: bytes | None = None
        stream = self._stream
        if stream is not None:
            try:
                pcm = await asyncio.wait_for(stream.read_frame(), 0.1)
            except TimeoutError:
                pcm = None
        if pcm is None:
            # No device (removed, or switching): keep real-time pace with silence.
            now = time.monotonic()
            if self._start is None:
                self._start = now
            due = self._start + self._samples / RATE
            if due > now:
                await asyncio.sleep(due - now)
            samples = np.zeros(FRAME_SAMPLES, np.int16)
        else:
            samples = np.frombuffer(pcm, dtype=np.int16)
        if self._start is None:
            self._start = time.monotonic()
        out, self.peak = scale(samples, self._volume)
        if self.on_level is not None:
            self.on_level(self.peak)
        frame = pcm_frame(out, self._samples)
        self._samples += out.size
        return frame

    def stop(self) -> None:
        """Close the device (its entry in the manager is no longer opened)."""
        super().stop()
        self._manager._closed(self)
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: reaped at exit
                task = asyncio.get_running_loop().create_task(stream.close())
                self._manager._closing.add(task)
                task.add_done_callback(self._manager._closing.discard)


class Speaker(PulseEndpoint):
    """An opened PulseAudio sink: :meth:`play` audio frames at a volume, with a level."""

    def __init__(self, manager: DeviceManager, device_id: str, volume: float = 1.0) -> None:
        self._manager = manager
        self.device_id = device_id
        self._volume = check_volume(volume)
        self.peak = 0.0
        self._stream: PcmStream | None = None
        self._resampler = audio_resampler()
        self.closed = False

    async def _open(self) -> None:
        self._stream = await PcmStream.play(self.device_id, self._manager.server)

    def play(self, frame: AudioFrame | np.ndarray) -> None:
        """Play one frame (any format; or 48 kHz mono s16 samples)."""
        if self.closed:
            raise InvalidState(message="the speaker is closed")
        samples = frame if isinstance(frame, np.ndarray) else mono_s16(frame, self._resampler)
        out, self.peak = scale(samples, self._volume)
        if self._stream is not None:
            self._stream.write(out.tobytes())

    async def close(self) -> None:
        """Close the sink's stream."""
        self.closed = True
        self._manager._closed(self)
        if self._stream is not None:
            await self._stream.close()


class Camera:
    """A camera through PyAV: a V4L2 device (``/dev/video0``), a media file, or an FFmpeg
    ``lavfi`` graph (``lavfi:testsrc=size=320x240:rate=15``). ``track`` is what to publish."""

    def __init__(self, manager: DeviceManager, device_id: str, options: dict[str, str]) -> None:
        self._manager = manager
        self.device_id = device_id
        if device_id.startswith("lavfi:"):
            path, fmt = device_id[len("lavfi:") :], "lavfi"
        elif device_id.startswith("/dev/video"):
            path, fmt = device_id, "v4l2"
        else:
            path, fmt = device_id, None
        try:
            self._player = MediaPlayer(path, format=fmt, options=options)
        except Exception as exc:  # PyAV raises many error types for a missing device
            raise NotFound("device_not_found", f"cannot open camera {device_id}: {exc}") from exc
        if self._player.video is None:
            raise NotFound("device_not_found", f"{device_id} has no video")
        self.track: MediaStreamTrack = self._player.video

    def set_zoom(self, zoom: float) -> None:
        """Zoom: no device here supports it (raises ``unsupported_feature``)."""
        raise InvalidState("unsupported_feature", f"camera {self.device_id} has no zoom control")

    def close(self) -> None:
        """Stop capturing."""
        self.track.stop()
        self._manager._closed(self)


Opened = Microphone | Speaker | Camera | ExternalAudioSource | ExternalVideoSource


class DeviceManager:
    """Audio devices (PulseAudio), cameras, external capture, and which of them are opened."""

    def __init__(self, backend: PulseBackend) -> None:
        self.backend = backend
        self.server = backend.server
        self._events = EventHub()
        self._opened: list[Opened] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, server: str | None = None) -> DeviceManager:
        """Connect to PulseAudio (``device_unavailable`` if it cannot) and watch hot-plug."""
        backend = await asyncio.to_thread(PulseBackend, server)
        manager = cls(backend)
        manager._loop = asyncio.get_running_loop()
        backend.watch(manager._from_thread)
        return manager

    # -- listing ------------------------------------------------------------------------------

    def list(self, type: str | None = None) -> list[Device]:
        """Devices of one ``type`` (``input`` / ``output``), or all; opened ones are marked."""
        if type not in (None, "input", "output"):
            raise InvalidArgument(message=f"device type must be input or output, not {type!r}")
        in_use = {(self._type_of(o), getattr(o, "device_id", None)) for o in self._opened}
        return [
            Device(d.id, d.name, d.type, (d.type, d.id) in in_use)
            for d in self.backend.devices()
            if type is None or d.type == type
        ]

    def count(self, type: str | None = None) -> int:
        """How many devices (of ``type``) there are."""
        return len(self.list(type))

    def get(self, device_id: str) -> Device:
        """One device by id (``device_not_found``)."""
        for device in self.list():
            if device.id == device_id:
                return device
        raise NotFound("device_not_found", f"no device {device_id!r}")

    def opened(self) -> builtins.list[Device]:
        """Every opened device (microphones, speakers, cameras, external sources)."""
        listed = {(d.type, d.id): d for d in self.list()}
        out = []
        for item in self._opened:
            kind, device_id = self._type_of(item), getattr(item, "device_id", None)
            if device_id is None:
                device_id = "external-" + item.kind  # type: ignore[union-attr]
                out.append(Device(device_id, f"external {item.kind}", "external", True))  # type: ignore[union-attr]
            elif (kind, device_id) in listed:
                out.append(listed[(kind, device_id)])
            else:
                out.append(Device(device_id, device_id, kind, True))
        return out

    def defaults(self) -> tuple[str, str]:
        """(default input id, default output id)."""
        return self.backend.defaults()

    # -- opening ------------------------------------------------------------------------------

    async def open_microphone(
        self, device_id: str | None = None, volume: float = 1.0
    ) -> Microphone:
        """Open a source as the microphone (one at a time; not with external audio)."""
        device_id = device_id or self.defaults()[0]
        self._must_exist(device_id, "input")
        self._exclusive(Microphone, ExternalAudioSource, "microphone", "external audio")
        mic = Microphone(self, device_id, volume)
        await mic._open()
        self._opened.append(mic)
        return mic

    async def open_speaker(self, device_id: str | None = None, volume: float = 1.0) -> Speaker:
        """Open a sink to play to."""
        device_id = device_id or self.defaults()[1]
        self._must_exist(device_id, "output")
        speaker = Speaker(self, device_id, volume)
        await speaker._open()
        self._opened.append(speaker)
        return speaker

    def open_camera(self, device_id: str, options: dict[str, str] | None = None) -> Camera:
        """Open a camera; an already opened camera is closed first (not with external video)."""
        self._exclusive(None, ExternalVideoSource, "camera", "external video")
        for item in list(self._opened):
            if isinstance(item, Camera):
                item.close()
        camera = Camera(self, device_id, options or {})
        self._opened.append(camera)
        return camera

    def external_audio(self, sample_rate: int = RATE, channels: int = 1) -> ExternalAudioSource:
        """A source for PCM the app pushes (excludes the microphone)."""
        self._exclusive(ExternalAudioSource, Microphone, "external audio", "microphone")
        source = ExternalAudioSource(sample_rate, channels)
        self._opened.append(source)
        self._on_stop(source)
        return source

    def external_video(self) -> ExternalVideoSource:
        """A source for I420 frames the app pushes (excludes the camera)."""
        self._exclusive(ExternalVideoSource, Camera, "external video", "camera")
        source = ExternalVideoSource()
        self._opened.append(source)
        self._on_stop(source)
        return source

    # -- events -------------------------------------------------------------------------------

    def on(self, event: str, callback: Callback) -> Callable[[], None]:
        """``added`` / ``removed`` (data: ``device``, and for an in-use one ``fallback``)."""
        return self._events.on(event, callback)

    async def close(self) -> None:
        """Close every opened device and stop watching."""
        for item in list(self._opened):
            if isinstance(item, Speaker):
                await item.close()
            elif isinstance(item, Camera):
                item.close()
            else:
                item.stop()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await asyncio.to_thread(self.backend.close)
        self._events.close()

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _type_of(item: object) -> str:
        if isinstance(item, Microphone):
            return "input"
        if isinstance(item, Speaker):
            return "output"
        if isinstance(item, Camera):
            return "camera"
        return "external"

    def _exclusive(self, same: type | None, other: type, what: str, against: str) -> None:
        for item in self._opened:
            if same is not None and isinstance(item, same):
                raise InvalidState("device_busy", f"a {what} is already open")
            if isinstance(item, other):
                raise InvalidState("device_busy", f"{what} cannot be opened while {against} is")

    def _must_exist(self, device_id: str, type: DeviceType) -> None:
        if not any(d.id == device_id and d.type == type for d in self.backend.devices()):
            raise NotFound("device_not_found", f"no {type} device {device_id!r}")

    def _on_stop(self, track: MediaStreamTrack) -> None:
        original = track.stop

        def stop() -> None:
            original()
            self._closed(track)

        track.stop = stop  # type: ignore[method-assign]

    def _closed(self, item: Any) -> None:
        if item in self._opened:
            self._opened.remove(item)

    def _from_thread(self, what: str, device: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                lambda: self._loop.create_task(self._hotplug(what, device))  # type: ignore[union-attr]
            )

    async def _hotplug(self, what: str, device: Any) -> None:
        data: dict[str, Any] = {"device": Device(device.id, device.name, device.type, False)}
        if what == "removed":
            users = [
                o
                for o in self._opened
                if isinstance(o, Microphone | Speaker)
                and o.device_id == device.id
                and self._type_of(o) == device.type
            ]
            if users:
                source, sink = self.defaults()
                fallback = source if device.type == "input" else sink
                data["fallback"] = fallback
                for user in users:
                    await user.switch(fallback)
        self._events.emit(Event(what, data))


# -- pre-call tests ---------------------------------------------------------------------------


def tone_pcm(frequency: float, amplitude: float, seconds: float) -> np.ndarray:
    """A 48 kHz mono s16 sine."""
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * math.pi * frequency * t) * amplitude * 32767).astype(np.int16)


def dominant(samples: np.ndarray, rate: int = RATE) -> tuple[float, float]:
    """(dominant frequency, RMS 0–1) of s16 samples."""
    x = samples.astype(np.float64) / 32768.0
    if x.size < 2:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float((np.argmax(spectrum[1:]) + 1) * rate / x.size), float(np.sqrt(np.mean(x**2)))


async def precall_microphone(
    mic: Microphone, threshold: float = 0.05, seconds: float = 1.0
) -> float:
    """Read the microphone for ``seconds``; its highest peak (``device_unavailable`` if it
    stays under ``threshold``)."""
    best = 0.0
    for _ in range(max(1, int(seconds / 0.02))):
        await mic.recv()
        best = max(best, mic.peak)
    if best < threshold:
        raise Unavailable("device_unavailable", f"microphone level {best:.3f} < {threshold}")
    return best


async def precall_speaker(
    manager: DeviceManager, sink_id: str, frequency: float = 1000.0, seconds: float = 1.0
) -> float:
    """Play a tone to ``sink_id`` and record its monitor source: the frequency heard back
    (``device_unavailable`` if the tone did not come back)."""
    monitor = next((d.id for d in manager.backend.devices() if d.monitor_of == sink_id), None)
    if monitor is None:
        raise NotFound("device_not_found", f"sink {sink_id!r} has no monitor source")
    rec = await PcmStream.record(monitor, manager.server)
    play = await PcmStream.play(sink_id, manager.server)
    try:
        play.write(tone_pcm(frequency, 0.5, seconds).tobytes())
        chunks: list[bytes] = []
        # A null sink may render in blocks of up to 2 s until a low-latency stream connects.
        for _ in range(int(seconds / 0.02) + 50):
            chunk = await asyncio.wait_for(rec.read_frame(), 3.0)
            if chunk is None:
                break
            chunks.append(chunk)
    finally:
        await play.close()
        await rec.close()
    samples = np.frombuffer(b"".join(chunks), dtype=np.int16)
    # The loudest second (the recording starts before the tone does).
    window = RATE // 2
    best = (0.0, 0.0)
    for start in range(0, max(1, samples.size - window), window // 2):
        heard = dominant(samples[start : start + window])
        best = max(best, heard, key=lambda h: h[1])
    if best[1] < 0.05 or abs(best[0] - frequency) > 30:
        raise Unavailable(
            "device_unavailable", f"tone not heard back (got {best[0]:.0f} Hz at {best[1]:.3f})"
        )
    return best[0]


async def precall_camera(camera: Camera, frames: int = 5, timeout_s: float = 5.0) -> VideoFrame:
    """Wait for ``frames`` frames from the camera; the last one (``device_unavailable`` else)."""
    try:
        async with asyncio.timeout(timeout_s):
            frame = None
            for _ in range(frames):
                frame = await camera.track.recv()
    except (TimeoutError, MediaStreamError) as exc:
        raise Unavailable(
            "device_unavailable", f"camera {camera.device_id} sent no frames"
        ) from exc
    assert isinstance(frame, VideoFrame)
    return frame
