"""Storage interfaces. Implementations: :mod:`ilvb.store.memory` (tests) and :mod:`ilvb.store.sql`
(SQLAlchemy 2 async: SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AppRecord:
    """An application: its id, display name, signing secret and per-app room limits."""

    app_id: str
    name: str
    secret: str
    created_at: float
    # Per-app overrides of RoomSettings; None = the server default.
    audio_sender_cap: int | None = None
    video_sender_cap: int | None = None
    enabled: bool = True


def app_changes(
    *,
    name: str | None = None,
    audio_sender_cap: int | None = None,
    video_sender_cap: int | None = None,
    enabled: bool | None = None,
) -> dict[str, object]:
    """The fields an ``update_app`` call changes: those given, i.e. not None."""
    fields = {
        "name": name,
        "audio_sender_cap": audio_sender_cap,
        "video_sender_cap": video_sender_cap,
        "enabled": enabled,
    }
    return {k: v for k, v in fields.items() if v is not None}


class AppStore(Protocol):
    """Apps and the admin key hash. Live room state is not stored here (it lives in memory)."""

    async def open(self) -> None:
        """Connect and create/upgrade the schema."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...

    async def create_app(self, name: str) -> AppRecord:
        """Create an app with a fresh id and secret."""
        ...

    async def get_app(self, app_id: str) -> AppRecord | None:
        """The app, or None."""
        ...

    async def list_apps(self) -> list[AppRecord]:
        """All apps, oldest first."""
        ...

    async def rotate_secret(self, app_id: str) -> AppRecord:
        """Replace the app's secret; raises NotFound('app_not_found')."""
        ...

    async def update_app(
        self,
        app_id: str,
        *,
        name: str | None = None,
        audio_sender_cap: int | None = None,
        video_sender_cap: int | None = None,
        enabled: bool | None = None,
    ) -> AppRecord:
        """Change fields that are not None; raises NotFound('app_not_found')."""
        ...

    async def get_admin_key_hash(self) -> str | None:
        """The stored hash of the admin key, or None before first start."""
        ...

    async def set_admin_key_hash(self, key_hash: str) -> None:
        """Store the admin key's hash (the key itself is never stored)."""
        ...
