"""A room's media limits, from the server settings and the app's overrides."""

from __future__ import annotations

from dataclasses import dataclass

from ilvb.config import RoomSettings
from ilvb.store.interfaces import AppRecord


@dataclass(frozen=True)
class RoomLimits:
    """Caps enforced by the control plane for one room."""

    audio_senders: int = 6
    video_senders: int = 4
    max_views: int = 4
    max_members: int = 50_000
    # Loudest audio streams forwarded to each listener (never more than may send).
    audio_slots: int = 6

    @classmethod
    def for_app(cls, settings: RoomSettings, app: AppRecord | None) -> RoomLimits:
        """Server defaults with the app's per-app sender caps applied."""
        audio = settings.audio_sender_cap
        video = settings.video_sender_cap
        if app is not None and app.audio_sender_cap is not None:
            audio = app.audio_sender_cap
        if app is not None and app.video_sender_cap is not None:
            video = app.video_sender_cap
        return cls(
            audio,
            video,
            settings.max_views,
            settings.max_members,
            audio_slots=min(settings.audio_slots, audio),
        )

    def view_cap(self, sending_video: bool) -> int:
        """Views allowed: ``max_views``, one fewer while the member sends video itself."""
        return self.max_views - 1 if sending_video else self.max_views
