"""examples/record_tracks.py works against a real server: files downloaded, playable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.recording.media import ffprobe, recording_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "record_tracks.py"


async def test_the_recording_example_records_and_downloads(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("record_tracks", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    async with recording_server(tmp_path) as server:
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        out = tmp_path / "downloaded"
        rec = await module.record(base, server.app_id, server.secret, "lesson", 3.0, out)
    assert rec["state"] == "stopped"
    assert sorted(p.name for p in out.iterdir()) == [
        "teacher-camera.webm",
        "teacher-microphone.webm",
    ]
    codecs = {p.name: ffprobe(p)["streams"][0]["codec_name"] for p in out.iterdir()}
    assert codecs == {"teacher-camera.webm": "vp8", "teacher-microphone.webm": "opus"}
    for f in rec["files"]:
        assert (out / f["name"]).stat().st_size == f["bytes"]
        assert 2.0 <= f["duration_s"] <= 4.0, f
