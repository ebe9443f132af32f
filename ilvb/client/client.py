"""``Client``: the Python SDK's entry point (rooms, calls, members, media, events).

::

    client = await Client.connect("ws://127.0.0.1:7880/ws", ticket)
    await client.enter("math-101")
    await client.publish_audio(ToneSource(440))
    await client.request_views(["teacher"])
    async for user_id, frame in client.remote_video():
        ...
    await client.close()

Every request raises the typed :mod:`ilvb.errors` exception the server reported (same codes as
the Web SDK). Events arrive both as callbacks (``client.on("members.entered", cb)``) and as
async iterators (``async for ev in client.events()``).

The stage (docs/protocol.md, "Stage and room controls"): a host calls
:meth:`Client.invite_to_stage`; the invitee gets a ``stage.invited`` event and calls
:meth:`Client.accept_invite` (or :meth:`Client.decline_invite`), then publishes. Taken off stage
(``stage.removed``) or with its screen share stopped by a host (``control.screen_stopped``),
the client stops sending those sources by itself.

When nothing arrives on a media transport for 1.5 s the client emits ``media.reconnecting``,
restarts ICE on it without leaving the room (:mod:`ilvb.client.reconnect`) and emits
``media.reconnected`` once packets arrive again; others see the member's ``member.state`` with
``reconnecting`` true meanwhile.

When the server loses a media transport (``transport.closed``: ICE consent expired, DTLS
closed, or ``media_restarted`` after a media worker died) the client asks again for the sources
it was sending, negotiates new transports by itself and emits ``transport.restored``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from ilvb.client.connection import Connection
from ilvb.client.events import Callback, Event, EventHub, EventStream
from ilvb.client.logs import SdkLogs
from ilvb.client.media import MediaSession
from ilvb.client.quality import QualityApplier
from ilvb.client.reconnect import PathWatch
from ilvb.client.remote import FrameCallback, FrameStream, RemoteMedia
from ilvb.errors import IlvbError, InvalidArgument, Unavailable


class Client:
    """One signed-in user: a signaling connection, at most one room, its media transports."""

    def __init__(self, connection: Connection, events: EventHub) -> None:
        self.connection = connection
        self._events = events
        self.remote = RemoteMedia()
        self.media = MediaSession(self._request, self.remote)
        # restarts ICE when a transport goes silent (media.reconnecting / media.reconnected)
        self.path = PathWatch(self.media, self._request, events.emit)
        # The pushed quality profile and what was applied of it (ilvb.client.quality).
        self.quality = QualityApplier(self._request, self._published_video)
        self.room: str | int | None = None
        self.kind: str | None = None
        self.me: dict[str, Any] | None = None
        self.audio_slots = 0
        self.video_slots = 0
        # The token of the call I created (room.enter with number 0), to give to the callee.
        self.call_token: str | None = None
        # Recordings running in my room: recording id → mode (recording.started / .stopped).
        self.recordings: dict[str, str] = {}
        events.on("recording.started", self._on_recording)
        events.on("recording.stopped", self._on_recording)
        events.on("slot", self._on_slot)
        events.on("room.exited", self._on_exited)
        events.on("connection.closed", self._on_closed)
        events.on("transport.closed", self._on_transport_closed)
        events.on("stage.removed", self._on_stage_removed)
        events.on("quality.changed", self._on_quality_changed)
        events.on("control.screen_stopped", self._on_screen_stopped)

    @classmethod
    async def connect(cls, url: str, ticket: str | None = None, **options: Any) -> Client:
        """Connect to ``ws://host:port/ws`` with a login ticket (raises ``ticket_*`` errors),
        or with ``id_token=`` and ``app_id=``: an ID token of one of the app's OpenID Connect
        providers (raises ``oidc_*`` errors, docs/identity.md).

        ``options`` go to :class:`~ilvb.client.connection.Connection` (``request_timeout_s``,
        ``resume_window_s``).
        """
        events = EventHub()
        connection = await Connection.open(url, ticket, events, **options)
        return cls(connection, events)

    @property
    def user_id(self) -> str:
        """My user id, as the ticket says."""
        return self.connection.user_id

    # -- events -------------------------------------------------------------------------------

    def on(self, event: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(Event)`` for each ``event`` (``"*"``: all); returns an unsubscriber."""
        return self._events.on(event, callback)

    def events(self, names: Iterable[str] | None = None) -> EventStream:
        """``async for ev in client.events()``: every event from now on (or only ``names``)."""
        return self._events.iterate(names)

    async def wait_for(
        self, event: str, predicate: Callable[[Event], bool] | None = None, timeout_s: float = 10.0
    ) -> Event:
        """The next ``event`` (matching ``predicate``) within ``timeout_s`` seconds."""
        import asyncio

        stream = self._events.iterate([event])
        try:
            async with asyncio.timeout(timeout_s):
                async for ev in stream:
                    if predicate is None or predicate(ev):
                        return ev
        finally:
            stream.close()
        raise TimeoutError(f"no {event} event")

    # -- rooms ---------------------------------------------------------------------------------

    async def enter(
        self,
        room: str | int,
        kind: str = "room",
        *,
        receive: bool = True,
        callee: str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Enter a room (``kind="room"``) or a two-person call (``kind="call"``).

        With ``receive`` (default) the receive transport is negotiated right away, so the
        room's audio starts flowing; on a server without media this emits an ``error`` event
        (``media_unavailable``) instead of failing. ``callee`` / ``token``: see
        :meth:`enter_call`. Returns the ``room.enter`` response.
        """
        data: dict[str, Any] = {"room": room, "kind": kind}
        if callee is not None:
            data["callee"] = callee
        if token is not None:
            data["token"] = token
        reply = await self._request("room.enter", data)
        self.call_token = reply.get("call_token")
        self.room = reply.get("room", room)
        self.kind = reply.get("kind", kind)
        self.me = reply.get("me")
        self.audio_slots = int(reply.get("audio_slots", 0))
        self.video_slots = int(reply.get("video_slots", 0))
        if isinstance(reply.get("quality"), dict):
            await self._apply_quality(self.quality.set(reply["quality"]))
        self.path.start()
        if receive:
            try:
                await self.media.open_receive()
            except Unavailable as exc:
                # A signaling-only server (--no-media): the room works, media does not.
                self._events.emit(Event("error", {"error": exc}))
        return reply

    async def enter_call(
        self,
        number: int = 0,
        *,
        callee: str | None = None,
        token: str | None = None,
        receive: bool = True,
    ) -> int:
        """Enter a two-person call; returns the call number.

        ``0`` allocates a new number, for ``callee`` (a user id) when given; the new call's
        token is then in :attr:`call_token`. Joining an existing number works for the named
        callee, or with the caller's ``token`` (anyone else gets ``room_not_found``).
        """
        reply = await self.enter(number, kind="call", receive=receive, callee=callee, token=token)
        return int(reply["room"])

    async def exit(self) -> None:
        """Leave the room (others see ``members.exited``); closes the media transports."""
        try:
            await self._request("room.exit", {})
        finally:
            await self._left()

    async def members(self, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every member of my room (MemberState dicts) in entry order, paging through all."""
        cursor: Any = None
        while True:
            data: dict[str, Any] = {"limit": page_size}
            if cursor is not None:
                data["cursor"] = cursor
            reply = await self._request("room.members", data)
            for member in reply.get("members", []):
                yield member
            cursor = reply.get("next_cursor")
            if cursor is None:
                return

    async def senders(self) -> list[dict[str, Any]]:
        """Members now sending audio, video or screen."""
        return list((await self._request("room.senders", {})).get("members", []))

    async def member(self, user_id: str) -> dict[str, Any]:
        """One member's state (``member_not_found`` if not in my room)."""
        return await self._request("member.get", {"user_id": user_id})

    # -- publishing ----------------------------------------------------------------------------

    async def publish_audio(self, track: MediaStreamTrack) -> None:
        """Send ``track`` as my microphone (checked: permission, audio-sender cap)."""
        await self.publish("microphone", track)

    async def publish_video(
        self, track: MediaStreamTrack, source: str = "camera", codec: str | None = None
    ) -> None:
        """Send ``track`` as my camera (or ``source="screen"``); ``codec="H264"`` forces one."""
        await self.publish(source, track, codec)

    async def publish(self, source: str, track: MediaStreamTrack, codec: str | None = None) -> None:
        """Ask the server for ``source``, then negotiate it on the send transport."""
        if source not in ("microphone", "camera", "screen"):
            raise InvalidArgument(message=f"unknown source {source!r}")
        await self._request("media.publish", {"source": source})
        await self.media.publish(source, track, codec)
        if source == "camera":
            await self._apply_quality(self.quality.reapply())

    def replace_track(self, source: str, track: MediaStreamTrack) -> None:
        """Switch what a published ``source`` sends (another camera, a file) at once.

        No signaling and no renegotiation: viewers keep their view, the stream stays
        continuous. Raises ``invalid_state`` if ``source`` is not being sent.
        """
        self.media.replace(source, track)

    async def unpublish(self, source: str) -> None:
        """Stop sending ``source``."""
        await self._request("media.unpublish", {"source": source})
        await self.media.unpublish(source)

    async def upload_logs(self, logs: SdkLogs, stats: dict[str, Any] | None = None) -> str:
        """Upload a bundle of ``logs`` (and ``stats``) to the server; the bundle's id (the Web
        SDK's ``uploadLogs``)."""
        return await logs.upload(self, stats)

    async def mute(self, source: str, muted: bool = True) -> None:
        """Mute (or unmute) one of my sources: a muted source is not forwarded."""
        await self._request("media.mute", {"source": source, "muted": muted})

    async def set_permissions(self, **permissions: bool) -> dict[str, Any]:
        """Change my own ``audio`` / ``video`` / ``screen`` permissions (within the ticket's)."""
        return await self._request("permissions.set", permissions)

    async def refresh(self, ticket: str | None = None, *, id_token: str | None = None) -> float:
        """Hand the session a new ticket (or ID token) before the current one expires
        (``session.refresh``); later reconnects use it too. Returns its expiry (seconds since
        the epoch)."""
        if (ticket is None) == (id_token is None):
            raise InvalidArgument(message="give a ticket or an id_token")
        if ticket is not None:
            reply = await self._request("session.refresh", {"ticket": ticket})
            self.connection.ticket = ticket
        else:
            reply = await self._request("session.refresh", {"id_token": id_token})
            self.connection.id_token = id_token
        return float(reply["expires_at"])

    # -- stage and host controls -------------------------------------------------------------

    async def invite_to_stage(
        self,
        user_id: str,
        *,
        audio: bool = True,
        video: bool = True,
        screen: bool = False,
    ) -> dict[str, Any]:
        """Invite a member on stage (needs the stage right); returns the Invite."""
        grants = {"audio": audio, "video": video, "screen": screen}
        reply = await self._request("stage.invite", {"user_id": user_id, "permissions": grants})
        return dict(reply["invite"])

    async def accept_invite(self, invite_id: str) -> dict[str, Any]:
        """Accept an invitation (from a ``stage.invited`` event); returns my new MemberState.

        Refused with ``audio_sender_limit`` / ``video_sender_limit`` when the stage is full,
        ``invite_expired``, ``invite_already_answered`` or ``invite_not_for_you``.
        """
        reply = await self._request("stage.accept", {"invite_id": invite_id})
        self.me = reply.get("me", self.me)
        return dict(reply["me"])

    async def decline_invite(self, invite_id: str) -> dict[str, Any]:
        """Decline an invitation; returns the Invite."""
        return dict((await self._request("stage.decline", {"invite_id": invite_id}))["invite"])

    async def remove_from_stage(self, user_id: str | None = None) -> dict[str, Any]:
        """Take a member (default: myself) off stage; its sources stop. Returns its state."""
        target = self.user_id if user_id is None else user_id
        return await self._request("stage.remove", {"user_id": target})

    async def raise_hand(self) -> None:
        """Ask to speak: hosts get ``hand.raised``."""
        await self._request("hand.raise", {})

    async def lower_hand(self, user_id: str | None = None) -> None:
        """Lower my hand (or, with the stage right, another member's)."""
        await self._request("hand.lower", {} if user_id is None else {"user_id": user_id})

    async def hands(self) -> list[dict[str, Any]]:
        """Raised hands, oldest first (needs the stage right)."""
        return list((await self._request("hand.list", {})).get("hands", []))

    async def mute_member(self, user_id: str) -> dict[str, Any]:
        """Mute a member's microphone (stage right); returns its state."""
        return await self._request("member.mute", {"user_id": user_id})

    async def stop_screen_share(self, user_id: str) -> dict[str, Any]:
        """Stop a member's screen share (stage right); returns its state."""
        return await self._request("member.stop_screen", {"user_id": user_id})

    async def mute_all(self) -> list[str]:
        """Mute every microphone but mine (stage right); returns who was muted."""
        return list((await self._request("room.mute_all", {})).get("muted", []))

    async def lock_room(self, locked: bool = True) -> bool:
        """Lock the room against new entries (``room_locked``), or unlock it (stage right)."""
        return bool((await self._request("room.lock", {"locked": locked}))["locked"])

    # -- receiving -----------------------------------------------------------------------------

    async def request_views(
        self, user_ids: list[str], source: str = "camera"
    ) -> list[dict[str, Any]]:
        """View these members' video (at most 4; 3 while I send video). Returns all views."""
        reply = await self._request("view.request", {"user_ids": list(user_ids), "source": source})
        return list(reply.get("views", []))

    async def cancel_views(self, user_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Stop viewing these members (``None``: all). Returns the remaining views."""
        data: dict[str, Any] = {} if user_ids is None else {"user_ids": list(user_ids)}
        return list((await self._request("view.cancel", data)).get("views", []))

    async def listen_stop(self, user_ids: list[str]) -> list[str]:
        """Stop hearing these members (affects only me). Returns everyone I don't hear."""
        reply = await self._request("listen.stop", {"user_ids": list(user_ids)})
        return list(reply.get("not_listening", []))

    async def listen_resume(self, user_ids: list[str] | None = None) -> list[str]:
        """Hear these members again (``None``: everyone)."""
        data: dict[str, Any] = {} if user_ids is None else {"user_ids": list(user_ids)}
        return list((await self._request("listen.resume", data)).get("not_listening", []))

    def on_frame(self, kind: str, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback(user_id, frame)`` for each decoded remote ``audio``/``video`` frame."""
        if kind not in ("audio", "video"):
            raise InvalidArgument(message="kind must be audio or video")
        return self.remote.on_frame(kind, callback)  # type: ignore[arg-type]

    def remote_video(self, user_ids: Iterable[str] | None = None) -> FrameStream:
        """``async for user_id, frame in client.remote_video()``: decoded remote video frames."""
        return self.remote.frames("video", user_ids)

    def remote_audio(self, user_ids: Iterable[str] | None = None) -> FrameStream:
        """``async for user_id, frame in client.remote_audio()``: decoded remote audio frames."""
        return self.remote.frames("audio", user_ids)

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Leave the room (if in one), close media and the signaling connection. Idempotent."""
        if self.room is not None and not self.connection.closed:
            with contextlib.suppress(IlvbError):
                await self.connection.request("room.exit", {}, timeout_s=3)
        await self.path.stop()
        await self.media.close()
        await self.remote.close()
        await self.connection.close()
        self._events.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals -----------------------------------------------------------------------------

    async def _request(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.connection.request(type_, data)

    def _on_slot(self, event: Event) -> None:
        data = event.data
        self.remote.set_slot(
            str(data.get("mid")), data.get("kind", "audio"), data.get("user_id"), data.get("source")
        )

    async def _on_exited(self, event: Event) -> None:
        await self._left()

    async def _on_recording(self, event: Event) -> None:
        rid = str(event.data.get("recording_id"))
        if event.name == "recording.started":
            self.recordings[rid] = str(event.data.get("mode"))
        else:
            self.recordings.pop(rid, None)

    async def _on_closed(self, event: Event) -> None:
        # The session could not be resumed: the server has dropped us, media is useless.
        # (A simulated loss, ``connection.drop(resume=False)``, keeps media running on purpose.)
        if event.data.get("error") is not None:
            await self._left()

    async def _on_transport_closed(self, event: Event) -> None:
        # The server lost my send and/or receive transport (or restarted its media): build new
        # ones. A closed send transport stopped my sources, so they are asked for again first.
        if self.room is None:
            return
        which = event.data.get("transport")
        try:
            if which in ("send", "both") and self.media.switches:
                granted = []
                for source in self.media.active_sources():
                    try:
                        await self._request("media.publish", {"source": source})
                        granted.append(source)
                    except IlvbError as exc:  # e.g. the cap was taken meanwhile
                        self._events.emit(Event("error", {"error": exc}))
                await self.media.restart_send(granted)
            if which in ("recv", "both") and self.media.recv_pc is not None:
                await self.media.restart_receive()
        except IlvbError as exc:
            self._events.emit(Event("error", {"error": exc}))
            return
        self._events.emit(Event("transport.restored", {"transport": which}))

    def _published_video(self) -> dict[str, Any]:
        return {
            source: (tr.sender, self.media.switches[source])
            for source, tr in self.media.sending.items()
            if source in self.media.switches
        }

    async def _apply_quality(self, applying: Awaitable[Any]) -> None:
        try:
            await applying
        except IlvbError as exc:  # e.g. the report raced a room exit
            self._events.emit(Event("error", {"error": exc}))

    async def _on_quality_changed(self, event: Event) -> None:
        await self._apply_quality(self.quality.set(dict(event.data)))

    async def _on_stage_removed(self, event: Event) -> None:
        # Off stage: the server stopped my sources; stop sending their tracks too.
        if event.data.get("user_id") == self.user_id:
            for source in self.media.active_sources():
                await self.media.unpublish(source)

    async def _on_screen_stopped(self, event: Event) -> None:
        await self.media.unpublish("screen")

    async def _left(self) -> None:
        self.room = None
        self.recordings.clear()
        self.kind = None
        self.me = None
        await self.path.stop()
        await self.media.close()
