"""The SQL :class:`~ilvb.store.interfaces.AppStore`: SQLAlchemy 2 async.

SQLite (``sqlite+aiosqlite:///path``) is the embedded default; PostgreSQL works by URL
(``postgresql+asyncpg://user:pw@host/db``, needs the ``postgres`` extra). Plain ``sqlite://``,
``postgresql://`` and ``postgres://`` URLs are given their async driver. :meth:`SqlAppStore.open`
upgrades the schema to the newest Alembic revision shipped in ``ilvb/store/migrations``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, event, func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ilvb.errors import InvalidArgument, InvalidState, NotFound, Unavailable
from ilvb.store.files import secure_sqlite_file
from ilvb.store.ids import new_secret
from ilvb.store.interfaces import (
    AppChanges,
    AppRecord,
    IdentityProvider,
    UsageSample,
    check_distinct_issuers,
    check_usage_counts,
)
from ilvb.store.models import ADMIN_KEY_HASH, AppRow, IdentityProviderRow, SettingRow, UsageRow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Driver-less URL prefixes -> their async driver.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def normalize_url(url: str) -> str:
    """Give a driver-less SQLite/PostgreSQL URL its async driver; raise InvalidArgument if bad."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidArgument(message=f"bad database URL: {exc}") from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, optionally bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version of ilvb."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


_APP_COLUMNS = tuple(f.name for f in dataclasses.fields(AppRecord))


def _to_record(row: AppRow) -> AppRecord:
    # AppRow has one column per AppRecord field (tests/store/test_sql.py checks it).
    return AppRecord(**{name: getattr(row, name) for name in _APP_COLUMNS})


