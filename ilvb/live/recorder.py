"""The composite recorder process: ``python -m ilvb.live.recorder``.

It runs apart from the server and the SFU workers (its decoding and encoding never share a
loop or a core budget with forwarding). The server's :class:`~ilvb.live.composite.CompositeJob`
drives it with JSON lines on its stdin and reads JSON lines from its stdout:

- in: ``start`` (the SFU's SDP offer for a receive transport, the outputs, the format),
  ``layout`` (which receive slot shows which member's camera or screen), ``rtmp`` (the full
  set of push URLs), ``stop``;
- out: ``answer`` (the SDP answer), ``stats`` (every second: frames, CPU, sinks), ``error``,
  ``stopped``.

Pipeline: aiortc decodes every receive slot; the audio slots go into the
:class:`~ilvb.live.mixer.AudioMixer`; the latest picture of each shown view is scaled into its
cell (:mod:`ilvb.live.layout`). A clock at ``fps`` writes one raw YUV 4:2:0 frame and the due
48 kHz stereo PCM to one ffmpeg (libx264 + AAC → MPEG-TS on stdout, a keyframe every second),
and the TS is copied to the sinks (:mod:`ilvb.live.sinks`). When the encoder falls more than
half a second behind, the clock skips the same span of audio and video (``skipped_frames``).

If this process is killed, ffmpeg and the sinks see end-of-file on their inputs and finish
their outputs (the Matroska file stays playable up to that point).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ilvb.live.layout import Rect, cells, fit
from ilvb.live.mixer import CHANNELS, RATE, AudioMixer
from ilvb.live.sinks import TS_PACKET, Sink

log = logging.getLogger("ilvb.live.recorder")

MAX_LAG_S = 0.5
KEYFRAME_CHECK_S = 1.0


@dataclass
class Tile:
    """One shown view: its slot, the latest decoded picture, scaled planes for its cell."""

    mid: str
    source: str
    user_id: str
    cell: Rect
    frame: av.VideoFrame | None = None
    fresh: bool = False
    planes: tuple[npt.NDArray[np.uint8], ...] | None = None
    rect: Rect | None = None


@dataclass
class Counters:
    """What :meth:`Recorder.stats` reports."""

    frames: int = 0
    skipped_frames: int = 0
    media_frames: dict[str, int] = field(default_factory=dict)
    keyframe_requests: int = 0


class Canvas:
    """A YUV 4:2:0 output picture the tiles are pasted into."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.y = np.full((height, width), 16, np.uint8)
        self.u = np.full((height // 2, width // 2), 128, np.uint8)
        self.v = np.full((height // 2, width // 2), 128, np.uint8)

    def clear(self) -> None:
        """Black."""
        self.y.fill(16)
        self.u.fill(128)
        self.v.fill(128)

    def paste(self, tile: Tile) -> None:
        """Scale the tile's newest picture to fit its cell (once per picture) and paste it."""
        if tile.fresh and tile.frame is not None:
            frame = tile.frame
            rect = fit(tile.cell, frame.width, frame.height)
            scaled = frame.reformat(width=rect.w, height=rect.h, format="yuv420p")
            planes = []
            for i, plane in enumerate(scaled.planes):
                w = rect.w if i == 0 else rect.w // 2
                h = rect.h if i == 0 else rect.h // 2
                buf = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
                planes.append(buf[:h, :w])
            if tile.rect is not None and tile.rect != rect:
                self._blank(tile.cell)
            tile.planes, tile.rect, tile.fresh = tuple(planes), rect, False
        if tile.planes is None or tile.rect is None:
            return
        r = tile.rect
        self.y[r.y : r.y + r.h, r.x : r.x + r.w] = tile.planes[0]
        cx, cy, cw, ch = r.x // 2, r.y // 2, r.w // 2, r.h // 2
        self.u[cy : cy + ch, cx : cx + cw] = tile.planes[1]
        self.v[cy : cy + ch, cx : cx + cw] = tile.planes[2]

    def _blank(self, r: Rect) -> None:
        self.y[r.y : r.y + r.h, r.x : r.x + r.w] = 16
        self.u[r.y // 2 : (r.y + r.h) // 2, r.x // 2 : (r.x + r.w) // 2] = 128
        self.v[r.y // 2 : (r.y + r.h) // 2, r.x // 2 : (r.x + r.w) // 2] = 128

    def bytes(self) -> bytes:
        """The raw frame, as ffmpeg's ``rawvideo yuv420p`` wants it."""
        return self.y.tobytes() + self.u.tobytes() + self.v.tobytes()


def encoder_args(cfg: dict[str, Any], audio_fd: int) -> list[str]:
    """The one encoding ffmpeg: raw video on stdin, PCM on ``audio_fd``, MPEG-TS on stdout."""
    width, height, fps = int(cfg["width"]), int(cfg["height"]), int(cfg["fps"])
    kbps = int(cfg.get("video_kbps") or (2500 if height >= 720 else 1000))
    return [
        str(cfg.get("ffmpeg", "ffmpeg")), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps),
        "-probesize", "32", "-analyzeduration", "0", "-thread_queue_size", "64", "-i", "pipe:0",
        "-f", "s16le", "-ar", str(RATE), "-ac", str(CHANNELS),
        "-probesize", "32", "-analyzeduration", "0", "-thread_queue_size", "256",
        "-i", f"pipe:{audio_fd}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", str(cfg.get("preset", "veryfast")), "-tune", "zerolatency",
        "-profile:v", "main", "-pix_fmt", "yuv420p", "-threads", str(cfg.get("threads", 1)),
        "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
        "-c:a", "aac", "-b:a", "128k",
        "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1",
    ]  # fmt: skip


def hls_args(hls_dir: str, segment_s: float, list_size: int) -> list[str]:
    """The HLS sink's output: 1 s segments, a rolling playlist, old segments deleted."""
    return [
        "-f", "hls", "-hls_time", str(segment_s), "-hls_list_size", str(list_size),
        "-hls_flags", "delete_segments+independent_segments+temp_file+program_date_time",
        "-hls_delete_threshold", "2",
        "-hls_segment_filename", os.path.join(hls_dir, "seg%06d.ts"),
        os.path.join(hls_dir, "index.m3u8"),
    ]  # fmt: skip


def file_args(path: str) -> list[str]:
    """The file sink: Matroska, clusters of about a second (playable after a SIGKILL)."""
    return ["-f", "matroska", "-cluster_time_limit", "1000", "-flush_packets", "1", path]


def rtmp_args(url: str) -> list[str]:
    """An RTMP push sink."""
    return ["-f", "flv", "-flvflags", "no_duration_filesize", url]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("recorder task %s failed", task.get_name(), exc_info=task.exception())


def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
    """A task whose failure is logged (to stderr, which the server keeps)."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    task.add_done_callback(_log_failure)
    return task


class Recorder:
    """One composite: receive, mix, lay out, encode, fan out."""

    def __init__(self, cfg: dict[str, Any], out: asyncio.StreamWriter | None) -> None:
        self.cfg = cfg
        self.out = out
        self.width, self.height, self.fps = int(cfg["width"]), int(cfg["height"]), int(cfg["fps"])
        self.canvas = Canvas(self.width, self.height)
        self.mixer = AudioMixer()
        self.tiles: list[Tile] = []
        self.frames_by_mid: dict[str, av.VideoFrame] = {}
        self.counters = Counters()
        self.sinks: dict[str, Sink] = {}
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.encoder: asyncio.subprocess.Process | None = None
        self._audio_w: asyncio.WriteTransport | None = None
        self._audio_fd = -1
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._pump_task: asyncio.Task[None] | None = None
        self._base = 0.0
        self._decoded_at: dict[str, float] = {}
        self._ts_rest = b""
        self.started = time.monotonic()

    # -- control -------------------------------------------------------------------------------

    def send(self, msg: dict[str, Any]) -> None:
        """One JSON line to the server."""
        if self.out is not None and not self.out.is_closing():
            self.out.write((json.dumps(msg) + "\n").encode())

    async def answer(self, offer_sdp: str) -> str:
        """Apply the SFU's offer; read every receive slot; return the answer."""

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            mid = next(
                (t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None
            )
            if mid is not None:
                self._tasks.append(spawn(self._read(mid, track), f"read:{mid}"))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            # The SFU side is gone (the room's worker died, the transport timed out): end, so
            # the server sees the job end instead of a composite of black frames.
            if self.pc.connectionState in ("failed", "closed") and not self._stopping:
                self.send({"type": "error", "message": f"media {self.pc.connectionState}"})
                self._stopping = True
                self._quit.set()

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        return str(self.pc.localDescription.sdp)

    def set_layout(self, views: list[dict[str, Any]]) -> None:
        """Show these views (``{"mid", "user_id", "source"}``, at most four) from now on."""
        rects = cells([str(v["source"]) for v in views], self.width, self.height)
        self.tiles = [
            Tile(str(v["mid"]), str(v["source"]), str(v["user_id"]), rect)
            for v, rect in zip(views, rects, strict=False)
        ]
        for tile in self.tiles:
            tile.frame = self.frames_by_mid.get(tile.mid)
            tile.fresh = tile.frame is not None
        self.canvas.clear()

    def set_rtmp(self, urls: list[str]) -> None:
        """Push to exactly these RTMP URLs (new ones start, missing ones stop)."""
        wanted = {f"rtmp:{u}": u for u in urls}
        for name in [n for n in self.sinks if n.startswith("rtmp:") and n not in wanted]:
            sink = self.sinks.pop(name)
            asyncio.ensure_future(sink.close(timeout_s=3.0))
        for name, url in wanted.items():
            if name not in self.sinks:
                self._add_sink(name, rtmp_args(url), restart=True)

    # -- media ---------------------------------------------------------------------------------

    async def _keyframes(self) -> None:
        """Ask for a keyframe (RTCP PLI, relayed by the SFU to the publisher) on every shown
        video slot that has decoded nothing for a second: the recorder joins mid-stream, and a
        keyframe sent before its transport was up is lost."""
        while True:
            await asyncio.sleep(KEYFRAME_CHECK_S)
            now = time.monotonic()
            shown = {t.mid for t in self.tiles}
            for transceiver in self.pc.getTransceivers():
                mid = transceiver.mid
                if mid not in shown or now - self._decoded_at.get(mid, 0.0) < KEYFRAME_CHECK_S:
                    continue
                receiver = transceiver.receiver
                for source in receiver.getSynchronizationSources():
                    with contextlib.suppress(Exception):
                        await receiver._send_rtcp_pli(source.source)
                        self.counters.keyframe_requests += 1

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        counts = self.counters.media_frames
        try:
            while True:
                frame = await track.recv()
                counts[mid] = counts.get(mid, 0) + 1
                if isinstance(frame, av.VideoFrame):
                    self._decoded_at[mid] = time.monotonic()
                    self.frames_by_mid[mid] = frame
                    for tile in self.tiles:
                        if tile.mid == mid:
                            tile.frame, tile.fresh = frame, True
                elif isinstance(frame, av.AudioFrame):
                    if frame.format.name != "s16" or frame.layout.name != "stereo":
                        for out in resampler.resample(frame):
                            self.mixer.push(mid, np.asarray(out.to_ndarray(), np.int16).reshape(-1))
                    else:
                        self.mixer.push(mid, np.asarray(frame.to_ndarray(), np.int16).reshape(-1))
        except MediaStreamError:
            self.mixer.remove(mid)

    async def start_encoder(self) -> None:
        """Start ffmpeg, the sinks, and the output clock."""
        read_fd, write_fd = os.pipe()
        self._audio_fd = read_fd
        self.encoder = await asyncio.create_subprocess_exec(
            *encoder_args(self.cfg, read_fd),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=(read_fd,),
        )
        os.close(read_fd)
        loop = asyncio.get_running_loop()
        self._audio_w, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(write_fd, "wb", buffering=0)
        )
        if self.cfg.get("file"):
            self._add_sink("file", file_args(str(self.cfg["file"])))
        if self.cfg.get("hls_dir"):
            args = hls_args(
                str(self.cfg["hls_dir"]),
                float(self.cfg.get("hls_segment_s", 1)),
                int(self.cfg.get("hls_list_size", 6)),
            )
            self._add_sink("hls", args)
        self.set_rtmp(list(self.cfg.get("rtmp", [])))
        self._pump_task = spawn(self._pump(), "pump")
        self._base = loop.time()
        self._tasks.append(spawn(self._clock(), "clock"))
        self._tasks.append(spawn(self._audio_clock(), "audio-clock"))
        self._tasks.append(spawn(self._report(), "report"))
        self._tasks.append(spawn(self._keyframes(), "keyframes"))

    def _add_sink(self, name: str, args: list[str], restart: bool = False) -> None:
        def on_state(sink: Sink) -> None:
            self.send({"type": "sink", "name": sink.name, "state": sink.state,
                       "error": sink.last_error, "restarts": sink.restarts})  # fmt: skip

        sink = Sink(name, args, ffmpeg=str(self.cfg.get("ffmpeg", "ffmpeg")),
                    restart=restart, on_state=on_state)  # fmt: skip
        self.sinks[name] = sink
        sink.start()

    async def _pump(self) -> None:
        """Encoder stdout (MPEG-TS) → every sink, in whole TS packets."""
        assert self.encoder is not None and self.encoder.stdout is not None
        stdout = self.encoder.stdout
        while True:
            chunk = await stdout.read(64 * 1024)
            if not chunk:
                break
            data = self._ts_rest + chunk
            cut = len(data) - len(data) % TS_PACKET
            self._ts_rest = data[cut:]
            if cut:
                whole = data[:cut]
                for sink in list(self.sinks.values()):
                    sink.write(whole)
        if not self._stopping:
            self.send({"type": "error", "message": "the encoder exited"})
            self._stopping = True
            asyncio.get_running_loop().call_soon(self._quit.set)

    async def _clock(self) -> None:
        """Write the due video frames at ``fps`` (skipping when far behind)."""
        assert self.encoder is not None and self.encoder.stdin is not None
        video = self.encoder.stdin
        loop = asyncio.get_running_loop()
        self._base = loop.time()
        frames = 0
        while not self._stopping:
            due = int((loop.time() - self._base) * self.fps) + 1 - frames
            if due > self.fps * MAX_LAG_S:
                skip = due - 1
                self._base += skip / self.fps  # the audio clock skips the same span
                self.counters.skipped_frames += skip
            for tile in self.tiles:
                self.canvas.paste(tile)
            video.write(self.canvas.bytes())
            frames += 1
            self.counters.frames += 1
            await video.drain()
            next_at = self._base + frames / self.fps
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _audio_clock(self) -> None:
        """Write the mix's due PCM every 20 ms, on the video clock's time base.

        Apart from the video clock: ffmpeg may read one input while the other's pipe is
        full, and the PCM writes never wait.
        """
        loop = asyncio.get_running_loop()
        samples = 0
        while not self._stopping and self._audio_w is not None:
            due = int((loop.time() - self._base) * RATE) - samples
            if due > 0:
                self._audio_w.write(self.mixer.pull(due).tobytes())
                samples += due
            await asyncio.sleep(0.02)

    def cpu_s(self) -> float:
        """CPU seconds of this process and every ffmpeg it runs (live and ended)."""
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system
        pids = [self.encoder.pid] if self.encoder is not None else []
        pids += [s.pid for s in self.sinks.values() if s.pid is not None]
        return total + sum(process_cpu_s(p) for p in pids)

    def stats(self) -> dict[str, Any]:
        """The ``stats`` message."""
        return {
            "type": "stats",
            "cpu_s": round(self.cpu_s(), 3),
            "wall_s": round(time.monotonic() - self.started, 3),
            "frames": self.counters.frames,
            "skipped_frames": self.counters.skipped_frames,
            "media_frames": dict(self.counters.media_frames),
            "keyframe_requests": self.counters.keyframe_requests,
            "sinks": {
                n: {
                    "state": s.state,
                    "restarts": s.restarts,
                    "error": s.last_error,
                    "dropped_bytes": s.dropped_bytes,
                }
                for n, s in self.sinks.items()
            },  # fmt: skip
            "pids": [
                p
                for p in [self.encoder.pid if self.encoder else None]
                + [s.pid for s in self.sinks.values()]
                if p
            ],  # fmt: skip
        }

    async def _report(self) -> None:
        while True:
            self.send(self.stats())
            await asyncio.sleep(1.0)

    _quit: asyncio.Event

    async def stop(self) -> None:
        """Stop receiving, let ffmpeg finish, close every sink (their outputs end cleanly)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self.encoder is not None:
            if self.encoder.stdin is not None:
                self.encoder.stdin.close()
            if self._audio_w is not None:
                self._audio_w.close()
            try:
                await asyncio.wait_for(self.encoder.wait(), 10)
            except TimeoutError:
                self.encoder.kill()
            if self._pump_task is not None:  # it forwards the encoder's last bytes
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._pump_task, 5)
        await asyncio.gather(*(s.close() for s in self.sinks.values()), return_exceptions=True)


async def main() -> None:
    """Read commands from stdin until ``stop`` or end-of-file."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    w_transport, w_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    out = asyncio.StreamWriter(w_transport, w_protocol, None, loop)
    recorder: Recorder | None = None
    quit_event = asyncio.Event()

    async def commands() -> None:
        nonlocal recorder
        while True:
            line = await reader.readline()
            if not line:
                break
            msg = json.loads(line)
            kind = msg.get("type")
            if kind == "start":
                recorder = Recorder(msg, out)
                recorder._quit = quit_event
                sdp = await recorder.answer(str(msg["offer"]))
                recorder.send({"type": "answer", "sdp": sdp})
                await recorder.start_encoder()
            elif kind == "layout" and recorder is not None:
                recorder.set_layout(list(msg["views"]))
            elif kind == "rtmp" and recorder is not None:
                recorder.set_rtmp([str(u) for u in msg["urls"]])
            elif kind == "stop":
                break
        quit_event.set()

    task = asyncio.ensure_future(commands())
    await quit_event.wait()
    task.cancel()
    if recorder is not None:
        await recorder.stop()
        recorder.send({**recorder.stats(), "type": "stopped"})
    with contextlib.suppress(Exception):
        await out.drain()


if __name__ == "__main__":
    asyncio.run(main())
