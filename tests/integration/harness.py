"""A real ilvb server (control plane + SFU) on loopback for the media integration tests.

``LiveServer`` runs ``create_app`` under uvicorn on an ephemeral port inside the test's event
loop, with an in-memory store, one app, and the real media plane from
``ilvb.sfu.plane.create_media_plane``. Tests connect real SDK clients (:meth:`LiveServer.client`)
and read SFU counters for a room (:meth:`LiveServer.router_stats`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvicorn

from ilvb.auth.tickets import sign_ticket
from ilvb.client import Client
from ilvb.config import Settings, load_settings
from ilvb.server.app import create_app
from ilvb.sfu.api import MediaPlane
from ilvb.store.memory import MemoryAppStore


class LiveServer:
    """``async with LiveServer(rooms={...}, media={...}) as server``: a running server."""

    def __init__(
        self,
        *,
        app_caps: dict[str, int] | None = None,
        media_plane: MediaPlane | None = None,
        **sections: Any,
    ) -> None:
        media = {"workers": 0, **sections.pop("media", {})}
        server = {"port": 0, **sections.pop("server", {})}
        self.settings: Settings = load_settings(server=server, media=media, **sections)
        self.store = MemoryAppStore()
        if media_plane is None:
            from ilvb.sfu.plane import create_media_plane

            media_plane = create_media_plane(self.settings.media)
        self.media = media_plane
        self.app = create_app(self.settings, store=self.store, media=self.media)
        self.app_caps = app_caps or {}
        self.app_id = ""
        self.secret = ""
        self.url = ""
        self.clients: list[Client] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._server.serve())
        async with asyncio.timeout(30):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        record = await self.store.create_app("media-tests")
        if self.app_caps:
            record = await self.store.update_app(record.app_id, **self.app_caps)
        self.app_id, self.secret = record.app_id, record.secret
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 20)

    def ticket(self, user_id: str, **claims: Any) -> str:
        """A login ticket for ``user_id`` of the test app."""
        return sign_ticket(self.app_id, self.secret, user_id, **claims)

    async def client(self, user_id: str, **claims: Any) -> Client:
        """A connected SDK client (closed by the server's exit)."""
        client = await Client.connect(self.url, self.ticket(user_id, **claims))
        self.clients.append(client)
        return client

    async def router_stats(self, room: str | int, kind: str = "room") -> dict[str, Any]:
        """The SFU router's counters for a live room."""
        live = self.app.state.rooms.get(self.app_id, room, kind)
        assert live.link is not None, "room has no media router"
        router = await live.link.router()
        return await router.stats()

    async def worker_stats(self) -> list[dict[str, Any]]:
        """Counters of every SFU worker (transports, routers, imported codec modules …)."""
        stats = await self.media.stats()  # type: ignore[attr-defined]
        return list(stats["workers"])
