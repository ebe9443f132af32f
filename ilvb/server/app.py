"""The ASGI application factory: one lifespan opens the store, the media plane and the rooms.

``create_app(settings)`` is what ``ilvb serve`` runs; tests pass ``store=MemoryAppStore()`` and
``media=NullMediaPlane()`` (or a real media plane) instead. Routes: ``/ws`` (signaling),
``/v1/apps`` (admin), ``/v1/apps/{app_id}/rooms`` (app server / admin), ``/healthz``,
``/readyz`` and ``/metrics`` (:mod:`ilvb.server.rest_ops`), the Web SDK
under ``/sdk``, the demo pages ``/demo`` and ``/precall``, and ``/openapi.json`` + ``/docs``
(Swagger UI served locally, :mod:`ilvb.server.api_docs`). Every HTTP request passes the
:class:`~ilvb.server.http_guard.HttpGuard` first: credentials before any body is read, the body
cap, the security headers.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from ilvb.auth.admin import authenticate_admin
from ilvb.auth.oidc import OidcVerifier
from ilvb.auth.tickets import sign_ticket
from ilvb.billing.service import BillingService
from ilvb.billing.store import BillingStore, MemoryBillingStore
from ilvb.cluster.registry import NodeRegistry
from ilvb.config import Settings
from ilvb.errors import IlvbError, InvalidArgument, NotFound
from ilvb.live.composite import CompositeRunner
from ilvb.live.service import LiveService
from ilvb.metrics.node import NodeMetrics
from ilvb.quality.service import QualityService
from ilvb.quality.store import MemoryQualityStore, QualityStore
from ilvb.recording.jobs import CompositeRunner as CompositeStarter
from ilvb.recording.service import RecordingService
from ilvb.recording.store import AutoRecordStore, RecordingStore
from ilvb.rooms.clock import Clock, LoopClock
from ilvb.rooms.manager import RoomManager
from ilvb.server.api_docs import mount_api_docs
from ilvb.server.console_auth import authenticate_caller
from ilvb.server.demo_app_server import router as demo_app_server_router
from ilvb.server.http_guard import HttpGuard, inline_script_hashes
from ilvb.server.quality_push import QualityPush
from ilvb.server.rest_apps import router as apps_router
from ilvb.server.rest_billing import router as billing_router
from ilvb.server.rest_cluster import router as cluster_router
from ilvb.server.rest_identity import router as identity_router
from ilvb.server.rest_live import hls_router
from ilvb.server.rest_live import router as live_router
from ilvb.server.rest_logs import router as logs_router
from ilvb.server.rest_ops import router as ops_router
from ilvb.server.rest_quality import router as quality_router
from ilvb.server.rest_recordings import router as recordings_router
from ilvb.server.rest_rooms import app_access
from ilvb.server.rest_rooms import router as rooms_router
from ilvb.server.rest_session import router as session_router
from ilvb.server.rest_usage import router as usage_router
from ilvb.server.rest_webhooks import router as webhooks_router
from ilvb.server.sdk_downloads import router as sdk_router
from ilvb.server.signaling import SignalingHub
from ilvb.server.signaling import router as signaling_router
from ilvb.server.usage import UsageRecorder
from ilvb.sfu.api import MediaPlane
from ilvb.store.interfaces import AppStore
from ilvb.webhooks.service import WebhookService
from ilvb.webhooks.store import MemoryWebhookStore, WebhookStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
CONSOLE_DIR = STATIC_DIR.parent / "console"
DEMO_TICKET_TTL_S = 3600


class DemoTicketRequest(BaseModel):
    """Body of ``POST /demo/ticket``."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=64)
    room: str | int | None = None
    # The scenario pages' parts: "teacher"/"host" hold the stage right, "audience" watches
    # (its priv below is what a stage invitation may grant).
    role: Literal["speaker", "audience", "host", "teacher"] = "speaker"
    audio: bool | None = None
    video: bool | None = None
    screen: bool | None = None


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
        billing = _billing_service(settings, app_store, clock)
        app.state.quality = _quality_service(app_store, clock)
        app.state.billing = billing
        billing.start()
        await media_plane.start()
        rooms = RoomManager(settings.rooms, media_plane, clock=clock)
        app.state.rooms = rooms
        await billing.refresh_suspended()
        rooms.admission.append(billing.check_app)
        billing.on_apps_suspended.append(lambda apps: _close_rooms_of(rooms, apps))
        app.state.usage = UsageRecorder(rooms, app_store, clock or LoopClock())
        app.state.signaling = SignalingHub(rooms)
        app.state.signaling.quality = app.state.quality
        QualityPush(app.state.signaling, app.state.quality)
        # Room composites (recorder processes) and bypass live (docs/recording.md).
        app.state.composites = CompositeRunner(rooms, settings.live)
        app.state.live = LiveService(app.state.composites, settings.live, settings.server.data_dir)
        app.state.recordings = _recording_service(
            settings, app_store, rooms, media_plane, app.state.composites
        )
        await app.state.recordings.open()
        app.state.metrics = NodeMetrics(rooms, media_plane)
        app.state.signaling.request_listeners.append(app.state.metrics.request_done)
        app.state.webhook_store = _webhook_store(app_store)
        app.state.webhooks = None
        if settings.webhooks.enabled:
            app.state.webhooks = WebhookService(
                rooms,
                app.state.webhook_store,
                lambda app_id: _app_secret(app_store, app_id),
                settings.webhooks,
                now=clock.time if clock is not None else time.time,
            )
            app.state.webhooks.start()
        app.state.cluster = await _join_cluster(settings, rooms)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            if app.state.cluster is not None:
                await app.state.cluster.close()  # others stop sending members here first
                await app.state.cluster.redis.aclose()
            await app.state.live.close()
            await app.state.recordings.close()
            await app.state.composites.close()
            await billing.close()
            await rooms.close()
            if app.state.webhooks is not None:
                await app.state.webhooks.close()
            await app.state.usage.close()
            await media_plane.close()
            await app.state.oidc.close()
            await app_store.close()

    app = FastAPI(
        title="ilvb",
        version=_version(),
        summary="Interactive live video broadcasting: control plane REST API",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        HttpGuard,  # type: ignore[arg-type]
        max_body_bytes=settings.server.max_body_bytes,
        authenticate=authenticate_before_body,
        page_scripts=_page_scripts(),
    )
    app.state.settings = settings
    app.state.store = app_store
    app.state.media = media_plane
    app.state.demo_app_id = demo_app_id
    app.state.oidc = OidcVerifier(
        jwks_ttl_s=settings.oidc.jwks_ttl_s,
        refetch_interval_s=settings.oidc.refetch_interval_s,
        leeway_s=settings.oidc.leeway_s,
        timeout_s=settings.oidc.timeout_s,
        internal_hosts=settings.oidc.internal_hosts,
    )

    app.add_exception_handler(IlvbError, _ilvb_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)

    app.include_router(signaling_router)
    app.include_router(apps_router)
    app.include_router(rooms_router)
    app.include_router(billing_router)
    app.include_router(session_router)
    app.include_router(usage_router)
    app.include_router(identity_router)
    app.include_router(logs_router)
    app.include_router(quality_router)
    app.include_router(sdk_router)
    app.include_router(live_router)
    app.include_router(hls_router)
    app.include_router(recordings_router)

    app.include_router(ops_router)
    app.include_router(webhooks_router)
    app.include_router(cluster_router)

    mount_api_docs(app)
    app.mount("/sdk", SdkFiles(directory=STATIC_DIR, check_dir=False), name="sdk")

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return _static_file("demo.html")

    @app.get("/class", include_in_schema=False)
    async def class_page() -> FileResponse:
        """The online-class scenario page (teacher and students; scenario.js)."""
        return _static_file("scenario.html")

    @app.get("/live", include_in_schema=False)
    async def live_page() -> FileResponse:
        """The live-stream scenario page (host, co-hosts and viewers; scenario.js)."""
        return _static_file("scenario.html")

    @app.get("/precall", include_in_schema=False)
    async def precall_page() -> FileResponse:
        return _static_file("precall.html")

    app.mount(
        "/console/assets", StaticFiles(directory=CONSOLE_DIR, check_dir=False), name="console"
    )

    @app.get("/console", include_in_schema=False)
    async def console_page() -> FileResponse:
        """The web console (it signs in with the admin key; every page uses the REST API)."""
        page = CONSOLE_DIR / "index.html"
        if not page.is_file():
            raise NotFound(message="the console is not installed")
        return FileResponse(page, headers={"Cache-Control": "no-store"})

    if demo_app_id is not None:
        app.include_router(demo_app_server_router)

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
                record.app_id,
                record.secret,
                body.user,
                ttl_s=DEMO_TICKET_TTL_S,
                room=body.room,
                role=body.role,
                audio=body.audio,
                video=body.video,
                screen=body.screen,
            )
            return DemoTicket(ticket=ticket, app_id=record.app_id)

    return app


