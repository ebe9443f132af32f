"""The console in Chromium for customer accounts: e-mail and password sign-in, only one's own
apps, sign-out, no use of the session from another origin, and the billing pages (balance and
ledger, invoices with their inputs, the arrears site message, price plans, accounts) and an
app's identity-provider settings, against a real ``ilvb serve``."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ilvb.billing.jobs import BillingJobs
from ilvb.billing.logins import hash_password
from ilvb.store.billing_sql import SqlBillingStore
from ilvb.store.sql import SqlAppStore
from tests.billing import scenario
from tests.web.conftest import ServerProcess
from tests.web.test_console import _admin_key

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
PASSWORD = "correct horse battery"


class Site:
    """A console server (self sign-up on, billing timer off), its admin key, REST helpers."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ilvb-accounts-")
        env = {"ILVB_CONSOLE__SELF_SIGNUP": "true", "ILVB_BILLING__JOBS_INTERVAL_S": "0"}
        self.server = ServerProcess(extra_env=env, data_dir=self._dir.name)
        self.key = _admin_key(self._dir.name)
        self.origin = self.server.origin
        self.db_url = f"sqlite+aiosqlite:///{Path(self._dir.name, 'ilvb.db').resolve()}"

    def op(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = httpx.request(
            method, self.origin + path, json=body, headers={"X-Admin-Key": self.key}, timeout=10
        )
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def close(self) -> None:
        self.server.close()
        self._dir.cleanup()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = await asyncio.to_thread(Site)
    yield s
    s.close()


async def _sign_in(page: Any, site: Site, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{site.origin}/console")
    await page.wait_for_selector("#login")
    await page.fill("#login input[name=email]", email)
    await page.fill("#login input[name=password]", password)
    await page.click("#login button")


async def test_an_account_signs_in_sees_its_own_apps_and_signs_out(
    new_page: Any, site: Site
) -> None:
    body = {"email": "ann@acme.test", "name": "Acme", "password": PASSWORD}
    site.op("POST", "/v1/accounts", body, 201)
    site.op("POST", "/v1/apps", {"name": "operator-only"}, 201)  # owned by no account
    page = await new_page(f"{site.origin}/console#/apps", enforce_csp=True)
    await page.wait_for_selector("#login")  # nothing without signing in
    assert await page.locator("#apps").count() == 0
    await _sign_in(page, site, "ann@acme.test", "wrong password!")
    await page.wait_for_selector("#login .field-error[data-code=invalid_credentials]")
    await _sign_in(page, site, "ann@acme.test")
    await page.wait_for_selector("#apps")
    assert await page.locator("#apps tr[data-app]").count() == 0  # not the operator's app
    assert await page.text_content("#who") == "ann@acme.test"
    cookie = next(c for c in await page.context.cookies() if c["name"] == "ilvb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""  # scripts cannot read it
    # Creating an app goes through the CSRF-checked session.
    await page.fill("#create-app input[name=name]", "acme-live")
    await page.click("#create-app button")
    await page.wait_for_selector("#new-secret")
    (own,) = [a for a in site.op("GET", "/v1/apps")["apps"] if a["name"] == "acme-live"]
    await page.wait_for_selector(f"#apps tr[data-app={own['app_id']}]")
    accounts = site.op("GET", "/v1/accounts")["accounts"]
    assert [a["apps"] for a in accounts] == [[own["app_id"]]]
    # Sign out ends the session on the server: the old cookie no longer works.
    await page.click("#signout")
    await page.wait_for_selector("#login")
    async with httpx.AsyncClient(cookies={"ilvb_session": cookie["value"]}) as http:
        r = await http.get(f"{site.origin}/v1/apps")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "session_required")
    await page.goto(f"{site.origin}/console#/apps")
    await page.wait_for_selector("#login")


async def test_the_session_cannot_be_used_from_another_origin(new_page: Any, site: Site) -> None:
    site.op("POST", "/v1/accounts", {"email": "b@b.test", "name": "B", "password": PASSWORD}, 201)
    page = await new_page()
    await _sign_in(page, site, "b@b.test")
    await page.wait_for_selector("#apps")
    # The same server under another name is another origin (and another site): its page
    # tries what a hostile page would, in the same browser with the session cookie set.
    other = site.origin.replace("127.0.0.1", "localhost")
    hostile = await page.context.new_page()
    await hostile.goto(f"{other}/healthz")
    results = await hostile.evaluate(
        """async (target) => {
          const out = {};
          // A simple (no preflight) cross-site POST: the SameSite=Strict cookie is not sent.
          await fetch(target + "/v1/apps", { method: "POST", mode: "no-cors",
            credentials: "include", headers: { "Content-Type": "text/plain" },
            body: JSON.stringify({ name: "planted" }) });
          // A readable request needs CORS, which the server does not grant.
          try {
            await fetch(target + "/v1/session", { credentials: "include" });
            out.read = "read";
          } catch (e) { out.read = "blocked"; }
          return out;
        }""",
        site.origin,
    )
    assert results == {"read": "blocked"}
    assert [a["name"] for a in site.op("GET", "/v1/apps")["apps"]] == ["demo"]
    # Even with the cookie copied out of the browser, another Origin is refused.
    cookie = next(c for c in await page.context.cookies() if c["name"] == "ilvb_session")
    async with httpx.AsyncClient(cookies={"ilvb_session": cookie["value"]}) as http:
        r = await http.post(
            f"{site.origin}/v1/apps", json={"name": "planted"}, headers={"Origin": other}
        )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "csrf_failed")


async def _a_quarter_in_arrears(site: Site) -> tuple[str, str]:
    """Sep + Oct of the scripted quarter, written to the server's database by the jobs
    themselves with an injected clock: after the November settlement the account is in
    arrears (available -5530.00) and has its site message."""
    apps = SqlAppStore(site.db_url)
    await apps.open()
    try:
        billing = SqlBillingStore(apps)
        account = await billing.create_account("cfo@late.test", "Late Ltd", scenario.CREATED)
        await billing.set_password(account.account_id, hash_password(PASSWORD))
        app = await apps.create_app("late-app")
        await billing.link_app(account.account_id, app.app_id)
        for s in scenario.USAGE:  # both scripted apps' usage, on this account's one app
            await apps.record_usage(app.app_id, s.multi, s.call, timestamp=s.t)
        clock = scenario.Clock(scenario.CREATED)
        jobs = BillingJobs(billing, clock)
        await jobs.top_up(account.account_id, "5000.00", key="initial")
        for day in ("2026-10-05", "2026-11-05"):
            clock.t = scenario.at(day)
            await jobs.run_due()
        return account.account_id, app.app_id
    finally:
        await apps.close()


async def test_billing_pages_show_the_ledger_invoices_and_the_arrears_message(
    new_page: Any, site: Site
) -> None:
    account_id, app_id = await _a_quarter_in_arrears(site)
    page = await new_page(enforce_csp=True)
    await _sign_in(page, site, "cfo@late.test")
    await page.wait_for_selector("#apps")
    # Messages: the arrears notice, shown as a site message.
    await page.click("#nav-messages")
    row = page.locator("#messages tr[data-kind=arrears]")
    await row.wait_for()
    assert "-5530.00" in (await row.text_content() or "")
    assert "available -5530.00" in (await page.text_content("#balance") or "")
    # Balance and ledger: every entry exact.
    await page.click("#nav-billing")
    await page.locator("#ledger tr[data-key]").first.wait_for()
    ledger = {}
    for r in await page.locator("#ledger tr[data-key]").all():
        cells = await r.locator("td").all_text_contents()
        ledger[cells[1]] = cells[3]
    assert ledger == {
        "topup:initial": "5000.00",
        "fee:2026-09": "1950.00",
        "freeze:2026-09": "2340.00",
        "release:2026-09": "2340.00",
        "fee:2026-10": "3900.00",
        "freeze:2026-10": "4680.00",
    }
    assert await page.locator("#topup").count() == 0  # top-ups are the operator's
    # Invoices with their inputs: the peak, its minute, per-app figures.
    await page.click(".tabs a:text('Invoices')")
    september = page.locator(".invoice[data-month='2026-09']")
    await september.wait_for()
    text = await september.text_content() or ""
    assert "1950.00 yuan" in text and "peak 50.0" in text and "2026-09-10T12:00:00Z" in text
    assert "× 39.00 yuan" in text
    assert await page.locator(".invoice").count() == 2
    # Another account's pages are not there for this session.
    other = site.op("POST", "/v1/accounts", {"email": "x@x.test", "name": "X"}, 201)
    await page.goto(f"{site.origin}/console#/accounts/{other['account_id']}")
    await page.wait_for_selector("#error[data-code=account_not_found]")
    del app_id


async def test_operator_pages_accounts_and_price_plans(new_page: Any, site: Site) -> None:
    page = await new_page(enforce_csp=True)
    await page.goto(f"{site.origin}/console")
    await page.fill("#signin input[name=key]", site.key)
    await page.click("#signin button")
    await page.wait_for_selector("#apps")
    await page.click("#nav-billing")
    await page.fill("#create-account input[name=email]", "big@corp.test")
    await page.fill("#create-account input[name=name]", "Big Corp")
    await page.fill("#create-account input[name=password]", PASSWORD)
    await page.click("#create-account button")
    (account,) = site.op("GET", "/v1/accounts")["accounts"]
    await page.click(f"#accounts tr[data-account={account['account_id']}] a")
    await page.wait_for_selector("#topup")
    await page.fill("#topup input[name=amount]", "300000.00")
    await page.fill("#topup input[name=key]", "wire-1")
    await page.click("#topup button")
    await page.locator("#balance", has_text="balance 300000.00").wait_for()
    # A negotiated plan for a peak over 10,000.
    await page.click(".tabs a:text('Price plan')")
    await page.wait_for_selector("#plan")
    assert await page.locator("#default-tiers tr").count() == 8  # header + 7 tiers
    await page.fill("#plan input[name=name]", "big-2026")
    await page.fill("#plan textarea[name=tiers]", "20000 21.50\n* 19.99x")
    await page.click("#plan button[type=submit]")
    await page.wait_for_selector("#plan .field-error[data-code=invalid_price_plan]")
    await page.fill("#plan textarea[name=tiers]", "20000 21.50\n* 19.99")
    await page.click("#plan button[type=submit]")
    await page.locator("#plan-name", has_text="big-2026").wait_for()
    plan = site.op("GET", f"/v1/accounts/{account['account_id']}")["plan"]
    assert plan["tiers"] == [
        {"up_to": "20000", "unit_price": "21.50"},
        {"up_to": None, "unit_price": "19.99"},
    ]
    await page.click("#plan-reset")
    await page.locator("#plan-name", has_text="standard").wait_for()
    # The customer signs in with the password the operator set, and sees no plan editor.
    customer = await new_page()
    await _sign_in(customer, site, "big@corp.test")
    await customer.wait_for_selector("#apps")
    await customer.click("#nav-billing")
    await customer.locator("#balance", has_text="balance 300000.00").wait_for()
    assert await customer.locator(".tabs a:text('Price plan')").count() == 0


async def test_self_sign_up_and_identity_provider_settings(new_page: Any, site: Site) -> None:
    page = await new_page(enforce_csp=True)
    await page.goto(f"{site.origin}/console")
    await page.fill("#signup input[name=email]", "new@start.test")
    await page.fill("#signup input[name=name]", "Start")
    await page.fill("#signup input[name=password]", PASSWORD)
    await page.click("#signup button")
    await page.wait_for_selector("#create-app")
    await page.fill("#create-app input[name=name]", "with-login")
    await page.click("#create-app button")
    await page.wait_for_selector("#apps tr[data-app] a")
    await page.click("#apps tr[data-app] a")
    await page.click("#identity-link")
    await page.wait_for_selector("#identity-providers")
    await page.fill("#identity-providers input[name='issuer.0']", "https://login.example.com")
    await page.fill("#identity-providers input[name='audience.0']", "web-client")
    await page.fill("#identity-providers input[name='algorithms.0']", "HS256")
    await page.click("#identity-providers button[type=submit]")
    await page.wait_for_selector(
        "#identity-providers .field-error[data-code=invalid_identity_provider]"
    )
    await page.fill("#identity-providers input[name='algorithms.0']", "RS256 ES256")
    await page.fill("#identity-providers input[name='role_claim.0']", "ilvb_role")
    await page.click("#identity-providers button[type=submit]")
    await page.wait_for_selector("#identity-providers fieldset[data-index='1']")
    (app,) = site.op("GET", "/v1/apps")["apps"][1:]
    shown = site.op("GET", f"/v1/apps/{app['app_id']}/identity-providers")["providers"]
    assert shown == [
        {
            "issuer": "https://login.example.com",
            "audience": "web-client",
            "algorithms": ["RS256", "ES256"],
            "user_claim": "sub",
            "role_claim": "ilvb_role",
            "default_role": "audience",
        }
    ]
