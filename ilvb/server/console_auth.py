"""Who calls the REST: the operator (admin key) or a customer account (console session).

A console session is a cookie (``ilvb_session``: ``HttpOnly``, ``SameSite=Strict``, ``Secure``
over https) naming a server-side session (:mod:`ilvb.billing.logins`). A state-changing request
(POST, PUT, PATCH, DELETE) of a session must also

- carry the session's CSRF token in ``X-CSRF-Token`` (another origin cannot read it: it is
  given only in the JSON of ``/v1/session``, which no other origin may read), and
- come from the console's own origin: ``Origin`` must equal ``console.public_origin`` (or,
  unset, the request's own scheme and host).

Either failure is ``csrf_failed`` (403). A request with the admin key is the operator's and
never looks at the cookie. Customer accounts reach only routes marked :func:`console_allowed`,
and there only their own account and apps (another account's are ``account_not_found`` /
``app_not_found``, as if they did not exist).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ilvb.auth.admin import ADMIN_HEADER, authenticate_admin, presented_admin_key
from ilvb.billing.logins import ConsoleSession, session_hash
from ilvb.errors import NotFound, PermissionDenied, Unauthenticated

SESSION_COOKIE = "ilvb_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_bearer = HTTPBearer(auto_error=False, description="The admin key as a bearer token.")
_header = APIKeyHeader(name=ADMIN_HEADER, auto_error=False, description="The admin key.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="A console session (POST /v1/session); state-changing requests also need"
    f" {CSRF_HEADER} and a same-origin Origin header.",
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    """The operator (``account_id`` None) or one customer account."""

    account_id: str | None

    @property
    def operator(self) -> bool:
        """True for the admin key's holder."""
        return self.account_id is None


def console_allowed(endpoint: F) -> F:
    """Mark a route of an admin router as open to console sessions (ownership is the route's
    to check, with :func:`check_account` / :func:`check_app`)."""
    endpoint.console_allowed = True  # type: ignore[attr-defined]
    return endpoint


def expected_origin(request: Request) -> str:
    """The origin the console is served from."""
    configured = request.app.state.settings.console.public_origin
    if configured:
        return str(configured).rstrip("/")
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def check_origin(request: Request) -> None:
    """``csrf_failed`` unless the request's ``Origin`` is the console's own."""
    origin = request.headers.get("origin")
    if origin is None or origin != expected_origin(request):
        raise PermissionDenied(
            "csrf_failed", "a console request must come from the console's own origin"
        )


async def authenticate_session(request: Request) -> ConsoleSession:
    """The request's live console session (CSRF and Origin checked on unsafe methods)."""
    cached: ConsoleSession | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    billing = request.app.state.billing
    session: ConsoleSession | None = None
    if token and len(token) <= 128:
        session = await billing.store.get_session(session_hash(token))
    if session is None or session.expires_at <= billing.jobs.clock():
        raise Unauthenticated("session_required", "sign in to the console first")
    if request.method in UNSAFE_METHODS:
        check_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise PermissionDenied("csrf_failed", f"send the session's {CSRF_HEADER} header")
    request.state.console_session = session
    return session


async def authenticate_caller(request: Request) -> Caller:
    """The admin key if one is presented, else a console session, else 401."""
    if presented_admin_key(request) is not None or SESSION_COOKIE not in request.cookies:
        await authenticate_admin(request)
        return Caller(None)
    return Caller((await authenticate_session(request)).account_id)


async def require_caller(
    request: Request,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    _header_key: Annotated[str | None, Depends(_header)] = None,
    _session: Annotated[str | None, Depends(_cookie)] = None,
) -> Caller:
    """FastAPI dependency: the operator or a signed-in account (see the module docstring)."""
    return await authenticate_caller(request)


async def check_account(request: Request, account_id: str) -> Caller:
    """The caller, if it may see ``account_id``: the operator, or that very account."""
    caller = await authenticate_caller(request)
    if caller.account_id is not None and caller.account_id != account_id:
        raise NotFound("account_not_found", f"no account {account_id!r}")
    return caller


async def check_app(request: Request, app_id: str) -> Caller:
    """The caller, if it may manage ``app_id``: the operator, or the account owning it."""
    caller = await authenticate_caller(request)
    if caller.account_id is not None:
        owner = await request.app.state.billing.store.account_of_app(app_id)
        if owner != caller.account_id:
            raise NotFound("app_not_found", f"no app {app_id!r}")
    return caller
