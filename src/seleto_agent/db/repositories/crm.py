"""All SQL on `crm_links`, `crm_notes` and `piperun_cities`: what we hold of PipeRun's ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import crm_links, crm_notes, orcamentos, piperun_cities


@dataclass(frozen=True, slots=True)
class CrmLinks:
    lead_id: int
    company_id: int | None = None
    company_created: bool = False
    company_fingerprint: str | None = None
    company_contacts_fingerprint: str | None = None
    person_id: int | None = None
    person_fingerprint: str | None = None
    person_contacts_fingerprint: str | None = None
    deal_id: int | None = None
    deal_fingerprint: str | None = None
    create_intents: dict[str, str] = field(default_factory=dict)
    synced_at: datetime | None = None


_LINK_COLUMNS = [crm_links.c[name] for name in CrmLinks.__dataclass_fields__]


@dataclass(frozen=True, slots=True)
class CrmNote:
    note_key: str
    note_id: int
    fingerprint: str


class CrmRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def links(self, lead_id: int) -> CrmLinks:
        query = select(*_LINK_COLUMNS).where(crm_links.c.lead_id == lead_id)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return CrmLinks(lead_id=lead_id)
        data = row._asdict()
        data["create_intents"] = data["create_intents"] or {}
        return CrmLinks(**data)

    async def save_links(self, lead_id: int, values: dict[str, Any], *, now: datetime) -> None:
        """Upsert some columns of the lead's row (the rest keep their values)."""
        statement = insert_for(self._conn, crm_links).values(
            lead_id=lead_id, created_at=now, updated_at=now, **values
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["lead_id"], set_={**values, "updated_at": now}
            )
        )

    async def notes(self, lead_id: int) -> dict[str, CrmNote]:
        query = select(crm_notes.c.note_key, crm_notes.c.note_id, crm_notes.c.fingerprint).where(
            crm_notes.c.lead_id == lead_id
        )
        return {row.note_key: CrmNote(**row._asdict()) for row in await self._conn.execute(query)}

    async def save_note(
        self, lead_id: int, *, note_key: str, note_id: int, fingerprint: str, now: datetime
    ) -> None:
        statement = insert_for(self._conn, crm_notes).values(
            lead_id=lead_id,
            note_key=note_key,
            note_id=note_id,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["lead_id", "note_key"],
                set_={"note_id": note_id, "fingerprint": fingerprint, "updated_at": now},
            )
        )


@dataclass(frozen=True, slots=True)
class CachedCity:
    city_id: int | None
    fetched_at: datetime


class CityCacheRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, city_key: str, uf: str) -> CachedCity | None:
        query = select(piperun_cities.c.city_id, piperun_cities.c.fetched_at).where(
            piperun_cities.c.city_key == city_key, piperun_cities.c.uf == uf
        )
        row = (await self._conn.execute(query)).first()
        return CachedCity(city_id=row.city_id, fetched_at=row.fetched_at) if row else None

    async def put(self, city_key: str, uf: str, city_id: int | None, *, now: datetime) -> None:
        statement = insert_for(self._conn, piperun_cities).values(
            city_key=city_key, uf=uf, city_id=city_id, fetched_at=now
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["city_key", "uf"], set_={"city_id": city_id, "fetched_at": now}
            )
        )


async def set_quote_deal_ids(conn: AsyncConnection, lead_id: int, deal_id: int) -> None:
    """The client's `orcamentos.oportunidade_pipe_id`: every quote of the lead is on its deal."""
    await conn.execute(
        update(orcamentos)
        .where(
            orcamentos.c.lead_id == lead_id,
            orcamentos.c.oportunidade_pipe_id.is_distinct_from(deal_id),
        )
        .values(oportunidade_pipe_id=deal_id)
    )
