"""The billing store on SQLite and PostgreSQL: the scripted quarter, crashes, concurrent runners."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilvb.billing.jobs import BillingJobs
from ilvb.billing.ledger import LedgerEntry, balance_of
from ilvb.store.billing_sql import SqlBillingStore
from ilvb.store.sql import SqlAppStore
from tests.billing import scenario
from tests.store.conftest import fresh_db_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await fresh_db_url(request.param, request, tmp_path)


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[tuple[SqlAppStore, SqlBillingStore, str]]:
    """An open store with one account owning two apps and the quarter's usage recorded."""
    apps = SqlAppStore(db_url)
    await apps.open()
    billing = SqlBillingStore(apps)
    account = await billing.create_account("ops@example.com", "Acme", scenario.CREATED)
    ids = {}
    for name in ("app-a", "app-b"):
        ids[name] = (await apps.create_app(name)).app_id
        await billing.link_app(account.account_id, ids[name])
    for s in scenario.USAGE:
        await apps.record_usage(ids[s.app_id], s.multi, s.call, timestamp=s.t)
    jobs = BillingJobs(billing, scenario.Clock(scenario.CREATED))
    assert await jobs.top_up(account.account_id, "5000.00", key="initial")
    yield apps, billing, account.account_id
    await apps.close()


async def test_the_quarter_gives_the_same_figures_on_sql(
    world: tuple[SqlAppStore, SqlBillingStore, str],
) -> None:
    _, billing, account_id = world
    clock = scenario.Clock(scenario.CREATED)
    await scenario.run_quarter(BillingJobs(billing, clock), billing, clock, account_id)


def _run_day(
    url: str,
    account_id: str,
    day: str,
    *,
    die_after: int | None = None,
    loops: int = 1,
    service: bool = False,
) -> int:
    cmd = [
        sys.executable,
        "-m",
        "tests.billing.runner",
        url,
        account_id,
        day,
        "--loops",
        str(loops),
    ]
    if die_after is not None:
        cmd += ["--die-after-writes", str(die_after)]
    if service:
        cmd.append("--service")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.returncode


async def _ledger(billing: SqlBillingStore, account_id: str) -> dict[str, str]:
    return {e.key: str(e.amount) for e in await billing.entries(account_id)}


# About 27 runner processes (one per crash point and day): slow on a loaded machine.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # durability: any SQL backend
async def test_sigkill_between_any_two_writes_then_restart_gives_the_same_figures(
    world: tuple[SqlAppStore, SqlBillingStore, str],
    db_url: str,
) -> None:
    """Each day: the runner is SIGKILLed after its 1st, 2nd, … write until a run gets through
    whole; then one clean run. The ledger must equal the scripted one after every day."""
    _, billing, account_id = world
    expected = {"topup:initial": "5000.00"}
    kills = 0
    for day, new_entries, state in scenario.STEPS:
        k = 1
        while _run_day(db_url, account_id, day, die_after=k) == -signal.SIGKILL:
            kills += 1
            k += 1
        assert _run_day(db_url, account_id, day) == 0
        expected.update(new_entries)
        assert await _ledger(billing, account_id) == expected, day
        jobs = BillingJobs(billing, scenario.Clock(scenario.at(day)))
        got = await scenario.state_of(jobs, billing, account_id)
        assert {key: got[key] for key in state} == state, day
    assert kills >= 10  # the crashes really landed between writes
    assert {i.month: i.fee for i in await billing.invoices(account_id)} == scenario.FEES


@pytest.mark.timeout(300)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # several nodes share PostgreSQL
@pytest.mark.parametrize("service", [False, True], ids=["bare-jobs", "nodes-with-lease"])
async def test_two_processes_running_the_jobs_at_once_never_charge_twice(
    world: tuple[SqlAppStore, SqlBillingStore, str],
    db_url: str,
    service: bool,
) -> None:
    """Bare jobs: the keyed writes alone keep it exact. Nodes: as servers run them, through
    the run lease (one runs, the other skips), and the keys behind it."""
    _, billing, account_id = world
    expected = {"topup:initial": "5000.00"}
    for day, new_entries, _ in scenario.STEPS:
        results = await asyncio.gather(
            *(
                asyncio.to_thread(_run_day, db_url, account_id, day, loops=5, service=service)
                for _ in range(2)
            )
        )
        assert results == [0, 0]
        expected.update(new_entries)
        assert await _ledger(billing, account_id) == expected, day


async def test_concurrent_appends_of_one_key_write_it_once(
    world: tuple[SqlAppStore, SqlBillingStore, str],
) -> None:
    _, billing, account_id = world
    entry = LedgerEntry(account_id, "topup:race", "topup", scenario.FEES["2026-09"], "race", 1.0)
    written = await asyncio.gather(*(billing.append_entry(entry) for _ in range(8)))
    assert sorted(written) == [False] * 7 + [True]
    entries = await billing.entries(account_id)
    assert balance_of(entries).balance == sum(e.amount for e in entries if e.kind == "topup")


_HOLD_AND_DIE = """
import asyncio, sys
from ilvb.store.billing_sql import SqlBillingStore
from ilvb.store.sql import SqlAppStore
async def main():
    apps = SqlAppStore(sys.argv[1])
    await apps.open()
    async with SqlBillingStore(apps).run_lease() as got:
        print("held" if got else "missed", flush=True)
        await asyncio.sleep(600)
asyncio.run(main())
"""


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_one_node_at_a_time_holds_the_run_lease(db_url: str) -> None:
    nodes = [SqlAppStore(db_url) for _ in range(2)]
    for node in nodes:
        await node.open()
    try:
        first, second = (SqlBillingStore(node) for node in nodes)
        async with first.run_lease() as got:
            assert got
            async with second.run_lease() as other:
                assert not other
        async with second.run_lease() as got:
            assert got  # released when the first run ended
        # A node killed mid-run does not keep the lease.
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _HOLD_AND_DIE,
            db_url,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"held\n"
        async with second.run_lease() as got:
            assert not got  # the other process runs
        holder.kill()  # SIGKILL mid-run
        await asyncio.wait_for(holder.wait(), 30)
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # PostgreSQL ends the dead backend's session, and its lock with it
            async with second.run_lease() as got:
                if got:
                    break
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
    finally:
        for node in nodes:
            await node.close()


async def test_passwords_and_console_sessions_on_sql(
    world: tuple[SqlAppStore, SqlBillingStore, str],
) -> None:
    from ilvb.billing.logins import hash_password, new_session, verify_password

    _, billing, account_id = world
    assert await billing.login_of("ops@example.com") == (
        await billing.get_account(account_id),
        None,
    )
    assert await billing.login_of("nobody@example.com") is None
    await billing.set_password(account_id, hash_password("a long password"))
    found = await billing.login_of("ops@example.com")
    assert found is not None and verify_password("a long password", found[1])
    assert not verify_password("another password", found[1])
    token, record = new_session(account_id, 100.0, 60.0)
    await billing.put_session(record)
    stored = await billing.get_session(record.session_hash)
    assert stored == record and token not in repr(stored)
    await billing.delete_session(record.session_hash)
    assert await billing.get_session(record.session_hash) is None
    sessions = [new_session(account_id, 100.0, 60.0)[1] for _ in range(3)]
    for s in sessions:
        await billing.put_session(s)
    await billing.delete_sessions_of(account_id)
    assert [await billing.get_session(s.session_hash) for s in sessions] == [None] * 3
