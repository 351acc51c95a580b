"""Brings a database to the current schema: our migrations, then Agno's session tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.agents.factory import provision_agent_tables
from seleto_agent.db.migrate import MigrationReport, migrate


async def migrate_all(engine: AsyncEngine, migrations_dir: Path) -> MigrationReport:
    report = await migrate(engine, migrations_dir)
    await provision_agent_tables(engine)
    return report
