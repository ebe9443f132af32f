"""Runs one day of the scripted quarter against a SQL database, in its own process.

``python -m tests.billing.runner URL ACCOUNT_ID DAY [--die-after-writes K] [--loops N] [--service]``

With ``--service`` each loop is what a server node runs (``BillingService.run_once``: the run
lease, then the jobs), else the bare jobs (``BillingJobs.run_due``: keyed writes only).

With ``--die-after-writes K`` the process SIGKILLs itself right after its K-th successful write
(ledger entry, invoice, notice or suspension change): the crash lands exactly between two writes,
and the test restarts the day to see that nothing is lost or charged twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from ilvb.billing.jobs import BillingJobs
from ilvb.billing.service import BillingService
from ilvb.config import BillingSection
from ilvb.store.billing_sql import SqlBillingStore
from ilvb.store.sql import SqlAppStore
from tests.billing import scenario


class DyingStore:
    """Forwards to the real store; SIGKILLs this process after ``limit`` writes."""

    WRITES = ("append_entry", "put_invoice", "add_notice", "set_suspended")

    def __init__(self, inner: SqlBillingStore, limit: int | None) -> None:
        self._inner = inner
        self._left = limit

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES or self._left is None:
            return attr

        async def write(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            assert self._left is not None
            self._left -= 1
            if self._left <= 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return write


async def main(
    url: str, account_id: str, day: str, die_after: int | None, loops: int, service: bool
) -> None:
    apps = SqlAppStore(url)
    await apps.open()
    try:
        clock = scenario.Clock(scenario.at(day))
        store = DyingStore(SqlBillingStore(apps), die_after)
        node = BillingService(store, clock, BillingSection(jobs_interval_s=0))  # type: ignore[arg-type]
        jobs = node.jobs if service else BillingJobs(store, clock)  # type: ignore[arg-type]
        if day == "2026-12-05":
            clock.t = scenario.at(scenario.TOP_UP_DAY)
            await jobs.top_up(account_id, "6000.00", key="nov-22")
            clock.t = scenario.at(day)
        for _ in range(loops):
            if service:
                await node.run_once()
            else:
                await jobs.run_due()
    finally:
        await apps.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("account_id")
    parser.add_argument("day")
    parser.add_argument("--die-after-writes", type=int)
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--service", action="store_true")
    a = parser.parse_args()
    asyncio.run(main(a.url, a.account_id, a.day, a.die_after_writes, a.loops, a.service))
