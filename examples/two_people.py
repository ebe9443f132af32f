"""Two people talk through an ilvb server: run this twice, with two user names, same room.

Start a server with a demo app (it hands out tickets to anyone — for trying things only)::

    ilvb serve --demo

Then, in two terminals::

    python examples/two_people.py --user alice --room hello
    python examples/two_people.py --user bob --room hello --video clip.mp4 --audio song.mp3

Each side enters the room, publishes its "microphone" and "camera" (a media file through PyAV,
or synthetic: a tone and frames that carry their own frame number), watches everyone who sends
video, and prints once a second who it hears (audio level) and sees (frames per second,
resolution). With a real app, the app's server signs the ticket: pass it with ``--ticket``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from ilvb.client import (
    Client,
    FileSource,
    SyntheticVideoSource,
    ToneSource,
    audio_tone,
    read_frame_tag,
)


@dataclass
class Seen:
    """What one side received from each other member."""

    audio_frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    video_frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    level: dict[str, float] = field(default_factory=dict)
    size: dict[str, str] = field(default_factory=dict)
    frame_index: dict[str, int] = field(default_factory=dict)


def demo_ticket(server: str, user: str, room: str) -> str:
    """Ask a ``ilvb serve --demo`` server for a ticket (never do this in a real app)."""
    reply = httpx.post(f"{server}/demo/ticket", json={"user": user, "room": room}, timeout=10)
    if reply.status_code != 200:
        sys.exit(f"the server gave no demo ticket ({reply.status_code}): is it run with --demo?")
    return str(reply.json()["ticket"])


async def run(
    server: str,
    ticket: str,
    room: str,
    *,
    audio_file: str | None = None,
    video_file: str | None = None,
    seconds: float = 0,
    out: Any = print,
) -> Seen:
    """Enter ``room``, publish, watch the others; return what was received."""
    ws_url = server.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    client = await Client.connect(ws_url, ticket)
    files: list[FileSource] = []
    seen = Seen()
    try:
        # What I receive: every decoded frame, attributed to its sender.
        def on_audio(user_id: str, frame: Any) -> None:
            seen.audio_frames[user_id] += 1
            seen.level[user_id] = audio_tone(frame)[1]

        def on_video(user_id: str, frame: Any) -> None:
            seen.video_frames[user_id] += 1
            seen.size[user_id] = f"{frame.width}x{frame.height}"
            tag = read_frame_tag(frame)
            if tag is not None:
                seen.frame_index[user_id] = tag.index

        client.on_frame("audio", on_audio)
        client.on_frame("video", on_video)

        # Watch everyone who sends video (the server allows a few views at once).
        async def watch_senders() -> None:
            senders = [m["user_id"] for m in await client.senders() if m["sending"]["video"]]
            others = [u for u in senders if u != client.user_id][: max(0, client.video_slots - 1)]
            if others:
                await client.request_views(others)

        def on_member(event: Any) -> Any:
            members = event.data.get("members") or [event.data]
            for m in members:
                if event.name == "members.entered":
                    out(f"{m['user_id']} entered")
            return watch_senders()

        client.on("members.entered", on_member)
        client.on("member.state", on_member)
        client.on("members.exited", lambda ev: out(f"{', '.join(ev.data['user_ids'])} left"))
        reply = await client.enter(room)
        out(f"I am {client.user_id} in room {reply['room']} with {reply['member_count']} member(s)")

        # What I send.
        files.extend(FileSource(p) for p in {audio_file, video_file} if p)
        audio = next((f.audio for f in files if f.audio is not None), None)
        video = next((f.video for f in files if f.video is not None), None)
        marker = hashlib.sha1(client.user_id.encode()).digest()[0]
        await client.publish_audio(audio or ToneSource(frequency=300 + 2 * marker, amplitude=0.3))
        await client.publish_video(video or SyntheticVideoSource(marker=marker, fps=15))

        await watch_senders()

        started = time.monotonic()
        last: dict[str, tuple[int, int]] = {}
        while not seconds or time.monotonic() - started < seconds:
            await asyncio.sleep(1.0)
            for user_id in sorted(set(seen.audio_frames) | set(seen.video_frames)):
                a, v = seen.audio_frames[user_id], seen.video_frames[user_id]
                a0, v0 = last.get(user_id, (0, 0))
                last[user_id] = (a, v)
                hear = f"hear {user_id} (level {seen.level.get(user_id, 0):.2f})" if a > a0 else ""
                see = f"see {user_id} ({v - v0} fps, {seen.size.get(user_id)})" if v > v0 else ""
                if hear or see:
                    out("  ".join(x for x in (hear, see) if x))
        return seen
    finally:
        with contextlib.suppress(Exception):
            await client.exit()
        await client.close()
        for source in files:  # ends the file's decoding thread with the loop still running
            source.stop()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:7880", help="the ilvb server")
    parser.add_argument("--room", default="hello", help="the room both people enter")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="your name (asks a --demo server for a ticket)")
    who.add_argument("--ticket", help="a login ticket signed by your app's server")
    parser.add_argument("--audio", help="a media file to send as your microphone")
    parser.add_argument("--video", help="a media file to send as your camera")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    args = parser.parse_args()
    ticket = args.ticket or demo_ticket(args.server, args.user, args.room)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                args.server,
                ticket,
                args.room,
                audio_file=args.audio,
                video_file=args.video,
                seconds=args.seconds,
            )
        )


if __name__ == "__main__":
    main()
