"""The real PipeRunClient against the PipeRun simulator over real HTTP (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from seleto_agent.integrations.piperun import (
    BreakerState,
    PipeRunAuthError,
    PipeRunBreaker,
    PipeRunCircuitOpen,
    PipeRunClient,
    PipeRunConnectFailed,
    PipeRunNotFound,
    PipeRunRateLimited,
    PipeRunRejected,
    PipeRunUnavailable,
    build_piperun_client,
)
from seleto_agent.integrations.piperun.schemas import Company
from seleto_agent.observability.metrics import PIPERUN_CIRCUIT_OPEN
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.settings import Settings
from tests.conftest import Sandbox, free_port

TOKEN = SandboxConfig().piperun_token
SDR_PIPELINE, NEW_LEAD_STAGE, QUALIFIED_STAGE = 100848, 647558, 647560
CNPJ_MASKED, CNPJ_DIGITS = "11.222.333/0001-81", "11222333000181"

ClientFactory = Callable[..., PipeRunClient]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make_client(sandbox: Sandbox, http: httpx.AsyncClient) -> ClientFactory:
    def make(**overrides: Any) -> PipeRunClient:
        options: dict[str, Any] = {
            "http": http,
            "base_url": sandbox.piperun_url,
            "token": TOKEN,
            "timeout_seconds": 2.0,
            "retry_wait_max_seconds": 0.05,
        }
        return PipeRunClient(**(options | overrides))

    return make


@pytest.fixture
def piperun(make_client: ClientFactory) -> PipeRunClient:
    return make_client()


def _calls(method: str, resource: str, outcome: str) -> float:
    labels = {"method": method, "resource": resource, "outcome": outcome}
    return REGISTRY.get_sample_value("seleto_piperun_calls_total", labels) or 0.0


async def test_companies_create_find_get_update(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    created = await piperun.create_company(
        {
            "name": "Laticínios Serra",
            "cnpj": CNPJ_MASKED,
            "external_code": "seleto-agent:lead:7",
            "city_id": 4904,
            "contactEmails": [{"email": "compras@serra.example.com"}],
        }
    )
    assert isinstance(created, Company)
    assert (created.name, created.cnpj, created.city_id) == ("Laticínios Serra", CNPJ_MASKED, 4904)
    assert created.emails == ["compras@serra.example.com"]

    by_cnpj = await piperun.find_companies(cnpj=CNPJ_DIGITS)
    by_code = await piperun.find_companies(external_code="seleto-agent:lead:7")
    by_name = await piperun.find_companies(name="serra")
    assert [c.id for c in by_cnpj] == [c.id for c in by_code] == [c.id for c in by_name]
    assert by_cnpj[0].id == created.id
    assert await piperun.find_companies(cnpj="99.888.777/0001-66") == []
    # The CNPJ goes out exactly as the caller formatted it.
    [lookup] = sandbox.piperun_requests("GET", "/v1/companies")[:1]
    assert lookup["query"] == {"cnpj": CNPJ_DIGITS, "show": "200", "cursor": ""}

    updated = await piperun.update_company(created.id, {"website": "serra.example.com"})
    assert (updated.id, updated.website) == (created.id, "serra.example.com")
    assert (await piperun.get_company(created.id)).website == "serra.example.com"


async def test_persons_deals_and_notes(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    company = await piperun.create_company({"name": "Frigorífico Sul"})
    person = await piperun.create_person(
        {"name": "Ana", "company_id": company.id, "contactPhones": ["(47) 99999-0000"]}
    )
    assert (person.company_id, person.phones) == (company.id, ["(47) 99999-0000"])
    assert [p.id for p in await piperun.find_persons(company_id=company.id)] == [person.id]
    assert [p.id for p in await piperun.find_persons(name="ana")] == [person.id]
    assert (await piperun.update_person(person.id, {"job_title": "Compras"})).id == person.id
    assert (await piperun.get_person(person.id)).name == "Ana"

    deal = await piperun.create_deal(
        {
            "title": "Lead — Seladora — Joinville/SC",
            "pipeline_id": SDR_PIPELINE,
            "stage_id": NEW_LEAD_STAGE,
            "person_id": person.id,
            "company_id": company.id,
            "origin_id": 556735,
            "reference": "seleto-agent:lead:7",
        }
    )
    assert (deal.status, deal.reference, deal.origin_id) == (0, "seleto-agent:lead:7", 556735)
    open_deals = await piperun.find_deals(person_id=person.id, pipeline_id=SDR_PIPELINE, status=0)
    assert [d.id for d in open_deals] == [deal.id]
    assert [d.id for d in await piperun.find_deals(company_id=company.id)] == [deal.id]
    moved = await piperun.update_deal(deal.id, {"stage_id": QUALIFIED_STAGE})
    assert moved.stage_id == QUALIFIED_STAGE
    assert (await piperun.get_deal(deal.id)).stage_id == QUALIFIED_STAGE

    note = await piperun.create_note({"text": "Resumo do Atendimento", "deal_id": deal.id})
    assert (note.deal_id, note.text) == (deal.id, "Resumo do Atendimento")
    edited = await piperun.update_note(note.id, {"text": "Resumo revisado"})
    assert edited.text == "Resumo revisado"
    assert [n.text for n in await piperun.find_notes(deal_id=deal.id)] == ["Resumo revisado"]
    [posted] = sandbox.piperun_requests("POST", "/v1/notes")
    assert posted["body"]["deal_id"] == deal.id


async def test_lookups(piperun: PipeRunClient) -> None:
    assert [(c.id, c.name) for c in await piperun.find_cities(name="porto alegre", uf="rs")] == [
        (4904, "Porto Alegre")
    ]
    # Same name in two states: only the asked UF comes back.
    assert [c.id for c in await piperun.find_cities(name="Bom Jesus", uf="PI")] == [3506]
    assert SDR_PIPELINE in [p.id for p in await piperun.list_pipelines()]
    stages = await piperun.list_stages(pipeline_id=SDR_PIPELINE)
    assert NEW_LEAD_STAGE in [s.id for s in stages]
    assert {s.pipeline_id for s in stages} == {SDR_PIPELINE}
    assert len(await piperun.list_stages()) > len(stages)
    assert {o.name: o.id for o in await piperun.list_origins()}["WhatsApp"] == 556735
    users = {u.id: u for u in await piperun.list_users()}
    assert users[42002].active is True
    assert users[42003].active is False


async def test_finders_refuse_to_list_a_whole_account(piperun: PipeRunClient) -> None:
    with pytest.raises(ValueError, match="filter"):
        await piperun.find_companies()
    # PipeRun would ignore a blank filter and list every company.
    with pytest.raises(ValueError, match="filter"):
        await piperun.find_companies(cnpj=" ")
    with pytest.raises(ValueError, match="filter"):
        await piperun.find_deals()


async def test_paginate_follows_the_cursor_across_pages(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    ids = [sandbox.piperun_seed_company(name=f"Empresa {i}")["id"] for i in range(5)]
    items = [item async for item in piperun.paginate("/companies", {"name": "empresa"}, show=2)]
    assert [item["id"] for item in items] == ids
    pages = sandbox.piperun_requests("GET", "/v1/companies")
    assert [p["query"]["show"] for p in pages] == ["2", "2", "2"]
    assert pages[0]["query"]["cursor"] == ""
    assert pages[1]["query"]["cursor"]
    assert pages[2]["query"]["cursor"] != pages[1]["query"]["cursor"]
    # `show` is clamped to PipeRun's 1..200.
    _ = [item async for item in piperun.paginate("/origins", show=1000)]
    assert sandbox.piperun_requests("GET", "/v1/origins")[0]["query"]["show"] == "200"


async def test_paginate_stops_when_a_cursor_repeats(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    looping = {
        "success": True,
        "message": "OK",
        "data": [{"id": 1, "name": "Loop"}],
        "meta": {"cursor": {"current": None, "prev": None, "next": "c2FtZQ", "count": None}},
    }
    sandbox.piperun_faults(
        {"method": "GET", "path": "/origins", "status": 200, "body": looping, "times": 3}
    )
    with pytest.raises(PipeRunUnavailable, match="cursor repeated"):
        await piperun.list_origins()
    assert len(sandbox.piperun_requests("GET", "/v1/origins")) == 2


async def test_paginate_stops_on_an_empty_page_after_a_trailing_cursor(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    # vendors.md #11: PipeRun's own extractor also stops on an empty `data` page; the
    # simulator's knob ends the list with a cursor whose page is empty and names it again.
    ids = [sandbox.piperun_seed_company(name=f"Empresa {i}")["id"] for i in range(4)]
    sandbox.piperun_faults(trailing_cursor=True)
    items = [item async for item in piperun.paginate("/companies", {"name": "empresa"}, show=2)]
    assert [item["id"] for item in items] == ids
    pages = sandbox.piperun_requests("GET", "/v1/companies")
    assert len(pages) == 3
    assert [c.id for c in await piperun.find_companies(name="empresa")] == ids


async def test_a_cnpj_lookup_stops_at_the_first_page_showing_the_filter_was_ignored(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    # vendors.md #9: a filter PipeRun cannot parse lists the whole account; one page shows it.
    strangers = {
        "success": True,
        "message": "OK",
        "data": [
            {"id": 1, "name": "Outra", "cnpj": "99.888.777/0001-66"},
            {"id": 2, "name": "Alvo", "cnpj": CNPJ_MASKED},
        ],
        "meta": {"cursor": {"current": None, "prev": None, "next": "bWFpcw", "count": None}},
    }
    sandbox.piperun_faults(
        {"method": "GET", "path": "/companies", "status": 200, "body": strangers, "times": 3}
    )
    listed = await piperun.find_companies(cnpj=CNPJ_DIGITS)
    assert [c.id for c in listed] == [1, 2]
    assert len(sandbox.piperun_requests("GET", "/v1/companies")) == 1


async def test_429_waits_for_retry_after(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    sandbox.piperun_faults({"method": "GET", "path": "/pipelines", "status": 429, "retry_after": 1})
    started = time.monotonic()
    pipelines = await piperun.list_pipelines()
    assert time.monotonic() - started >= 1.0
    assert SDR_PIPELINE in [p.id for p in pipelines]
    assert [r["status_code"] for r in sandbox.piperun_requests("GET", "/v1/pipelines")] == [
        429,
        200,
    ]


async def test_429_on_a_create_is_retried_because_nothing_was_processed(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults(
        {"method": "POST", "path": "/companies", "status": 429, "retry_after": 0}
    )
    await piperun.create_company({"name": "Uma só"})
    assert len(sandbox.piperun_requests("POST", "/v1/companies")) == 2
    assert len(sandbox.piperun_state()["companies"]) == 1


async def test_5xx_on_a_read_is_retried(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    sandbox.piperun_faults(
        {"method": "GET", "path": "/users", "status": 503},
        {"method": "GET", "path": "/users", "status": 502},
    )
    users = await piperun.list_users()
    assert 42001 in [u.id for u in users]
    assert [r["status_code"] for r in sandbox.piperun_requests("GET", "/v1/users")] == [
        503,
        502,
        200,
    ]


async def test_reads_give_up_after_the_in_call_attempts(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults({"path": "/deals", "status": 500, "times": 5})
    with pytest.raises(PipeRunUnavailable) as caught:
        await make_client(in_call_attempts=2).get_deal(1)
    assert caught.value.status_code == 500
    assert caught.value.retryable is True
    assert len(sandbox.piperun_requests("GET", "/v1/deals")) == 2


async def test_5xx_on_a_create_is_not_retried(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    sandbox.piperun_faults({"method": "POST", "path": "/companies", "status": 500})
    with pytest.raises(PipeRunUnavailable):
        await piperun.create_company({"name": "Talvez criada"})
    assert len(sandbox.piperun_requests("POST", "/v1/companies")) == 1


async def test_create_that_failed_after_commit_is_found_by_the_next_lookup(
    piperun: PipeRunClient, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults(
        {"method": "POST", "path": "/companies", "status": 502, "after_commit": True}
    )
    with pytest.raises(PipeRunUnavailable):
        await piperun.create_company({"name": "Criada", "cnpj": CNPJ_DIGITS})
    assert len(sandbox.piperun_requests("POST", "/v1/companies")) == 1
    assert [c.name for c in await piperun.find_companies(cnpj=CNPJ_DIGITS)] == ["Criada"]


async def test_create_that_timed_out_is_not_resent(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults({"method": "POST", "path": "/deals", "delay_seconds": 0.6})
    body = {"title": "Lenta", "pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE}
    with pytest.raises(PipeRunUnavailable, match="Timeout"):
        await make_client(timeout_seconds=0.2).create_deal(body)
    assert len(sandbox.piperun_requests("POST", "/v1/deals")) == 1
    # PipeRun finished the create after the client gave up: the next attempt must look first.
    await asyncio.sleep(0.6)
    assert len(sandbox.piperun_state()["deals"]) == 1


async def test_refused_connection_is_retried_even_for_a_create(
    make_client: ClientFactory,
) -> None:
    # Nothing listens on a port just freed: the request never reaches anyone.
    piperun = make_client(base_url=f"http://127.0.0.1:{free_port()}/v1", in_call_attempts=2)
    before = _calls("POST", "companies", "network")
    with pytest.raises(PipeRunConnectFailed):
        await piperun.create_company({"name": "Sem rede"})
    assert _calls("POST", "companies", "network") == before + 2


async def test_truncated_json_is_unavailable(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    sandbox.piperun_faults({"method": "GET", "path": "/companies", "truncated": True, "times": 3})
    with pytest.raises(PipeRunUnavailable, match="invalid JSON"):
        await piperun.find_companies(name="x")
    assert len(sandbox.piperun_requests("GET", "/v1/companies")) == 3

    sandbox.piperun_faults({"method": "POST", "path": "/persons", "truncated": True})
    with pytest.raises(PipeRunUnavailable, match="invalid JSON"):
        await piperun.create_person({"name": "Cortada"})
    assert len(sandbox.piperun_requests("POST", "/v1/persons")) == 1


async def test_422_field_errors_in_both_shapes(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    with pytest.raises(PipeRunRejected) as required:
        await piperun.create_deal({"pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE})
    assert required.value.status_code == 422
    assert required.value.retryable is False
    assert required.value.field_errors == {"title": ["O campo title é obrigatório."]}

    await piperun.create_person({"name": "Primeira", "cpf": "708.901.040-69"})
    with pytest.raises(PipeRunRejected) as duplicate:
        await piperun.create_person({"name": "Segunda", "cpf": "70890104069"})
    assert duplicate.value.field_errors == {
        "cpf": ["O CPF que você está tentando cadastrar já existe."]
    }

    malformed = {"success": False, "message": "Malformed JSON."}
    sandbox.piperun_faults({"method": "PUT", "status": 422, "body": malformed})
    with pytest.raises(PipeRunRejected) as bad_json:
        await piperun.update_deal(1, {"title": "x"})
    assert bad_json.value.field_errors == {"_body": ["Malformed JSON."]}
    # A refusal is final: one request each, no in-call retry.
    assert len(sandbox.piperun_requests("PUT")) == 1


async def test_wrong_token_is_an_auth_error(make_client: ClientFactory) -> None:
    wrong = "f" * 32
    with pytest.raises(PipeRunAuthError) as caught:
        await make_client(token=wrong).list_users()
    assert caught.value.status_code == 401
    assert caught.value.vendor == "piperun"
    assert wrong not in str(caught.value)


async def test_missing_record_is_not_found(piperun: PipeRunClient) -> None:
    with pytest.raises(PipeRunNotFound) as caught:
        await piperun.get_company(1)
    assert caught.value.status_code == 404


async def test_error_messages_carry_no_token_or_lead_data(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    piperun = make_client(in_call_attempts=1)
    sandbox.piperun_faults({"status": 503, "times": 2})
    errors: list[Exception] = []
    for call in (
        piperun.find_companies(cnpj=CNPJ_MASKED, name="Maria Silva"),
        piperun.create_person({"name": "Maria Silva", "cpf": "708.901.040-69"}),
    ):
        with pytest.raises(PipeRunUnavailable) as caught:
            await call
        errors.append(caught.value)
    await piperun.create_person({"name": "Maria Silva", "cpf": "708.901.040-69"})
    with pytest.raises(PipeRunRejected) as rejected:
        await piperun.create_person({"name": "Maria Silva", "cpf": "708.901.040-69"})
    errors.append(rejected.value)
    for error in errors:
        text = str(error)
        assert text.startswith("PipeRun ")
        for secret in (TOKEN, "Maria", CNPJ_MASKED, CNPJ_DIGITS, "708.901.040-69"):
            assert secret not in text


async def test_breaker_opens_fails_fast_half_opens_and_closes(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    breaker = PipeRunBreaker(failure_threshold=2, recovery_timeout=0.3)
    piperun = make_client(breaker=breaker, in_call_attempts=1)
    sandbox.piperun_faults(down=True)
    for _ in range(2):
        with pytest.raises(PipeRunUnavailable):
            await piperun.list_origins()
    assert breaker.state is BreakerState.OPEN
    assert PIPERUN_CIRCUIT_OPEN._value.get() == 1

    sent = len(sandbox.piperun_requests())
    with pytest.raises(PipeRunCircuitOpen) as fast:
        await piperun.create_company({"name": "Não enviada"})
    assert fast.value.retry_after is not None
    assert 0 < fast.value.retry_after <= 0.3
    assert len(sandbox.piperun_requests()) == sent

    # The probe after the reset time fails: open again at once.
    await asyncio.sleep(0.35)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(PipeRunUnavailable):
        await piperun.list_origins()
    assert breaker.state is BreakerState.OPEN

    sandbox.piperun_faults(down=False)
    await asyncio.sleep(0.35)
    assert 556735 in [origin.id for origin in await piperun.list_origins()]
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0
    assert PIPERUN_CIRCUIT_OPEN._value.get() == 0


async def test_half_open_lets_one_probe_through_at_a_time(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    breaker = PipeRunBreaker(failure_threshold=1, recovery_timeout=0.2)
    piperun = make_client(breaker=breaker, in_call_attempts=1)
    sandbox.piperun_faults({"status": 503})
    with pytest.raises(PipeRunUnavailable):
        await piperun.list_users()
    await asyncio.sleep(0.25)
    sandbox.piperun_faults({"method": "GET", "path": "/origins", "delay_seconds": 0.3})
    probe = asyncio.create_task(piperun.list_origins())
    await asyncio.sleep(0.1)
    with pytest.raises(PipeRunCircuitOpen, match="probe in flight"):
        await piperun.list_users()
    assert await probe
    assert breaker.state is BreakerState.CLOSED
    assert len(await piperun.list_users()) == 3


async def test_refusals_and_rate_limits_never_open_the_breaker(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    breaker = PipeRunBreaker(failure_threshold=2, recovery_timeout=30)
    piperun = make_client(breaker=breaker, in_call_attempts=1)
    for _ in range(3):
        with pytest.raises(PipeRunNotFound):
            await piperun.get_deal(1)
    sandbox.piperun_faults({"status": 429, "retry_after": 0, "times": 3})
    for _ in range(3):
        with pytest.raises(PipeRunRateLimited):
            await piperun.list_users()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0


async def test_every_http_call_is_counted(piperun: PipeRunClient, sandbox: Sandbox) -> None:
    ok_before = _calls("GET", "stages", "ok")
    error_before = _calls("GET", "stages", "server_error")
    sandbox.piperun_faults({"method": "GET", "path": "/stages", "status": 500})
    await piperun.list_stages(pipeline_id=SDR_PIPELINE)
    assert _calls("GET", "stages", "ok") == ok_before + 1
    assert _calls("GET", "stages", "server_error") == error_before + 1
    rejected_before = _calls("POST", "companies", "rejected")
    with pytest.raises(PipeRunRejected):
        await piperun.create_company({})
    assert _calls("POST", "companies", "rejected") == rejected_before + 1


def test_schemas_accept_both_contact_shapes_and_loose_types() -> None:
    # Shapes of the official examples (fixtures companies_create_201 / companies_update_200).
    as_object = Company.model_validate(
        {
            "id": 748,
            "name": "Teste",
            "cnpj": "",
            "external_code": 1,
            "city_id": "",
            "contact_emails": {"id": 1, "is_main": 1, "email": "email@odig.net"},
            "contact_phones": [],
            "custom_fields": {},
        }
    )
    assert as_object.emails == ["email@odig.net"]
    assert as_object.phones == []
    assert (as_object.cnpj, as_object.external_code, as_object.city_id) == (None, "1", None)
    as_list = Company.model_validate(
        {"id": 1, "contact_phones": [{"phone": "(51)3212-00-00"}, {"phone": "9999"}]}
    )
    assert as_list.phones == ["(51)3212-00-00", "9999"]


async def test_factory_needs_a_token_and_uses_the_breaker_settings(
    http: httpx.AsyncClient,
) -> None:
    assert build_piperun_client(Settings(_env_file=None), http) is None  # type: ignore[call-arg]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        piperun_token="a" * 32,
        piperun_breaker_failures=2,
        piperun_breaker_reset_seconds=7.0,
    )
    client = build_piperun_client(settings, http)
    assert client is not None
    assert client._breaker is not None
    assert client._breaker.state.value == "closed"


async def test_deletes_answer_true_then_false_once_the_record_is_gone(
    make_client: ClientFactory, sandbox: Sandbox
) -> None:
    client = make_client()
    person = await client.create_person({"name": "Ana"})
    note = await client.create_note({"text": "resumo", "person_id": person.id})

    assert await client.delete_note(note.id) is True
    assert await client.delete_person(person.id) is True
    state = sandbox.piperun_state()
    assert state["persons"] == []
    assert state["notes"] == []
    assert await client.delete_person(person.id) is False
    assert await client.delete_note(note.id) is False
