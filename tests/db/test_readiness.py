"""`/readyz`'s verdict: cached for a few seconds, migration files read once per process."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.engine import create_engine
from seleto_agent.db.tables import schema_migrations
from seleto_agent.services.readiness import Readiness
from seleto_agent.settings import PROJECT_ROOT

MIGRATIONS = PROJECT_ROOT / "supabase" / "migrations"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_the_verdict_is_cached_for_its_ttl_then_checked_again(engine: AsyncEngine) -> None:
    clock = Clock()
    readiness = Readiness(engine, MIGRATIONS, ttl_seconds=5, clock=clock)
    assert await readiness.not_ready_reason() is None
    async with engine.begin() as conn:
        newest = (
            await conn.execute(select(schema_migrations).order_by(schema_migrations.c.version))
        ).all()[-1]
        await conn.execute(
            delete(schema_migrations).where(schema_migrations.c.version == newest[0])
        )
    try:
        clock.now += 4.9
        assert await readiness.not_ready_reason() is None
        clock.now += 0.2
        assert await readiness.not_ready_reason() == f"migrations pending: {newest[0]}"
    finally:
        async with engine.begin() as conn:
            await conn.execute(insert(schema_migrations).values(**newest._mapping))


async def test_migration_files_are_read_once_per_process(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    readiness = Readiness(engine, folder, ttl_seconds=0)
    assert await readiness.not_ready_reason() is None
    (folder / "29991231000000_later.sql").write_text("select 1;")
    assert await readiness.not_ready_reason() is None
    assert await Readiness(engine, folder).not_ready_reason() == (
        "migrations pending: 29991231000000"
    )
