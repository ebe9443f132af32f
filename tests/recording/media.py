"""Helpers for the recording tests: a live server with a recordings directory, REST calls,
and what ffprobe / PyAV read back from a recorded file."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from ilvb.auth.tickets import sign_server_token
from ilvb.client import read_frame_tag
from ilvb.client.remote import audio_samples
from tests.integration.harness import LiveServer


def recording_server(tmp_path: Path, **sections: Any) -> LiveServer:
    """A live server whose data directory (and so its recordings) is under ``tmp_path``."""
    server = {"data_dir": str(tmp_path / "data"), **sections.pop("server", {})}
    return LiveServer(server=server, **sections)


def rest(server: LiveServer) -> httpx.AsyncClient:
    """An HTTP client with the app's server token."""
    base = server.url.replace("ws://", "http://").removesuffix("/ws")
    token = sign_server_token(server.app_id, server.secret, ttl_s=600)
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's streams and format of ``path`` (fails when ffprobe is not installed)."""
    exe = shutil.which("ffprobe")
    assert exe is not None, "ffprobe is not installed (scripts/test.sh installs ffmpeg)"
    out = subprocess.run(
        [exe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def last_packet_s(path: Path) -> float:
    """The end of the last packet ffprobe reads (a killed writer's file has no duration)."""
    exe = shutil.which("ffprobe")
    assert exe is not None, "ffprobe is not installed"
    out = subprocess.run(
        [exe, "-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "json",
         str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    packets = json.loads(out.stdout)["packets"]
    return max(float(p["pts_time"]) + float(p.get("duration_time", 0) or 0) for p in packets)


@dataclass
class VideoRead:
    """Frame tags decoded from a video file: (pts seconds, index, marker)."""

    tags: list[tuple[float, int, int]]
    undecodable: int


def read_video(path: Path) -> VideoRead:
    """Decode every frame and read its tag."""
    tags: list[tuple[float, int, int]] = []
    bad = 0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            tag = read_frame_tag(frame)
            if tag is None:
                bad += 1
            else:
                tags.append((float(frame.time), tag.index, tag.marker))
    return VideoRead(tags, bad)


@dataclass
class AudioRead:
    """Decoded audio: per frame (pts seconds, rms), and all samples of channel 0."""

    frames: list[tuple[float, float]]
    samples: np.ndarray
    rate: int


def read_audio(path: Path) -> AudioRead:
    """Decode every audio frame of ``path``."""
    frames: list[tuple[float, float]] = []
    chunks: list[np.ndarray] = []
    rate = 48000
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            samples = audio_samples(frame)
            rate = frame.sample_rate
            frames.append((float(frame.time), float(np.sqrt(np.mean(samples**2)))))
            chunks.append(samples)
    return AudioRead(frames, np.concatenate(chunks) if chunks else np.zeros(0), rate)


def onsets(audio: AudioRead, threshold: float, quiet_frames: int = 10) -> list[float]:
    """Times where the sound rises above ``threshold`` rms after ``quiet_frames`` below it."""
    out = []
    quiet = 0
    for t, rms in audio.frames:
        if rms >= threshold:
            if quiet >= quiet_frames:
                out.append(t)
            quiet = 0
        else:
            quiet += 1
    return out


async def wait_state(http: httpx.AsyncClient, path: str, state: str, timeout_s: float) -> Any:
    """Poll a recording until it shows ``state``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = (await http.get(path)).json()
        if body.get("state") == state:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"recording still {body.get('state')!r}, not {state!r}: {body}")
        await asyncio.sleep(0.1)


def dominant(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency of ``samples``."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))
