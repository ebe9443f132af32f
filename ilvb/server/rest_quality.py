"""Quality profiles REST (app server token or admin key): the app's profiles and the templates,
store one per (platform, role), and the effective profile of a platform and role."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from ilvb.errors import InvalidArgument
from ilvb.quality.profile import TEMPLATES, QualityBody, difference
from ilvb.quality.service import QualityService
from ilvb.quality.store import StoredProfile
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access

Role = Annotated[str, Path(pattern=r"^(\*|[A-Za-z0-9_.-]{1,64})$")]
PlatformName = Literal["web", "python", "android", "ios", "pc"]


class QualityRoute(APIRoute):
    """A body that does not fit the profile schema is ``invalid_quality_profile`` naming the
    field (``details.field``, e.g. ``video.fps``), like the checks the schema cannot express."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def quality_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = [str(p) for p in first.get("loc", ())]
                if not loc or loc[0] != "body":
                    raise
                field = ".".join(loc[1:])
                raise InvalidArgument(
                    "invalid_quality_profile",
                    f"{field}: {first.get('msg', 'invalid')}"[:300],
                    {"field": field},
                ) from exc

        return quality_handler


router = APIRouter(
    prefix="/v1/apps/{app_id}/quality",
    tags=["quality profiles (app server / admin)"],
    route_class=QualityRoute,
    responses=error_responses(
        {
            400: "invalid_quality_profile / unknown_template",
            401: "app_signature_required",
            404: "app_not_found",
        }
    ),
)


def _quality(request: Request) -> QualityService:
    return request.app.state.quality  # type: ignore[no-any-return]


def _describe(p: StoredProfile) -> dict[str, Any]:
    return {
        "platform": p.platform,
        "role": p.role,
        "template": p.template,
        "version": p.version,
        "updated_at": p.updated_at,
        "profile": p.profile.to_dict(),
        "differs": difference(p.template, p.profile),
    }


@router.get("")
async def list_quality(
    request: Request, app_id: Annotated[str, Depends(app_access)]
) -> dict[str, Any]:
    """The app's stored profiles (with how each differs from its template) and the templates."""
    stored = await _quality(request).store.profiles(app_id)
    return {
        "profiles": [_describe(p) for p in stored],
        "templates": [{"name": n, "profile": t.to_dict()} for n, t in TEMPLATES.items()],
    }


@router.put("/{platform}/{role}")
async def put_quality(
    request: Request,
    app_id: Annotated[str, Depends(app_access)],
    platform: PlatformName,
    role: Role,
    body: QualityBody,
) -> dict[str, Any]:
    """Store the profile of ``platform`` × ``role`` (``*`` = any role): ``{"template": name}``
    with optional section overrides, e.g. ``{"template": "online_class", "video": {"fps": 20}}``."""
    stored = await _quality(request).put(app_id, platform, role, body.overrides())
    return _describe(stored)


@router.get("/{platform}/{role}/effective")
async def effective_quality(
    request: Request,
    app_id: Annotated[str, Depends(app_access)],
    platform: PlatformName,
    role: Role,
) -> dict[str, Any]:
    """The profile a member of this platform and role gets, and where it comes from."""
    source, version, profile = await _quality(request).effective(app_id, platform, role)
    return {"source": source, "version": version, "profile": profile.to_dict()}
