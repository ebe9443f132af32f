"""Shared fixtures: a real uvicorn server in a thread (``make_server`` / ``live_server``) and an
in-process app for starlette's TestClient (``make_app_env``).

``live_server`` yields a :class:`LiveServer`::

    def test_x(live_server):
        ticket = live_server.ticket("alice", room="r1")
        async with websockets.connect(live_server.ws_url) as ws: ...

``make_server(media=..., demo=False, **section_overrides)`` builds one with a chosen media plane
(a ``MediaPlane``, a ``callable(settings) -> MediaPlane``, or ``"default"`` for
``ilvb.sfu.plane.create_media_plane(settings.media)``; default: ``NullMediaPlane``) and
settings overrides by section, e.g. ``make_server(rooms={"disconnect_timeout_s": 1},
media={"workers": 0})``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI

from ilvb.auth.admin import hash_admin_key, new_admin_key
from ilvb.auth.tickets import sign_server_token, sign_ticket
from ilvb.config import Settings, load_settings
from ilvb.server.app import create_app
from ilvb.sfu.api import MediaPlane, NullMediaPlane
from ilvb.store.interfaces import AppRecord
from ilvb.store.memory import MemoryAppStore

T = TypeVar("T")
MediaChoice = MediaPlane | Callable[[Settings], MediaPlane] | str | None


def _settings(overrides: dict[str, Any]) -> Settings:
    sections = {k: dict(v) for k, v in overrides.items()}
    sections.setdefault("server", {}).setdefault("port", 0)
    return load_settings(**sections)


def _media(choice: MediaChoice, settings: Settings) -> MediaPlane:
    if choice is None:
        return NullMediaPlane()
    if choice == "default":
        from ilvb.sfu.plane import create_media_plane

        return create_media_plane(settings.media)
    if callable(choice) and not hasattr(choice, "open_router"):
        return choice(settings)  # type: ignore[no-any-return]
    return choice  # type: ignore[return-value]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop (async tests)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _new_store_with_app(name: str = "test-app") -> tuple[MemoryAppStore, AppRecord, str]:
    store = MemoryAppStore()
    record = run_sync(store.create_app(name))
    admin_key = new_admin_key()
    run_sync(store.set_admin_key_hash(hash_admin_key(admin_key)))
    return store, record, admin_key


@dataclass
class LiveServer:
    """A running server: URLs, the test app's credentials, and helpers."""

    base_url: str
    ws_url: str
    app_id: str
    secret: str
    admin_key: str
    app: FastAPI
    store: MemoryAppStore
    settings: Settings
    media: MediaPlane
    loop: asyncio.AbstractEventLoop
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def ticket(self, user_id: str, **claims: Any) -> str:
        """A login ticket of the test app (claims: ttl_s, room, role, audio, video, screen…)."""
        return sign_ticket(self.app_id, self.secret, user_id, **claims)

    def server_token(self) -> str:
        """A REST bearer token for the test app's server."""
        return sign_server_token(self.app_id, self.secret)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's loop (to inspect or change server state safely)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Shut the server down (lifespan shutdown runs)."""
        self._server.should_exit = True
        self._thread.join(15)


def start_server(media: MediaChoice = None, demo: bool = False, **overrides: Any) -> LiveServer:
    """Start a server on 127.0.0.1 with an ephemeral port in a background thread."""
    settings = _settings(overrides)
    store, record, admin_key = _new_store_with_app()
    plane = _media(media, settings)
    app = create_app(
        settings, store=store, media=plane, demo_app_id=record.app_id if demo else None
    )
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        ws_max_size=16 * 1024 * 1024,
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []
    errors: list[BaseException] = []

    def serve() -> None:
        async def main() -> None:
            loops.append(asyncio.get_running_loop())
            await server.serve(sockets=[sock])

        try:
            asyncio.run(main())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"ilvb-server:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server failed to start: {errors!r}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("server did not start within 30 s")
        time.sleep(0.01)
    return LiveServer(
        base_url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}/ws",
        app_id=record.app_id,
        secret=record.secret,
        admin_key=admin_key,
        app=app,
        store=store,
        settings=settings,
        media=plane,
        loop=loops[0],
        _server=server,
        _thread=thread,
    )


@pytest.fixture
def make_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``make_server(media=None, demo=False, **section_overrides) -> LiveServer``."""
    servers: list[LiveServer] = []

    def make(media: MediaChoice = None, demo: bool = False, **overrides: Any) -> LiveServer:
        server = start_server(media, demo, **overrides)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(make_server: Callable[..., LiveServer]) -> LiveServer:
    """A real server with the null media plane and default settings."""
    return make_server()


@dataclass
class AppEnv:
    """An in-process app for TestClient tests: its store, app record, media plane and clock."""

    app: FastAPI
    store: MemoryAppStore
    record: AppRecord
    admin_key: str
    media: MediaPlane
    settings: Settings

    @property
    def app_id(self) -> str:
        return self.record.app_id

    def ticket(self, user_id: str, **claims: Any) -> str:
        """A login ticket of the test app."""
        return sign_ticket(self.record.app_id, self.record.secret, user_id, **claims)

    def server_token(self) -> str:
        """A REST bearer token for the test app's server."""
        return sign_server_token(self.record.app_id, self.record.secret)


@pytest.fixture
def make_app_env() -> Callable[..., AppEnv]:
    """Factory: ``make_app_env(media=None, clock=None, demo=False, **section_overrides)``.

    Use with ``with TestClient(env.app) as client:`` so the lifespan runs.
    """

    def make(
        media: MediaChoice = None, clock: Any = None, demo: bool = False, **overrides: Any
    ) -> AppEnv:
        settings = _settings(overrides)
        store, record, admin_key = _new_store_with_app()
        plane = _media(media, settings)
        app = create_app(
            settings,
            store=store,
            media=plane,
            clock=clock,
            demo_app_id=record.app_id if demo else None,
        )
        return AppEnv(app, store, record, admin_key, plane, settings)

    return make