# Sub-paths of /v1/apps/{app_id} that the app's own server may call (with its server token).
APP_SCOPED = frozenset(
    {
        "rooms", "quality", "usage", "logs", "identity-providers", "recordings",
        "recording-settings", "webhooks", "placement",
    }
)  # fmt: skip
# /v1/<these> also take a console session (the routes keep customers to their own account).
CONSOLE_PATHS = frozenset({"apps", "accounts"})
CONSOLE_OPEN = frozenset({"session", "signup"})


async def authenticate_before_body(request: Request) -> None:
    """The credential a request with a body needs, checked from its headers alone.

    ``/v1/apps/{app_id}/<one of APP_SCOPED>…`` takes the app's server token, the admin key or
    the owner's console session (as ``app_access``); other ``/v1/apps`` and ``/v1/accounts``
    paths the admin key or a console session (CSRF-checked); ``/v1/session`` and
    ``/v1/signup`` nothing (their body holds the credentials); every other ``/v1`` path the
    admin key. Other paths (``/demo/ticket``) are
    open. The route checks the credential again; the admin check is remembered per request.
    """
    parts = request.url.path.split("/")
    if len(parts) < 3 or parts[1] != "v1":
        return
    if len(parts) >= 5 and parts[2] == "apps" and parts[4] in APP_SCOPED:
        await app_access(request, parts[3])
    elif parts[2] in CONSOLE_OPEN:
        return  # sign-in and sign-up carry their credentials in the body (Origin checked)
    elif parts[2] in CONSOLE_PATHS:
        await authenticate_caller(request)
    else:
        await authenticate_admin(request)


