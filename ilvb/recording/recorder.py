"""The per-track recorder process: tap datagrams in, one file per track out.

``python -m ilvb.recording.recorder --dir DIR`` — one process per recording,
started by :class:`ilvb.recording.tracks.TrackJob`; the SFU worker only sends it packets (a
plain tap on a loopback port). It talks JSON lines: commands on stdin, events on stdout. Once
loaded it says ``{"ev": "ready", "t0": UNIX_TIME}``: the recording's clock starts then (its
files' timestamps count from it), so the process's start-up is not in the files.

Commands: ``{"op": "bind", "track": T}`` → ``{"ev": "bound", "track": T, "port": P}`` (a UDP
socket on 127.0.0.1 that is not read yet, so what the tap sends first — the keyframe — waits in
the socket); ``{"op": "start", "track": T, "file": NAME, "member": M, "codec": C, "pt": N,
"red_pt": N|null, "clock_rate": N, "ssrc": N}`` starts reading; ``{"op": "end", "track": T}``
closes that track's file → ``{"ev": "ended", "track": T}``; ``{"op": "stop"}`` (or stdin
closing) closes every file → ``{"ev": "stopped"}`` and the process exits 0.
Events on its own account: ``{"ev": "file", "track": T, "file": NAME}`` when a file is created,
``{"ev": "keyframe", "track": T}`` when a track needs a keyframe (at most once a second).
File names are plain names inside ``DIR`` (no separators, no leading dot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ilvb.recording.rtp import ClockMap, TrackReceiver
from ilvb.recording.writer import TrackWriter

logger = logging.getLogger(__name__)

POLL_S = 0.05
KEYFRAME_ASK_S = 1.0


def safe_file_name(name: str) -> str:
    """``name`` if it is a plain file name (no separator, no leading dot), else ValueError."""
    if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        raise ValueError(f"bad file name {name!r}")
    return name


@dataclass
class _Track:
    name: str
    sock: socket.socket
    receiver: TrackReceiver | None = None
    writer: TrackWriter | None = None
    asked_keyframe: float = 0.0
    announced: bool = False


class Recorder:
    """The tracks of one recording (see the module docstring)."""

    def __init__(self, directory: Path, t0: float, emit: Any) -> None:
        self.directory = directory
        self.t0 = t0
        self.clocks = ClockMap()
        self.tracks: dict[str, _Track] = {}
        self._emit = emit
        self.done = asyncio.Event()

    def command(self, msg: dict[str, Any]) -> None:
        """Run one command line."""
        op = msg.get("op")
        if op == "bind":
            self._bind(str(msg["track"]))
        elif op == "start":
            self._start(msg)
        elif op == "end":
            self._end(str(msg["track"]))
            self._emit({"ev": "ended", "track": msg["track"]})
        elif op == "stop":
            self.stop()
        else:
            self._emit({"ev": "error", "message": f"unknown op {op!r}"})

    def _bind(self, name: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        self.tracks[name] = _Track(name, sock)
        self._emit({"ev": "bound", "track": name, "port": sock.getsockname()[1]})

    def _start(self, msg: dict[str, Any]) -> None:
        t = self.tracks[str(msg["track"])]
        file_name = safe_file_name(str(msg["file"]))
        t.receiver = TrackReceiver(
            str(msg["member"]),
            str(msg["codec"]),
            int(msg["pt"]),
            int(msg["clock_rate"]),
            int(msg["ssrc"]),
            self.t0,
            self.clocks,
            red_payload_type=msg.get("red_pt"),
        )
        t.writer = TrackWriter(self.directory / file_name, str(msg["codec"]))
        asyncio.get_running_loop().add_reader(t.sock.fileno(), self._readable, t)

    def _readable(self, t: _Track) -> None:
        receiver = t.receiver
        if receiver is None:
            return
        for _ in range(256):
            try:
                data = t.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            self._write(t, receiver.feed(data, time.time()))

    def _write(self, t: _Track, frames: list[Any]) -> None:
        receiver, writer = t.receiver, t.writer
        if receiver is None or writer is None:
            return
        for frame in frames:
            try:
                writer.write(frame, receiver.size, receiver.sps, receiver.pps)
            except Exception as exc:  # one bad frame must not end the recording
                logger.warning("track %s: frame not written (%s)", t.name, exc)
                continue
            if not t.announced:
                t.announced = True
                self._emit({"ev": "file", "track": t.name, "file": writer.path.name})

    def tick(self) -> None:
        """Timers: holes skipped, sender-report waits given up, keyframes asked for."""
        now = time.time()
        for t in self.tracks.values():
            if t.receiver is None:
                continue
            self._write(t, t.receiver.poll(now))
            if t.receiver.keyframe_wanted and now - t.asked_keyframe >= KEYFRAME_ASK_S:
                t.asked_keyframe = now
                self._emit({"ev": "keyframe", "track": t.name})

    def _end(self, name: str) -> None:
        t = self.tracks.pop(name, None)
        if t is None:
            return
        if t.receiver is not None:
            asyncio.get_running_loop().remove_reader(t.sock.fileno())
            self._readable(t)
            self._write(t, t.receiver.flush())
        if t.writer is not None:
            try:
                t.writer.close()
            except Exception as exc:
                logger.warning("track %s: close failed (%s)", name, exc)
        t.sock.close()

    def stop(self) -> None:
        """Close every track's file."""
        for name in list(self.tracks):
            self._end(name)
        self.done.set()


async def _run(directory: Path) -> None:
    loop = asyncio.get_running_loop()
    out = sys.stdout

    def emit(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    t0 = time.time()
    recorder = Recorder(directory, t0, emit)
    emit({"ev": "ready", "t0": t0})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while not recorder.done.is_set():
            line = await reader.readline()
            if not line:
                recorder.stop()  # the control plane went away: finish the files
                return
            try:
                recorder.command(json.loads(line))
            except Exception as exc:
                emit({"ev": "error", "message": str(exc)})

    task = loop.create_task(commands())
    while not recorder.done.is_set():
        recorder.tick()
        try:
            await asyncio.wait_for(recorder.done.wait(), POLL_S)
        except TimeoutError:
            pass
    task.cancel()
    emit({"ev": "stopped"})


def main(argv: list[str] | None = None) -> None:
    """Entry point (``python -m ilvb.recording.recorder``)."""
    parser = argparse.ArgumentParser(prog="ilvb-recorder")
    parser.add_argument("--dir", required=True)
    ns = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="recorder %(process)d %(message)s")
    directory = Path(ns.dir)
    directory.mkdir(parents=True, exist_ok=True)
    asyncio.run(_run(directory))
    os._exit(0)  # noqa: SLF001 - no lingering threads of the muxer


if __name__ == "__main__":
    main()
