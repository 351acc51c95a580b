"""The SQL migrations (what Supabase runs) and tables.py (what the code uses) must agree."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.engine import create_engine
from seleto_agent.db.migrate import MigrationError, MigrationReport, load_migrations, migrate
from seleto_agent.db.tables import metadata, schema_migrations
from seleto_agent.services.schema import migrate_all
from seleto_agent.settings import PROJECT_ROOT
from tests.conftest import DEFAULT_PG

MIGRATIONS = PROJECT_ROOT / "supabase" / "migrations"


def _reflect(url: str) -> dict[str, Any]:
    async def _run() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_describe)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def _describe(sync_conn: Any) -> dict[str, Any]:
    inspector = inspect(sync_conn)
    described: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        columns = {
            c["name"]: (c["nullable"], c["type"].compile(dialect=_pg_dialect()))
            for c in inspector.get_columns(table.name)
        }
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
        indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(table.name)}
        described[table.name] = {"columns": columns, "uniques": uniques | indexes}
    return described


def test_migrated_postgres_schema_matches_the_declared_tables(postgres_url: str) -> None:
    reflected = _reflect(postgres_url)
    for table in metadata.sorted_tables:
        actual = reflected[table.name]
        declared_columns = {c.name for c in table.columns}
        assert set(actual["columns"]) == declared_columns, table.name
        for column in table.columns:
            nullable, type_name = actual["columns"][column.name]
            assert nullable == column.nullable, f"{table.name}.{column.name} nullability"
            declared_type = column.type.compile(dialect=_pg_dialect())
            assert type_name == declared_type, f"{table.name}.{column.name}"
        declared_unique = {
            tuple(c.name for c in constraint.columns)
            for constraint in table.constraints
            if constraint.__class__.__name__ == "UniqueConstraint"
        } | {(c.name,) for c in table.columns if c.unique}
        declared_unique |= {tuple(c.name for c in index.columns) for index in table.indexes}
        assert declared_unique <= actual["uniques"], table.name


def _pg_dialect() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def test_every_table_has_row_level_security(postgres_url: str) -> None:
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select c.relname, c.relrowsecurity from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind = 'r'"
        ).fetchall()
    assert {name for name, _ in rows} >= {t.name for t in metadata.sorted_tables}
    assert all(enabled for _, enabled in rows), rows


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated yet (the `database_url` fixture's is already migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    admin_dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    name = f"seleto_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_a_second_migrate_on_a_fresh_database_applies_and_changes_nothing(
    empty_database_url: str,
) -> None:
    async def _run() -> tuple[MigrationReport, Any, MigrationReport, Any]:
        engine = create_engine(empty_database_url)
        try:
            first = await migrate_all(engine, MIGRATIONS)
            before = await _snapshot(engine)
            second = await migrate_all(engine, MIGRATIONS)
            return first, before, second, await _snapshot(engine)
        finally:
            await engine.dispose()

    first, before, second, after = asyncio.run(_run())
    assert first.versions == tuple(m.version for m in load_migrations(MIGRATIONS))
    assert second == MigrationReport(versions=(), schema_changes=())
    assert after == before


async def _snapshot(engine: AsyncEngine) -> tuple[Any, list[Any]]:
    """Every declared table's shape, and the bookkeeping rows with their timestamps."""
    async with engine.connect() as conn:
        shape = await conn.run_sync(_describe)
        rows = (await conn.execute(select(schema_migrations))).all()
    return shape, [tuple(row) for row in rows]


def test_migration_files_follow_supabase_cli_names() -> None:
    migrations = load_migrations(MIGRATIONS)
    assert migrations
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)


def test_an_edited_applied_migration_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_first.sql").write_text("select 1;")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def _run() -> None:
        engine = create_engine(url)
        try:
            assert (await migrate(engine, folder)).versions == ("20260101000000",)
            (folder / "20260101000000_first.sql").write_text("select 2;")
            with pytest.raises(MigrationError):
                await migrate(engine, folder)
        finally:
            await engine.dispose()

    asyncio.run(_run())
