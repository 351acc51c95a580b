"""All SQL on `empresa` (the client's company table), deduplicated by CNPJ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import empresa as t


@dataclass(frozen=True, slots=True)
class CompanyRecord:
    id: int
    cnpj: str | None
    legal_name: str | None
    city: str | None
    uf: str | None
    contact_lead_id: int | None


_COLUMNS = [
    t.c.id,
    t.c.cnpj,
    t.c.nome.label("legal_name"),
    t.c.cidade.label("city"),
    t.c.uf,
    t.c.contato.label("contact_lead_id"),
]


class CompanyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get_by_cnpj(self, cnpj: str) -> CompanyRecord | None:
        row = (await self._conn.execute(select(*_COLUMNS).where(t.c.cnpj == cnpj))).first()
        return CompanyRecord(**row._asdict()) if row else None

    async def for_lead(self, lead_id: int) -> CompanyRecord | None:
        query = select(*_COLUMNS).where(t.c.contato == lead_id).order_by(t.c.id.desc()).limit(1)
        row = (await self._conn.execute(query)).first()
        return CompanyRecord(**row._asdict()) if row else None

    async def upsert(
        self,
        *,
        cnpj: str,
        legal_name: str | None,
        city: str | None,
        uf: str | None,
        contact_lead_id: int,
        now: datetime,
    ) -> tuple[CompanyRecord, bool]:
        """Insert the company, or fill what the stored one lacks; `True` when it was new.

        A known value is never overwritten by an absent one, so a repeated call with fewer
        arguments changes nothing."""
        inserted = await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                cnpj=cnpj,
                nome=legal_name,
                cidade=city,
                uf=uf,
                contato=contact_lead_id,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["cnpj"])
            .returning(t.c.id)
        )
        # rowcount is not reliable for an INSERT with an implicit RETURNING on psycopg.
        created = inserted.first() is not None
        existing = await self.get_by_cnpj(cnpj)
        assert existing is not None
        if not created:
            changes = {
                column: value
                for column, value, current in (
                    ("nome", legal_name, existing.legal_name),
                    ("cidade", city, existing.city),
                    ("uf", uf, existing.uf),
                    ("contato", contact_lead_id, existing.contact_lead_id),
                )
                if value is not None and value != current
            }
            if changes:
                await self._conn.execute(
                    update(t).where(t.c.id == existing.id).values(**changes, updated_at=now)
                )
                existing = await self.get_by_cnpj(cnpj)
                assert existing is not None
        return existing, created
