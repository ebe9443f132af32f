"""The recordings REST with a real media plane: refusals with clear codes that leave nothing
running and nothing written outside the recordings directory; stop, list, delete; download
with HTTP ranges; the room events members get."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ilvb.client import SyntheticVideoSource, ToneSource
from tests.recording.media import recording_server, rest
from tests.recording.procs import files_under, recorder_children

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def code(reply) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return reply.status_code, reply.json()["error"]["code"]


async def test_refusals_have_clear_codes_and_leave_nothing_behind(tmp_path: Path) -> None:
    async with recording_server(tmp_path) as server, rest(server) as http:
        app = f"/v1/apps/{server.app_id}"
        data = Path(server.settings.server.data_dir)
        recordings = server.settings.recording.resolved_directory(data)
        before = files_under(tmp_path)

        # unknown room
        r = await http.post(f"{app}/rooms/nowhere/recordings", json={"mode": "tracks"})
        assert code(r) == (404, "room_not_found")
        # a room whose only member sends nothing
        quiet = await server.client("quiet")
        await quiet.enter("hush")
        r = await http.post(f"{app}/rooms/hush/recordings", json={"mode": "tracks"})
        assert code(r) == (409, "room_no_senders")
        # a mode that does not exist, a body that is not one
        r = await http.post(f"{app}/rooms/hush/recordings", json={"mode": "mp3"})
        assert r.status_code == 400
        r = await http.post(f"{app}/rooms/hush/recordings", json={"mode": "tracks", "x": 1})
        assert r.status_code == 400
        # stop / get / delete of an unknown id
        for method, path in (
            ("POST", f"{app}/recordings/rec_nope/stop"),
            ("GET", f"{app}/recordings/rec_nope"),
            ("DELETE", f"{app}/recordings/rec_nope"),
            ("GET", f"{app}/recordings/rec_nope/files/a.webm"),
        ):
            assert code(await http.request(method, path)) == (404, "recording_not_found"), path
        # another app's token does not reach this app's recordings
        r = await http.get(
            f"{app}/recordings", headers={"Authorization": "Bearer not-a-token"}
        )
        assert r.status_code == 401
        assert recorder_children() == []
        assert files_under(tmp_path) == before, "a refusal wrote a file"

        # a real recording, then a second start of the same mode
        pub = await server.client("pub")
        await pub.enter("hush")
        await pub.publish_video(SyntheticVideoSource(marker=1, fps=15))
        await pub.publish_audio(ToneSource(330.0))

        async def producing() -> bool:
            return (await server.router_stats("hush"))["producers"] == 2

        await until(producing, 15, "two producers")
        events = quiet.events(["recording.started", "recording.stopped"])
        r = await http.post(f"{app}/rooms/hush/recordings", json={"mode": "tracks"})
        assert r.status_code == 201, r.text
        rid = r.json()["recording_id"]
        started = await events.next(10)
        assert started.name == "recording.started"
        assert started.data == {"recording_id": rid, "mode": "tracks"}
        r = await http.post(f"{app}/rooms/hush/recordings", json={"mode": "tracks"})
        assert code(r) == (409, "recording_already_running")
        assert r.json()["error"]["details"] == {"recording_id": rid}
        assert len(recorder_children()) == 1

        async def written() -> bool:
            body = (await http.get(f"{app}/recordings/{rid}")).json()
            return len(body["files"]) == 2 and all(f["bytes"] > 2000 for f in body["files"])

        await until(written, 15, "both files written")
        # path tricks in file names
        for trick in (
            "..%2F..%2Fdata%2Fsecret",
            "%2E%2E",
            ".hidden",
            "a%00b.webm",
            "sub/dir.webm",
            "%2Fetc%2Fpasswd",
            "..%5C..%5Cwin.ini",
        ):
            r = await http.get(f"{app}/recordings/{rid}/files/{trick}")
            assert code(r) == (400, "invalid_file_name"), (trick, r.text)
        r = await http.get(f"{app}/recordings/{rid}/files/nobody-camera.webm")
        assert code(r) == (404, "recording_file_not_found")

        stopped = (await http.post(f"{app}/recordings/{rid}/stop")).json()
        assert stopped["state"] == "stopped" and stopped["reason"] == "stopped"
        ended = await events.next(10)
        assert ended.name == "recording.stopped"
        assert ended.data == {
            "recording_id": rid,
            "mode": "tracks",
            "state": "stopped",
            "reason": "stopped",
        }
        assert recorder_children() == []
        assert (await server.router_stats("hush"))["taps"] == 0
        # a second stop answers the same recording
        again = (await http.post(f"{app}/recordings/{rid}/stop")).json()
        assert again["state"] == "stopped"

        # download, whole and by range
        cam = next(f for f in stopped["files"] if f["name"] == "pub-camera.webm")
        whole = await http.get(cam["url"])
        assert whole.status_code == 200 and len(whole.content) == cam["bytes"]
        assert whole.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML
        part = await http.get(cam["url"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{cam['bytes']}"
        tail = await http.get(cam["url"], headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == whole.content[-10:]

        listed = (await http.get(f"{app}/recordings")).json()["recordings"]
        assert [x["recording_id"] for x in listed] == [rid]

        # everything written is under the recordings directory
        new = files_under(tmp_path) - before
        assert new and all(recordings in p.parents for p in new), new

        r = await http.delete(f"{app}/recordings/{rid}")
        assert r.status_code == 200
        assert not (recordings / server.app_id / rid).exists()
        assert code(await http.get(f"{app}/recordings/{rid}")) == (404, "recording_not_found")


async def test_automatic_recording_starts_at_the_first_sender_and_ends_with_the_room(
    tmp_path: Path,
) -> None:
    async with recording_server(tmp_path) as server, rest(server) as http:
        app = f"/v1/apps/{server.app_id}"
        assert (await http.get(f"{app}/recording-settings")).json() == {"auto_mode": None}
        r = await http.put(f"{app}/recording-settings", json={"auto_mode": "tracks"})
        assert r.json() == {"auto_mode": "tracks"}
        r = await http.put(f"{app}/recording-settings", json={"auto_mode": "mp4"})
        assert r.status_code == 400
        pub = await server.client("pub")
        events = pub.events(["recording.started"])
        await pub.enter("auto")
        await asyncio.sleep(1.0)
        assert (await http.get(f"{app}/recordings")).json()["recordings"] == []
        await pub.publish_audio(ToneSource(300.0))
        started = await events.next(15)
        rid = started.data["recording_id"]
        assert pub.recordings == {rid: "tracks"}

        async def has_file() -> bool:
            body = (await http.get(f"{app}/recordings/{rid}")).json()
            return bool(body["files"]) and body["files"][0]["bytes"] > 1000

        await until(has_file, 15, "the automatic recording's file")
        await pub.exit()  # the last member leaves: the room closes, the recording ends

        async def ended() -> bool:
            return (await http.get(f"{app}/recordings/{rid}")).json()["state"] == "stopped"

        await until(ended, 15, "the recording to stop with its room")
        body = (await http.get(f"{app}/recordings/{rid}")).json()
        assert body["reason"] == "room_closed"
        assert [f["name"] for f in body["files"]] == ["pub-microphone.webm"]
        assert recorder_children() == []
        assert pub.recordings == {}


async def test_a_composite_recording_through_the_recordings_rest(tmp_path: Path) -> None:
    async with recording_server(tmp_path) as server, rest(server) as http:
        app = f"/v1/apps/{server.app_id}"
        pub = await server.client("pub")
        await pub.enter("mix")
        await pub.publish_video(SyntheticVideoSource(marker=2, fps=15))
        await pub.publish_audio(ToneSource(550.0))

        async def producing() -> bool:
            return (await server.router_stats("mix"))["producers"] == 2

        await until(producing, 15, "two producers")
        events = pub.events(["recording.started", "recording.stopped"])
        r = await http.post(f"{app}/rooms/mix/recordings", json={"mode": "composite"})
        assert r.status_code == 201, r.text
        rid = r.json()["recording_id"]
        assert (await events.next(10)).data == {"recording_id": rid, "mode": "composite"}
        r = await http.post(f"{app}/rooms/mix/recordings", json={"mode": "composite"})
        assert code(r) == (409, "recording_already_running")
        await asyncio.sleep(4.0)
        body = (await http.post(f"{app}/recordings/{rid}/stop")).json()
        assert body["state"] == "stopped" and body["mode"] == "composite", body
        assert [f["name"] for f in body["files"]] == ["composite.mkv"], body
        f = body["files"][0]
        assert f["format"] == "matroska" and f["duration_s"] and f["duration_s"] > 1.0, f
        assert body["cpu_s"] > 0, body
        assert (await events.next(10)).name == "recording.stopped"
