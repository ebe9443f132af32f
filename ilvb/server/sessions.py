"""Signaling sessions: resume tokens, ticket expiry and revocation (docs/protocol.md).

A :class:`SessionRecord` outlives its connection while its member is in the disconnect window.
The :class:`SignalingHub` holds them by resume token and enforces, for every live session:

1. **Expiry**: when the ticket's ``exp`` passes, the member leaves its room
   (``room.exited`` ``ticket_expired``) and the connection is closed with 4401
   (``ticket_expired``). ``session.refresh`` with a new ticket moves the deadline.
2. **Revocation**: every ``auth.revalidate_interval_s`` (10 s) the hub re-reads the apps that
   have live sessions; a disabled app, or a secret other than the one the session's ticket was
   verified with, ends the session (``revoked``) after ``auth.revoke_grace_s`` (0 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ilvb.auth.tickets import TicketClaims
from ilvb.config import AuthSettings
from ilvb.errors import CLOSE_UNAUTHENTICATED
from ilvb.quality.service import QualityService
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.member import Member
from ilvb.server.connection import Connection
from ilvb.server.ratelimit import UserLimits
from ilvb.store.interfaces import AppRecord, AppStore

log = logging.getLogger(__name__)


def secret_digest(secret: str) -> str:
    """A digest naming the secret a ticket was verified with (the secret itself is not kept)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(eq=False)
class SessionRecord:
    """A signaling session: survives its connection while its member is in the window."""

    token: str
    app: AppRecord
    claims: TicketClaims
    conn: Connection | None = None
    member: Member | None = None
    # Digest of the app secret the current ticket was verified with.
    secret: str = ""
    # Ends the live connection: (close code, reason). Set by the connection's session.
    end: Callable[[int, str], None] | None = None
    expiry: asyncio.TimerHandle | None = None
    # When a pending revocation takes effect (wall clock), or None.
    revoke_at: float | None = None
    # The SDK's platform from hello ("web", "python", …): selects the quality profile.
    platform: str = "web"
    # The SDK's last ``quality.report`` (version, applied, unsupported, at), or None.
    quality_report: dict[str, Any] | None = None


class SignalingHub:
    """Sessions by resume token; wired to the room manager's removal hook."""

    def __init__(self, rooms: RoomManager) -> None:
        self.rooms = rooms
        self.sessions: dict[str, SessionRecord] = {}
        # Quality profiles (set by the server): the effective one goes with room.enter's reply.
        self.quality: QualityService | None = None
        # Request budgets shared by a user's connections (per app).
        self.user_limits = UserLimits()
        # Told of every answered request after hello: (type, seconds, error code or None).
        self.request_listeners: list[Callable[[str, float, str | None], None]] = []
        self._store: AppStore | None = None
        self._auth = AuthSettings()
        self._revalidating: asyncio.TimerHandle | None = None
        rooms.on_member_removed = self._member_removed

    def open(self, app: AppRecord, claims: TicketClaims, conn: Connection) -> SessionRecord:
        """A new session for a fresh connection."""
        record = SessionRecord(secrets.token_urlsafe(24), app, claims, conn)
        self.sessions[record.token] = record
        self.renew(record, app, claims)
        return record

    def renew(self, record: SessionRecord, app: AppRecord, claims: TicketClaims) -> None:
        """A (new) verified ticket for this session: its expiry and secret count from now."""
        record.app = app
        record.claims = claims
        record.secret = secret_digest(app.secret)
        record.revoke_at = None
        if record.expiry is not None:
            record.expiry.cancel()
        delay = max(0.0, claims.expires_at - time.time())
        loop = asyncio.get_running_loop()
        record.expiry = loop.call_later(delay, self._end, record, "ticket_expired")

    def watch(self, store: AppStore, auth: AuthSettings) -> None:
        """Re-check live sessions' apps every ``auth.revalidate_interval_s`` (idempotent)."""
        self._store = store
        self._auth = auth
        if self._revalidating is None:
            loop = asyncio.get_running_loop()
            self._revalidating = loop.call_later(auth.revalidate_interval_s, self._tick)

    def resumable(self, token: str, app: AppRecord, claims: TicketClaims) -> SessionRecord | None:
        """The session to resume: same app and user, its member still in a room."""
        record = self.sessions.get(token)
        if record is None or record.app.app_id != app.app_id:
            return None
        if record.claims.user_id != claims.user_id:
            return None
        if record.member is None or record.member.room is None:
            return None
        return record

    def connection_lost(self, record: SessionRecord, conn: Connection) -> None:
        """The connection closed: start the member's window, or forget the session."""
        if record.conn is not conn:
            return  # already replaced by a resumed connection
        record.conn = None
        record.end = None
        member = record.member
        if member is not None and member.room is not None:
            self.rooms.disconnect(member)
        else:
            self._forget(record)

    def _forget(self, record: SessionRecord) -> None:
        self.sessions.pop(record.token, None)
        if record.expiry is not None:
            record.expiry.cancel()
            record.expiry = None

    def _member_removed(self, member: Member, reason: str) -> None:
        record = member.session
        if not isinstance(record, SessionRecord) or record.member is not member:
            return
        record.member = None
        if record.conn is None:
            self._forget(record)

    def _end(self, record: SessionRecord, reason: str) -> None:
        """End a session: its member leaves (``reason``), its connection closes with 4401."""
        log.info("session of %s/%s ended: %s", record.app.app_id, record.claims.user_id, reason)
        member = record.member
        if member is not None and member.room is not None:
            self.rooms.exit(member, reason)
        if record.end is not None:
            record.end(CLOSE_UNAUTHENTICATED, reason)
        self._forget(record)

    # revocation ------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._revalidating = None
        if not self.sessions or self._store is None:
            return  # restarted by the next watch()
        task = asyncio.get_running_loop().create_task(self._revalidate(self._store))
        task.add_done_callback(self._tick_done)

    def _tick_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("revalidating sessions failed", exc_info=task.exception())
        if self._store is not None and self._revalidating is None:
            loop = asyncio.get_running_loop()
            self._revalidating = loop.call_later(self._auth.revalidate_interval_s, self._tick)

    async def _revalidate(self, store: AppStore) -> None:
        """End (after the grace period) sessions whose app is disabled or whose secret changed."""
        now = time.time()
        current: dict[str, AppRecord | None] = {}
        for app_id in {r.app.app_id for r in self.sessions.values()}:
            with contextlib.suppress(Exception):
                current[app_id] = await store.get_app(app_id)
        for record in list(self.sessions.values()):
            app_id = record.app.app_id
            if app_id not in current:
                continue  # the store did not answer: check again next time
            app = current[app_id]
            valid = app is not None and app.enabled and secret_digest(app.secret) == record.secret
            if valid:
                record.revoke_at = None
                continue
            if record.revoke_at is None:
                record.revoke_at = now + self._auth.revoke_grace_s
            if now >= record.revoke_at:
                self._end(record, "revoked")