class SqlAppStore:
    """Apps, the admin key hash and usage samples in a SQL database.

    Owns one async engine, created by :meth:`open` and disposed by :meth:`close`. Every method
    runs in its own short transaction, so several processes (``ilvb serve`` and ``ilvb app
    create``) can share one SQLite file.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[Any] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The open engine; raises InvalidState before :meth:`open`."""
        if self._engine is None:
            raise InvalidState(message="the store is not open")
        return self._engine

    async def open(self) -> None:
        """Connect and upgrade the schema to the newest revision. Idempotent."""
        if self._engine is not None:
            return
        parsed = make_url(self.url)
        where = parsed.render_as_string(hide_password=True)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            if is_sqlite and parsed.database and parsed.database != ":memory:":
                secure_sqlite_file(Path(parsed.database))
            engine = create_async_engine(self.url)
        except ImportError as exc:
            raise Unavailable(
                message=f"no database driver for {where} ({exc}); "
                "for PostgreSQL: pip install 'ilvb[postgres]'",
            ) from exc
        except (OSError, ArgumentError) as exc:
            raise Unavailable(message=f"cannot use the database {where}: {exc}") from exc
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade_to_head)
        except (OSError, DBAPIError) as exc:
            await engine.dispose()
            raise Unavailable(message=f"cannot open the database {where}: {exc}") from exc
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        log.debug("store open at revision %s: %s", head_revision(), where)

    async def close(self) -> None:
        """Dispose of the engine. Idempotent."""
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    def _session(self) -> Any:
        if self._sessions is None:
            raise InvalidState(message="the store is not open")
        return self._sessions()

    async def create_app(self, name: str) -> AppRecord:
        """Create an app with a fresh id and secret."""
        app = AppRecord.new(name)
        async with self._session() as session, session.begin():
            session.add(AppRow(**dataclasses.asdict(app)))
        return app

    async def get_app(self, app_id: str) -> AppRecord | None:
        """The app, or None."""
        async with self._session() as session:
            row = await session.get(AppRow, app_id)
            return _to_record(row) if row is not None else None

    async def list_apps(self) -> list[AppRecord]:
        """All apps, oldest first."""
        async with self._session() as session:
            rows = await session.scalars(select(AppRow).order_by(AppRow.created_at, AppRow.app_id))
            return [_to_record(r) for r in rows]

    async def rotate_secret(self, app_id: str) -> AppRecord:
        """Replace the app's secret; raises NotFound('app_not_found')."""
        return await self._update(app_id, {"secret": new_secret()})

    async def update_app(self, app_id: str, **changes: Unpack[AppChanges]) -> AppRecord:
        """Change the given fields; raises NotFound('app_not_found')."""
        return await self._update(app_id, dict(changes))

    async def get_identity_providers(self, app_id: str) -> list[IdentityProvider]:
        """The app's OpenID Connect providers in their configured order (empty: none)."""
        async with self._session() as session:
            rows = await session.scalars(
                select(IdentityProviderRow)
                .where(IdentityProviderRow.app_id == app_id)
                .order_by(IdentityProviderRow.position)
            )
            return [_provider(r) for r in rows]

    async def set_identity_providers(
        self, app_id: str, providers: Sequence[IdentityProvider]
    ) -> list[IdentityProvider]:
        """Replace the app's providers in one transaction; raises NotFound('app_not_found')."""
        check_distinct_issuers(providers)
        async with self._session() as session, session.begin():
            if await session.get(AppRow, app_id) is None:
                raise NotFound("app_not_found", f"no app {app_id!r}")
            await session.execute(
                delete(IdentityProviderRow).where(IdentityProviderRow.app_id == app_id)
            )
            for position, p in enumerate(providers):
                session.add(
                    IdentityProviderRow(
                        app_id=app_id,
                        issuer=p.issuer,
                        position=position,
                        audience=p.audience,
                        algorithms=" ".join(p.algorithms),
                        user_claim=p.user_claim,
                        role_claim=p.role_claim,
                        default_role=p.default_role,
                    )
                )
        return list(providers)

    async def get_admin_key_hash(self) -> str | None:
        """The stored hash of the admin key, or None before first start."""
        async with self._session() as session:
            row = await session.get(SettingRow, ADMIN_KEY_HASH)
            return row.value if row is not None else None

    async def set_admin_key_hash(self, key_hash: str) -> None:
        """Store the admin key's hash (the key itself is never stored)."""
        async with self._session() as session, session.begin():
            await session.merge(SettingRow(key=ADMIN_KEY_HASH, value=key_hash))

    async def record_usage(
        self,
        app_id: str,
        participants: int,
        call_participants: int = 0,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Append a usage sample for billing; raises NotFound('app_not_found')."""
        check_usage_counts(participants, call_participants)
        async with self._session() as session, session.begin():
            if await session.get(AppRow, app_id) is None:
                raise NotFound("app_not_found", f"no app {app_id!r}")
            session.add(
                UsageRow(
                    app_id=app_id,
                    timestamp=time.time() if timestamp is None else timestamp,
                    participants=participants,
                    call_participants=call_participants,
                )
            )

    async def usage(self, app_id: str, since: float, until: float) -> list[UsageSample]:
        """Usage samples of one app with ``since <= timestamp < until``, oldest first."""
        async with self._session() as session:
            rows = await session.scalars(
                select(UsageRow)
                .where(
                    UsageRow.app_id == app_id,
                    UsageRow.timestamp >= since,
                    UsageRow.timestamp < until,
                )
                .order_by(UsageRow.timestamp, UsageRow.id)
            )
            return [
                UsageSample(r.app_id, r.timestamp, r.participants, r.call_participants)
                for r in rows
            ]

    async def count_apps(self) -> int:
        """How many apps exist."""
        async with self._session() as session:
            return int(await session.scalar(select(func.count()).select_from(AppRow)) or 0)

    async def _update(self, app_id: str, changes: dict[str, Any]) -> AppRecord:
        async with self._session() as session, session.begin():
            row = await session.get(AppRow, app_id)
            if row is None:
                raise NotFound("app_not_found", f"no app {app_id!r}")
            for key, value in changes.items():
                setattr(row, key, value)
        return _to_record(row)


def _provider(row: IdentityProviderRow) -> IdentityProvider:
    return IdentityProvider(
        issuer=row.issuer,
        audience=row.audience,
        algorithms=tuple(row.algorithms.split()),
        user_claim=row.user_claim,
        role_claim=row.role_claim,
        default_role=row.default_role,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `ilvb app create` write while the server reads; wait instead of failing on a lock.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
