"""A server killed while it records: after the next start the recording shows ``interrupted``
with its playable files (SQLite store, a real ``ilvb serve`` with its media workers)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ilvb.auth.tickets import sign_server_token, sign_ticket
from ilvb.client import Client, SyntheticVideoSource, ToneSource
from ilvb.store.sql import SqlAppStore
from tests.recording.media import read_video
from tests.test_cli import ILVB, LISTENING, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


class MediaServer(Server):
    """``ilvb serve`` with its media plane (one worker process) on ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:  # noqa: D107 - Server's pump, our command
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ILVB_MEDIA__WORKERS": "1"}
        self.proc = subprocess.Popen(
            [*ILVB, "serve", "--port", "0", "--data-dir", str(data_dir), "--log-level",
             "warning"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._start_pump()


def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


async def test_a_recording_running_when_the_server_died_is_interrupted_after_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = SqlAppStore(f"sqlite+aiosqlite:///{data / 'ilvb.db'}")
    await store.open()
    record = await store.create_app("restart")
    await store.close()
    token = sign_server_token(record.app_id, record.secret, ttl_s=600)
    headers = {"Authorization": f"Bearer {token}"}
    app = f"/v1/apps/{record.app_id}"

    first = MediaServer(data)
    try:
        port = int(first.wait_for(LISTENING).group(1))
        base = f"http://127.0.0.1:{port}"
        pub = await Client.connect(
            f"ws://127.0.0.1:{port}/ws", sign_ticket(record.app_id, record.secret, "pub")
        )
        await pub.enter("lesson")
        await pub.publish_video(SyntheticVideoSource(marker=5, fps=15))
        await pub.publish_audio(ToneSource(500.0))
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            deadline = time.monotonic() + 20
            while True:
                r = await http.post(f"{app}/rooms/lesson/recordings", json={"mode": "tracks"})
                if r.status_code == 201:
                    break
                assert r.json()["error"]["code"] == "room_no_senders", r.text
                assert time.monotonic() < deadline, r.text
                await asyncio.sleep(0.2)
            rid = r.json()["recording_id"]
            deadline = time.monotonic() + 20
            while True:  # both files have media in them
                body = (await http.get(f"{app}/recordings/{rid}")).json()
                if len(body["files"]) == 2 and all(
                    (f["duration_s"] or 0) > 2.0 for f in body["files"]
                ):
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.2)
        below = descendants(first.proc.pid)
        first.proc.kill()  # a crash: no shutdown code runs
        first.proc.wait(10)
        await pub.close()
        # the recorder and the media worker notice their parent is gone and exit
        deadline = time.monotonic() + 15
        while any(alive(p) for p in below):
            assert time.monotonic() < deadline, [p for p in below if alive(p)]
            await asyncio.sleep(0.1)
    finally:
        first.stop()

    second = MediaServer(data)
    try:
        port = int(second.wait_for(LISTENING).group(1))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
        ) as http:
            body = (await http.get(f"{app}/recordings/{rid}")).json()
            assert body["state"] == "interrupted" and body["reason"] == "server_restart", body
            names = {f["name"]: f for f in body["files"]}
            assert set(names) == {"pub-camera.webm", "pub-microphone.webm"}, body
            assert all(f["duration_s"] > 2.0 for f in names.values()), body
            listed = (await http.get(f"{app}/recordings")).json()["recordings"]
            assert [x["state"] for x in listed] == ["interrupted"]
            video = await http.get(names["pub-camera.webm"]["url"])
            assert video.status_code == 200
        copy = tmp_path / "copy.webm"
        copy.write_bytes(video.content)
        tags = [i for _, i, m in read_video(copy).tags if m == 5]
        assert len(tags) >= 20 and tags == sorted(tags), tags
    finally:
        second.stop()
