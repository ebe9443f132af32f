"""Which profile a member gets, and who is told when an app's profiles change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ilvb.quality.profile import DEFAULT_TEMPLATE, TEMPLATES, QualityProfile, build_profile
from ilvb.quality.store import QualityStore, StoredProfile

log = logging.getLogger(__name__)

ANY_ROLE = "*"


class QualityService:
    """Profiles of every app, over a :class:`QualityStore`.

    A member's effective profile is the app's profile for its (platform, role), else for
    (platform, ``*``), else the ``realtime_call`` template. ``on_changed`` listeners get each
    stored profile (pushing it to members already in rooms is theirs to do).
    """

    def __init__(self, store: QualityStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.on_changed: list[Callable[[StoredProfile], None]] = []

    async def put(
        self, app_id: str, platform: str, role: str, body: dict[str, Any]
    ) -> StoredProfile:
        """Validate and store a profile (``invalid_quality_profile``, ``unknown_template``)."""
        template, profile = build_profile(platform, body)
        stored = await self.store.put_profile(
            app_id, platform, role, template, profile, self.clock()
        )
        for listener in self.on_changed:
            try:
                listener(stored)
            except Exception:  # a listener's failure must not undo the change
                log.exception("quality: a change listener failed")
        return stored

    async def effective(
        self, app_id: str, platform: str, role: str
    ) -> tuple[str, int, QualityProfile]:
        """(where it came from, version, profile) for a member of ``app_id``."""
        by_key = {(p.platform, p.role): p for p in await self.store.profiles(app_id)}
        for key in ((platform, role), (platform, ANY_ROLE)):
            found = by_key.get(key)
            if found is not None:
                return f"{found.platform}/{found.role}", found.version, found.profile
        return f"template:{DEFAULT_TEMPLATE}", 0, TEMPLATES[DEFAULT_TEMPLATE]
