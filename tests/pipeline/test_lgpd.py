"""LGPD export and erasure end to end, on both databases: a qualified lead mirrored into the
Chatwoot simulator and synced to the PipeRun simulator, then exported and erased; the vendor
jobs run against the simulators; a second erasure finds nothing; the number starts afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from seleto_agent.db.repositories.agno_store import AgnoStore
from seleto_agent.db.tables import (
    audit_log,
    conversations,
    handoffs,
    inbound_events,
    leads,
    lgpd_requests,
    outbound_messages,
    outbox_jobs,
)
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.services.lgpd import LgpdService, SubjectBusy
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text
from tests.pipeline.test_crm_sync import PHONE, crm_settings, qualify, records

KEY = f"wa:+{PHONE}"


async def _settled(service: Service) -> bool:
    async with service.runtime.engine.connect() as conn:
        open_jobs = await conn.scalar(
            select(func.count())
            .select_from(outbox_jobs)
            .where(outbox_jobs.c.status.in_(["pending", "processing", "failed"]))
        )
    return open_jobs == 0


async def _count(service: Service, table: Any, *where: Any) -> int:
    async with service.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _qualified(service_factory: Any, sandbox: Sandbox) -> Service:
    sandbox.chatwoot_faults(api_user_role="administrator")
    service: Service = await service_factory(**crm_settings(sandbox), **sandbox.chatwoot_settings())
    await qualify(service, sandbox)
    await wait_for(lambda: _settled(service), timeout=15)
    assert records(sandbox)["persons"], "the lead reached PipeRun"
    assert sandbox.chatwoot_state()["contacts"], "the lead reached Chatwoot"
    return service


async def test_export_holds_every_table_and_the_agent_session(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    document = await LgpdService(service.runtime.engine).export(
        f"+{PHONE[:2]} ({PHONE[2:4]}) {PHONE[4:]}", actor="test"
    )

    assert document["found"] is True
    assert document["conversation_keys"] == [KEY]
    tables = document["tables"]
    assert tables["conversations"][0]["conversation_key"] == KEY
    assert tables["leads"][0]["name"] == "Marcos"
    assert tables["orcamentos"][0]["produto"] == "FB300"
    assert tables["empresa"][0]["cnpj"] == "11222333000181"
    assert tables["outbound_messages"][0]["body"].startswith("Obrigado, Marcos")
    # Raw webhook bodies come back as text, not bytes.
    assert "Quero orçamento da FB300" in tables["inbound_events"][0]["payload"]
    assert tables["crm_links"][0]["person_id"] is not None
    assert tables["chatwoot_links"][0]["contact_id"] is not None
    assert tables["outbox_jobs"], "the CRM and mirror jobs are the lead's too"
    assert any(row["action"].startswith("lead.") for row in tables["audit_log"])
    sessions = document["agno"]["agno_sessions"]
    assert [s["user_id"] for s in sessions] == [KEY]
    assert document["agno"]["agno_runs"], "the agent's copy of the conversation"
    # The read itself is audited, under the masked key like every conversation audit row.
    exports = await _count(service, audit_log, audit_log.c.action == "lgpd.export")
    assert exports == 1


async def test_the_worker_runs_the_daily_retention_job(service_factory: Any) -> None:
    service: Service = await service_factory(retention_days_payloads=30)

    async def retention_done() -> bool:
        async with service.runtime.engine.connect() as conn:
            statuses = list(
                await conn.scalars(
                    select(outbox_jobs.c.status).where(outbox_jobs.c.kind == "retention.run")
                )
            )
        return statuses == ["done"]

    await wait_for(retention_done, timeout=10)


async def test_delete_erases_everything_queues_vendor_jobs_and_is_idempotent(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    engine = service.runtime.engine
    lgpd = LgpdService(engine)

    erasure = await lgpd.delete(PHONE, actor="test")

    assert erasure.found
    assert erasure.reference
    assert erasure.reference.startswith("lgpd:")
    assert await _count(service, conversations) == 0
    assert await _count(service, leads) == 0
    assert await _count(service, handoffs) == 0
    assert await _count(service, outbound_messages, outbound_messages.c.body != "") == 0
    events = await _count(service, inbound_events)
    assert events > 0, "events stay as dedupe records"
    assert (
        await _count(
            service,
            inbound_events,
            (inbound_events.c.body_text.is_not(None))
            | (inbound_events.c.conversation_key.is_not(None)),
        )
        == 0
    )
    async with engine.connect() as conn:
        assert await AgnoStore(conn).export([KEY]) == {
            "agno_sessions": [],
            "agno_runs": [],
            "agno_memories": [],
            "agno_learnings": [],
        }
        payloads = [bytes(p) for p in await conn.scalars(select(inbound_events.c.payload))]
        audits = (await conn.execute(select(audit_log))).all()
    assert payloads
    assert all(p == b"" for p in payloads)
    assert [a.subject_id for a in audits if a.action == "lgpd.delete"] == [erasure.reference]
    assert all(PHONE[-4:] not in a.subject_id for a in audits), "no masked key survives"
    assert len(erasure.vendor_jobs) == 2

    await wait_for(lambda: _settled(service), timeout=15)
    assert sandbox.chatwoot_state()["contacts"] == []
    assert sandbox.chatwoot_state()["conversations"] == []
    piperun = records(sandbox)
    assert piperun["persons"] == []
    assert piperun["notes"] == []
    assert piperun["companies"] == []
    assert len(piperun["deals"]) == 1, "the deal stays, without the person (no personal data)"

    again = await lgpd.delete(PHONE, actor="test")
    assert again.found is False
    assert again.vendor_jobs == []
    assert await _count(service, audit_log, audit_log.c.action == "lgpd.delete") == 1
    # Replaying the vendor jobs finds the records gone and succeeds.
    replayed = await service.runtime.job_replay.replay(ids=erasure.vendor_jobs, actor="test")
    assert sorted(replayed.queued) == sorted(erasure.vendor_jobs)
    await wait_for(lambda: _settled(service), timeout=15)
    assert await _count(service, outbox_jobs, outbox_jobs.c.status == "dead") == 0


async def test_a_message_after_erasure_starts_a_fresh_lead(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    await LgpdService(service.runtime.engine).delete(PHONE, actor="test")
    await wait_for(lambda: _settled(service), timeout=15)

    sandbox.script({"content": "Olá! Sou a assistente virtual da Seleto."})
    await service.post_zapi(received_text(phone=PHONE, text="Oi, bom dia"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)

    response = await service.client.get(
        f"/admin/conversations/{PHONE}", headers=service.admin_headers()
    )
    body = response.json()
    assert response.status_code == 200
    assert body["lead"]["name"] is None
    assert body["quotes"] == []
    assert body["handoff"] is None
    async with service.runtime.engine.connect() as conn:
        sessions = (await AgnoStore(conn).export([KEY]))["agno_sessions"]
        requests = await conn.scalar(select(func.count()).select_from(lgpd_requests))
    assert len(sessions) == 1, "a new session, not the erased one"
    assert requests == 0


async def test_admin_routes_export_and_delete_with_confirmation(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    headers = service.admin_headers()

    assert (await service.client.get(f"/admin/lgpd/{PHONE}/export")).status_code == 401
    exported = await service.client.get(f"/admin/lgpd/{PHONE}/export", headers=headers)
    assert exported.status_code == 200
    assert exported.json()["found"] is True
    refused = await service.client.post(
        f"/admin/lgpd/{PHONE}/delete", json={"confirm": False}, headers=headers
    )
    assert refused.status_code == 400
    assert await _count(service, conversations) == 1
    deleted = await service.client.post(
        f"/admin/lgpd/{PHONE}/delete", json={"confirm": True}, headers=headers
    )
    assert deleted.status_code == 200
    assert deleted.json()["found"] is True
    again = await service.client.post(
        f"/admin/lgpd/{PHONE}/delete", json={"confirm": True}, headers=headers
    )
    assert again.json()["found"] is False
    unknown = await service.client.get("/admin/lgpd/lid:12ab/export", headers=headers)
    assert unknown.status_code == 404


async def test_delete_refuses_while_a_turn_runs_and_changes_nothing(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    async with service.runtime.engine.begin() as conn:
        await conn.execute(
            update(conversations).values(
                lease_owner="another-worker",
                lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
            )
        )

    with pytest.raises(SubjectBusy):
        await LgpdService(service.runtime.engine).delete(PHONE, actor="test")
    response = await service.client.post(
        f"/admin/lgpd/{PHONE}/delete", json={"confirm": True}, headers=service.admin_headers()
    )

    assert response.status_code == 409
    assert await _count(service, conversations) == 1
    assert await _count(service, leads) == 1
    assert await _count(service, audit_log, audit_log.c.action == "lgpd.delete") == 0


async def test_audit_rows_under_a_mask_another_number_shares_are_left_alone(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service = await _qualified(service_factory, sandbox)
    other = f"wa:+{PHONE[:5]}1111{PHONE[-4:]}"
    assert mask_conversation_key(other) == mask_conversation_key(KEY)
    now = datetime.now(UTC)
    async with service.runtime.engine.begin() as conn:
        await conn.execute(
            insert(conversations).values(
                conversation_key=other,
                reply_to=other[4:],
                session_id=other,
                created_at=now,
                updated_at=now,
            )
        )
    shared = await _count(service, audit_log, audit_log.c.subject_id == mask_conversation_key(KEY))
    assert shared > 0

    erasure = await LgpdService(service.runtime.engine).delete(PHONE, actor="test")

    assert erasure.audit_shared_masks == 1
    assert "audit_log" not in erasure.rows
    assert (
        await _count(service, audit_log, audit_log.c.subject_id == mask_conversation_key(KEY))
        == shared
    )
    assert await _count(service, conversations) == 1, "the other number's conversation stays"
