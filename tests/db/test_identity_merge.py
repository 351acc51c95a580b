"""Merging two conversations of one person, on both databases: what moves, what the survivor
keeps, what is left for an SDR (and recorded in the audit), and keys that keep resolving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.chatwoot import ChatwootRepository, queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.crm import CrmRepository
from seleto_agent.db.repositories.identities import IdentityRepository
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.db.tables import (
    audit_log,
    conversations,
    crm_links,
    handoffs,
    inbound_events,
    lead_companies,
    leads,
    lgpd_requests,
    orcamentos,
    outbox_jobs,
)
from seleto_agent.domain.events import InboundMessage, IngestOutcome
from seleto_agent.domain.jobs import JobKind
from seleto_agent.integrations.zapi.adapter import classify
from seleto_agent.runtime import build_ownership
from seleto_agent.services.identity import IdentityService
from seleto_agent.services.ingest import IngestService
from seleto_agent.services.leads import LeadService
from seleto_agent.settings import Settings
from tests.concurrency.helpers import ALWAYS_OPEN, engine_for, lead_service
from tests.factories import ZAPI_LINE, received_text

PHONE = "5541988001122"
LID = "70011122233344@lid"
SURVIVOR = "wa:lid:70011122233344"
MERGED = "wa:+5541988001122"


@dataclass
class World:
    engine: AsyncEngine
    ingest: IngestService
    leads: LeadService

    async def write(self, **fields: Any) -> None:
        body = received_text(**fields)
        classified = classify(body, ZAPI_LINE)
        assert isinstance(classified, InboundMessage)
        outcome = await self.ingest.ingest(raw=b"{}", classified=classified)
        assert outcome is IngestOutcome.ACCEPTED

    async def by_lid(self) -> None:
        await self.write(phone=LID)

    async def by_number_alone(self) -> None:
        await self.write(phone=PHONE, senderLid=None, chatLid=None)

    async def linking_both(self) -> None:
        await self.write(phone=PHONE, senderLid=LID, chatLid=LID)

    async def rows(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            query = select(table).where(*where).order_by(*table.primary_key.columns)
            result = await conn.execute(query)
            return [row._asdict() for row in result]


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    async with engine_for(database_url) as engine:
        settings = Settings(_env_file=None, business_hours_file=ALWAYS_OPEN)  # type: ignore[call-arg]
        ownership = build_ownership(settings, engine)
        ingest = IngestService(
            engine, identity=IdentityService(ownership), on_accepted=lambda: None, mirror=True
        )
        yield World(engine, ingest, lead_service(engine, crm=True))


async def lead_id(world: World, phone: str) -> int:
    [row] = await world.rows(leads, leads.c.phone == phone)
    return int(row["id"])


async def test_merge_moves_everything_and_leaves_the_others_vendor_records_to_an_sdr(
    world: World,
) -> None:
    await world.by_lid()
    await world.by_number_alone()
    now = datetime.now(UTC)
    # The older conversation (by @lid) knows the name and asked for the FB300.
    await world.leads.update_lead(SURVIVOR, {"name": "Ana"}, turn_id="t1")
    await world.leads.create_quote_request(SURVIVOR, product="FB300", details=None, turn_id="t1")
    await world.leads.request_handoff(SURVIVOR, reason="quer falar", kind="requested", turn_id="t1")
    # The newer one (by number) knows more, also asked for the FB300 and for the FB700.
    await world.leads.update_lead(
        MERGED, {"name": "Ana Paula", "city": "Joinville", "uf": "SC"}, turn_id="t2"
    )
    await world.leads.create_quote_request(
        MERGED, product="FB300", details="moldes de 120 g", turn_id="t2"
    )
    await world.leads.create_quote_request(MERGED, product="FB700", details=None, turn_id="t2")
    await world.leads.request_handoff(MERGED, reason="quer ligar", kind="requested", turn_id="t2")
    await world.leads.record_lgpd_request(MERGED, kinds=["data_access"], event_id=2, turn_id="t2")
    company = await world.leads.register_company(
        MERGED, cnpj="11222333000181", legal_name="Ana Burgers Ltda", city=None, uf=None
    )
    survivor_lead = await lead_id(world, SURVIVOR)
    merged_lead = await lead_id(world, "+5541988001122")
    async with world.engine.begin() as conn:
        # Both are in PipeRun and in Chatwoot already.
        crm = CrmRepository(conn)
        await crm.save_links(survivor_lead, {"person_id": 11, "deal_id": 111}, now=now)
        await crm.save_links(merged_lead, {"person_id": 22, "deal_id": 222}, now=now)
        chatwoot = ChatwootRepository(conn)
        await chatwoot.save_link(
            SURVIVOR, {"contact_id": 1, "chatwoot_conversation_id": 5}, now=now
        )
        await chatwoot.save_link(MERGED, {"contact_id": 2, "chatwoot_conversation_id": 6}, now=now)
        # Still queued for the newer one.
        await queue_mirror(conn, conversation_key=MERGED, what="note", ref="n1", now=now)
    crm_jobs_before = await world.rows(
        outbox_jobs, outbox_jobs.c.ordering_key == f"crm:lead:{merged_lead}"
    )
    assert crm_jobs_before

    await world.linking_both()

    assert [c["conversation_key"] for c in await world.rows(conversations)] == [SURVIVOR]
    [lead] = await world.rows(leads)
    # The survivor's slots stay; its blanks are filled; it is filed under the number now.
    assert (lead["id"], lead["name"], lead["city"], lead["uf"]) == (
        survivor_lead,
        "Ana",
        "Joinville",
        "SC",
    )
    assert lead["phone"] == "+5541988001122"
    events = await world.rows(inbound_events)
    assert {e["conversation_key"] for e in events} == {SURVIVOR}
    quotes = {q["produto_chave"]: q for q in await world.rows(orcamentos)}
    assert set(quotes) == {"FB300", "FB700"}
    assert {q["lead_id"] for q in quotes.values()} == {survivor_lead}
    assert quotes["FB300"]["resumo"] == "moldes de 120 g"
    # The company the newer lead registered is the survivor's now.
    links = await world.rows(lead_companies)
    assert [(link["lead_id"], link["company_id"]) for link in links] == [
        (survivor_lead, company.company_id)
    ]
    pending = await world.rows(handoffs, handoffs.c.status == "pending")
    assert [(h["conversation_key"], h["lead_id"]) for h in pending] == [(SURVIVOR, survivor_lead)]
    assert len(await world.rows(handoffs)) == 2
    [lgpd] = await world.rows(lgpd_requests)
    assert (lgpd["conversation_key"], lgpd["lead_id"]) == (SURVIVOR, survivor_lead)
    assert [(r["lead_id"], r["person_id"]) for r in await world.rows(crm_links)] == [
        (survivor_lead, 11)
    ]
    jobs = await world.rows(outbox_jobs, outbox_jobs.c.status != "done")
    keys = {j["ordering_key"] for j in jobs}
    assert f"cw:{SURVIVOR}" in keys
    assert f"cw:{MERGED}" not in keys
    assert f"crm:lead:{merged_lead}" not in keys
    assert all(
        j["payload"]["lead_id"] == survivor_lead for j in jobs if j["kind"] == JobKind.CRM_SYNC
    )

    [audit] = await world.rows(audit_log, audit_log.c.action == "identity.merged")
    details = audit["details"]
    assert audit["subject_id"] == "wa:lid:***3344"
    assert details["merged_key"] == "wa:+55 41 9****-1122"
    assert details["chatwoot_left"] == {"contact_id": 2, "conversation_id": 6}
    assert details["piperun_left"] == {"person_id": 22, "deal_id": 222}
    assert details["moved"]["events"] == 1
    assert details["moved"]["quotes"] == 1
    assert details["moved"]["quotes_combined"] == 1

    async with world.engine.connect() as conn:
        identities = IdentityRepository(conn)
        # The merged key keeps resolving: its queued jobs and Chatwoot webhooks land here.
        assert await identities.canonical_key(MERGED) == SURVIVOR
        assert await ChatwootRepository(conn).key_for_conversation(6) == MERGED
        assert await ConversationRepository(conn).get(MERGED) is None


async def test_the_stricter_silence_survives_the_merge(world: World) -> None:
    await world.by_lid()
    await world.by_number_alone()
    # A person asked for their data in the newer conversation: the bot must stay quiet.
    await world.leads.record_lgpd_request(MERGED, kinds=["data_deletion"], event_id=2, turn_id=None)
    await world.linking_both()
    async with world.engine.connect() as conn:
        survivor = await ConversationRepository(conn).get(SURVIVOR)
    assert survivor is not None
    assert (survivor.owner.value, survivor.owner_reason) == ("human", "handoff:lgpd")
    [kept] = await world.rows(audit_log, audit_log.c.action == "ownership.kept_on_merge")
    assert kept["subject_id"] == "wa:lid:***3344"


async def test_a_lid_conversation_learns_its_number_without_a_merge(world: World) -> None:
    await world.by_lid()
    await world.leads.update_lead(SURVIVOR, {"name": "Ana"}, turn_id=None)
    await world.linking_both()
    [conversation] = await world.rows(conversations)
    assert (conversation["conversation_key"], conversation["phone_e164"]) == (
        SURVIVOR,
        "+5541988001122",
    )
    assert conversation["reply_to"] == PHONE
    [lead] = await world.rows(leads)
    assert (lead["name"], lead["phone"]) == ("Ana", "+5541988001122")
    async with world.engine.connect() as conn:
        merges = (
            await conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "identity.merged")
            )
        ).scalar_one()
    assert merges == 0


async def test_a_conversation_from_before_the_identity_table_is_found_and_linked(
    world: World,
) -> None:
    """SQLite gets no backfill, and Postgres rows written while the migration ran neither."""
    now = datetime.now(UTC)
    async with world.engine.begin() as conn:
        await ConversationRepository(conn).create(
            key=MERGED, phone_e164="+5541988001122", reply_to=PHONE, session_id=MERGED, now=now
        )
    await world.linking_both()
    assert [c["conversation_key"] for c in await world.rows(conversations)] == [MERGED]
    async with world.engine.connect() as conn:
        kinds = await IdentityRepository(conn).of_conversation(1)
    assert kinds == [("e164", "+5541988001122"), ("lid", "70011122233344")]


async def test_a_crm_job_queued_for_the_merged_lead_syncs_the_survivor(world: World) -> None:
    await world.by_lid()
    await world.by_number_alone()
    await world.leads.update_lead(SURVIVOR, {"name": "Ana"}, turn_id=None)
    await world.leads.update_lead(MERGED, {"city": "Joinville"}, turn_id=None)
    survivor_lead = await lead_id(world, SURVIVOR)
    merged_lead = await lead_id(world, "+5541988001122")
    async with world.engine.begin() as conn:
        await JobRepository(conn).enqueue(
            kind=JobKind.CRM_SYNC,
            ordering_key=f"crm:lead:{merged_lead}",
            dedupe_key="crm.sync:merged",
            payload={"lead_id": merged_lead, "reason": "lead_updated"},
            now=datetime.now(UTC),
        )
    await world.linking_both()
    [job] = await world.rows(outbox_jobs, outbox_jobs.c.dedupe_key == "crm.sync:merged")
    assert (job["ordering_key"], job["payload"]["lead_id"]) == (
        f"crm:lead:{survivor_lead}",
        survivor_lead,
    )


async def test_concurrent_linking_messages_merge_once(world: World) -> None:
    await world.by_lid()
    await world.by_number_alone()
    await asyncio.gather(*(world.linking_both() for _ in range(6)))
    assert [c["conversation_key"] for c in await world.rows(conversations)] == [SURVIVOR]
    assert len(await world.rows(audit_log, audit_log.c.action == "identity.merged")) == 1
    events = await world.rows(inbound_events)
    assert len(events) == 8
    assert {e["conversation_key"] for e in events} == {SURVIVOR}
