"""Console sign-in of customer accounts: ``/v1/session`` (sign in, who am I, sign out),
``/v1/signup`` (when ``console.self_signup`` allows) and ``/v1/accounts/{id}/password``.

Signing in sets the session cookie (:mod:`ilvb.server.console_auth`) and returns the session's
CSRF token, which the console sends back in ``X-CSRF-Token`` on every state-changing request.
Sign-in checks ``Origin`` too (no other site can sign a browser in to an account of its own).
Failed sign-ins are limited per e-mail and per client address (``rate_limited``, 429).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ilvb.auth.admin import presented_admin_key
from ilvb.billing.logins import (
    LoginLimiter,
    hash_password,
    new_session,
    session_hash,
    verify_password,
)
from ilvb.billing.service import BillingService
from ilvb.billing.store import Account
from ilvb.errors import LimitExceeded, NotFound, PermissionDenied, Unauthenticated
from ilvb.server.console_auth import (
    SESSION_COOKIE,
    authenticate_session,
    check_account,
    check_origin,
    require_caller,
)
from ilvb.server.rest_billing import Email, NewPassword, Text
from ilvb.server.rest_errors import error_responses

Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class SignIn(BaseModel):
    """Body of ``POST /v1/session``."""

    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Password


class SignUp(BaseModel):
    """Body of ``POST /v1/signup``."""

    model_config = ConfigDict(extra="forbid")
    email: Email
    name: Text
    password: NewPassword


class PasswordChange(BaseModel):
    """Body of ``PUT /v1/accounts/{id}/password``: an account gives its current password, an
    operator need not."""

    model_config = ConfigDict(extra="forbid")
    password: NewPassword
    current_password: Password | None = None


class SessionInfo(BaseModel):
    """The signed-in account and the token to echo in ``X-CSRF-Token``."""

    account: dict[str, Any]
    csrf_token: str
    expires_at: float = Field(description="Unix time, seconds.")


router = APIRouter(
    prefix="/v1",
    tags=["console session"],
    responses=error_responses({400: "invalid_argument", 403: "csrf_failed"}),
)


def _billing(request: Request) -> BillingService:
    return request.app.state.billing  # type: ignore[no-any-return]


def limiter_of(request: Request) -> LoginLimiter:
    """The server's sign-in limiter (made on first use, with the billing clock)."""
    limiter: LoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        console = request.app.state.settings.console
        limiter = LoginLimiter(
            console.login_attempts, console.login_window_s, _billing(request).jobs.clock
        )
        request.app.state.login_limiter = limiter
    return limiter


async def _open_session(request: Request, response: Response, account: Account) -> SessionInfo:
    billing = _billing(request)
    ttl = request.app.state.settings.console.session_ttl_s
    token, record = new_session(account.account_id, billing.jobs.clock(), ttl)
    await billing.store.put_session(record)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or str(request.app.state.settings.console.public_origin or "").startswith("https:"),
    )
    return SessionInfo(
        account=account.to_dict(), csrf_token=record.csrf_token, expires_at=record.expires_at
    )


@router.post(
    "/session",
    response_model=SessionInfo,
    responses=error_responses({401: "invalid_credentials", 429: "rate_limited"}),
)
async def sign_in(body: SignIn, request: Request, response: Response) -> SessionInfo:
    """Sign a customer account in with its e-mail and password; sets the session cookie."""
    check_origin(request)
    limiter = limiter_of(request)
    keys = ("email:" + body.email.lower(), "client:" + (request.client or ("?", 0))[0])
    if not limiter.allowed(*keys):
        raise LimitExceeded("rate_limited", "too many failed sign-ins; try again later")
    found = await _billing(request).store.login_of(body.email)
    stored = found[1] if found is not None else None
    if found is None or not verify_password(body.password, stored):
        limiter.failed(*keys)
        raise Unauthenticated("invalid_credentials", "wrong e-mail or password")
    return await _open_session(request, response, found[0])


@router.get(
    "/session", response_model=SessionInfo, responses=error_responses({401: "session_required"})
)
async def current_session(request: Request) -> SessionInfo:
    """The signed-in account and its CSRF token (401 ``session_required`` when signed out)."""
    session = await authenticate_session(request)
    account = await _billing(request).store.get_account(session.account_id)
    if account is None:
        raise Unauthenticated("session_required", "the account is gone")
    return SessionInfo(
        account=account.to_dict(), csrf_token=session.csrf_token, expires_at=session.expires_at
    )


@router.delete("/session", status_code=204, responses=error_responses({401: "session_required"}))
async def sign_out(request: Request, response: Response) -> Response:
    """End the session (its CSRF token is needed: another site cannot sign you out)."""
    session = await authenticate_session(request)
    await _billing(request).store.delete_session(session.session_hash)
    reply = Response(status_code=204)
    reply.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return reply


@router.post(
    "/signup",
    status_code=201,
    response_model=SessionInfo,
    responses=error_responses({403: "signup_closed", 409: "email_taken"}),
)
async def sign_up(body: SignUp, request: Request, response: Response) -> SessionInfo:
    """Create an account and sign it in, when ``console.self_signup`` is on."""
    if not request.app.state.settings.console.self_signup:
        raise PermissionDenied("signup_closed", "accounts are created by the operator")
    check_origin(request)
    billing = _billing(request)
    hashed = hash_password(body.password)
    account = await billing.store.create_account(body.email, body.name, billing.jobs.clock())
    await billing.store.set_password(account.account_id, hashed)
    return await _open_session(request, response, account)


@router.put(
    "/accounts/{account_id}/password",
    status_code=204,
    dependencies=[Depends(require_caller)],
    responses=error_responses(
        {401: "invalid_credentials", 404: "account_not_found", 400: "weak_password"}
    ),
)
async def set_password(account_id: str, body: PasswordChange, request: Request) -> Response:
    """Set the console password. The account itself must give its current one; every other
    session of the account ends."""
    caller = await check_account(request, account_id)
    billing = _billing(request)
    if caller.account_id is not None:
        account = await billing.store.get_account(account_id)
        found = await billing.store.login_of(account.email) if account is not None else None
        if found is None or not verify_password(body.current_password or "", found[1]):
            raise Unauthenticated("invalid_credentials", "the current password is wrong")
    elif await billing.store.get_account(account_id) is None:
        raise NotFound("account_not_found", f"no account {account_id!r}")
    await billing.store.set_password(account_id, hash_password(body.password))
    await billing.store.delete_sessions_of(account_id)
    if caller.account_id is not None and presented_admin_key(request) is None:
        token = request.cookies.get(SESSION_COOKIE, "")
        current = request.state.console_session
        if session_hash(token) == current.session_hash:
            await billing.store.put_session(current)  # this session stays signed in
    return Response(status_code=204)
