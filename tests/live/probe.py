"""Reading composites back: ffprobe, the frame tags in each tile, the tones of the mix."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from ilvb.client import read_frame_tag
from ilvb.live.layout import cells, fit


def ffprobe(target: str | Path, *extra: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """ffprobe's JSON of streams and format (and packets/frames with ``extra``)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         *extra, str(target)],
        capture_output=True, timeout=timeout_s, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def codecs(info: dict[str, Any]) -> dict[str, str]:
    """codec_type -> codec_name."""
    return {s["codec_type"]: s["codec_name"] for s in info["streams"]}


def tile_tags(
    path: str | Path, sources: Sequence[str], src_size: tuple[int, int], since_s: float = 1.0
) -> list[list[tuple[int, int]]]:
    """For each view (in layout order): the (marker, index) tags read from its cell."""
    out: list[list[tuple[int, int]]] = [[] for _ in sources]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rects = [fit(c, *src_size) for c in cells(sources, width, height)]
        for frame in container.decode(stream):
            if frame.time is None or frame.time < since_s:
                continue
            luma = frame.to_ndarray(format="gray")
            for i, r in enumerate(rects):
                crop = np.ascontiguousarray(luma[r.y : r.y + r.h, r.x : r.x + r.w])
                tag = read_frame_tag(av.VideoFrame.from_ndarray(crop, format="gray"))
                if tag is not None:
                    out[i].append((tag.marker, tag.index))
    return out


def spectrum_peaks(path: str | Path, since_s: float = 1.0) -> tuple[np.ndarray, np.ndarray, int]:
    """(frequencies, magnitudes, rate) of the first audio channel after ``since_s``."""
    chunks = []
    rate = 48000
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.time is None or frame.time < since_s:
                continue
            rate = frame.sample_rate
            array = frame.to_ndarray()
            chunks.append(array[0] if frame.format.is_planar else array.reshape(-1, 2)[:, 0])
    samples = np.concatenate(chunks).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return freqs, spectrum, rate


def tone_level(freqs: np.ndarray, spectrum: np.ndarray, hz: float) -> float:
    """The spectrum's peak within ±10 Hz of ``hz`` over its median (how far above the floor)."""
    band = (freqs > hz - 10) & (freqs < hz + 10)
    return float(spectrum[band].max() / (np.median(spectrum) + 1e-9))
