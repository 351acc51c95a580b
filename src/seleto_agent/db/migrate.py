"""Applies `supabase/migrations/*.sql` in order and records what was applied.

Postgres runs the SQL files themselves (they are what Supabase runs). SQLite, the embedded
local default, cannot run Postgres DDL (RLS, identity, jsonb), so it gets the schema the code
declares in `tables.py` (a Postgres test keeps the two identical): `sqlite_schema` closes what
gaps SQLite can close, and a version is recorded only once the live schema matches.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.sqlite_schema import SchemaRefused, bring_up_to_date, schema_differences
from seleto_agent.db.tables import schema_migrations

_FILE_RE = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process running `migrate`.
_ADVISORY_LOCK_ID = 727_001


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"migrations folder not found: {directory}")
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"not a Supabase CLI migration name: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path.read_text(encoding="utf-8")))
    return found


async def applied_versions(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(select(schema_migrations.c.version, schema_migrations.c.checksum))
    return {version: checksum for version, checksum in rows}


@dataclass(frozen=True, slots=True)
class MigrationReport:
    versions: tuple[str, ...]
    # SQLite only: what was created or added to bring the tables to the declared schema.
    schema_changes: tuple[str, ...]


async def not_ready_reason(conn: AsyncConnection, migrations: Sequence[Migration]) -> str | None:
    """Why this database cannot serve the code yet, or None when it can."""
    try:
        applied = await applied_versions(conn)
    except SQLAlchemyError:
        return "migrations not applied: run `seleto-agent migrate`"
    problems: list[str] = []
    pending = [m.version for m in migrations if m.version not in applied]
    if pending:
        problems.append(f"migrations pending: {', '.join(pending)}")
    if conn.dialect.name == "sqlite":
        differences = await conn.run_sync(schema_differences)
        if differences:
            found = "; ".join(d.what for d in differences)
            problems.append(f"schema differs from the code (run `seleto-agent migrate`): {found}")
    return "; ".join(problems) or None


async def migrate(engine: AsyncEngine, directory: Path) -> MigrationReport:
    """Apply pending migrations. Safe to run concurrently; all or nothing on both backends."""
    migrations = load_migrations(directory)
    schema_changes: list[str] = []
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            await conn.run_sync(schema_migrations.create, checkfirst=True)
            await conn.execute(
                text("alter table public.seleto_schema_migrations enable row level security")
            )
        else:
            # The driver opens no transaction before DDL; an explicit one makes a refusal change
            # nothing, and IMMEDIATE makes a concurrent `migrate` wait (Postgres: the lock above).
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            database = engine.url.database or "the SQLite database"
            try:
                schema_changes = await conn.run_sync(bring_up_to_date)
            except SchemaRefused as exc:
                raise _refusal(exc.problems, database) from None
        applied = await applied_versions(conn)
        done_now: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} changed after it was applied"
                    )
                continue
            if conn.dialect.name == "postgresql":
                # psycopg runs several statements in one call when no parameters are bound.
                await conn.exec_driver_sql(migration.sql)
            await conn.execute(
                insert(schema_migrations).values(
                    version=migration.version,
                    name=migration.name,
                    checksum=migration.checksum,
                    applied_at=datetime.now(UTC),
                )
            )
            done_now.append(migration.version)
        return MigrationReport(tuple(done_now), tuple(schema_changes))


def _refusal(problems: list[str], database: str) -> MigrationError:
    listed = "\n".join(f"  - {p}" for p in problems)
    return MigrationError(
        "this SQLite database cannot be brought to the current schema in place:\n"
        f"{listed}\n"
        "Nothing was changed and nothing was recorded. Either delete "
        f"{database} (the next `seleto-agent migrate` starts an empty database) "
        "or migrate its data by hand."
    )
