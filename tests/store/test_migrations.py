"""The shipped Alembic migrations: they match the models, and render for PostgreSQL too."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from ilvb.store.models import Base
from ilvb.store.sql import MIGRATIONS_DIR, SqlAppStore, alembic_config, head_revision


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert head_revision() == "0007"


async def test_migrated_schema_equals_the_models(tmp_path: Path) -> None:
    store = SqlAppStore(f"sqlite+aiosqlite:///{tmp_path / 'ilvb.db'}")
    await store.open()

    def diff(conn: Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await store.close()


def test_migrations_render_for_postgresql() -> None:
    cfg = alembic_config()
    cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://ilvb@localhost/ilvb")
    out = io.StringIO()
    cfg.output_buffer = out
    command.upgrade(cfg, "head", sql=True)  # offline: no server needed
    sql = out.getvalue()
    for table in ("apps", "settings", "usage", "identity_providers", "recordings"):
        assert f"CREATE TABLE {table} (" in sql
    assert "id SERIAL NOT NULL" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
