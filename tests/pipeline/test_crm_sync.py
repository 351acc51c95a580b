"""PipeRun sync end to end, against the PipeRun simulator (no idempotency, like the real API):
one company (found by CNPJ first), one person, one deal and one summary note per lead, whatever
replays, crashes after a create, rate limits or outages happen."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import select

from seleto_agent.db.tables import orcamentos, outbox_jobs
from seleto_agent.sandbox.config import SandboxConfig
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text

PHONE = "5549999887766"
CNPJ = "11222333000181"
PIPELINE, STAGE, ORIGIN, OWNER = 100848, 647558, 556735, 42001


def crm_settings(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "piperun_base_url": sandbox.piperun_url,
        "piperun_token": SandboxConfig().piperun_token,
        "piperun_pipeline_id": PIPELINE,
        "piperun_stage_id": STAGE,
        "piperun_origin_id": ORIGIN,
        "piperun_owner_id": OWNER,
        "piperun_timeout_seconds": 2.0,
        "piperun_breaker_reset_seconds": 0.3,
    }
    return values | overrides


def tools(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": args} for name, args in calls]}


QUALIFYING_CALLS = tools(
    (
        "update_lead",
        {
            "name": "Marcos",
            "company_name": "Frigorífico Oeste",
            "city": "Chapecó",
            "uf": "SC",
            "product_interest": "formadora de hambúrguer",
            "production_volume": "2000 por dia",
            "urgency": "preciso para este mês",
        },
    ),
    ("register_company", {"cnpj": CNPJ, "legal_name": "Frigorífico Oeste Ltda"}),
    ("create_quote_request", {"product": "FB300", "details": "moldes de 120 g"}),
)


async def qualify(service: Service, sandbox: Sandbox) -> None:
    """One lead turn whose tools qualify the lead (quote requested, company with CNPJ)."""
    sandbox.script(QUALIFYING_CALLS, {"content": "Obrigado, Marcos! Vou registrar seu pedido."})
    await service.post_zapi(received_text(phone=PHONE, text="Quero orçamento da FB300"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)


async def crm_jobs(service: Service) -> list[dict[str, Any]]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(outbox_jobs).where(outbox_jobs.c.kind == "crm.sync").order_by(outbox_jobs.c.id)
        )
        return [row._asdict() for row in rows]


async def crm_settled(service: Service) -> bool:
    jobs = await crm_jobs(service)
    return bool(jobs) and all(job["status"] in ("done", "dead") for job in jobs)


def records(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    state = sandbox.piperun_state()
    return {name: state[name] for name in ("companies", "persons", "deals", "notes")}


def summary_notes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [n for n in records(sandbox)["notes"] if "/resumo" in n["text"]]


def assert_one_of_each(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    found = records(sandbox)
    assert len(found["companies"]) == 1
    assert len(found["persons"]) == 1
    assert len(found["deals"]) == 1
    assert len(summary_notes(sandbox)) == 1
    return {
        "company": found["companies"][0],
        "person": found["persons"][0],
        "deal": found["deals"][0],
        "note": summary_notes(sandbox)[0],
    }


async def test_a_qualified_lead_gets_one_company_person_deal_and_note(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**crm_settings(sandbox))
    started = time.monotonic()
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    one = assert_one_of_each(sandbox)
    company, person, deal, note = one["company"], one["person"], one["deal"], one["note"]
    assert company["cnpj"] in ("11.222.333/0001-81", CNPJ)
    assert company["name"] == "Frigorífico Oeste Ltda"
    assert person["name"] == "Marcos"
    assert person["company_id"] == company["id"]
    # vendors.md #5: the SDR calls back on the person's phone; sent in the schema's shape.
    assert [c["phone"] for c in person["contact_phones"]] == ["(49) 99988-7766"]
    [person_post] = sandbox.piperun_requests(method="POST", path_prefix="/v1/persons")
    assert person_post["body"]["contactPhones"] == ["(49) 99988-7766"]
    assert (deal["pipeline_id"], deal["stage_id"]) == (PIPELINE, STAGE)
    assert (deal["origin_id"], deal["owner_id"]) == (ORIGIN, OWNER)
    assert (deal["person_id"], deal["company_id"]) == (person["id"], company["id"])
    assert deal["title"] == "Lead — FB300 — Chapecó/SC"
    assert deal["reference"].startswith("seleto-agent:lead:")
    assert note["deal_id"] == deal["id"]
    for section in ("Resumo do Atendimento", "Dados do Cliente", "Próximo Passo"):
        assert section in note["text"]
    # The hot lead's SDR brief is a note of its own, written once.
    briefs = [n for n in records(sandbox)["notes"] if "/handoff-" in n["text"]]
    assert len(briefs) == 1
    assert "Novo Lead Quente" in briefs[0]["text"]
    view = (
        await service.client.get(f"/admin/conversations/{PHONE}", headers=service.admin_headers())
    ).json()
    assert view["crm"]["deal_id"] == deal["id"]
    assert view["crm"]["company_id"] == company["id"]
    assert view["crm"]["person_id"] == person["id"]
    async with service.runtime.engine.connect() as conn:
        deal_ids = (await conn.execute(select(orcamentos.c.oportunidade_pipe_id))).scalars().all()
    assert deal_ids == [deal["id"]]
    print(f"\nqualification→notes {time.monotonic() - started:.2f}s, calls:")
    for request in sandbox.piperun_requests():
        print(f"  {request['method']} {request['path']} {request['status_code']}")


async def test_replays_and_later_changes_update_the_same_records(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    first = assert_one_of_each(sandbox)
    # The hot lead was handed off; the SDR gives it back so the bot hears the next message.
    resumed = await service.client.post(
        f"/admin/conversations/{PHONE}/resume", headers=service.admin_headers()
    )
    assert resumed.json()["owner"] == "bot"
    sandbox.script(
        tools(("update_lead", {"email": "marcos@frigoeste.com.br", "segment": "frigorífico"})),
        {"content": "Anotado!"},
    )
    await service.post_zapi(received_text(phone=PHONE, text="meu email é marcos@frigoeste.com.br"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 2)
    await wait_for(lambda: crm_settled(service))
    puts_before_replays = len(sandbox.piperun_requests(method="PUT"))
    assert puts_before_replays >= 1
    for _ in range(3):
        response = await service.client.post(
            "/admin/jobs/replay", json={"status": "done"}, headers=service.admin_headers()
        )
        assert response.status_code == 202
        assert response.json()["queued"]
        await wait_for(lambda: crm_settled(service))
    again = assert_one_of_each(sandbox)
    for name in ("company", "person", "deal", "note"):
        assert again[name]["id"] == first[name]["id"]
    emails = again["person"].get("contact_emails") or []
    assert "marcos@frigoeste.com.br" in str(emails)
    # A replay of unchanged data writes nothing: its fingerprints match what was sent.
    assert len(sandbox.piperun_requests(method="PUT")) == puts_before_replays


async def test_a_company_already_in_piperun_is_reused_not_edited(
    service_factory: Any, sandbox: Sandbox
) -> None:
    existing = sandbox.piperun_seed_company(name="Oeste (cadastro do vendedor)", cnpj=CNPJ)
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    one = assert_one_of_each(sandbox)
    assert one["company"]["id"] == existing["id"]
    assert one["company"]["name"] == "Oeste (cadastro do vendedor)"
    assert one["person"]["company_id"] == existing["id"]
    assert sandbox.piperun_requests(method="PUT", path_prefix="/v1/companies") == []
    assert sandbox.piperun_requests(method="POST", path_prefix="/v1/companies") == []


async def test_a_create_accepted_but_answered_with_an_error_is_not_duplicated(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # PipeRun stores each record, then the answer is lost (502) — as after a crash between
    # "created" and "saved the id". The next attempt must find the record, not create another.
    for path in ("/v1/companies", "/v1/persons", "/v1/deals", "/v1/notes"):
        sandbox.piperun_faults(
            {"method": "POST", "path": path, "status": 502, "after_commit": True, "times": 1}
        )
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service), timeout=20)
    assert_one_of_each(sandbox)
    jobs = await crm_jobs(service)
    assert all(job["status"] == "done" for job in jobs)
    assert sum(job["attempts"] for job in jobs) >= 5


async def test_a_crash_after_each_create_is_recovered(
    service_factory: Any, sandbox: Sandbox, monkeypatch: Any
) -> None:
    # The process dies right after PipeRun answered a create, before the id is saved.
    from seleto_agent.services.crm_sync import CrmSyncHandler

    real_save = CrmSyncHandler._save
    crashed: set[str] = set()

    async def crash_once(self: Any, lead_id: int, values: dict[str, Any], *, done: Any) -> None:
        if done is not None and done not in crashed:
            crashed.add(done)
            raise RuntimeError(f"killed after creating the {done}")
        await real_save(self, lead_id, values, done=done)

    monkeypatch.setattr(CrmSyncHandler, "_save", crash_once)
    service: Service = await service_factory(**crm_settings(sandbox), inbound_max_attempts=6)
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service), timeout=20)
    assert crashed == {"company", "person", "deal"}
    assert_one_of_each(sandbox)


async def test_a_rate_limit_is_waited_out_as_piperun_asks(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults(
        {"method": "POST", "path": "/v1/persons", "status": 429, "retry_after": 1}
    )
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    assert_one_of_each(sandbox)
    posts = sandbox.piperun_requests(method="POST", path_prefix="/v1/persons")
    assert [p["status_code"] for p in posts] == [429, 201]
    waited = datetime.fromisoformat(posts[1]["at"]) - datetime.fromisoformat(posts[0]["at"])
    assert waited.total_seconds() >= 1.0


async def test_piperun_down_does_not_delay_replies_and_the_sync_catches_up(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults(down=True)
    service: Service = await service_factory(**crm_settings(sandbox))
    started = time.monotonic()
    await qualify(service, sandbox)
    reply_seconds = time.monotonic() - started
    assert reply_seconds < 5
    await wait_for(lambda: _attempted_twice(service))
    jobs = await crm_jobs(service)
    # Waiting for PipeRun (later jobs of the lead were folded into the first one), none dead.
    assert any(job["status"] in ("failed", "processing") for job in jobs)
    assert not any(job["status"] == "dead" for job in jobs)
    assert records(sandbox)["deals"] == []
    sandbox.piperun_faults(down=False)
    await wait_for(lambda: crm_settled(service), timeout=20)
    assert_one_of_each(sandbox)
    assert all(job["status"] == "done" for job in await crm_jobs(service))


async def _attempted_twice(service: Service) -> bool:
    return any(job["attempts"] >= 2 for job in await crm_jobs(service))


async def test_a_rejected_deal_parks_the_job_with_readable_field_errors(
    service_factory: Any, sandbox: Sandbox
) -> None:
    rejection = {
        "success": False,
        "message": "Unprocessable Entity",
        "data": {"title": "O campo title é obrigatório."},
    }
    sandbox.piperun_faults(
        {"method": "POST", "path": "/v1/deals", "status": 422, "body": rejection, "times": 10}
    )
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    dead = [job for job in await crm_jobs(service) if job["status"] == "dead"]
    assert dead
    response = await service.client.get(
        f"/admin/jobs/{dead[0]['id']}", headers=service.admin_headers()
    )
    body = response.json()
    assert body["status"] == "dead"
    assert body["error_detail"]["field_errors"] == {"title": ["O campo title é obrigatório."]}
    assert records(sandbox)["deals"] == []


async def test_a_cold_lead_is_not_filed(service_factory: Any, sandbox: Sandbox) -> None:
    service: Service = await service_factory(**crm_settings(sandbox))
    sandbox.script(
        tools(("update_lead", {"name": "Ana", "urgency": "só pesquisando, sem previsão"})),
        {"content": "Tudo bem, Ana! Fico à disposição."},
    )
    await service.post_zapi(received_text(phone=PHONE, text="só pesquisando"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    assert await crm_jobs(service) == []
    assert sandbox.piperun_requests() == []
