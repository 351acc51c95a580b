"""All SQL on `runtime_flags`: the values operators set (a flag without a row has its default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import runtime_flags as t


@dataclass(frozen=True, slots=True)
class FlagRecord:
    name: str
    enabled: bool
    updated_at: datetime
    updated_by: str


class FlagRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def all(self) -> dict[str, FlagRecord]:
        rows = await self._conn.execute(
            select(t.c.name, t.c.enabled, t.c.updated_at, t.c.updated_by)
        )
        return {row.name: FlagRecord(**row._asdict()) for row in rows}

    async def lock(self, name: str) -> FlagRecord | None:
        """The flag's row, locked until commit on Postgres (two admins setting it at once are
        audited one after the other, each with the value the other left)."""
        query = select(t.c.name, t.c.enabled, t.c.updated_at, t.c.updated_by).where(
            t.c.name == name
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return FlagRecord(**row._asdict()) if row is not None else None

    async def set(self, name: str, *, enabled: bool, actor: str, now: datetime) -> None:
        values = {"enabled": enabled, "updated_at": now, "updated_by": actor}
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
