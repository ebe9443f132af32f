"""REST for applications: create, list, show, rotate the secret, change settings.

Every route needs the admin key (:mod:`ilvb.auth.admin`) or a console session of a customer
account (:mod:`ilvb.server.console_auth`: the account's own apps only); either is checked
before the body is read, so an unauthenticated caller learns nothing about the input rules.
Malformed input is an ``invalid_argument`` (400), an unknown app ``app_not_found`` (404).
Errors are raised as :class:`~ilvb.errors.IlvbError`; the app's handler renders them as
``{"error": {code, message}}``. The store is ``request.app.state.store``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from starlette.exceptions import HTTPException

from ilvb.auth.admin import authenticate_admin
from ilvb.errors import InvalidArgument, NotFound
from ilvb.server.console_auth import (
    authenticate_caller,
    check_app,
    console_allowed,
    require_caller,
)
from ilvb.server.rest_errors import error_responses
from ilvb.store.interfaces import AppChanges, AppRecord, AppStore

# Bounds shared with RoomSettings (audio_sender_cap / video_sender_cap: 1..64).
MIN_CAP, MAX_CAP = 1, 64
# No control characters and at least one non-space; stored with surrounding spaces trimmed.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def _integral_float_to_int(value: Any) -> Any:
    # JSON Schema counts 6.0 as an integer; strict mode would refuse it (and must refuse "6").
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Unicode categories refused in names: format characters (Cf: bidi overrides and isolates such
# as U+202E, zero-width space/joiners U+200B-U+200D, U+2060, U+FEFF) and line/paragraph
# separators, which make a name display as something else than it is.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})


def _visible_name(value: str) -> str:
    for char in value:
        if unicodedata.category(char) in INVISIBLE_CATEGORIES:
            raise ValueError(
                f"the name contains the invisible or direction-changing character "
                f"U+{ord(char):04X}"
            )
    return value.strip()


AppName = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN)],
    AfterValidator(_visible_name),
]
Cap = Annotated[
    Annotated[int, Field(ge=MIN_CAP, le=MAX_CAP)], BeforeValidator(_integral_float_to_int)
]


class AppCreate(BaseModel):
    """Create an app."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: AppName


class AppPatch(BaseModel):
    """Change an app; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: AppName | None = None
    audio_sender_cap: Cap | None = Field(None, description="At most this many audio senders.")
    video_sender_cap: Cap | None = Field(None, description="At most this many video senders.")
    enabled: bool | None = Field(None, description="A disabled app's tickets are refused.")


class AppSummary(BaseModel):
    """An app without its secret (for listings). Built from a store record by attribute."""

    model_config = ConfigDict(from_attributes=True)

    app_id: str
    name: str
    created_at: float = Field(description="Unix time, seconds.")
    audio_sender_cap: int | None = Field(description="None = the server default (6).")
    video_sender_cap: int | None = Field(description="None = the server default (4).")
    enabled: bool

    @classmethod
    def of(cls, app: AppRecord) -> Self:
        """From a store record (:class:`~ilvb.store.interfaces.AppRecord`)."""
        return cls.model_validate(app)


class AppDetails(AppSummary):
    """An app with its secret: signs login tickets and app REST tokens. Keep it server-side."""

    secret: str


class AppList(BaseModel):
    """All apps, oldest first."""

    apps: list[AppSummary]


class AdminRoute(APIRoute):
    """Checks the admin key (or, on routes marked ``console_allowed``, a console session) before
    anything else; bad input becomes ``invalid_argument`` (400)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        console = getattr(self.endpoint, "console_allowed", False)

        async def admin_handler(request: Request) -> Response:
            if console:
                await authenticate_caller(request)
            else:
                await authenticate_admin(request)
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise InvalidArgument(message=_describe(exc)) from exc
            except HTTPException as exc:
                # FastAPI's own 400 for a body it cannot decode ("error parsing the body").
                if exc.status_code != 400:
                    raise
                raise InvalidArgument(message=str(exc.detail)) from exc

        return admin_handler


def _describe(exc: RequestValidationError) -> str:
    """One line naming the first bad field, e.g. ``body.name: String should have at least…``."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


_ERRORS = error_responses(
    {400: "invalid_argument", 401: "admin_key_required / session_required", 403: "csrf_failed"}
)
_APP_ERRORS = {**_ERRORS, **error_responses({404: "app_not_found"})}

router = APIRouter(
    prefix="/v1/apps",
    tags=["apps"],
    dependencies=[Depends(require_caller)],
    route_class=AdminRoute,
)


def _store(request: Request) -> AppStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def _get(store: AppStore, app_id: str) -> AppRecord:
    app = await store.get_app(app_id)
    if app is None:
        raise NotFound("app_not_found", f"no app {app_id!r}")
    return app


@router.post("", status_code=201, response_model=AppDetails, responses=_ERRORS)
@console_allowed
async def create_app(body: AppCreate, request: Request) -> AppDetails:
    """Create an app: a fresh app id and secret. A console session's account owns it."""
    caller = await authenticate_caller(request)
    app = await _store(request).create_app(body.name)
    if caller.account_id is not None:
        await request.app.state.billing.store.link_app(caller.account_id, app.app_id)
    return AppDetails.of(app)


@router.get("", response_model=AppList, responses=_ERRORS)
@console_allowed
async def list_apps(request: Request) -> AppList:
    """All apps, oldest first (without secrets); a console session sees its account's only."""
    caller = await authenticate_caller(request)
    apps = await _store(request).list_apps()
    if caller.account_id is not None:
        own = set(await request.app.state.billing.store.apps_of(caller.account_id))
        apps = [a for a in apps if a.app_id in own]
    return AppList(apps=[AppSummary.of(a) for a in apps])


@router.get("/{app_id}", response_model=AppDetails, responses=_APP_ERRORS)
@console_allowed
async def show_app(app_id: str, request: Request) -> AppDetails:
    """One app, with its secret."""
    await check_app(request, app_id)
    return AppDetails.of(await _get(_store(request), app_id))


@router.post("/{app_id}/rotate", response_model=AppDetails, responses=_APP_ERRORS)
@console_allowed
async def rotate_app_secret(app_id: str, request: Request) -> AppDetails:
    """Replace the app's secret: tickets signed with the old one stop verifying at once."""
    await check_app(request, app_id)
    store = _store(request)
    await _get(store, app_id)
    return AppDetails.of(await store.rotate_secret(app_id))


@router.patch("/{app_id}", response_model=AppSummary, responses=_APP_ERRORS)
@console_allowed
async def update_app(app_id: str, body: AppPatch, request: Request) -> AppSummary:
    """Rename an app, set its sender caps, enable or disable it (the reply has no secret)."""
    await check_app(request, app_id)
    store = _store(request)
    await _get(store, app_id)
    changes: AppChanges = body.model_dump(exclude_none=True)  # type: ignore[assignment]
    return AppSummary.of(await store.update_app(app_id, **changes))
