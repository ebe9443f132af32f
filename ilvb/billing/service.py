"""The billing service a server runs: the jobs on a timer, then the e-mail of new notices."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ilvb.billing.jobs import BillingJobs, BillingSettings
from ilvb.billing.mail import Mailer, SmtpMailer, deliver_notices
from ilvb.billing.store import BillingStore
from ilvb.config import BillingSection
from ilvb.errors import PermissionDenied

log = logging.getLogger(__name__)


class BillingService:
    """Owns the :class:`BillingJobs` of one server and, when configured, its mailer."""

    def __init__(
        self,
        store: BillingStore,
        clock: Callable[[], float],
        settings: BillingSection,
        mailer: Mailer | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.jobs = BillingJobs(
            store,
            clock,
            BillingSettings(
                settlement_day=settings.settlement_day, suspend_day=settings.suspend_day
            ),
        )
        if mailer is None and settings.smtp.host is not None:
            mailer = SmtpMailer(settings.smtp)
        self.mailer = mailer
        self._task: asyncio.Task[None] | None = None
        # Apps of suspended accounts, refreshed from the store on every run (so every node
        # learns of a suspension made by another) and at once on this node's own.
        self._suspended_apps: set[str] = set()
        # Called with the app ids newly suspended (the server closes their live rooms).
        self.on_apps_suspended: list[Callable[[set[str]], None]] = []
        self.jobs.on_suspended.append(self._account_changed)
        self.jobs.on_restored.append(self._account_changed)

    def check_app(self, app_id: str) -> None:
        """Raise ``account_suspended`` if the app's account is suspended for arrears."""
        if app_id in self._suspended_apps:
            raise PermissionDenied(
                "account_suspended",
                "the account of this app is suspended for arrears; it takes no new calls until"
                " it is topped up",
            )

    async def refresh_suspended(self) -> None:
        """Re-read which apps are suspended; tell listeners of the newly suspended ones."""
        apps: set[str] = set()
        for account in await self.store.list_accounts():
            if account.suspended:
                apps.update(await self.store.apps_of(account.account_id))
        new = apps - self._suspended_apps
        self._suspended_apps = apps
        if new:
            for listener in self.on_apps_suspended:
                try:
                    listener(new)
                except Exception:  # a listener's failure must not stop billing
                    log.exception("billing: a suspension listener failed")

    async def _account_changed(self, _account_id: str) -> None:
        await self.refresh_suspended()

    async def run_once(self) -> int:
        """Run the due jobs, then e-mail new notices; returns how many e-mails went out.

        One node at a time runs them (the store's run lease); a node that does not get the
        lease only refreshes which apps are suspended."""
        async with self.store.run_lease() as mine:
            if mine:
                await self.jobs.run_due()
            await self.refresh_suspended()
            if self.mailer is None or not mine:
                return 0
            return await deliver_notices(self.store, self.mailer)

    def start(self) -> None:
        """Run :meth:`run_once` every ``jobs_interval_s`` (not at all when it is 0)."""
        if self.settings.jobs_interval_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop the timer. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # one failed run must not stop billing; the next one retries
                log.exception("billing: the periodic run failed")
            await asyncio.sleep(self.settings.jobs_interval_s)