def _page_scripts() -> dict[str, list[str]]:
    """URL path -> hashes of the inline scripts of the HTML page served there (for the CSP)."""
    pages = {f"/sdk/{p.name}": p for p in STATIC_DIR.glob("*.html")}
    pages.update({"/demo": STATIC_DIR / "demo.html", "/precall": STATIC_DIR / "precall.html"})
    return {
        path: inline_script_hashes(file.read_text("utf-8"))
        for path, file in pages.items()
        if file.is_file()
    }


class SdkFiles(StaticFiles):
    """The Web SDK's files; TypeScript declarations as text (mimetypes has no sane ``.ts``)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """A file response with ``.ts`` files typed ``text/plain``."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        if os.fspath(full_path).endswith(".ts"):
            response.headers["content-type"] = "text/plain; charset=utf-8"
        return response


def _close_rooms_of(rooms: RoomManager, app_ids: set[str]) -> None:
    """Suspension: every live room of these apps closes (``room.exited`` ``account_suspended``)."""
    for app_id in app_ids:
        for room in rooms.rooms(app_id):
            rooms.close_room(room, "account_suspended")


def _recording_service(
    settings: Settings,
    app_store: AppStore,
    rooms: RoomManager,
    media: MediaPlane,
    composite: CompositeStarter | None,
) -> RecordingService:
    """Recordings: rows in the app store's database (SQL) or in memory, files on disk; the
    composite mode is ``composite`` (the live package's runner, when there is one)."""
    from ilvb.sfu.api import NullMediaPlane
    from ilvb.store.sql import SqlAppStore

    store: RecordingStore | None = None
    auto: AutoRecordStore | None = None
    if isinstance(app_store, SqlAppStore):
        from ilvb.store.recordings_sql import SqlRecordingStore

        store = auto = SqlRecordingStore(app_store)
    return RecordingService(
        rooms,
        settings.recording.resolved_directory(settings.server.data_dir),
        store=store,
        settings=auto,
        composite=composite,
        media=not isinstance(media, NullMediaPlane),
    )


