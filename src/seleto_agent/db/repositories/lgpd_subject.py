"""All SQL of one person's rows for an LGPD export or erasure (RUNBOOK §7).

A person is their conversation (under its key and the keys merged into it), their lead, and
what hangs on either. Per table, erasure deletes what only serves the conversation (texts,
briefs, links, Agno's copy) and anonymises what must stay: an inbound event keeps its dedupe
key, so a provider's late redelivery of an old message is still a duplicate and never opens a
new lead; an outbound row and an outbox job keep their status for the counts; a request row
and the audit trail keep their facts under the erasure's random reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, cast, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seleto_agent.db.clock import db_now
from seleto_agent.db.tables import (
    audit_log,
    chatwoot_links,
    chatwoot_messages,
    conversations,
    crm_links,
    crm_notes,
    delivery_receipts,
    empresa,
    handoffs,
    inbound_events,
    lead_companies,
    leads,
    lgpd_requests,
    orcamentos,
    outbound_messages,
    outbox_jobs,
    send_pacing,
    send_proofs,
    whatsapp_identities,
)
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.jobs import JobStatus
from seleto_agent.domain.lgpd import ERASED_SUBJECT_TYPE
from seleto_agent.domain.phone import mask_conversation_key

ERASED_NOTE = "lgpd_erased"
_UNFINISHED_EVENTS = (
    EventStatus.RECEIVED,
    EventStatus.PROCESSING,
    EventStatus.FAILED,
    EventStatus.DEAD,
)
_UNFINISHED_JOBS = (JobStatus.PENDING, JobStatus.FAILED, JobStatus.DEAD)


@dataclass(frozen=True, slots=True)
class Subject:
    """Where one person's rows are: found once, then exported or erased."""

    keys: tuple[str, ...]
    phones: tuple[str, ...]
    conversation_ids: tuple[int, ...]
    lead_ids: tuple[int, ...]
    event_ids: tuple[int, ...]
    outbound_ids: tuple[int, ...]
    job_ids: tuple[int, ...]
    chatwoot_conversations: tuple[int, ...]
    # Masked audit subjects that belong to this person alone (see `find`).
    audit_subjects: tuple[str, ...]
    shared_audit_subjects: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        return bool(self.conversation_ids or self.lead_ids or self.event_ids or self.job_ids)


@dataclass(frozen=True, slots=True)
class VendorRecords:
    """The person's records at the vendors, read before their links are deleted."""

    chatwoot_contacts: tuple[int, ...]
    piperun_persons: tuple[int, ...]
    piperun_notes: tuple[int, ...]
    # Companies we created in PipeRun for this lead alone (a shared or found one stays).
    piperun_companies: tuple[int, ...]


class SubjectRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _column(self, query: Any) -> list[Any]:
        return [row[0] for row in await self._conn.execute(query)]

    async def find(self, key: str, *, phone: str | None) -> Subject:
        c = conversations
        conversation_ids = await self._column(select(c.c.id).where(c.c.conversation_key == key))
        merged = await self._column(
            select(whatsapp_identities.c.value).where(
                whatsapp_identities.c.conversation_id.in_(conversation_ids),
                whatsapp_identities.c.kind == "key",
            )
        )
        keys = tuple(dict.fromkeys([key, *merged]))
        known_phones = await self._column(
            select(c.c.phone_e164).where(c.c.id.in_(conversation_ids))
        )
        phones = tuple(p for p in dict.fromkeys([phone, *known_phones]) if p)
        lead_ids = await self._column(
            select(leads.c.id).where(
                or_(
                    leads.c.phone.in_([*phones, *keys]),
                    leads.c.conversation_id.in_(conversation_ids),
                )
            )
        )
        cw_conversations = await self._column(
            select(chatwoot_links.c.chatwoot_conversation_id).where(
                chatwoot_links.c.conversation_key.in_(keys),
                chatwoot_links.c.chatwoot_conversation_id.is_not(None),
            )
        )
        ordering = [
            *(f"{prefix}{k}" for k in keys for prefix in ("cw:", "phone:", "send:")),
            *(f"crm:lead:{lead_id}" for lead_id in lead_ids),
            *(f"cwin:{cw}" for cw in cw_conversations),
        ]
        jobs = await self._conn.execute(
            select(outbox_jobs.c.id, outbox_jobs.c.payload).where(
                outbox_jobs.c.ordering_key.in_(ordering)
            )
        )
        job_ids, job_events = [], []
        for job_id, payload in jobs:
            job_ids.append(job_id)
            if isinstance(payload, dict) and "event_id" in payload:
                job_events.append(int(payload["event_id"]))
        ev = inbound_events
        conditions = [ev.c.conversation_key.in_(keys), ev.c.id.in_(job_events)]
        if phones:
            conditions.append(ev.c.phone_e164.in_(phones))
        event_ids = await self._column(select(ev.c.id).where(or_(*conditions)))
        outbound_ids = await self._column(
            select(outbound_messages.c.id).where(outbound_messages.c.conversation_key.in_(keys))
        )
        mine, shared = await self._audit_subjects(keys)
        return Subject(
            keys=keys,
            phones=phones,
            conversation_ids=tuple(conversation_ids),
            lead_ids=tuple(lead_ids),
            event_ids=tuple(event_ids),
            outbound_ids=tuple(outbound_ids),
            job_ids=tuple(job_ids),
            chatwoot_conversations=tuple(cw_conversations),
            audit_subjects=mine,
            shared_audit_subjects=shared,
        )

    async def _audit_subjects(self, keys: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The masked subjects of `keys`, split into those no other conversation (or merged
        key) shares and those it does. A mask keeps the DDD and four digits, so numbers do
        share one; rows under a shared mask cannot be told apart and are left as they are."""
        masks = {mask_conversation_key(k) for k in keys}
        others: set[str] = set()
        for k in keys:
            # Same prefix and last four characters: the only keys that can share its mask.
            head, tail = (k[:9] if k.startswith("wa:+55") else "wa:"), k[-4:]
            for table, column in (
                (conversations, conversations.c.conversation_key),
                (whatsapp_identities, whatsapp_identities.c.value),
            ):
                query = select(column).where(column.like(f"{head}%{tail}"), column.not_in(keys))
                if table is whatsapp_identities:
                    query = query.where(whatsapp_identities.c.kind == "key")
                others.update(mask_conversation_key(v) for v in await self._column(query))
        return tuple(sorted(masks - others)), tuple(sorted(masks & others))

    async def vendor_records(self, subject: Subject) -> VendorRecords:
        contacts = await self._column(
            select(chatwoot_links.c.contact_id).where(
                chatwoot_links.c.conversation_key.in_(subject.keys),
                chatwoot_links.c.contact_id.is_not(None),
            )
        )
        links = (
            await self._conn.execute(
                select(
                    crm_links.c.person_id, crm_links.c.company_id, crm_links.c.company_created
                ).where(crm_links.c.lead_id.in_(subject.lead_ids))
            )
        ).all()
        notes = await self._column(
            select(crm_notes.c.note_id).where(crm_notes.c.lead_id.in_(subject.lead_ids))
        )
        companies = []
        for link in links:
            if link.company_id is None or not link.company_created:
                continue
            others = await self._column(
                select(func.count())
                .select_from(crm_links)
                .where(
                    crm_links.c.company_id == link.company_id,
                    crm_links.c.lead_id.not_in(subject.lead_ids),
                )
            )
            if not others[0]:
                companies.append(link.company_id)
        return VendorRecords(
            chatwoot_contacts=tuple(sorted(set(contacts))),
            piperun_persons=tuple(sorted({p for p, _c, _cc in links if p is not None})),
            piperun_notes=tuple(sorted(set(notes))),
            piperun_companies=tuple(sorted(set(companies))),
        )

    async def busy(self, subject: Subject) -> str | None:
        """Why erasing now would race live work (a running turn, a running vendor job)."""
        now = db_now(self._conn)
        leased = await self._column(
            select(conversations.c.id).where(
                conversations.c.id.in_(subject.conversation_ids),
                conversations.c.lease_expires_at > now,
            )
        )
        if leased:
            return "a turn is running for this conversation"
        running = await self._column(
            select(outbox_jobs.c.id).where(
                outbox_jobs.c.id.in_(subject.job_ids),
                outbox_jobs.c.status == JobStatus.PROCESSING,
                outbox_jobs.c.lease_expires_at > now,
            )
        )
        return "a vendor job of this person is running" if running else None

    # --- export -------------------------------------------------------------------------------

    async def export(self, subject: Subject) -> dict[str, list[dict[str, Any]]]:
        s = subject
        provider_ids = await self._column(
            select(outbound_messages.c.provider_message_id).where(
                outbound_messages.c.id.in_(s.outbound_ids),
                outbound_messages.c.provider_message_id.is_not(None),
            )
        )
        company_ids = await self._column(
            select(lead_companies.c.company_id).where(lead_companies.c.lead_id.in_(s.lead_ids))
        )
        selections: dict[str, tuple[Table, Any]] = {
            "conversations": (conversations, conversations.c.id.in_(s.conversation_ids)),
            "whatsapp_identities": (
                whatsapp_identities,
                whatsapp_identities.c.conversation_id.in_(s.conversation_ids),
            ),
            "leads": (leads, leads.c.id.in_(s.lead_ids)),
            "orcamentos": (orcamentos, orcamentos.c.lead_id.in_(s.lead_ids)),
            "empresa": (
                empresa,
                or_(empresa.c.contato.in_(s.lead_ids), empresa.c.id.in_(company_ids)),
            ),
            "lead_companies": (lead_companies, lead_companies.c.lead_id.in_(s.lead_ids)),
            "handoffs": (
                handoffs,
                or_(handoffs.c.conversation_key.in_(s.keys), handoffs.c.lead_id.in_(s.lead_ids)),
            ),
            "lgpd_requests": (lgpd_requests, lgpd_requests.c.conversation_key.in_(s.keys)),
            "inbound_events": (inbound_events, inbound_events.c.id.in_(s.event_ids)),
            "outbound_messages": (outbound_messages, outbound_messages.c.id.in_(s.outbound_ids)),
            "delivery_receipts": (
                delivery_receipts,
                delivery_receipts.c.provider_message_id.in_(provider_ids),
            ),
            "send_proofs": (send_proofs, send_proofs.c.conversation_key.in_(s.keys)),
            "audit_log": (
                audit_log,
                (audit_log.c.subject_type == "conversation")
                & audit_log.c.subject_id.in_(s.audit_subjects),
            ),
            "crm_links": (crm_links, crm_links.c.lead_id.in_(s.lead_ids)),
            "crm_notes": (crm_notes, crm_notes.c.lead_id.in_(s.lead_ids)),
            "chatwoot_links": (chatwoot_links, chatwoot_links.c.conversation_key.in_(s.keys)),
            "chatwoot_messages": (
                chatwoot_messages,
                chatwoot_messages.c.conversation_key.in_(s.keys),
            ),
            "outbox_jobs": (outbox_jobs, outbox_jobs.c.id.in_(s.job_ids)),
        }
        exported: dict[str, list[dict[str, Any]]] = {}
        for name, (table, where) in selections.items():
            rows = await self._conn.execute(select(table).where(where).order_by(*table.primary_key))
            exported[name] = [row._asdict() for row in rows]
        return exported

    # --- erasure ------------------------------------------------------------------------------

    async def erase(self, subject: Subject, *, reference: str, now: datetime) -> dict[str, int]:
        """Delete or anonymise every row of `subject`; rows touched per table."""
        s = subject
        done: dict[str, int] = {}

        async def run(name: str, statement: Any) -> None:
            result = await self._conn.execute(statement)
            if result.rowcount:
                done[name] = done.get(name, 0) + result.rowcount

        provider_ids = await self._column(
            select(outbound_messages.c.provider_message_id).where(
                outbound_messages.c.id.in_(s.outbound_ids),
                outbound_messages.c.provider_message_id.is_not(None),
            )
        )
        ev = inbound_events
        await run(
            "inbound_events",
            update(ev)
            .where(ev.c.id.in_(s.event_ids))
            .values(
                conversation_key=None,
                reply_to=None,
                phone_e164=None,
                body_text=None,
                payload=b"",
                referral=None,
                machine_value=None,
                lease_expires_at=None,
                updated_at=now,
            ),
        )
        # Nothing may answer, mirror or sync an erased message: unfinished events end here.
        await self._conn.execute(
            update(ev)
            .where(ev.c.id.in_(s.event_ids), ev.c.status.in_(_UNFINISHED_EVENTS))
            .values(status=EventStatus.DONE, last_error=ERASED_NOTE)
        )
        om = outbound_messages
        await run(
            "outbound_messages",
            update(om)
            .where(om.c.id.in_(s.outbound_ids))
            .values(
                idempotency_key=_prefixed(reference, om.c.id),
                conversation_key=reference,
                recipient="",
                body="",
                updated_at=now,
            ),
        )
        jobs = outbox_jobs
        await self._conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(s.job_ids), jobs.c.status.in_(_UNFINISHED_JOBS))
            .values(status=JobStatus.DONE, last_error=ERASED_NOTE, done_at=now)
        )
        await run(
            "outbox_jobs",
            update(jobs)
            .where(jobs.c.id.in_(s.job_ids))
            .values(
                ordering_key=reference,
                dedupe_key=_prefixed(reference, jobs.c.id),
                payload={},
                error_detail=None,
                updated_at=now,
            ),
        )
        await run(
            "delivery_receipts",
            delete(delivery_receipts).where(
                delivery_receipts.c.provider_message_id.in_(provider_ids)
            ),
        )
        await run(
            "send_proofs", delete(send_proofs).where(send_proofs.c.conversation_key.in_(s.keys))
        )
        await run(
            "send_pacing",
            delete(send_pacing).where(send_pacing.c.scope.in_([f"to:{k}" for k in s.keys])),
        )
        await run(
            "handoffs",
            delete(handoffs).where(
                or_(handoffs.c.conversation_key.in_(s.keys), handoffs.c.lead_id.in_(s.lead_ids))
            ),
        )
        # The request itself stays, as the record that it was answered (Art. 18 § 5).
        await run(
            "lgpd_requests",
            update(lgpd_requests)
            .where(lgpd_requests.c.conversation_key.in_(s.keys))
            .values(
                conversation_key=reference,
                lead_id=None,
                event_id=None,
                status="done",
                updated_at=now,
            ),
        )
        await run(
            "chatwoot_messages",
            delete(chatwoot_messages).where(chatwoot_messages.c.conversation_key.in_(s.keys)),
        )
        await run(
            "chatwoot_links",
            delete(chatwoot_links).where(chatwoot_links.c.conversation_key.in_(s.keys)),
        )
        await self._erase_lead_rows(s, run)
        await run(
            "audit_log",
            update(audit_log)
            .where(
                audit_log.c.subject_type == "conversation",
                audit_log.c.subject_id.in_(s.audit_subjects),
            )
            .values(subject_type=ERASED_SUBJECT_TYPE, subject_id=reference),
        )
        await run(
            "whatsapp_identities",
            delete(whatsapp_identities).where(
                whatsapp_identities.c.conversation_id.in_(s.conversation_ids)
            ),
        )
        await run(
            "conversations", delete(conversations).where(conversations.c.id.in_(s.conversation_ids))
        )
        return done

    async def _erase_lead_rows(self, s: Subject, run: Any) -> None:
        ids = s.lead_ids
        only_ours = select(lead_companies.c.company_id).where(lead_companies.c.lead_id.in_(ids))
        shared = select(lead_companies.c.company_id).where(lead_companies.c.lead_id.not_in(ids))
        # A company only this lead named is its data (a sole trader's name, its e-mail);
        # a company other leads named too stays theirs, without this lead as its contact.
        solo = await self._column(
            select(empresa.c.id).where(
                or_(empresa.c.id.in_(only_ours), empresa.c.contato.in_(ids)),
                empresa.c.id.not_in(shared),
            )
        )
        await run(
            "empresa_contact",
            update(empresa).where(empresa.c.contato.in_(ids)).values(contato=None),
        )
        for table in (orcamentos, crm_notes, crm_links, lead_companies):
            await run(table.name, delete(table).where(table.c.lead_id.in_(ids)))
        await run("empresa", delete(empresa).where(empresa.c.id.in_(solo)))
        await run("leads", delete(leads).where(leads.c.id.in_(ids)))


def _prefixed(reference: str, row_id: Any) -> Any:
    """`<reference>:<row id>`: unique per row, and nothing left of the old key."""
    return literal(f"{reference}:", Text) + cast(row_id, Text)
