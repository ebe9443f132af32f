"""The signaling WebSocket ``/ws`` (docs/protocol.md, version 1).

One :class:`SignalingSession` per connection reads frames, validates each with
:mod:`ilvb.server.protocol`, calls the :class:`~ilvb.rooms.manager.RoomManager` and replies.
Bad frames get an ``error`` reply carrying the request id (or null) and the connection goes on;
only a failed ``hello`` closes it. A connection silent for 3 heartbeat intervals is closed and
its member enters the disconnect window; ``hello`` with ``resume`` picks the member up again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ilvb.auth.app_auth import authenticate_ticket
from ilvb.auth.oidc import authenticate_id_token
from ilvb.auth.tickets import TicketClaims
from ilvb.config import Settings
from ilvb.errors import (
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_LIMIT_EXCEEDED,
    CLOSE_REPLACED,
    IlvbError,
    InvalidArgument,
    InvalidState,
    LimitExceeded,
    Unauthenticated,
    ws_close_code,
)
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.member import Member
from ilvb.rooms.room import Room
from ilvb.rooms.wire import dumps, event_frame
from ilvb.server import protocol as p
from ilvb.server import signaling_stage
from ilvb.server.connection import Connection
from ilvb.server.ratelimit import ConnectionLimits, take
from ilvb.server.sessions import SessionRecord, SignalingHub
from ilvb.store.interfaces import AppRecord, AppStore

log = logging.getLogger(__name__)

router = APIRouter()
HEARTBEAT_MISSES = 3


@router.websocket("/ws")
async def signaling_endpoint(ws: WebSocket) -> None:
    """The signaling WebSocket."""
    await ws.accept()
    session = SignalingSession(
        ws, ws.app.state.settings, ws.app.state.store, ws.app.state.rooms, ws.app.state.signaling
    )
    await session.run()


class SignalingSession:
    """One connection: reads, validates, dispatches, replies."""

    def __init__(
        self,
        ws: WebSocket,
        settings: Settings,
        store: AppStore,
        rooms: RoomManager,
        hub: SignalingHub,
    ) -> None:
        self.ws = ws
        self.settings = settings
        self.store = store
        self.rooms = rooms
        self.hub = hub
        self.limits_cfg = settings.signaling
        self.conn = Connection(
            ws,
            on_overflow=self._slow_consumer,
            max_frames=self.limits_cfg.max_queued_frames,
            max_bytes=self.limits_cfg.max_queued_bytes,
        )
        self.limits = ConnectionLimits.for_connection(self.limits_cfg, time.monotonic())
        self._refused_in_a_row = 0
        self._task: asyncio.Task[None] | None = None
        self._dropped = False
        self._last_rx = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self.record: SessionRecord | None = None
        self.max_bytes = settings.server.ws_max_message_bytes
        self.heartbeat_s = settings.server.heartbeat_interval_s

    @property
    def member(self) -> Member | None:
        return self.record.member if self.record is not None else None

    async def run(self) -> None:
        """Serve frames until the socket closes or goes silent."""
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        # One watchdog timer per connection instead of a timeout task per frame.
        silence_s = self.heartbeat_s * HEARTBEAT_MISSES
        self._watchdog = loop.call_later(silence_s, self._check_silence)
        try:
            cfg = self.limits_cfg
            while not self.conn.closed:
                if self.conn.queued_bytes() > cfg.pushback_bytes:
                    # Push back: read no more requests until the client has read its replies.
                    if not await self.conn.drained(cfg.pushback_bytes, cfg.pushback_timeout_s):
                        log.warning("client reads no replies: disconnecting (slow consumer)")
                        self.conn.overflow()  # closes 4429 and drops this session
                    continue
                message = await self.ws.receive()
                self._last_rx = loop.time()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    if len(raw) > self.max_bytes:
                        self._too_large()
                        continue
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        self._error(None, InvalidArgument("invalid_json", "frames are UTF-8 JSON"))
                        continue
                if len(text) > self.max_bytes or len(text.encode("utf-8")) > self.max_bytes:
                    self._too_large()
                    continue
                await self._handle(text)
        except WebSocketDisconnect:
            pass
        except asyncio.CancelledError:
            if not self._dropped:
                raise
            if self._task is not None:
                self._task.uncancel()  # our own cancel: the connection ends normally
        except Exception:
            log.exception("signaling connection failed")
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self.record is not None:
                self.hub.connection_lost(self.record, self.conn)
            await self.conn.aclose()

    def _slow_consumer(self) -> None:
        """The client fell too far behind: stop serving it (its member enters the window)."""
        self._drop()

    def _check_silence(self) -> None:
        """Close a connection silent for 3 heartbeat intervals; else check again later."""
        loop = asyncio.get_running_loop()
        silence_s = self.heartbeat_s * HEARTBEAT_MISSES
        idle = loop.time() - self._last_rx
        if idle < silence_s:
            self._watchdog = loop.call_later(silence_s - idle, self._check_silence)
            return
        self._watchdog = None
        self.conn.close(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
        self._drop()

    def _drop(self) -> None:
        """Stop serving this connection now (the run loop may be blocked in receive)."""
        if self._task is not None and not self._dropped:
            self._dropped = True
            self._task.cancel()

    # frames ------------------------------------------------------------------------------

    async def _handle(self, text: str) -> None:
        request_id: int | str | None = None
        kind, started = "", 0.0  # set once the request is dispatched to its handler
        try:
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise InvalidArgument("invalid_json", "the frame is not valid JSON") from exc
            request_id = _readable_id(obj)
            envelope = p.parse_envelope(obj)
            self._charge(envelope.type)
            if envelope.type == "hello":
                try:
                    hello = p.parse_data("hello", envelope.data)
                except IlvbError as exc:
                    if self.record is not None:
                        raise  # a bad second hello is only answered
                    self._refuse_hello(request_id, exc)
                    return
                await self._hello(request_id, hello)  # type: ignore[arg-type]
                return
            data = p.parse_data(envelope.type, envelope.data)
            if self.record is None:
                raise Unauthenticated(message="send hello first")
            handler = HANDLERS[envelope.type]
            kind, started = envelope.type, time.perf_counter()
            result = await handler(self, data)
            self._reply(request_id, result)
            self._timed(kind, started, None)
        except IlvbError as exc:
            self._error(request_id, exc)
            self._timed(kind, started, exc.code)
            if self._refused_in_a_row >= self.limits_cfg.max_refused_in_a_row:
                log.warning("client ignores rate limiting: disconnecting")
                self.conn.close(CLOSE_LIMIT_EXCEEDED, "rate limited")
                self._drop()
        except Exception:
            log_id = secrets.token_hex(4)
            log.exception("internal error (log id %s) handling a signaling frame", log_id)
            self._error(
                request_id, IlvbError(message=f"internal error (log id {log_id})")
            )

    def _timed(self, kind: str, started: float, error_code: str | None) -> None:
        """Tell the hub's request listeners (metrics) how a dispatched request went."""
        if not kind or not self.hub.request_listeners:
            return
        seconds = time.perf_counter() - started
        for listener in self.hub.request_listeners:
            try:
                listener(kind, seconds, error_code)
            except Exception:
                log.exception("request listener failed")

    def _charge(self, kind: str) -> None:
        """Count a request against the connection's and the user's budgets (``rate_limited``)."""
        now = time.monotonic()
        buckets = self.limits.buckets(kind)
        if self.record is not None:
            key = (self.record.app.app_id, self.record.claims.user_id)
            buckets += self.hub.user_limits.get(key, self.limits_cfg, now).buckets(kind)
        try:
            take(buckets, now, "room.enter requests" if kind == "room.enter" else "requests")
        except LimitExceeded:
            self._refused_in_a_row += 1
            raise
        self._refused_in_a_row = 0

    def _refuse_hello(self, request_id: int | str | None, exc: IlvbError) -> None:
        """A failed ``hello`` closes the connection (4401 ticket errors, 4400 others)."""
        self._error(request_id, exc)
        self.conn.close(ws_close_code(exc), exc.code)

    def _reply(self, request_id: int | str | None, data: dict[str, Any]) -> None:
        self.conn.send(dumps({"id": request_id, "type": "response", "data": data}))

    def _error(self, request_id: int | str | None, error: IlvbError) -> None:
        self.conn.send(dumps({"id": request_id, "type": "error", "error": error.to_dict()}))

    def _too_large(self) -> None:
        self._error(
            None,
            LimitExceeded("message_too_large", f"frames are limited to {self.max_bytes} bytes"),
        )

    # handshake ---------------------------------------------------------------------------

    def _end(self, code: int, reason: str) -> None:
        """End this connection (the hub's expiry or revocation)."""
        self.conn.close(code, reason)
        self._drop()

    async def _hello(self, request_id: int | str | None, data: p.Hello) -> None:
        if self.record is not None:
            raise InvalidState(message="hello was already accepted on this connection")
        try:
            if data.protocol != p.PROTOCOL_VERSION:
                raise InvalidArgument(
                    "unsupported_protocol",
                    f"protocol {data.protocol} is not supported (this server speaks "
                    f"{p.PROTOCOL_VERSION})",
                )
            app, claims = await self._credential(data.ticket, data.id_token, data.app_id)
            self.rooms.admit(app.app_id)  # e.g. billing refuses a suspended account's apps
        except IlvbError as exc:
            self._refuse_hello(request_id, exc)
            return
        resumed = False
        record = self.hub.resumable(data.resume, app, claims) if data.resume else None
        if record is not None and record.member is not None:
            old = record.conn
            record.conn = self.conn
            if old is not None and old is not self.conn:
                old.close(CLOSE_REPLACED, "resumed on another connection")
            self.hub.renew(record, app, claims)
            self.rooms.reconnect(record.member, self.conn)
            # The new ticket rules: another room restriction ends the old membership (the
            # member gets room.exited ticket_wrong_room), a lower ceiling revokes permissions.
            self.rooms.apply_ticket(record.member, claims)
            resumed = record.member is not None and record.member.room is not None
        else:
            record = self.hub.open(app, claims, self.conn)
        record.end = self._end
        self.hub.watch(self.store, self.settings.auth)
        self.record = record
        record.platform = data.platform or "web"
        body: dict[str, Any] = {
            "protocol": p.PROTOCOL_VERSION,
            "user_id": claims.user_id,
            "app_id": app.app_id,
            "session": record.token,
            "heartbeat_interval_s": self.heartbeat_s,
            "resumed": resumed,
            "expires_at": claims.expires_at,
        }
        if resumed and record.member is not None and record.member.room is not None:
            body["room"] = record.member.room.display
            body["kind"] = record.member.room.kind
            body["me"] = record.member.state()
        self._reply(request_id, body)
        if resumed and record.member is not None:
            self.rooms.flush_media_notice(record.member)  # a transport lost while away

    async def _quality(self) -> dict[str, Any] | None:
        """This member's effective quality profile (``quality`` in docs/protocol.md)."""
        quality, record = self.hub.quality, self.record
        if quality is None or record is None:
            return None
        source, version, profile = await quality.effective(
            record.app.app_id, record.platform, record.claims.role
        )
        return {"source": source, "version": version, "profile": profile.to_dict()}

    async def _credential(
        self, ticket: str | None, id_token: str | None, app_id: str | None
    ) -> tuple[AppRecord, TicketClaims]:
        """A ticket, or an ID token of one of ``app_id``'s identity providers (ilvb.auth.oidc)."""
        if id_token is None:
            assert ticket is not None  # the request model requires one of the two
            return await self._authenticate(ticket)
        return await authenticate_id_token(
            self.store,
            self.ws.app.state.oidc,
            app_id,
            id_token,
            max_ttl_s=self.settings.auth.max_ticket_ttl_s,
        )

    async def _authenticate(self, ticket: str) -> tuple[AppRecord, TicketClaims]:
        auth = self.settings.auth
        return await authenticate_ticket(
            self.store,
            ticket,
            max_ttl_s=auth.max_ticket_ttl_s,
            clock_skew_s=auth.clock_skew_s,
        )

    # requests ----------------------------------------------------------------------------

    def _require_member(self) -> Member:
        member = self.member
        if member is None or member.room is None:
            raise InvalidState("not_in_room", "enter a room first")
        return member

    def _in_room(self) -> tuple[Member, Room]:
        member = self._require_member()
        assert member.room is not None
        return member, member.room

    async def session_refresh(self, data: p.SessionRefresh) -> dict[str, Any]:
        """A new ticket for this session: moves its expiry, re-applies room and ceiling."""
        record = self.record
        assert record is not None
        app, claims = await self._credential(data.ticket, data.id_token, record.app.app_id)
        if app.app_id != record.app.app_id or claims.user_id != record.claims.user_id:
            raise InvalidArgument(message="ticket: issued for another app or user")
        self.hub.renew(record, app, claims)
        if record.member is not None:
            self.rooms.apply_ticket(record.member, claims)
        return {"expires_at": claims.expires_at}

    async def ping(self, _data: p.Empty) -> dict[str, Any]:
        return {"time": time.time()}

    async def room_enter(self, data: p.RoomEnter) -> dict[str, Any]:
        assert self.record is not None
        if self.member is not None and self.member.room is not None:
            raise InvalidState("already_in_room", "exit the current room first")
        if data.kind != "call" and (data.callee is not None or data.token is not None):
            raise InvalidArgument(message="callee and token are for calls")
        if data.callee is not None and data.room != 0:
            raise InvalidArgument(message="callee: only when creating a call (room 0)")
        quality = await self._quality()
        member = self.rooms.enter(
            self.record.app,
            self.record.claims,
            data.room,
            data.kind,
            self.conn,
            callee=data.callee,
            call_token=data.token,
        )
        member.session = self.record
        self.record.member = member
        room = member.room
        assert room is not None
        body = {
            "room": room.display,
            "kind": room.kind,
            "me": member.state(),
            "member_count": len(room),
            "audio_slots": room.limits.audio_slots,
            "video_slots": room.limits.max_views,
        }
        if quality is not None:
            body["quality"] = quality
            # the SFU's bitrate hints to this publisher stay within the profile's cap
            room.set_send_cap(member, quality["profile"]["network"]["max_send_kbps"] * 1000)
        if room.invite is not None and room.invite.creator == member.user_id:
            body["call_token"] = room.invite.token  # for the app to hand to the other party
        # Like room.exited for room.exit, the event goes out right before the response.
        self.conn.send(event_frame("room.entered", {"room": room.display, "me": body["me"]}))
        return body

    async def room_exit(self, _data: p.Empty) -> dict[str, Any]:
        member = self._require_member()
        self.rooms.exit(member, "left")
        return {}

    async def room_members(self, data: p.RoomMembers) -> dict[str, Any]:
        return self._in_room()[1].member_page(data.cursor, data.limit)

    async def room_senders(self, _data: p.Empty) -> dict[str, Any]:
        return self._in_room()[1].sender_list()

    async def member_get(self, data: p.MemberGet) -> dict[str, Any]:
        return self._in_room()[1].member(data.user_id).state()

    async def media_publish(self, data: p.MediaSource) -> dict[str, Any]:
        member, room = self._in_room()
        room.publish(member, data.source)
        return {"source": data.source}

    async def media_unpublish(self, data: p.MediaSource) -> dict[str, Any]:
        member, room = self._in_room()
        room.unpublish(member, data.source)
        return {}

    async def media_mute(self, data: p.MediaMute) -> dict[str, Any]:
        member, room = self._in_room()
        room.mute(member, data.source, data.muted)
        return {}

    async def view_request(self, data: p.ViewRequest) -> dict[str, Any]:
        member, room = self._in_room()
        return {"views": room.request_views(member, data.user_ids, data.source)}

    async def view_cancel(self, data: p.ViewCancel) -> dict[str, Any]:
        member, room = self._in_room()
        return {"views": room.cancel_views(member, data.user_ids)}

    async def listen_stop(self, data: p.ListenStop) -> dict[str, Any]:
        member, room = self._in_room()
        return {"not_listening": room.stop_listening(member, data.user_ids)}

    async def listen_resume(self, data: p.ListenResume) -> dict[str, Any]:
        member, room = self._in_room()
        return {"not_listening": room.resume_listening(member, data.user_ids)}

    async def permissions_set(self, data: p.PermissionsSet) -> dict[str, Any]:
        member, room = self._in_room()
        room.set_permissions(member, data.changes(), "self")
        return member.state()

    async def send_offer(self, data: p.SendOffer) -> dict[str, Any]:
        member = self._require_member()
        return {"sdp": await self.rooms.negotiate_send(member, data.sdp, dict(data.sources))}

    async def recv_open(self, _data: p.Empty) -> dict[str, Any]:
        return {"sdp": await self.rooms.offer_receive(self._require_member())}

    async def recv_restart(self, _data: p.Empty) -> dict[str, Any]:
        return {"sdp": await self.rooms.restart_receive(self._require_member())}

    async def recv_answer(self, data: p.RecvAnswer) -> dict[str, Any]:
        await self.rooms.accept_receive_answer(self._require_member(), data.sdp)
        return {}

    async def quality_report(self, data: p.QualityReport) -> dict[str, Any]:
        """Keep what the SDK applied of its quality profile (read back over REST)."""
        self._require_member()
        assert self.record is not None
        self.record.quality_report = {
            "version": data.version,
            "applied": dict(data.applied),
            "unsupported": list(data.unsupported),
            "at": time.time(),
        }
        return {}


