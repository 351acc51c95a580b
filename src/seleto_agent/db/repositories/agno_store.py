"""SQL on Agno's own tables (sessions, runs, memories, ...) for LGPD export, erasure and
retention, inside our transaction.

Agno's db API deletes in its own transaction and logs, rather than raises, its failures; an
erasure must be all or nothing with our rows, and must fail loudly. The tables are Agno's
(ARCHITECTURE "Who creates Agno's tables"), so they are reflected, not declared: only the
tables that exist are touched, with whatever columns the pinned Agno version gave them. Its
process-local run cache is filled from rows it reads, so a deleted row is never served again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, MetaData, Table, delete, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

AGNO_SCHEMA = "agno"
SESSIONS = "agno_sessions"
# Tables whose rows belong to one user (Agno's `user_id` = our conversation key) or one of
# their sessions. Runs and tool results hold the transcript and tool arguments verbatim.
_PER_USER = ("agno_runs", "agno_memories", "agno_learnings", "agno_tool_results", "agno_approvals")
_EXPORTED = (SESSIONS, "agno_runs", "agno_memories", "agno_learnings")


class AgnoStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._schema = AGNO_SCHEMA if conn.dialect.name == "postgresql" else None

    async def _tables(self) -> dict[str, Table]:
        schema = self._schema

        def reflect(sync_conn: Connection) -> dict[str, Table]:
            present = set(inspect(sync_conn).get_table_names(schema=schema))
            meta = MetaData(schema=schema)
            return {
                name: Table(name, meta, autoload_with=sync_conn)
                for name in (SESSIONS, *_PER_USER)
                if name in present
            }

        return await self._conn.run_sync(reflect)

    async def export(self, user_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every session, run, memory and learning of these users, columns as Agno keeps them."""
        tables = await self._tables()
        exported: dict[str, list[dict[str, Any]]] = {}
        for name in _EXPORTED:
            table = tables.get(name)
            if table is None or "user_id" not in table.c:
                continue
            rows = await self._conn.execute(select(table).where(table.c.user_id.in_(user_ids)))
            exported[name] = [row._asdict() for row in rows]
        return exported

    async def erase(self, user_ids: Sequence[str]) -> dict[str, int]:
        """Delete everything these users left in Agno's tables; rows deleted per table."""
        tables = await self._tables()
        sessions = tables.get(SESSIONS)
        session_ids: list[str] = []
        if sessions is not None:
            found = await self._conn.execute(
                select(sessions.c.session_id).where(sessions.c.user_id.in_(user_ids))
            )
            session_ids = [row.session_id for row in found]
        deleted: dict[str, int] = {}
        for name in _PER_USER:
            table = tables.get(name)
            if table is None:
                continue
            deleted[name] = await self._delete_owned(table, user_ids, session_ids)
        if sessions is not None:
            result = await self._conn.execute(
                delete(sessions).where(sessions.c.user_id.in_(user_ids))
            )
            deleted[SESSIONS] = result.rowcount
        return {name: count for name, count in deleted.items() if count}

    async def _delete_owned(
        self, table: Table, user_ids: Sequence[str], session_ids: Sequence[str]
    ) -> int:
        owned = []
        if "user_id" in table.c:
            owned.append(table.c.user_id.in_(user_ids))
        if "session_id" in table.c and session_ids:
            owned.append(table.c.session_id.in_(session_ids))
        if not owned:
            return 0
        result = await self._conn.execute(delete(table).where(or_(*owned)))
        return result.rowcount

    async def delete_idle_sessions(self, *, idle_before: int, limit: int) -> int:
        """Retention: up to `limit` sessions last updated before `idle_before` (Agno's epoch
        seconds), with their runs and the rows hanging on them; how many sessions went."""
        tables = await self._tables()
        sessions = tables.get(SESSIONS)
        if sessions is None:
            return 0
        found = await self._conn.execute(
            select(sessions.c.session_id)
            .where(sessions.c.updated_at < idle_before)
            .order_by(sessions.c.updated_at)
            .limit(limit)
        )
        session_ids = [row.session_id for row in found]
        if not session_ids:
            return 0
        for name in _PER_USER:
            table = tables.get(name)
            if table is not None and "session_id" in table.c:
                await self._conn.execute(delete(table).where(table.c.session_id.in_(session_ids)))
        await self._conn.execute(delete(sessions).where(sessions.c.session_id.in_(session_ids)))
        return len(session_ids)
