"""Smart access: "which node do I go to for this room" (docs/operations.md, "Cluster").

- ``GET /placement?room=<room>&kind=room&region=<hint>`` with ``Authorization: Bearer <login
  ticket>``: for a client, before it opens the signaling WebSocket;
- ``GET /v1/apps/{app_id}/placement?room=…&kind=…&region=…``: the same for the app's server
  (server token or admin key), which may hand the URL to its clients itself.

Both answer ``{"node_id", "region", "url", "reason"}``; ``url`` is the node's base URL
(signaling at ``<url>/ws``). Without Redis (a single node) the answer is this node,
``reason: "single_node"``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from ilvb.auth.app_auth import bearer_token
from ilvb.auth.tickets import check_room, ticket_app_id, verify_ticket
from ilvb.cluster.registry import NodeRegistry, Placement
from ilvb.errors import Unauthenticated
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access

router = APIRouter(tags=["cluster"])
AppId = Annotated[str, Depends(app_access)]
Room = Annotated[str, Query(min_length=1, max_length=128)]
Region = Annotated[str | None, Query(max_length=64)]
Kind = Annotated[Literal["room", "call"], Query()]


async def _place(
    request: Request, app_id: str, room: str, kind: str, region: str | None
) -> dict[str, str]:
    registry: NodeRegistry | None = getattr(request.app.state, "cluster", None)
    if registry is None:
        settings = request.app.state.settings
        url = settings.cluster.public_url or str(request.base_url).rstrip("/")
        node_id = getattr(request.app.state, "node_id", "local")
        return Placement(node_id, settings.cluster.region, url, "single_node").to_dict()
    return (await registry.place(app_id, kind, room, region)).to_dict()


@router.get(
    "/placement",
    responses=error_responses(
        {400: "invalid_argument", 401: "ticket_bad_signature", 403: "ticket_wrong_room"}
    ),
)
async def client_placement(
    request: Request, room: Room, kind: Kind = "room", region: Region = None
) -> dict[str, str]:
    """The node a client with this login ticket should connect to for ``room``."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated(message="send Authorization: Bearer <login ticket>")
    app = await request.app.state.store.get_app(ticket_app_id(token))
    if app is None:
        raise Unauthenticated("ticket_wrong_app", "the ticket's app does not exist")
    claims = verify_ticket(token, app.secret, app_id=app.app_id)
    check_room(claims, room)
    return await _place(request, app.app_id, room, kind, region)


@router.get(
    "/v1/apps/{app_id}/placement",
    responses=error_responses(
        {400: "invalid_argument", 401: "app_signature_required", 404: "app_not_found"}
    ),
)
async def app_placement(
    request: Request, app_id: AppId, room: Room, kind: Kind = "room", region: Region = None
) -> dict[str, str]:
    """The node for a member of ``room`` coming from ``region`` (for the app's server)."""
    return await _place(request, app_id, room, kind, region)
