"""Applies `supabase/migrations/*.sql` in order and records what was applied.

Postgres runs the SQL files themselves (they are what Supabase runs). SQLite, the embedded
local default, cannot run Postgres DDL (RLS, identity, jsonb), so it gets the schema the code
declares in `tables.py`; a Postgres test keeps the two identical.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.tables import metadata, schema_migrations

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


async def pending_versions(conn: AsyncConnection, directory: Path) -> list[str]:
    """Versions on disk not yet applied (raises if the bookkeeping table is missing)."""
    applied = await applied_versions(conn)
    return [m.version for m in load_migrations(directory) if m.version not in applied]


async def migrate(engine: AsyncEngine, directory: Path) -> list[str]:
    """Apply pending migrations; returns the versions applied now. Safe to run concurrently."""
    migrations = load_migrations(directory)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            await conn.run_sync(schema_migrations.create, checkfirst=True)
            await conn.execute(
                text("alter table public.seleto_schema_migrations enable row level security")
            )
        else:
            await conn.run_sync(metadata.create_all)
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
        return done_now
