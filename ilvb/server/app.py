"""The ASGI application factory: one lifespan opens the store, the media plane and the rooms.

``create_app(settings)`` is what ``ilvb serve`` runs; tests pass ``store=MemoryAppStore()`` and
``media=NullMediaPlane()`` (or a real media plane) instead. Routes: ``/ws`` (signaling),
``/v1/apps`` (admin), ``/v1/apps/{app_id}/rooms`` (app server / admin), ``/healthz``, the Web SDK
under ``/sdk``, the demo pages ``/demo`` and ``/precall``, and ``/openapi.json`` + ``/docs``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ilvb.auth.tickets import sign_ticket
from ilvb.config import Settings
from ilvb.errors import IlvbError, InvalidArgument, NotFound
from ilvb.rooms.clock import Clock
from ilvb.rooms.manager import RoomManager
from ilvb.server.rest_apps import router as apps_router
from ilvb.server.rest_rooms import router as rooms_router
from ilvb.server.signaling import SignalingHub
from ilvb.server.signaling import router as signaling_router
from ilvb.sfu.api import MediaPlane
from ilvb.store.interfaces import AppStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
DEMO_TICKET_TTL_S = 3600


class DemoTicketRequest(BaseModel):
    """Body of ``POST /demo/ticket``."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=64)
    room: str | int | None = None


class DemoTicket(BaseModel):
    """A ticket for the demo app."""

    ticket: str
    app_id: str


def _default_store(settings: Settings) -> AppStore:
    from ilvb.store.sql import SqlAppStore

    return SqlAppStore(settings.server.resolved_database_url())


def create_app(
    settings: Settings,
    *,
    store: AppStore | None = None,
    media: MediaPlane | None = None,
    demo_app_id: str | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the ASGI app. ``demo_app_id`` enables the insecure ``POST /demo/ticket``."""
    app_store = store if store is not None else _default_store(settings)
    if media is None:
        from ilvb.sfu.plane import create_media_plane

        media = create_media_plane(settings.media)
    media_plane = media

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app_store.open()
        await media_plane.start()
        rooms = RoomManager(settings.rooms, media_plane, clock=clock)
        app.state.rooms = rooms
        app.state.signaling = SignalingHub(rooms)
        try:
            yield
        finally:
            await rooms.close()
            await media_plane.close()
            await app_store.close()

    app = FastAPI(
        title="ilvb",
        version=_version(),
        summary="Interactive live video broadcasting: control plane REST API",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = app_store
    app.state.media = media_plane
    app.state.demo_app_id = demo_app_id

    app.add_exception_handler(IlvbError, _ilvb_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)

    app.include_router(signaling_router)
    app.include_router(apps_router)
    app.include_router(rooms_router)

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict[str, str]:
        """Liveness: 200 while the server runs."""
        return {"status": "ok"}

    app.mount("/sdk", StaticFiles(directory=STATIC_DIR, check_dir=False), name="sdk")

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return _static_file("demo.html")

    @app.get("/precall", include_in_schema=False)
    async def precall_page() -> FileResponse:
        return _static_file("precall.html")

    if demo_app_id is not None:

        @app.post("/demo/ticket", tags=["demo"], response_model=DemoTicket)
        async def demo_ticket(body: DemoTicketRequest, request: Request) -> DemoTicket:
            """INSECURE, demo only: mint a login ticket for the demo app for anyone who asks.

            Enabled only when the server was started with a demo app. A real app's server
            signs tickets itself with its secret and never exposes an endpoint like this.
            """
            record = await request.app.state.store.get_app(demo_app_id)
            if record is None:
                raise NotFound("app_not_found", "the demo app does not exist")
            ticket = sign_ticket(
                record.app_id, record.secret, body.user, ttl_s=DEMO_TICKET_TTL_S, room=body.room
            )
            return DemoTicket(ticket=ticket, app_id=record.app_id)

    return app


def _static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFound("not_found", f"{name} is not installed")
    return FileResponse(path)


def _version() -> str:
    from ilvb import __version__

    return __version__


async def _ilvb_error(request: Request, exc: IlvbError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = "invalid request"
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}"[:300]
    error = InvalidArgument("invalid_argument", message)
    return JSONResponse({"error": error.to_dict()}, status_code=400)


_HTTP_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
               404: "not_found", 405: "invalid_argument", 409: "invalid_state",
               413: "message_too_large", 422: "invalid_argument", 429: "limit_exceeded",
               503: "unavailable"}  # fmt: skip


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Framework errors (unparsable body, unknown path, wrong method) in our error shape."""
    status = exc.status_code
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_argument")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log_id = secrets.token_hex(4)
    log.error("internal error (log id %s) on %s", log_id, request.url.path, exc_info=exc)
    error = IlvbError("internal_error", f"internal error (log id {log_id})")
    return JSONResponse({"error": error.to_dict()}, status_code=500)
