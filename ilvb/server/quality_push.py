"""Profile changes reach members already in rooms: a ``quality.changed`` event, no rejoin; the
SFU's bandwidth feedback to each of them follows the new ``network.max_send_kbps``."""

from __future__ import annotations

import asyncio
import logging

from ilvb.quality.service import ANY_ROLE, QualityService
from ilvb.quality.store import StoredProfile
from ilvb.rooms.wire import event_frame
from ilvb.server.sessions import SignalingHub

log = logging.getLogger(__name__)


class QualityPush:
    """Watches :class:`QualityService` changes and tells each affected member its new profile."""

    def __init__(self, hub: SignalingHub, quality: QualityService) -> None:
        self._hub = hub
        self._quality = quality
        self._tasks: set[asyncio.Task[None]] = set()
        quality.on_changed.append(self._changed)

    def _changed(self, stored: StoredProfile) -> None:
        task = asyncio.get_running_loop().create_task(self._push(stored))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, stored: StoredProfile) -> None:
        for record in list(self._hub.sessions.values()):
            if record.app.app_id != stored.app_id or record.platform != stored.platform:
                continue
            if stored.role not in (ANY_ROLE, record.claims.role):
                continue
            member, conn = record.member, record.conn
            if member is None or member.room is None or conn is None:
                continue
            source, version, profile = await self._quality.effective(
                stored.app_id, record.platform, record.claims.role
            )
            if source != f"{stored.platform}/{stored.role}":
                continue  # a more specific profile still applies to this member
            data = {"source": source, "version": version, "profile": profile.to_dict()}
            conn.send(event_frame("quality.changed", data))
            if member.room is not None:  # the SFU's bitrate hints follow the new cap
                member.room.set_send_cap(member, profile.network.max_send_kbps * 1000)