def _readable_id(obj: object) -> int | str | None:
    """The request id when it is valid (``protocol.RequestId``), else None."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) <= p.MAX_INT_ID:
        return value
    if isinstance(value, str) and len(value) <= 64:
        return value
    return None


HANDLERS: dict[str, Any] = {
    "ping": SignalingSession.ping,
    "session.refresh": SignalingSession.session_refresh,
    "room.enter": SignalingSession.room_enter,
    "room.exit": SignalingSession.room_exit,
    "room.members": SignalingSession.room_members,
    "room.senders": SignalingSession.room_senders,
    "member.get": SignalingSession.member_get,
    "media.publish": SignalingSession.media_publish,
    "media.unpublish": SignalingSession.media_unpublish,
    "media.mute": SignalingSession.media_mute,
    "view.request": SignalingSession.view_request,
    "view.cancel": SignalingSession.view_cancel,
    "listen.stop": SignalingSession.listen_stop,
    "listen.resume": SignalingSession.listen_resume,
    "permissions.set": SignalingSession.permissions_set,
    "transport.send.offer": SignalingSession.send_offer,
    "transport.recv.open": SignalingSession.recv_open,
    "transport.recv.answer": SignalingSession.recv_answer,
    "transport.recv.restart": SignalingSession.recv_restart,
    "quality.report": SignalingSession.quality_report,
}
HANDLERS.update(signaling_stage.HANDLERS)  # stage and host controls


__all__ = ["HANDLERS", "SessionRecord", "SignalingHub", "SignalingSession", "router"]
