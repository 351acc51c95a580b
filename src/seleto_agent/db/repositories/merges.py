"""All SQL of merging one conversation (and its lead) into another of the same person.

The caller holds both conversation rows locked (services/identity.py). Nothing is overwritten:
rows move to the survivor, and where both have a thing that exists once per conversation or
lead (a pending handoff, a Chatwoot link, PipeRun ids, a quote for the same product), the
survivor's is kept and the other's is closed, left behind or only fills the survivor's blanks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.dialect import insert_for
from seleto_agent.db.repositories.handoffs import HandoffStatus
from seleto_agent.db.tables import (
    chatwoot_links,
    chatwoot_messages,
    conversations,
    crm_links,
    crm_notes,
    empresa,
    handoffs,
    inbound_events,
    lead_companies,
    leads,
    lgpd_requests,
    orcamentos,
    outbound_messages,
    outbox_jobs,
    send_proofs,
)
from seleto_agent.domain.jobs import JobKind, JobStatus

# Rows that belong to a conversation by its key and simply move.
_KEYED: dict[str, Table] = {
    "events": inbound_events,
    "outbound": outbound_messages,
    "send_proofs": send_proofs,
    "chatwoot_messages": chatwoot_messages,
    "lgpd_requests": lgpd_requests,
}
# Lead columns the survivor takes from the other lead only where it has nothing.
_LEAD_FILLABLE = (
    "name",
    "company_name",
    "email",
    "city",
    "uf",
    "segment",
    "produto_interesse",
    "volume_estimado",
    "urgencia_compra",
    "knows_seleto",
)
# The rules' verdict travels whole, or not at all.
_TEMPERATURE = ("temperature", "temperature_reason", "suggested_model", "temperature_updated_at")
_QUOTE_FILLABLE = ("resumo", "segmento", "urgencia_compra", "volume_diario", "oportunidade_pipe_id")


@dataclass(frozen=True, slots=True)
class LeadsMerged:
    quotes_moved: int
    quotes_combined: int
    # PipeRun ids of the other lead when both had some: left for an SDR to merge by hand.
    crm_left: dict[str, int] | None


class MergeRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def move_keyed_rows(self, loser: str, survivor: str) -> dict[str, int]:
        moved: dict[str, int] = {}
        for name, table in _KEYED.items():
            result = await self._conn.execute(
                update(table)
                .where(table.c.conversation_key == loser)
                .values(conversation_key=survivor)
            )
            moved[name] = result.rowcount
        return moved

    async def move_handoffs(self, loser: str, survivor: str, *, now: datetime) -> int:
        """All handoffs move; the other's pending one is closed when the survivor has its own
        (one pending handoff per conversation)."""
        survivor_pending = (
            await self._conn.execute(
                select(handoffs.c.id).where(
                    handoffs.c.conversation_key == survivor,
                    handoffs.c.status == HandoffStatus.PENDING,
                )
            )
        ).first()
        if survivor_pending is not None:
            await self._conn.execute(
                update(handoffs)
                .where(
                    handoffs.c.conversation_key == loser,
                    handoffs.c.status == HandoffStatus.PENDING,
                )
                .values(status=HandoffStatus.CLOSED, updated_at=now)
            )
        result = await self._conn.execute(
            update(handoffs)
            .where(handoffs.c.conversation_key == loser)
            .values(conversation_key=survivor, updated_at=now)
        )
        return result.rowcount

    async def move_chatwoot_link(self, loser: str, survivor: str) -> dict[str, Any] | None:
        """The other's Chatwoot link moves to the survivor when it has none. When both have
        one, the other's stays under its old key (a webhook from that Chatwoot conversation
        still resolves to the survivor) and its ids are returned for the audit."""
        columns = (chatwoot_links.c.contact_id, chatwoot_links.c.chatwoot_conversation_id)
        rows = {
            row.conversation_key: row
            for row in await self._conn.execute(
                select(chatwoot_links.c.conversation_key, *columns).where(
                    chatwoot_links.c.conversation_key.in_([loser, survivor])
                )
            )
        }
        if loser not in rows:
            return None
        if survivor in rows:
            other = rows[loser]
            return {
                "contact_id": other.contact_id,
                "conversation_id": other.chatwoot_conversation_id,
            }
        await self._conn.execute(
            update(chatwoot_links)
            .where(chatwoot_links.c.conversation_key == loser)
            .values(conversation_key=survivor)
        )
        return None

    async def move_conversation_jobs(self, loser: str, survivor: str, *, now: datetime) -> int:
        """Unfinished jobs queued under the other key join the survivor's queue (its Chatwoot
        mirror posts, company-phone checks), so they run in order with the survivor's."""
        moved = 0
        for prefix in ("cw:", "phone:"):
            result = await self._conn.execute(
                update(outbox_jobs)
                .where(
                    outbox_jobs.c.ordering_key == prefix + loser,
                    outbox_jobs.c.status != JobStatus.DONE,
                )
                .values(ordering_key=prefix + survivor, updated_at=now)
            )
            moved += result.rowcount
        return moved

    async def lead(self, phone: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(leads).where(leads.c.phone == phone))).first()
        return row._asdict() if row else None

    async def merge_leads(
        self, loser: dict[str, Any], survivor: dict[str, Any], *, now: datetime
    ) -> LeadsMerged:
        """Fill the survivor's blanks from the other lead, move what hangs on it, delete it."""
        loser_id, survivor_id = int(loser["id"]), int(survivor["id"])
        blanks = {col: loser[col] for col in _LEAD_FILLABLE if survivor[col] is None}
        if survivor["temperature"] is None and loser["temperature"] is not None:
            blanks |= {col: loser[col] for col in _TEMPERATURE}
        blanks = {col: value for col, value in blanks.items() if value is not None}
        if blanks:
            await self._conn.execute(
                update(leads).where(leads.c.id == survivor_id).values(**blanks, updated_at=now)
            )
        moved, combined = await self._move_quotes(loser_id, survivor_id, now=now)
        crm_left = await self._move_crm(loser_id, survivor_id)
        for table, column in (
            (empresa, empresa.c.contato),
            (handoffs, handoffs.c.lead_id),
            (lgpd_requests, lgpd_requests.c.lead_id),
        ):
            await self._conn.execute(
                update(table).where(column == loser_id).values({column.name: survivor_id})
            )
        await self._move_company_links(loser_id, survivor_id)
        await self._move_crm_jobs(loser_id, survivor_id, now=now)
        await self._conn.execute(delete(leads).where(leads.c.id == loser_id))
        return LeadsMerged(quotes_moved=moved, quotes_combined=combined, crm_left=crm_left)

    async def _move_company_links(self, loser_id: int, survivor_id: int) -> None:
        """The companies the other lead named become the survivor's too (its own links win);
        the other lead's rows go with it (ON DELETE CASCADE)."""
        rows = await self._conn.execute(
            select(lead_companies.c.company_id, lead_companies.c.linked_at).where(
                lead_companies.c.lead_id == loser_id
            )
        )
        for company_id, linked_at in rows.all():
            await self._conn.execute(
                insert_for(self._conn, lead_companies)
                .values(lead_id=survivor_id, company_id=company_id, linked_at=linked_at)
                .on_conflict_do_nothing(index_elements=["lead_id", "company_id"])
            )

    async def _move_quotes(
        self, loser_id: int, survivor_id: int, *, now: datetime
    ) -> tuple[int, int]:
        rows = {
            row.produto_chave: row._asdict()
            for row in await self._conn.execute(
                select(orcamentos).where(orcamentos.c.lead_id == survivor_id)
            )
        }
        moved = combined = 0
        for quote in await self._conn.execute(
            select(orcamentos).where(orcamentos.c.lead_id == loser_id)
        ):
            kept = rows.get(quote.produto_chave)
            if kept is None:
                await self._conn.execute(
                    update(orcamentos)
                    .where(orcamentos.c.id == quote.id)
                    .values(lead_id=survivor_id, updated_at=now)
                )
                moved += 1
                continue
            # The same product asked for in both conversations: one request, details joined.
            fill = {
                col: getattr(quote, col)
                for col in _QUOTE_FILLABLE
                if kept[col] is None and getattr(quote, col) is not None
            }
            if fill:
                await self._conn.execute(
                    update(orcamentos)
                    .where(orcamentos.c.id == kept["id"])
                    .values(**fill, updated_at=now)
                )
            await self._conn.execute(delete(orcamentos).where(orcamentos.c.id == quote.id))
            combined += 1
        return moved, combined

    async def _move_crm(self, loser_id: int, survivor_id: int) -> dict[str, int] | None:
        ids = (crm_links.c.company_id, crm_links.c.person_id, crm_links.c.deal_id)
        rows = {
            row.lead_id: row
            for row in await self._conn.execute(
                select(crm_links.c.lead_id, *ids).where(
                    crm_links.c.lead_id.in_([loser_id, survivor_id])
                )
            )
        }
        if loser_id not in rows:
            return None
        if survivor_id in rows:
            # Both are in PipeRun: the other's records (and notes) stay there for an SDR.
            other = rows[loser_id]
            return {
                name: value
                for name, value in (
                    ("company_id", other.company_id),
                    ("person_id", other.person_id),
                    ("deal_id", other.deal_id),
                )
                if value is not None
            }
        for table in (crm_links, crm_notes):
            await self._conn.execute(
                update(table).where(table.c.lead_id == loser_id).values(lead_id=survivor_id)
            )
        return None

    async def _move_crm_jobs(self, loser_id: int, survivor_id: int, *, now: datetime) -> None:
        """Unfinished PipeRun syncs of the other lead sync the survivor instead."""
        jobs = await self._conn.execute(
            select(outbox_jobs.c.id, outbox_jobs.c.payload).where(
                outbox_jobs.c.ordering_key == f"crm:lead:{loser_id}",
                outbox_jobs.c.kind == JobKind.CRM_SYNC,
                outbox_jobs.c.status != JobStatus.DONE,
            )
        )
        for job_id, payload in jobs.all():
            await self._conn.execute(
                update(outbox_jobs)
                .where(outbox_jobs.c.id == job_id)
                .values(
                    ordering_key=f"crm:lead:{survivor_id}",
                    payload={**payload, "lead_id": survivor_id},
                    updated_at=now,
                )
            )

    async def rehome_lead(
        self, lead_id: int, *, conversation_id: int, phone: str, now: datetime
    ) -> None:
        """The lead now belongs to this conversation, under this phone (its number once
        known, else the conversation key)."""
        await self._conn.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(conversation_id=conversation_id, phone=phone, updated_at=now)
        )

    async def absorb(
        self,
        survivor_id: int,
        *,
        phone_e164: str | None,
        reply_to: str,
        last_inbound_at: datetime | None,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {"phone_e164": phone_e164, "reply_to": reply_to, "updated_at": now}
        if last_inbound_at is not None:
            values["last_inbound_at"] = last_inbound_at
        await self._conn.execute(
            update(conversations).where(conversations.c.id == survivor_id).values(**values)
        )

    async def delete_conversation(self, conversation_id: int) -> None:
        await self._conn.execute(delete(conversations).where(conversations.c.id == conversation_id))
