"""PulseAudio backend of the device manager: listing, hot-plug events and PCM streams.

Control and events go through ``pulsectl`` (a maintained ctypes binding of libpulse: no build
step). Audio I/O runs the PulseAudio tools ``parec`` / ``pacat`` (package ``pulseaudio-utils``)
as child processes speaking raw s16le 48 kHz mono on a pipe: PulseAudio itself resamples and
paces, nothing has to be compiled, and a stream whose device vanishes simply ends (which the
microphone turns into a fallback). The server is the one in ``$PULSE_SERVER`` unless given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ilvb.errors import Unavailable

DeviceType = Literal["input", "output"]
RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms mono
FRAME_BYTES = FRAME_SAMPLES * 2


def _unavailable(message: str) -> Unavailable:
    return Unavailable("device_unavailable", message)


@dataclass(frozen=True)
class PulseDevice:
    """One PulseAudio source (``input``) or sink (``output``) as the server describes it."""

    id: str
    name: str
    type: DeviceType
    index: int
    monitor_of: str | None = None


class PulseBackend:
    """Lists sources and sinks and watches them (``on_change(kind, device)`` from a thread)."""

    def __init__(self, server: str | None = None) -> None:
        try:
            import pulsectl  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - a dependency of ilvb
            raise _unavailable("pulsectl is not installed") from exc
        self._pulsectl = pulsectl
        self.server = server or os.environ.get("PULSE_SERVER")
        self._lock = threading.Lock()
        try:
            self._pulse = pulsectl.Pulse("ilvb-devices", server=self.server)
        except pulsectl.PulseError as exc:
            raise _unavailable(f"cannot reach the PulseAudio server: {exc}") from exc
        self._known: dict[tuple[str, int], PulseDevice] = {}
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    def devices(self) -> list[PulseDevice]:
        """Every source and sink, sources first."""
        with self._lock:
            sources = self._pulse.source_list()
            sinks = self._pulse.sink_list()
        found = [
            PulseDevice(
                s.name,
                s.description,
                "input",
                s.index,
                self._monitor_name(s, sinks),
            )
            for s in sources
        ] + [PulseDevice(s.name, s.description, "output", s.index) for s in sinks]
        for device in found:
            self._known[(device.type, device.index)] = device
        return found

    @staticmethod
    def _monitor_name(source: object, sinks: list[object]) -> str | None:
        owner = getattr(source, "monitor_of_sink", None)
        if owner is None or owner == 0xFFFFFFFF:
            return None
        return next((str(s.name) for s in sinks if getattr(s, "index", None) == owner), None)  # type: ignore[attr-defined]

    def defaults(self) -> tuple[str, str]:
        """(default source id, default sink id)."""
        with self._lock:
            info = self._pulse.server_info()
        return str(info.default_source_name), str(info.default_sink_name)

    def watch(self, on_change: Callable[[str, PulseDevice], None]) -> None:
        """Start a thread calling ``on_change("added"|"removed", device)`` on hot-plug."""
        if self._watcher is not None:
            return
        self.devices()  # fill the index -> device map, so removals can be named
        self._watcher = threading.Thread(
            target=self._watch, args=(on_change,), name="ilvb-pulse-events", daemon=True
        )
        self._watcher.start()

    def _watch(self, on_change: Callable[[str, PulseDevice], None]) -> None:
        pulsectl = self._pulsectl
        pending: queue.SimpleQueue[tuple[str, str, int]] = queue.SimpleQueue()
        with pulsectl.Pulse("ilvb-device-events", server=self.server) as pulse:

            def on_event(ev: object) -> None:
                # pulsectl enum values compare equal to their names (str() is a repr).
                facility = "source" if ev.facility == "source" else "sink"  # type: ignore[attr-defined]
                what = "new" if ev.t == "new" else "remove" if ev.t == "remove" else "change"  # type: ignore[attr-defined]
                pending.put((facility, what, int(ev.index)))  # type: ignore[attr-defined]

            pulse.event_mask_set("source", "sink")
            pulse.event_callback_set(on_event)
            while not self._stop.is_set():
                pulse.event_listen(timeout=0.1)
                while not pending.empty():
                    facility, what, index = pending.get()
                    kind: DeviceType = "input" if facility == "source" else "output"
                    if what == "new":
                        for device in self.devices():
                            if device.type == kind and device.index == index:
                                on_change("added", device)
                    elif what == "remove":
                        gone = self._known.pop((kind, index), None)
                        if gone is not None:
                            on_change("removed", gone)

    def close(self) -> None:
        """Stop watching and disconnect."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(2)
        with self._lock:
            self._pulse.close()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise _unavailable(f"{name} not found (install pulseaudio-utils)")
    return path


class PcmStream:
    """A ``parec`` (record) or ``pacat`` (play) child: 48 kHz mono s16le over a pipe."""

    def __init__(self, proc: asyncio.subprocess.Process, device: str) -> None:
        self.proc = proc
        self.device = device

    @classmethod
    async def record(cls, device: str, server: str | None) -> PcmStream:
        """Start recording ``device`` (a source name)."""
        return await cls._start(_tool("parec"), device, server, record=True)

    @classmethod
    async def play(cls, device: str, server: str | None) -> PcmStream:
        """Start playing to ``device`` (a sink name)."""
        return await cls._start(_tool("pacat"), device, server, record=False)

    @classmethod
    async def _start(cls, tool: str, device: str, server: str | None, record: bool) -> PcmStream:
        args = [
            tool,
            "--raw",
            "--format=s16le",
            f"--rate={RATE}",
            "--channels=1",
            "--latency-msec=20",
            f"--device={device}",
        ]
        if not record:
            args.insert(1, "--playback")
        if server:
            args.append(f"--server={server}")
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=None if record else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if record else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(proc, device)

    async def read_frame(self) -> bytes | None:
        """The next 20 ms (``None`` once the stream ended, e.g. its device was removed)."""
        assert self.proc.stdout is not None
        try:
            return await self.proc.stdout.readexactly(FRAME_BYTES)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    def write(self, pcm: bytes) -> bool:
        """Queue PCM for playback; ``False`` once the player has gone."""
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing() or self.proc.returncode is not None:
            return False
        stdin.write(pcm)
        return True

    async def close(self) -> None:
        """Stop the child, reap it and close its pipes."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 2)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        # Close the pipes now, not when the transport is collected (maybe after the loop).
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()
