"""Billing REST: accounts, their apps, top-ups, the ledger, invoices, messages and negotiated
price plans. Amounts are strings of yuan with two decimals, never floats.

Operators (admin key) see and change every account. A customer's console session reads its own
account, ledger, invoices and messages (routes marked ``console_allowed``); another account's
are ``account_not_found``. Creating accounts, top-ups, plans and the job run are the operator's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ilvb.auth.admin import require_admin
from ilvb.billing.logins import hash_password
from ilvb.billing.plans import DEFAULT_PLAN, plan_from_dict
from ilvb.billing.service import BillingService
from ilvb.billing.store import Account
from ilvb.errors import NotFound
from ilvb.server.console_auth import check_account, console_allowed, require_caller
from ilvb.server.rest_apps import AdminRoute
from ilvb.server.rest_errors import error_responses

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}$", max_length=254)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$")]
# A console password (ilvb.billing.logins checks the same bounds: weak_password).
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256)]
# Amounts come as strings ("100.00"); ilvb.billing.money.parse_amount checks them.
Amount = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class AccountCreate(BaseModel):
    """Body of ``POST /v1/accounts``."""

    model_config = ConfigDict(extra="forbid")
    email: Email
    name: Text
    password: NewPassword | None = Field(
        None, description="The console password; none: the account cannot sign in yet."
    )


class AppLink(BaseModel):
    """Body of ``POST /v1/accounts/{id}/apps``."""

    model_config = ConfigDict(extra="forbid")
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TopUp(BaseModel):
    """Body of ``POST /v1/accounts/{id}/topups``: ``key`` makes a retried top-up count once."""

    model_config = ConfigDict(extra="forbid")
    amount: Amount
    key: Key
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class PlanTier(BaseModel):
    """One tier: peaks up to ``up_to`` (null: unbounded) pay ``unit_price`` each."""

    model_config = ConfigDict(extra="forbid")
    up_to: Amount | None
    unit_price: Amount


class PlanBody(BaseModel):
    """A price plan: tiers in increasing order, the last unbounded."""

    model_config = ConfigDict(extra="forbid")
    name: Text
    tiers: list[PlanTier] = Field(min_length=1, max_length=50)


_ERRORS = error_responses(
    {
        400: "invalid_argument",
        401: "admin_key_required / session_required",
        403: "csrf_failed",
        404: "account_not_found",
    }
)
OPERATOR = [Depends(require_admin)]
CONSOLE = [Depends(require_caller)]

router = APIRouter(prefix="/v1", tags=["billing"], route_class=AdminRoute, responses=_ERRORS)


def _billing(request: Request) -> BillingService:
    return request.app.state.billing  # type: ignore[no-any-return]


async def _account(billing: BillingService, account_id: str) -> Account:
    account = await billing.store.get_account(account_id)
    if account is None:
        raise NotFound("account_not_found", f"no account {account_id!r}")
    return account


async def _describe(billing: BillingService, account: Account) -> dict[str, Any]:
    balance = await billing.jobs.balance(account.account_id)
    plan = await billing.jobs.plan_of(account.account_id)
    return {
        **account.to_dict(),
        "balance": balance.to_dict(),
        "apps": await billing.store.apps_of(account.account_id),
        "plan": plan.to_dict(),
    }


@router.post(
    "/accounts",
    status_code=201,
    dependencies=OPERATOR,
    responses=error_responses({400: "weak_password", 409: "email_taken"}),
)
async def create_account(body: AccountCreate, request: Request) -> dict[str, Any]:
    """Create a customer account (``email_taken`` if the e-mail is in use), optionally with its
    console password."""
    billing = _billing(request)
    hashed = None if body.password is None else hash_password(body.password)
    account = await billing.store.create_account(body.email, body.name, billing.jobs.clock())
    if hashed is not None:
        await billing.store.set_password(account.account_id, hashed)
    return await _describe(billing, account)


@router.get("/accounts", dependencies=OPERATOR)
async def list_accounts(request: Request) -> dict[str, Any]:
    """Every account, oldest first, with its balance."""
    billing = _billing(request)
    return {"accounts": [await _describe(billing, a) for a in await billing.store.list_accounts()]}


@router.get("/accounts/{account_id}", dependencies=CONSOLE)
@console_allowed
async def show_account(account_id: str, request: Request) -> dict[str, Any]:
    """One account: balance, apps, plan, suspended."""
    await check_account(request, account_id)
    billing = _billing(request)
    return await _describe(billing, await _account(billing, account_id))


@router.post(
    "/accounts/{account_id}/apps",
    dependencies=OPERATOR,
    responses=error_responses({404: "account_not_found, app_not_found", 409: "app_owned"}),
)
async def link_app(account_id: str, body: AppLink, request: Request) -> dict[str, Any]:
    """Make the account own an app (``app_owned`` if another account does)."""
    billing = _billing(request)
    account = await _account(billing, account_id)
    if await request.app.state.store.get_app(body.app_id) is None:
        raise NotFound("app_not_found", f"no app {body.app_id!r}")
    await billing.store.link_app(account.account_id, body.app_id)
    return await _describe(billing, account)


@router.post(
    "/accounts/{account_id}/topups",
    status_code=201,
    dependencies=OPERATOR,
    responses={200: {"description": "a top-up with this key was already written: no change"}},
)
async def top_up(
    account_id: str, body: TopUp, request: Request, response: Response
) -> dict[str, Any]:
    """Add money. 201 when written, 200 when a top-up with this key already was (no change)."""
    billing = _billing(request)
    await _account(billing, account_id)
    written = await billing.jobs.top_up(account_id, body.amount, body.key, body.reason)
    response.status_code = 201 if written else 200
    return await _describe(billing, await _account(billing, account_id))


@router.get("/accounts/{account_id}/ledger", dependencies=CONSOLE)
@console_allowed
async def ledger(account_id: str, request: Request) -> dict[str, Any]:
    """Every ledger entry in order, and the balance they sum to."""
    await check_account(request, account_id)
    billing = _billing(request)
    await _account(billing, account_id)
    entries = await billing.store.entries(account_id)
    balance = await billing.jobs.balance(account_id)
    return {"entries": [e.to_dict() for e in entries], "balance": balance.to_dict()}


@router.get("/accounts/{account_id}/invoices", dependencies=CONSOLE)
@console_allowed
async def invoices(account_id: str, request: Request) -> dict[str, Any]:
    """Monthly invoices with their inputs (the peak minute, per-app figures, the plan)."""
    await check_account(request, account_id)
    billing = _billing(request)
    await _account(billing, account_id)
    return {"invoices": [i.to_dict() for i in await billing.store.invoices(account_id)]}


@router.get("/accounts/{account_id}/messages", dependencies=CONSOLE)
@console_allowed
async def messages(account_id: str, request: Request) -> dict[str, Any]:
    """Site messages (arrears, suspension, restore), oldest first."""
    await check_account(request, account_id)
    billing = _billing(request)
    await _account(billing, account_id)
    return {"messages": [n.to_dict() for n in await billing.store.notices(account_id)]}


@router.put(
    "/accounts/{account_id}/plan",
    dependencies=OPERATOR,
    responses=error_responses({400: "invalid_price_plan"}),
)
async def set_plan(account_id: str, body: PlanBody, request: Request) -> dict[str, Any]:
    """Give the account a negotiated plan (``invalid_price_plan`` if the tiers are wrong)."""
    billing = _billing(request)
    account = await _account(billing, account_id)
    await billing.store.set_plan(account_id, plan_from_dict(body.model_dump()))
    return await _describe(billing, account)


@router.delete("/accounts/{account_id}/plan", dependencies=OPERATOR)
async def clear_plan(account_id: str, request: Request) -> dict[str, Any]:
    """Back to the default plan."""
    billing = _billing(request)
    account = await _account(billing, account_id)
    await billing.store.set_plan(account_id, None)
    return await _describe(billing, account)


@router.get("/billing/plans/default", dependencies=CONSOLE)
@console_allowed
async def default_plan() -> dict[str, Any]:
    """The default tier table."""
    return DEFAULT_PLAN.to_dict()


@router.post("/billing/run", dependencies=OPERATOR)
async def run_jobs(request: Request) -> dict[str, Any]:
    """Run the due billing jobs now and e-mail new notices (they also run on a timer)."""
    return {"emailed": await _billing(request).run_once()}
