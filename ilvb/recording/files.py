"""The files of a recording: safe names, and what a listing says about each (PyAV probe)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import av

from ilvb.errors import InvalidArgument, NotFound

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
FORMATS = {".webm": "webm", ".mkv": "matroska", ".mp4": "mp4", ".m4a": "mp4", ".ts": "mpegts"}


@dataclass(frozen=True)
class FileInfo:
    """One file of a recording, as the REST listing shows it."""

    name: str
    bytes: int
    duration_s: float | None
    format: str


_cache: dict[tuple[str, int, int], float | None] = {}


def check_name(name: str) -> str:
    """``name`` when it is a plain file name (``[A-Za-z0-9_][A-Za-z0-9_.-]*``, no ``..``),
    else ``invalid_file_name``."""
    if not _PLAIN.match(name) or ".." in name:
        raise InvalidArgument("invalid_file_name", "a recording's file name is a plain name")
    return name


def file_in(directory: Path, name: str) -> Path:
    """The file ``name`` of a recording directory (``recording_file_not_found`` if absent)."""
    path = directory / check_name(name)
    resolved = path.resolve()
    if resolved.parent != directory.resolve() or not resolved.is_file():
        raise NotFound("recording_file_not_found", f"the recording has no file {name!r}")
    return resolved


def duration_of(path: Path) -> float | None:
    """Seconds of media in ``path``, first packet to the end of the last: from the container's
    header, or — for a file being written, or whose writer was killed before it wrote the
    header's duration — by reading every packet (None when nothing is readable). Blocking:
    call it off the event loop."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _cache:
        return _cache[key]
    result: float | None = None
    try:
        with av.open(str(path)) as c:
            if c.duration is not None and c.start_time is not None:  # a finished file: its header
                result = round((c.duration - c.start_time) / 1e6, 3)
                _cache[key] = result
                return result
            first: float | None = None
            last = 0.0
            for packet in c.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                end = t + float((packet.duration or 0) * packet.time_base)
                first = t if first is None else min(first, t)
                last = max(last, end)
            if first is not None:
                result = round(last - first, 3)
    except (av.FFmpegError, OSError, ValueError):
        result = None
    _cache[key] = result
    return result


def describe(path: Path) -> FileInfo:
    """Name, size, duration and container format of one file."""
    return FileInfo(
        path.name,
        path.stat().st_size,
        duration_of(path),
        FORMATS.get(path.suffix.lower(), path.suffix.lstrip(".")),
    )
