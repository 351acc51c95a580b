"""All SQL on `leads` (the qualification slots; the SDR-agent issue fills them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.tables import leads as t


@dataclass(frozen=True, slots=True)
class LeadRecord:
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


class LeadRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get_by_phone(self, phone: str) -> LeadRecord | None:
        query = select(
            t.c.name,
            t.c.company_name,
            t.c.email,
            t.c.city,
            t.c.uf,
            t.c.segment,
            t.c.produto_interesse.label("product_interest"),
            t.c.volume_estimado.label("production_volume"),
            t.c.urgencia_compra.label("urgency"),
            t.c.knows_seleto,
            t.c.temperature,
            t.c.temperature_reason,
        ).where(t.c.phone == phone)
        row = (await self._conn.execute(query)).first()
        return LeadRecord(**row._asdict()) if row else None
