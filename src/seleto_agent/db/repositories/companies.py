"""All SQL on `empresa` (the client's company table, deduplicated by CNPJ) and on
`lead_companies`, the leads that registered each company.

A CNPJ is public, so typing one proves nothing (redteam L3): the row belongs to the lead who
registered it first (`contato`), and only that lead's answers fill or correct it. Another lead
with the same CNPJ gets a link to the row and nothing else; its view of the company says it is
shared, so the SDR brief and the CRM note can flag it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.tables import empresa as t
from seleto_agent.db.tables import lead_companies


@dataclass(frozen=True, slots=True)
class CompanyRecord:
    id: int
    cnpj: str | None
    legal_name: str | None
    city: str | None
    uf: str | None
    contact_lead_id: int | None
    # Read for a lead that did not register the CNPJ first (another lead's row).
    shared: bool = False


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
        """The company the lead registered last."""
        query = (
            select(*_COLUMNS)
            .join(lead_companies, lead_companies.c.company_id == t.c.id)
            .where(lead_companies.c.lead_id == lead_id)
            .order_by(lead_companies.c.linked_at.desc(), t.c.id.desc())
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        record = CompanyRecord(**row._asdict())
        return replace(record, shared=record.contact_lead_id != lead_id)

    async def register(
        self,
        *,
        cnpj: str,
        legal_name: str | None,
        city: str | None,
        uf: str | None,
        lead_id: int,
        now: datetime,
    ) -> tuple[CompanyRecord, bool]:
        """Record that the lead gave this CNPJ; `True` when the company is new.

        The first lead to register a CNPJ owns the row: its later calls fill or correct the
        values (an absent one never erases a known one). A row whose owner is gone (lead
        deleted) passes to the lead registering it. Any other lead is only linked, and the
        record comes back `shared`."""
        inserted = await self._conn.execute(
            insert_for(self._conn, t)
            .values(
                cnpj=cnpj,
                nome=legal_name,
                cidade=city,
                uf=uf,
                contato=lead_id,
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
        if not created and existing.contact_lead_id in (None, lead_id):
            changes = {
                column: value
                for column, value, current in (
                    ("nome", legal_name, existing.legal_name),
                    ("cidade", city, existing.city),
                    ("uf", uf, existing.uf),
                    ("contato", lead_id, existing.contact_lead_id),
                )
                if value is not None and value != current
            }
            if changes:
                await self._conn.execute(
                    update(t).where(t.c.id == existing.id).values(**changes, updated_at=now)
                )
                existing = await self.get_by_cnpj(cnpj)
                assert existing is not None
        link = insert_for(self._conn, lead_companies).values(
            lead_id=lead_id, company_id=existing.id, linked_at=now
        )
        await self._conn.execute(
            link.on_conflict_do_update(
                index_elements=["lead_id", "company_id"], set_={"linked_at": now}
            )
        )
        return replace(existing, shared=existing.contact_lead_id != lead_id), created
