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

    async def run_once(self) -> int:
        """Run the due jobs, then e-mail new notices; returns how many e-mails went out."""
        await self.jobs.run_due()
        if self.mailer is None:
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
