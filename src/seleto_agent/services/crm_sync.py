"""PipeRun sync of one lead: company (by CNPJ), person, deal and notes — never twice.

Runs as an outbox job (`crm.sync`), so it never delays a reply and survives PipeRun outages.
Each step saves PipeRun's id in the same transaction that records the step as done. Before a
create is sent, the step is marked as "intended"; only an intended step (a create that may have
reached PipeRun before a crash or a lost answer) is looked up before creating again, so the
happy path makes no extra GET. A company is always looked up by CNPJ first: it may already be
in the CRM, entered by a salesperson, and then it is linked, never edited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.companies import CompanyRepository
from seleto_agent.db.repositories.crm import CrmLinks, CrmRepository, set_quote_deal_ids
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.jobs import JobRecord
from seleto_agent.db.tables import conversations, handoffs, leads, orcamentos, outbox_jobs
from seleto_agent.domain.brazil import format_cnpj, same_cnpj
from seleto_agent.domain.crm import (
    CrmLead,
    CrmQuote,
    DealTarget,
    company_contacts,
    company_contacts_update,
    company_create_payload,
    company_update_payload,
    crm_lead_fingerprint,
    deal_create_payload,
    deal_update_payload,
    handoff_brief_text,
    lead_reference,
    note_has_marker,
    note_marker,
    person_contacts,
    person_contacts_update,
    person_create_payload,
    person_update_payload,
    summary_note_text,
)
from seleto_agent.domain.crm_lead import carries_phone
from seleto_agent.domain.jobs import JobStatus
from seleto_agent.integrations.piperun.client import PipeRunClient
from seleto_agent.integrations.piperun.errors import PipeRunRejected
from seleto_agent.integrations.piperun.schemas import Company, Person
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import FUNNEL
from seleto_agent.services.piperun_cities import CityResolver

log = get_logger(__name__)

SUMMARY_NOTE = "resumo"


@dataclass(slots=True)
class SyncOutcome:
    company_id: int | None = None
    person_id: int | None = None
    deal_id: int | None = None
    created: int = 0
    updated: int = 0

    def note(self) -> str:
        return (
            f"company={self.company_id} person={self.person_id} deal={self.deal_id} "
            f"created={self.created} updated={self.updated}"
        )


class CrmSyncHandler:
    def __init__(
        self,
        engine: AsyncEngine,
        client: PipeRunClient,
        *,
        target: DealTarget,
        cities: CityResolver,
    ) -> None:
        self._engine = engine
        self._client = client
        self._target = target
        self._cities = cities

    async def handle(self, job: JobRecord) -> str | None:
        lead_id = int(job.payload["lead_id"])
        await self._coalesce_later_jobs(job)
        lead = await self._snapshot(lead_id)
        if lead is None:
            return "lead_gone"
        async with self._engine.connect() as conn:
            links = await CrmRepository(conn).links(lead_id)
        outcome = SyncOutcome()
        if lead.company_shared:
            # Another lead's company: its address is not this lead's (redteam L3).
            city_id = await self._cities.resolve(lead.city, lead.uf)
        else:
            city_id = await self._cities.resolve(
                lead.company_city or lead.city, lead.company_uf or lead.uf
            )
        outcome.company_id = await self._company(lead, links, city_id, outcome)
        # A person's company_id says "works there": not for a CNPJ nobody vouched for.
        person_company = None if lead.company_shared else outcome.company_id
        outcome.person_id = await self._person(lead, links, person_company, city_id, outcome)
        outcome.deal_id = await self._deal(lead, links, outcome)
        await self._summary_note(lead, outcome)
        await self._handoff_notes(lead, outcome)
        async with self._engine.begin() as conn:
            await CrmRepository(conn).save_links(
                lead_id, {"synced_at": datetime.now(UTC)}, now=datetime.now(UTC)
            )
        log.info("crm.synced", lead_id=lead_id, created=outcome.created, updated=outcome.updated)
        return outcome.note()

    async def _coalesce_later_jobs(self, job: JobRecord) -> None:
        """Later sync jobs of this lead that have not started are covered by this run: it reads
        the lead after marking them, so their changes (committed with them) are included."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox_jobs)
                .where(
                    outbox_jobs.c.ordering_key == job.ordering_key,
                    outbox_jobs.c.id > job.id,
                    outbox_jobs.c.status == JobStatus.PENDING,
                    outbox_jobs.c.attempts == 0,
                )
                .values(
                    status=JobStatus.DONE,
                    last_error=f"coalesced into job {job.id}",
                    done_at=now,
                    updated_at=now,
                )
            )

    # -- company -------------------------------------------------------------------------------

    async def _company(
        self, lead: CrmLead, links: CrmLinks, city_id: int | None, outcome: SyncOutcome
    ) -> int | None:
        create = company_create_payload(lead, city_id=city_id)
        if create is None:
            return links.company_id
        if lead.company_shared:
            return await self._shared_company(lead, links)
        if links.company_id is not None:
            if links.company_created:
                payload = company_update_payload(lead, city_id=city_id)
                relinked = await self._relink_by_cnpj(lead, links, payload)
                if relinked is not None:
                    return relinked
                company_id = links.company_id
                await self._update_if_changed(
                    lead.lead_id,
                    "company",
                    payload,
                    links.company_fingerprint,
                    lambda: self._cnpj_or_without(
                        lead.lead_id,
                        payload,
                        lambda body: self._client.update_company(company_id, body),
                    ),
                    outcome,
                )
                await self._contacts_if_changed(
                    lead,
                    "company",
                    company_contacts(lead),
                    links.company_contacts_fingerprint,
                    read=lambda: self._client.get_company(company_id),
                    extend=partial(company_contacts_update, lead),
                    write=lambda body: self._client.update_company(company_id, body),
                    outcome=outcome,
                )
            return links.company_id
        reference = lead_reference(lead.lead_id)
        found = await self._company_by_cnpj(lead) if lead.cnpj else None
        if found is None and "company" in links.create_intents:
            # Our earlier create may have been sent before the CNPJ was known.
            companies = await self._client.find_companies(external_code=reference)
            found = next((c for c in companies if c.external_code == reference), None)
        if found is not None:
            # Ours when it carries our reference (created before a crash); else someone else's.
            ours = found.external_code == reference
            await self._save(
                lead.lead_id,
                {
                    "company_id": found.id,
                    "company_created": ours,
                    "company_fingerprint": None,
                },
                done="company",
            )
            if ours:
                links = await self._links(lead.lead_id)
                return await self._company(lead, links, city_id, outcome)
            return found.id
        await self._intend(lead.lead_id, "company")
        created = await self._cnpj_or_without(lead.lead_id, create, self._client.create_company)
        outcome.created += 1
        await self._save(
            lead.lead_id,
            {
                "company_id": created.id,
                "company_created": True,
                "company_fingerprint": crm_lead_fingerprint(
                    company_update_payload(lead, city_id=city_id)
                ),
                "company_contacts_fingerprint": crm_lead_fingerprint(company_contacts(lead)),
            },
            done="company",
        )
        return created.id

    async def _relink_by_cnpj(
        self, lead: CrmLead, links: CrmLinks, payload: dict[str, Any]
    ) -> int | None:
        """Before an update of a company we filed, one PipeRun already has under the lead's
        CNPJ, or None. A sync can file the company by name before the lead gives its CNPJ
        (the lead's tool calls run concurrently); writing the CNPJ onto ours would then make
        two companies with one CNPJ. The company we filed stays, unlinked, for the SDR to
        remove. Looked up only when the update would be sent."""
        if not lead.cnpj or crm_lead_fingerprint(payload) == links.company_fingerprint:
            return None
        found = await self._company_by_cnpj(lead)
        if found is None or found.id == links.company_id:
            return None
        log.info("crm.company_relinked", lead_id=lead.lead_id, company_id=found.id)
        await self._save(
            lead.lead_id,
            {
                "company_id": found.id,
                "company_created": found.external_code == lead_reference(lead.lead_id),
                "company_fingerprint": None,
                "company_contacts_fingerprint": None,
            },
            done=None,
        )
        return found.id

    async def _shared_company(self, lead: CrmLead, links: CrmLinks) -> int | None:
        """The company of a CNPJ another lead registered first: linked to this lead's deal
        when PipeRun has it, never created nor edited by this lead's sync (redteam L3)."""
        if links.company_id is not None:
            return links.company_id
        found = await self._company_by_cnpj(lead)
        if found is None:
            # The owner's sync creates it; a later sync of this lead links it then.
            return None
        await self._save(
            lead.lead_id,
            {"company_id": found.id, "company_created": False, "company_fingerprint": None},
            done="company",
        )
        return found.id

    async def _company_by_cnpj(self, lead: CrmLead) -> Company | None:
        """The PipeRun company carrying the lead's CNPJ, compared by us: PipeRun ignores a
        filter it cannot parse and then lists other companies (vendors.md #9)."""
        assert lead.cnpj is not None
        listed = await self._client.find_companies(cnpj=format_cnpj(lead.cnpj))
        found = next((c for c in listed if same_cnpj(c.cnpj, lead.cnpj)), None)
        if found is None and listed:
            log.warning("crm.company_cnpj_mismatch", lead_id=lead.lead_id, listed=len(listed))
        return found

    async def _cnpj_or_without(
        self,
        lead_id: int,
        payload: dict[str, Any],
        send: Callable[[dict[str, Any]], Awaitable[Company]],
    ) -> Company:
        """Send the company; if PipeRun refuses its CNPJ (only numeric ones are documented; an
        alphanumeric CNPJ may be refused), send it again without, the CNPJ staying in the
        summary note. Asked each time, so a PipeRun that learns them gets the CNPJ."""
        try:
            return await send(payload)
        except PipeRunRejected as exc:
            if "cnpj" not in payload or "cnpj" not in exc.field_errors:
                raise
        log.warning("crm.company_cnpj_refused", lead_id=lead_id)
        return await send({key: value for key, value in payload.items() if key != "cnpj"})

    # -- person --------------------------------------------------------------------------------

    async def _person(
        self,
        lead: CrmLead,
        links: CrmLinks,
        company_id: int | None,
        city_id: int | None,
        outcome: SyncOutcome,
    ) -> int:
        update_payload = person_update_payload(lead, company_id=company_id, city_id=city_id)
        if links.person_id is not None:
            person_id = links.person_id
            await self._update_if_changed(
                lead.lead_id,
                "person",
                update_payload,
                links.person_fingerprint,
                lambda: self._client.update_person(person_id, update_payload),
                outcome,
            )
            await self._contacts_if_changed(
                lead,
                "person",
                person_contacts(lead),
                links.person_contacts_fingerprint,
                read=lambda: self._client.get_person(person_id),
                extend=partial(person_contacts_update, lead),
                write=lambda body: self._client.update_person(person_id, body),
                outcome=outcome,
            )
            return person_id
        create = person_create_payload(lead, company_id=company_id, city_id=city_id)
        if "person" in links.create_intents:
            # GET /persons lists each person with its `contact_phones` (PipeRun's example; the
            # list documents no `with=`); a person without them is not taken for ours.
            candidates = await self._client.find_persons(company_id=company_id, name=create["name"])
            match = next(
                (p for p in candidates if _same_person(p, create, company_id, lead.phone)), None
            )
            if match is not None:
                await self._save(lead.lead_id, {"person_id": match.id}, done="person")
                return match.id
        await self._intend(lead.lead_id, "person")
        person = await self._client.create_person(create)
        outcome.created += 1
        if "contactPhones" in create and not carries_phone(person.phones, lead.phone):
            # The SDR calls the lead back on this number; which item shape persons really take
            # is unverified (vendors.md #5), so what PipeRun answered is checked.
            log.warning("crm.person_phone_not_stored", lead_id=lead.lead_id, person_id=person.id)
        await self._save(
            lead.lead_id,
            {
                "person_id": person.id,
                "person_fingerprint": crm_lead_fingerprint(update_payload),
                "person_contacts_fingerprint": crm_lead_fingerprint(person_contacts(lead)),
            },
            done="person",
        )
        return person.id

    # -- deal ----------------------------------------------------------------------------------

    async def _deal(self, lead: CrmLead, links: CrmLinks, outcome: SyncOutcome) -> int:
        assert outcome.person_id is not None
        update_payload = deal_update_payload(
            lead, person_id=outcome.person_id, company_id=outcome.company_id
        )
        if links.deal_id is not None:
            await self._update_if_changed(
                lead.lead_id,
                "deal",
                update_payload,
                links.deal_fingerprint,
                lambda: self._client.update_deal(links.deal_id or 0, update_payload),
                outcome,
            )
            await self._link_quotes(lead.lead_id, links.deal_id)
            return links.deal_id
        reference = lead_reference(lead.lead_id)
        if "deal" in links.create_intents:
            deals = await self._client.find_deals(
                person_id=outcome.person_id, pipeline_id=self._target.pipeline_id
            )
            match = next((d for d in deals if d.reference == reference), None)
            if match is not None:
                await self._save(lead.lead_id, {"deal_id": match.id}, done="deal")
                await self._link_quotes(lead.lead_id, match.id)
                return match.id
        await self._intend(lead.lead_id, "deal")
        deal = await self._client.create_deal(
            deal_create_payload(
                lead, self._target, person_id=outcome.person_id, company_id=outcome.company_id
            )
        )
        outcome.created += 1
        FUNNEL.labels("crm_synced").inc()
        await self._save(
            lead.lead_id,
            {"deal_id": deal.id, "deal_fingerprint": crm_lead_fingerprint(update_payload)},
            done="deal",
        )
        await self._link_quotes(lead.lead_id, deal.id)
        return deal.id

    async def _link_quotes(self, lead_id: int, deal_id: int) -> None:
        async with self._engine.begin() as conn:
            await set_quote_deal_ids(conn, lead_id, deal_id)

    # -- notes ---------------------------------------------------------------------------------

    async def _summary_note(self, lead: CrmLead, outcome: SyncOutcome) -> None:
        text = summary_note_text(lead)
        await self._note(lead, outcome, key=SUMMARY_NOTE, text=text, updatable=True)

    async def _handoff_notes(self, lead: CrmLead, outcome: SyncOutcome) -> None:
        for handoff in await self._handoffs(lead.lead_id):
            key = f"handoff-{handoff['id']}"
            text = handoff_brief_text(
                handoff["summary"],
                kind=handoff["kind"],
                reason=handoff["reason"],
                temperature=lead.temperature,
                temperature_reason=lead.temperature_reason,
                marker=note_marker(lead.lead_id, key),
            )
            # A brief records the moment of the handoff: written once, never rewritten.
            await self._note(lead, outcome, key=key, text=text, updatable=False)

    async def _note(
        self, lead: CrmLead, outcome: SyncOutcome, *, key: str, text: str, updatable: bool
    ) -> None:
        assert outcome.deal_id is not None
        fingerprint = crm_lead_fingerprint({"text": text})
        async with self._engine.connect() as conn:
            repo = CrmRepository(conn)
            existing = (await repo.notes(lead.lead_id)).get(key)
            intents = (await repo.links(lead.lead_id)).create_intents
        if existing is not None:
            if updatable and existing.fingerprint != fingerprint:
                await self._client.update_note(existing.note_id, {"text": text})
                outcome.updated += 1
                await self._save_note(lead.lead_id, key, existing.note_id, fingerprint)
            return
        intent = f"note:{key}"
        if intent in intents:
            for note in await self._client.find_notes(deal_id=outcome.deal_id):
                if note_has_marker(note.text or "", lead.lead_id, key):
                    await self._save_note(lead.lead_id, key, note.id, "")
                    await self._note(lead, outcome, key=key, text=text, updatable=updatable)
                    return
        await self._intend(lead.lead_id, intent)
        payload: dict[str, Any] = {"text": text, "deal_id": outcome.deal_id}
        if outcome.person_id is not None:
            payload["person_id"] = outcome.person_id
        # On another lead's company the note would show this lead's data on that company.
        if outcome.company_id is not None and not lead.company_shared:
            payload["company_id"] = outcome.company_id
        note = await self._client.create_note(payload)
        outcome.created += 1
        await self._save_note(lead.lead_id, key, note.id, fingerprint)

    async def _save_note(self, lead_id: int, key: str, note_id: int, fingerprint: str) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = CrmRepository(conn)
            await repo.save_note(
                lead_id, note_key=key, note_id=note_id, fingerprint=fingerprint, now=now
            )
            intents = dict((await repo.links(lead_id)).create_intents)
            intents.pop(f"note:{key}", None)
            await repo.save_links(lead_id, {"create_intents": intents}, now=now)

    # -- shared --------------------------------------------------------------------------------

    async def _update_if_changed(
        self,
        lead_id: int,
        step: str,
        payload: dict[str, Any],
        stored: str | None,
        call: Callable[[], Awaitable[object]],
        outcome: SyncOutcome,
    ) -> None:
        fingerprint = crm_lead_fingerprint(payload)
        if fingerprint == stored:
            return
        await call()
        outcome.updated += 1
        await self._save(lead_id, {f"{step}_fingerprint": fingerprint}, done=None)

    async def _contacts_if_changed(
        self,
        lead: CrmLead,
        step: str,
        contacts: dict[str, Any],
        stored: str | None,
        *,
        read: Callable[[], Awaitable[Company | Person]],
        extend: Callable[..., dict[str, Any]],
        write: Callable[[dict[str, Any]], Awaitable[object]],
        outcome: SyncOutcome,
    ) -> None:
        """Add the lead's e-mail/phone to the record's lists when they changed since last sent.

        Whether a PUT replaces a list or adds to it is undocumented (vendors.md #16), so the
        record is read first and a list is sent as PipeRun's values plus ours: nothing an SDR
        typed is dropped either way. A list PipeRun did not return is left alone."""
        fingerprint = crm_lead_fingerprint(contacts)
        if fingerprint == stored:
            return
        if contacts:
            record = await read()
            listed = record.model_fields_set
            body = extend(
                emails=record.emails if "contact_emails" in listed else None,
                phones=record.phones if "contact_phones" in listed else None,
            )
            unlisted = [
                key
                for key, field in (
                    ("contactEmails", "contact_emails"),
                    ("contactPhones", "contact_phones"),
                )
                if key in contacts and field not in listed
            ]
            if unlisted:
                log.warning("crm.contacts_not_listed", lead_id=lead.lead_id, step=step)
            if body:
                await write(body)
                outcome.updated += 1
        await self._save(lead.lead_id, {f"{step}_contacts_fingerprint": fingerprint}, done=None)

    async def _intend(self, lead_id: int, step: str) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = CrmRepository(conn)
            intents = dict((await repo.links(lead_id)).create_intents)
            intents[step] = now.isoformat()
            await repo.save_links(lead_id, {"create_intents": intents}, now=now)

    async def _save(self, lead_id: int, values: dict[str, Any], *, done: str | None) -> None:
        """Store ids/fingerprints and clear the step's intent, in one transaction."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            repo = CrmRepository(conn)
            if done is not None:
                intents = dict((await repo.links(lead_id)).create_intents)
                intents.pop(done, None)
                values = {**values, "create_intents": intents}
            await repo.save_links(lead_id, values, now=now)

    async def _links(self, lead_id: int) -> CrmLinks:
        async with self._engine.connect() as conn:
            return await CrmRepository(conn).links(lead_id)

    async def _handoffs(self, lead_id: int) -> list[dict[str, Any]]:
        query = (
            select(handoffs.c.id, handoffs.c.kind, handoffs.c.reason, handoffs.c.summary)
            .where(handoffs.c.lead_id == lead_id)
            .order_by(handoffs.c.id)
        )
        async with self._engine.connect() as conn:
            return [row._asdict() for row in await conn.execute(query)]

    async def _snapshot(self, lead_id: int) -> CrmLead | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).first()
            if row is None:
                return None
            company = await CompanyRepository(conn).for_lead(lead_id)
            quotes = (
                await conn.execute(
                    select(orcamentos.c.produto, orcamentos.c.resumo, orcamentos.c.created_at)
                    .where(orcamentos.c.lead_id == lead_id)
                    .order_by(orcamentos.c.id)
                )
            ).all()
            pending_handoff = (
                await conn.execute(
                    select(handoffs.c.id).where(
                        handoffs.c.lead_id == lead_id, handoffs.c.status == "pending"
                    )
                )
            ).first()
            first_contact = None
            referrals: list[dict[str, Any]] = []
            if row.conversation_id is not None:
                opened = (
                    await conn.execute(
                        select(conversations.c.created_at, conversations.c.conversation_key).where(
                            conversations.c.id == row.conversation_id
                        )
                    )
                ).first()
                if opened is not None:
                    first_contact = opened.created_at
                    referrals = await EventRepository(conn).referrals_for(opened.conversation_key)
        return CrmLead(
            lead_id=row.id,
            phone=row.phone if row.phone.startswith("+") else None,
            name=row.name,
            company_name=row.company_name,
            email=row.email,
            city=row.city,
            uf=row.uf,
            segment=row.segment,
            product_interest=row.produto_interesse,
            production_volume=row.volume_estimado,
            urgency=row.urgencia_compra,
            knows_seleto=row.knows_seleto,
            temperature=row.temperature,
            temperature_reason=row.temperature_reason,
            suggested_model=row.suggested_model,
            cnpj=company.cnpj if company else None,
            legal_name=company.legal_name if company else None,
            company_city=company.city if company else None,
            company_uf=company.uf if company else None,
            quotes=tuple(
                CrmQuote(product=q.produto, summary=q.resumo, created_at=q.created_at)
                for q in quotes
            ),
            first_contact_at=first_contact or row.created_at,
            handed_off=pending_handoff is not None,
            company_shared=company.shared if company else False,
            referrals=tuple({str(k): str(v) for k, v in r.items()} for r in referrals),
        )


def _same_person(
    person: Person, create: dict[str, Any], company_id: int | None, phone: str | None
) -> bool:
    """A person found by name is ours only with a second key: the lead's phone among its
    phones, or the company we link it to. A name alone may be a stranger (vendors.md #13);
    without a second key the person is created again, a duplicate the SDR can merge."""
    if str(person.name).casefold().strip() != str(create["name"]).casefold().strip():
        return False
    if carries_phone(person.phones, phone):
        return True
    return company_id is not None and person.company_id == company_id
