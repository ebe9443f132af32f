"""Record a room track by track, then download the files: the app server's side of recording.

Start a server and make an app (its id and secret are printed)::

    ilvb serve &
    ilvb app create "recording demo"

Then::

    python examples/record_tracks.py --app-id APP --secret SECRET --room lesson --seconds 10

It puts a publisher in the room (a tone and frames that carry their frame number, so there is
something to record), starts a ``tracks`` recording with the app's server token, stops it after
``--seconds``, and downloads every file into ``--out`` (one WebM per track: VP8 video, Opus
audio, written as received, no transcoding). Open them with any player, e.g. ``ffplay``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import httpx

from ilvb.auth.tickets import sign_server_token, sign_ticket
from ilvb.client import Client, SyntheticVideoSource, ToneSource


def save(path: Path, data: bytes) -> None:
    """Write one downloaded file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def record(
    url: str, app_id: str, secret: str, room: str, seconds: float, out: Path
) -> dict[str, Any]:
    """Publish into ``room``, record it for ``seconds``, download the files; the recording."""
    ws = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"
    publisher = await Client.connect(ws, sign_ticket(app_id, secret, "teacher"))
    token = sign_server_token(app_id, secret)
    api = f"/v1/apps/{app_id}"
    try:
        await publisher.enter(room)
        await publisher.publish_audio(ToneSource(440.0))
        await publisher.publish_video(SyntheticVideoSource(fps=15))
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            for _ in range(100):  # the publisher's media reaches the server within a second
                reply = await http.post(f"{api}/rooms/{room}/recordings", json={"mode": "tracks"})
                if reply.status_code != 409:
                    break
                await asyncio.sleep(0.1)
            reply.raise_for_status()
            recording_id = reply.json()["recording_id"]
            print(f"recording {recording_id} started")
            await asyncio.sleep(seconds)
            recording: dict[str, Any] = (
                await http.post(f"{api}/recordings/{recording_id}/stop")
            ).json()
            for f in recording["files"]:
                data = (await http.get(f["url"])).content
                save(out / f["name"], data)
                print(f"{f['name']}: {f['bytes']} bytes, {f['duration_s']} s, {f['format']}")
            return recording
    finally:
        await publisher.close()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7880")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--room", default="lesson")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("recordings"))
    a = parser.parse_args()
    asyncio.run(record(a.url, a.app_id, a.secret, a.room, a.seconds, a.out))


if __name__ == "__main__":
    main()
