"""An in-memory :class:`~ilvb.store.interfaces.AppStore` for tests and throwaway servers."""

from __future__ import annotations

import dataclasses
import time

from ilvb.errors import NotFound
from ilvb.store.ids import new_app_id, new_secret
from ilvb.store.interfaces import AppRecord, app_changes


class MemoryAppStore:
    """Apps in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self._apps: dict[str, AppRecord] = {}
        self._admin_key_hash: str | None = None

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_app(self, name: str) -> AppRecord:
        app = AppRecord(new_app_id(), name, new_secret(), time.time())
        self._apps[app.app_id] = app
        return app

    async def get_app(self, app_id: str) -> AppRecord | None:
        return self._apps.get(app_id)

    async def list_apps(self) -> list[AppRecord]:
        return sorted(self._apps.values(), key=lambda a: a.created_at)

    async def rotate_secret(self, app_id: str) -> AppRecord:
        return self._replace(app_id, secret=new_secret())

    async def update_app(
        self,
        app_id: str,
        *,
        name: str | None = None,
        audio_sender_cap: int | None = None,
        video_sender_cap: int | None = None,
        enabled: bool | None = None,
    ) -> AppRecord:
        changes = app_changes(
            name=name,
            audio_sender_cap=audio_sender_cap,
            video_sender_cap=video_sender_cap,
            enabled=enabled,
        )
        return self._replace(app_id, **changes)

    async def get_admin_key_hash(self) -> str | None:
        return self._admin_key_hash

    async def set_admin_key_hash(self, key_hash: str) -> None:
        self._admin_key_hash = key_hash

    def _replace(self, app_id: str, **changes: object) -> AppRecord:
        app = self._apps.get(app_id)
        if app is None:
            raise NotFound("app_not_found", f"no app {app_id!r}")
        app = dataclasses.replace(app, **changes)  # type: ignore[arg-type]
        self._apps[app_id] = app
        return app
