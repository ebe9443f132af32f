"""Authenticating an app: login tickets on signaling, bearer tokens on the app REST API.

The app's server calls REST with ``Authorization: Bearer <token>``, where the token is a JWT
signed with the app's secret like a login ticket, with ``scope: "server"``
(:func:`ilvb.auth.tickets.sign_server_token`). Any failure is ``app_signature_required``.
"""

from __future__ import annotations

from fastapi import Request

from ilvb.auth.tickets import CLOCK_SKEW_S, TicketClaims, ticket_app_id, verify_ticket
from ilvb.errors import IlvbError, Unauthenticated
from ilvb.store.interfaces import AppRecord, AppStore


async def authenticate_ticket(
    store: AppStore,
    token: object,
    *,
    now: float | None = None,
    scope: str = "client",
    max_ttl_s: float | None = None,
    clock_skew_s: float = CLOCK_SKEW_S,
) -> tuple[AppRecord, TicketClaims]:
    """Find the ticket's app and verify the ticket with its secret (lifetime capped at
    ``max_ttl_s``, the scope's default when None)."""
    if not isinstance(token, str):
        raise Unauthenticated("ticket_malformed", "the ticket must be a string")
    app_id = ticket_app_id(token)
    app = await store.get_app(app_id)
    if app is None or not app.enabled:
        raise Unauthenticated("ticket_wrong_app", "the ticket names an unknown or disabled app")
    claims = verify_ticket(
        token,
        app.secret,
        app_id=app.app_id,
        now=now,
        scope=scope,
        max_ttl_s=max_ttl_s,
        clock_skew_s=clock_skew_s,
    )
    return app, claims


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def app_from_request(request: Request) -> AppRecord | None:
    """The app whose server signed this request's bearer token; None when there is none.

    Raises ``app_signature_required`` when a token is present but does not verify.
    """
    token = bearer_token(request)
    if token is None:
        return None
    store: AppStore = request.app.state.store
    try:
        auth = request.app.state.settings.auth  # ilvb.config.AuthSettings
        app, _claims = await authenticate_ticket(
            store,
            token,
            scope="server",
            max_ttl_s=auth.max_server_token_ttl_s,
            clock_skew_s=auth.clock_skew_s,
        )
    except IlvbError as exc:
        raise Unauthenticated(
            "app_signature_required", f"the app credential does not verify ({exc.code})"
        ) from exc
    return app


async def require_app(request: Request) -> AppRecord:
    """FastAPI dependency: the authenticated app (``app_signature_required`` otherwise)."""
    app = await app_from_request(request)
    if app is None:
        raise Unauthenticated(
            "app_signature_required", "send Authorization: Bearer <token signed with the app key>"
        )
    return app
