"""All SQL on `orcamentos` (quote requests), one row per lead and product."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import orcamentos as t


@dataclass(frozen=True, slots=True)
class QuoteRecord:
    id: int
    lead_id: int
    product: str
    summary: str | None
    segment: str | None
    urgency: str | None
    volume: str | None
    deal_id: int | None


_COLUMNS = [
    t.c.id,
    t.c.lead_id,
    t.c.produto.label("product"),
    t.c.resumo.label("summary"),
    t.c.segmento.label("segment"),
    t.c.urgencia_compra.label("urgency"),
    t.c.volume_diario.label("volume"),
    t.c.oportunidade_pipe_id.label("deal_id"),
]


@dataclass(frozen=True, slots=True)
class QuoteDraft:
    product: str
    product_key: str
    summary: str | None
    segment: str | None
    urgency: str | None
    volume: str | None


class QuoteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def upsert(
        self, lead_id: int, draft: QuoteDraft, *, now: datetime
    ) -> tuple[QuoteRecord, bool]:
        """One request per lead and product: a repeat refreshes it; `True` when it was new."""
        values = {
            "produto": draft.product,
            "resumo": draft.summary,
            "segmento": draft.segment,
            "urgencia_compra": draft.urgency,
            "volume_diario": draft.volume,
        }
        inserted = await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                lead_id=lead_id,
                produto_chave=draft.product_key,
                created_at=now,
                updated_at=now,
                **values,
            )
            .on_conflict_do_nothing(index_elements=["lead_id", "produto_chave"])
            .returning(t.c.id)
        )
        # rowcount is not reliable for an INSERT with an implicit RETURNING on psycopg.
        created = inserted.first() is not None
        where = (t.c.lead_id == lead_id) & (t.c.produto_chave == draft.product_key)
        if not created:
            # Keep what was known when the repeat says less.
            changes = {column: value for column, value in values.items() if value is not None}
            await self._conn.execute(update(t).where(where).values(**changes, updated_at=now))
        row = (await self._conn.execute(select(*_COLUMNS).where(where))).one()
        return QuoteRecord(**row._asdict()), created

    async def count_for_lead(self, lead_id: int) -> int:
        query = select(func.count()).select_from(t).where(t.c.lead_id == lead_id)
        return int((await self._conn.execute(query)).scalar_one())

    async def for_lead(self, lead_id: int) -> list[QuoteRecord]:
        query = select(*_COLUMNS).where(t.c.lead_id == lead_id).order_by(t.c.id)
        return [QuoteRecord(**row._asdict()) for row in await self._conn.execute(query)]