def _quality_service(app_store: AppStore, clock: Clock | None) -> QualityService:
    """Quality profiles in the app store's database (SQL), or in memory beside a memory store."""
    from ilvb.store.sql import SqlAppStore

    store: QualityStore
    if isinstance(app_store, SqlAppStore):
        from ilvb.store.quality_sql import SqlQualityStore

        store = SqlQualityStore(app_store)
    else:
        store = MemoryQualityStore()
    return QualityService(store, clock.time if clock is not None else time.time)


async def _join_cluster(settings: Settings, rooms: RoomManager) -> NodeRegistry | None:
    """Register this node in Redis when ``cluster.redis_url`` is set (else None: alone)."""
    c = settings.cluster
    if c.redis_url is None:
        return None
    import socket

    import psutil  # type: ignore[import-untyped]
    import redis.asyncio as aioredis

    host, port = settings.server.host, settings.server.port
    registry = NodeRegistry(
        c,
        rooms,
        aioredis.from_url(c.redis_url),
        node_id=c.node_id or f"{socket.gethostname()}-{port}",
        url=c.public_url or f"http://{host}:{port}",
        cpu=lambda: psutil.cpu_percent(None) / 100.0,
    )
    await registry.start()
    log.info("cluster: node %s registered (region %r)", registry.node_id, c.region)
    return registry


def _webhook_store(app_store: AppStore) -> WebhookStore:
    """The webhook outbox in the app store's database (SQL), or in memory beside a memory store."""
    from ilvb.store.sql import SqlAppStore

    if isinstance(app_store, SqlAppStore):
        from ilvb.store.webhooks_sql import SqlWebhookStore

        return SqlWebhookStore(app_store)
    return MemoryWebhookStore()


async def _app_secret(app_store: AppStore, app_id: str) -> str | None:
    """The secret that signs an app's webhook deliveries (None: the app is gone)."""
    record = await app_store.get_app(app_id)
    return None if record is None else record.secret


def _billing_service(
    settings: Settings, app_store: AppStore, clock: Clock | None
) -> BillingService:
    """Billing on the app store's database (SQL), or in memory beside a memory app store."""
    from ilvb.store.sql import SqlAppStore

    store: BillingStore
    if isinstance(app_store, SqlAppStore):
        from ilvb.store.billing_sql import SqlBillingStore

        store = SqlBillingStore(app_store)
    else:
        store = MemoryBillingStore(usage_source=app_store)
    now = clock.time if clock is not None else time.time
    return BillingService(store, now, settings.billing)


def _static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFound(message=f"{name} is not installed")
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
    error = InvalidArgument(message=message)
    return JSONResponse({"error": error.to_dict()}, status_code=400)


_HTTP_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
               404: "not_found", 405: "invalid_argument", 409: "invalid_state",
               413: "body_too_large", 422: "invalid_argument", 429: "limit_exceeded",
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
    error = IlvbError(message=f"internal error (log id {log_id})")
    return JSONResponse({"error": error.to_dict()}, status_code=500)
