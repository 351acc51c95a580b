"""All SQL on `leads`: the qualification slots, the temperature and its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import conversations
from seleto_agent.db.tables import leads as t

# Slot name (the tool contract, INTERFACE.md §4) → column (the client's names, PRD §14.3).
SLOT_COLUMNS: dict[str, str] = {
    "name": "name",
    "company_name": "company_name",
    "email": "email",
    "city": "city",
    "uf": "uf",
    "segment": "segment",
    "product_interest": "produto_interesse",
    "production_volume": "volume_estimado",
    "urgency": "urgencia_compra",
    "knows_seleto": "knows_seleto",
}


@dataclass(frozen=True, slots=True)
class LeadRecord:
    id: int
    phone: str
    name: str | None
    company_name: str | None
    email: str | None
    city: str | None
    uf: str | None
    segment: str | None
    product_interest: str | None
    production_volume: str | None
    urgency: str | None
    knows_seleto: bool | None
    temperature: str | None
    temperature_reason: str | None
    suggested_model: str | None
    updated_at: datetime

    def slots(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SLOT_COLUMNS}


_COLUMNS = [
    t.c.id,
    t.c.phone,
    *(t.c[column].label(slot) for slot, column in SLOT_COLUMNS.items()),
    t.c.temperature,
    t.c.temperature_reason,
    t.c.suggested_model,
    t.c.updated_at,
]


class LeadRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, lead_id: int) -> LeadRecord | None:
        row = (await self._conn.execute(select(*_COLUMNS).where(t.c.id == lead_id))).first()
        return LeadRecord(**row._asdict()) if row else None

    async def get_by_phone(self, phone: str) -> LeadRecord | None:
        row = (await self._conn.execute(select(*_COLUMNS).where(t.c.phone == phone))).first()
        return LeadRecord(**row._asdict()) if row else None

    async def name_in(self, conversation_key: str) -> str | None:
        """The name the lead gave in that conversation, if any."""
        query = (
            select(t.c.name)
            .join(conversations, conversations.c.id == t.c.conversation_id)
            .where(conversations.c.conversation_key == conversation_key)
        )
        name: str | None = await self._conn.scalar(query.limit(1))
        return name

    async def ensure(self, *, phone: str, conversation_id: int, now: datetime) -> LeadRecord:
        """The lead for this phone, created on first use (one row per phone, race-free)."""
        await self._conn.execute(
            insert_for(self._conn, t)
            .values(phone=phone, conversation_id=conversation_id, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["phone"])
        )
        lead = await self.get_by_phone(phone)
        assert lead is not None
        return lead

    async def update_slots(self, lead_id: int, slots: dict[str, Any], *, now: datetime) -> None:
        values = {SLOT_COLUMNS[slot]: value for slot, value in slots.items()}
        await self._conn.execute(
            update(t).where(t.c.id == lead_id).values(**values, updated_at=now)
        )

    async def set_temperature(
        self,
        lead_id: int,
        *,
        temperature: str | None,
        reason: str,
        suggested_model: str | None,
        now: datetime,
    ) -> None:
        await self._conn.execute(
            update(t)
            .where(t.c.id == lead_id)
            .values(
                temperature=temperature,
                temperature_reason=reason,
                suggested_model=suggested_model,
                temperature_updated_at=now,
                updated_at=now,
            )
        )
