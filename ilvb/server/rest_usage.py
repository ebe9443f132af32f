"""``GET /v1/apps/{app_id}/usage``: concurrent participants over time (business data, billing).

Per bucket (minute, hour or day, UTC) the largest number of participants seen in multi-person
rooms (``multi``) and in two-person calls (``call``); ``peak`` is the range's billing peak (the
largest minute of ``multi + call / 2``) and the minute it happened. Ranges are capped per step so
a reply stays small (2 days of minutes, 62 days of hours, 400 days of days): a longer range is cut
to its newest part and the reply says so (``truncated``, and the ``from`` it covers). A range
that ends before it starts is empty.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from ilvb.billing.metering import Sample, month_usage
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access

Step = Literal["minute", "hour", "day"]
STEP_S: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
MAX_RANGE_S: dict[str, int] = {"minute": 2 * 86400, "hour": 62 * 86400, "day": 400 * 86400}

router = APIRouter(
    prefix="/v1/apps/{app_id}",
    tags=["usage (app server / admin)"],
    responses=error_responses(
        {400: "invalid_argument", 401: "app_signature_required", 404: "app_not_found"}
    ),
)


def _instant(value: datetime) -> float:
    """Unix time; a time without an offset is UTC."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@router.get("/usage")
async def usage(
    request: Request,
    app_id: Annotated[str, Depends(app_access)],
    from_: Annotated[datetime, Query(alias="from")],
    to: Annotated[datetime, Query()],
    step: Step = "minute",
) -> dict[str, Any]:
    """Participants per ``step`` between ``from`` and ``to`` (ISO 8601; UTC if no offset)."""
    start, end = _instant(from_), _instant(to)
    truncated = end - start > MAX_RANGE_S[step]
    if truncated:
        start = end - MAX_RANGE_S[step]
    rows = await request.app.state.store.usage(app_id, start, end) if end > start else []
    samples = [Sample(r.app_id, r.timestamp, r.participants, r.call_participants) for r in rows]
    width = STEP_S[step]
    buckets: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        bucket = buckets[int(s.t // width) * width]
        bucket[0] = max(bucket[0], s.multi)
        bucket[1] = max(bucket[1], s.call)
    points = [{"t": _iso(t), "multi": m, "call": c} for t, (m, c) in sorted(buckets.items())]
    peak = month_usage(samples)
    return {
        "app_id": app_id,
        "step": step,
        "from": _iso(start),
        "to": _iso(end),
        "truncated": truncated,
        "points": points,
        "peak": {
            "value": str(peak.peak),
            "t": None if peak.peak_minute is None else _iso(peak.peak_minute),
        },
    }
