"""PipeRun as it really is (vendors.md #5, #9, #11, #13, #16; redteam L3): the sync against the
simulator's quirks, end to end on both databases."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from seleto_agent.observability.logging import configure_logging
from seleto_agent.sandbox.config import SandboxConfig
from tests.conftest import Sandbox, Service, wait_for
from tests.factories import received_text
from tests.pipeline.test_crm_sync import (
    PHONE,
    crm_jobs,
    crm_settings,
    crm_settled,
    qualify,
    records,
    summary_notes,
    tools,
)

ALPHA_CNPJ = "12ABC34501DE35"
ALPHA_CNPJ_MASKED = "12.ABC.345/01DE-35"


async def qualify_with(
    service: Service, sandbox: Sandbox, *, phone: str = PHONE, cnpj: str, name: str = "Marcos"
) -> None:
    """Two turns: the company first (the lead is not in the CRM yet, so no sync starts), then
    what makes the lead hot (volume, urgency, a quote request: handed off). In one turn Agno
    runs the tool calls concurrently, and a sync could start before the CNPJ is registered."""
    turns = (
        tools(("register_company", {"cnpj": cnpj, "legal_name": f"Razão de {name}"})),
        tools(
            (
                "update_lead",
                {
                    "name": name,
                    "company_name": "Frigorífico Oeste",
                    "city": "Chapecó",
                    "production_volume": "2000 por dia",
                    "urgency": "preciso para este mês",
                },
            ),
            ("create_quote_request", {"product": "FB300"}),
        ),
    )
    for calls in turns:
        sandbox.script(calls, {"content": f"Obrigado, {name}!"})
        replies = len(sandbox.sent_texts()) + 1
        await service.post_zapi(received_text(phone=phone, text="Quero orçamento da FB300"))
        await wait_for(lambda expected=replies: len(sandbox.sent_texts()) == expected)
    assert await crm_jobs(service)


@contextmanager
def json_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written inside the block (filled when it ends)."""
    lines: list[dict[str, Any]] = []
    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    capfd.readouterr()
    try:
        yield lines
        output = capfd.readouterr().out
    finally:
        logging.getLogger().handlers = []
    lines += [json.loads(line) for line in output.splitlines() if line.startswith("{")]


# --- persons: phones and e-mails as the schema says (vendors.md #5) -----------------------------


async def test_a_person_that_came_back_without_the_phone_is_reported(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    # The other reading of the GAP: PipeRun keeps only the example's objects and drops strings.
    sandbox.piperun_faults(person_contact_items="objects")
    with json_logs(capfd) as lines:
        service: Service = await service_factory(**crm_settings(sandbox))
        await qualify(service, sandbox)
        await wait_for(lambda: crm_settled(service))
    assert all(job["status"] == "done" for job in await crm_jobs(service))
    [person] = records(sandbox)["persons"]
    assert person["contact_phones"] == []
    [warning] = [line for line in lines if line["event"] == "crm.person_phone_not_stored"]
    assert warning["person_id"] == person["id"]
    assert warning["level"] == "warning"
    assert PHONE[-8:] not in json.dumps(lines)


# --- companies found by CNPJ (vendors.md #9) ----------------------------------------------------


async def test_a_company_listed_for_another_cnpj_is_never_linked(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    # PipeRun cannot parse an alphanumeric CNPJ filter, ignores it and lists every company;
    # then it refuses the CNPJ on create. The lead gets its own company, without the CNPJ,
    # which the summary note carries.
    stranger = sandbox.piperun_seed_company(name="Cliente antigo", cnpj="99.888.777/0001-66")
    with json_logs(capfd) as lines:
        service: Service = await service_factory(**crm_settings(sandbox))
        await qualify_with(service, sandbox, cnpj=ALPHA_CNPJ)
        await wait_for(lambda: crm_settled(service))
    assert all(job["status"] == "done" for job in await crm_jobs(service))
    companies = records(sandbox)["companies"]
    assert [c["id"] for c in companies if c["id"] != stranger["id"]]
    ours = [c for c in companies if c["id"] != stranger["id"]]
    assert len(ours) == 1
    assert ours[0]["cnpj"] == ""
    assert ours[0]["name"] == "Razão de Marcos"
    [person] = records(sandbox)["persons"]
    [deal] = records(sandbox)["deals"]
    assert person["company_id"] == deal["company_id"] == ours[0]["id"]
    [note] = summary_notes(sandbox)
    assert f"CNPJ: {ALPHA_CNPJ_MASKED}" in note["text"]
    events = [line["event"] for line in lines]
    assert "crm.company_cnpj_mismatch" in events
    assert "crm.company_cnpj_refused" in events
    logged = json.dumps(lines)
    for needle in (ALPHA_CNPJ, ALPHA_CNPJ_MASKED, "99.888.777", "Cliente antigo"):
        assert needle not in logged, needle


async def test_an_alphanumeric_cnpj_piperun_accepts_is_sent_and_found(
    service_factory: Any, sandbox: Sandbox
) -> None:
    sandbox.piperun_faults(alphanumeric_cnpj=True)
    existing = sandbox.piperun_seed_company(name="Cadastro do vendedor", cnpj=ALPHA_CNPJ_MASKED)
    sandbox.piperun_seed_company(name="Outro", cnpj="99.888.777/0001-66")
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify_with(service, sandbox, cnpj=ALPHA_CNPJ)
    await wait_for(lambda: crm_settled(service))
    [deal] = records(sandbox)["deals"]
    assert deal["company_id"] == existing["id"]
    [lookup] = sandbox.piperun_requests("GET", "/v1/companies")
    assert lookup["query"]["cnpj"] == ALPHA_CNPJ_MASKED


# --- crash recovery of a person (vendors.md #13) ------------------------------------------------


async def qualify_without_company(service: Service, sandbox: Sandbox) -> None:
    sandbox.script(
        tools(("update_lead", {"name": "Marcos"}), ("create_quote_request", {"product": "FB300"})),
        {"content": "Obrigado, Marcos!"},
    )
    await service.post_zapi(received_text(phone=PHONE, text="Quero orçamento da FB300"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)


@pytest.mark.parametrize("reached_piperun", [True, False])
async def test_a_person_with_the_same_name_alone_is_not_taken_for_ours(
    service_factory: Any, sandbox: Sandbox, reached_piperun: bool
) -> None:
    # Another Marcos, typed by a salesperson: no company, another phone. Our create of the
    # person is answered 502, after PipeRun stored it or before.
    stranger = sandbox.piperun_seed_person(name="Marcos", contactPhones=["(11) 98888-7777"])
    sandbox.piperun_faults(
        {"method": "POST", "path": "/v1/persons", "status": 502, "after_commit": reached_piperun}
    )
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify_without_company(service, sandbox)
    await wait_for(lambda: crm_settled(service), timeout=20)
    assert all(job["status"] == "done" for job in await crm_jobs(service))
    persons = records(sandbox)["persons"]
    assert len(persons) == 2
    [ours] = [p for p in persons if p["id"] != stranger["id"]]
    assert [c["phone"] for c in ours["contact_phones"]] == ["(49) 99988-7766"]
    [deal] = records(sandbox)["deals"]
    assert deal["person_id"] == ours["id"]
    # The lookup happened: the intent made the sync look before creating again.
    assert sandbox.piperun_requests("GET", "/v1/persons")


# --- contact lists on updates (vendors.md #16) --------------------------------------------------

SDR_PHONE, SDR_EMAIL = "(49) 3322-1100", "compras@frigoeste.com.br"


def sdr_edits_person(sandbox: Sandbox, person_id: int, **lists: list[str]) -> None:
    """What a salesperson saves in PipeRun's screen: the person's whole lists."""
    response = sandbox.client.put(
        f"/v1/persons/{person_id}", json=lists, headers={"token": SandboxConfig().piperun_token}
    )
    assert response.status_code == 200, response.text


async def lead_says(service: Service, sandbox: Sandbox, **slots: Any) -> None:
    sandbox.script(tools(("update_lead", slots)), {"content": "Anotado!"})
    replies = len(sandbox.sent_texts()) + 1
    await service.post_zapi(received_text(phone=PHONE, text="anota aí"))
    await wait_for(lambda: len(sandbox.sent_texts()) == replies)
    await wait_for(lambda: crm_settled(service))


async def synced_and_back_with_the_bot(service_factory: Any, sandbox: Sandbox) -> Service:
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    # The hot lead was handed off; the SDR gives it back so the bot hears the next message.
    await service.client.post(
        f"/admin/conversations/{PHONE}/resume", headers=service.admin_headers()
    )
    return service


def person_lists(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    [person] = records(sandbox)["persons"]
    return (
        [c["phone"] for c in person["contact_phones"]],
        [c["email"] for c in person["contact_emails"]],
    )


async def test_an_update_without_new_contacts_sends_no_contact_lists(
    service_factory: Any, sandbox: Sandbox
) -> None:
    # Whether PUT replaces or appends is undocumented; this account replaces.
    sandbox.piperun_faults(contact_lists_on_put="replace")
    service = await synced_and_back_with_the_bot(service_factory, sandbox)
    [person] = records(sandbox)["persons"]
    sdr_edits_person(sandbox, person["id"], contactPhones=["(49) 99988-7766", SDR_PHONE])
    await lead_says(service, sandbox, name="Marcos Andrade")
    puts = sandbox.piperun_requests("PUT", f"/v1/persons/{person['id']}")
    ours = [p for p in puts if p["body"].get("name") == "Marcos Andrade"]
    assert len(ours) == 1
    assert "contactPhones" not in ours[0]["body"]
    assert "contactEmails" not in ours[0]["body"]
    assert person_lists(sandbox)[0] == ["(49) 99988-7766", SDR_PHONE]


@pytest.mark.parametrize("semantics", ["replace", "append"])
async def test_a_new_e_mail_keeps_what_the_sdr_typed(
    service_factory: Any, sandbox: Sandbox, semantics: str
) -> None:
    sandbox.piperun_faults(contact_lists_on_put=semantics)
    service = await synced_and_back_with_the_bot(service_factory, sandbox)
    [person] = records(sandbox)["persons"]
    sdr_edits_person(
        sandbox,
        person["id"],
        contactPhones=["(49) 99988-7766", SDR_PHONE],
        contactEmails=[SDR_EMAIL],
    )
    await lead_says(service, sandbox, email="marcos@frigoeste.com.br")
    phones, emails = person_lists(sandbox)
    assert phones == ["(49) 99988-7766", SDR_PHONE]
    assert emails == [SDR_EMAIL, "marcos@frigoeste.com.br"]
    [put] = [
        p
        for p in sandbox.piperun_requests("PUT", f"/v1/persons/{person['id']}")
        if "marcos@frigoeste.com.br" in json.dumps(p["body"])
    ]
    assert "contactPhones" not in put["body"]
    # Nothing changed since: a replay sends nothing.
    before = len(sandbox.piperun_requests("PUT"))
    await service.client.post(
        "/admin/jobs/replay", json={"status": "done"}, headers=service.admin_headers()
    )
    await wait_for(lambda: crm_settled(service))
    assert len(sandbox.piperun_requests("PUT")) == before


# --- a CNPJ typed by a second lead (redteam L3) -------------------------------------------------

OTHER_PHONE = "5511912345678"
SHARED_FLAG = "CNPJ já cadastrado por outro contato"


async def test_a_lead_typing_another_leads_cnpj_does_not_take_its_company_over(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**crm_settings(sandbox))
    await qualify_with(service, sandbox, cnpj="11222333000181", name="Marcos")
    await wait_for(lambda: crm_settled(service))
    [company] = records(sandbox)["companies"]
    [owner_person] = records(sandbox)["persons"]
    puts_before = len(sandbox.piperun_requests("PUT", "/v1/companies"))

    await qualify_with(
        service, sandbox, phone=OTHER_PHONE, cnpj="11.222.333/0001-81", name="Intruso"
    )
    await wait_for(lambda: crm_settled(service))
    state = records(sandbox)
    # PipeRun: the company is untouched; the second lead's deal points at it, its person does
    # not (a person's company_id says "works there", which nobody checked).
    assert [(c["id"], c["name"]) for c in state["companies"]] == [(company["id"], company["name"])]
    assert len(sandbox.piperun_requests("PUT", "/v1/companies")) == puts_before
    [intruder] = [p for p in state["persons"] if p["id"] != owner_person["id"]]
    assert intruder["company_id"] is None
    [deal] = [d for d in state["deals"] if d["person_id"] == intruder["id"]]
    assert deal["company_id"] == company["id"]
    notes = [n for n in state["notes"] if n["deal_id"] == deal["id"]]
    assert {("/resumo" in n["text"], "/handoff-" in n["text"]) for n in notes} == {
        (True, False),
        (False, True),
    }
    for note in notes:
        assert SHARED_FLAG in note["text"]
        assert note["company_id"] is None
    owner_notes = [n for n in state["notes"] if n["deal_id"] != deal["id"]]
    assert owner_notes
    assert all(SHARED_FLAG not in n["text"] for n in owner_notes)
    # Our own records: the company stays the first lead's.
    for phone, legal_name in ((PHONE, "Razão de Marcos"), (OTHER_PHONE, "Razão de Marcos")):
        view = (
            await service.client.get(
                f"/admin/conversations/{phone}", headers=service.admin_headers()
            )
        ).json()
        assert view["company"]["legal_name"] == legal_name


# --- a CNPJ given after the company was filed by name -------------------------------------------


async def test_a_cnpj_given_later_links_the_company_piperun_already_has(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    # The lead names its company and asks for a quote: the sync files the company by name.
    # Then it gives the CNPJ of a company a salesperson already entered: that one is linked;
    # the CNPJ is not written onto ours, which would make two companies with one CNPJ.
    service: Service = await service_factory(**crm_settings(sandbox))
    sandbox.script(
        tools(
            ("update_lead", {"name": "Marcos", "company_name": "Frigorífico Oeste"}),
            ("create_quote_request", {"product": "FB300"}),
        ),
        {"content": "Obrigado, Marcos!"},
    )
    await service.post_zapi(received_text(phone=PHONE, text="Quero orçamento da FB300"))
    await wait_for(lambda: len(sandbox.sent_texts()) == 1)
    await wait_for(lambda: crm_settled(service))
    [ours] = records(sandbox)["companies"]
    seller = sandbox.piperun_seed_company(name="Oeste (vendedor)", cnpj="11.222.333/0001-81")
    with json_logs(capfd) as lines:
        sandbox.script(
            tools(("register_company", {"cnpj": "11222333000181"})), {"content": "Anotado!"}
        )
        await service.post_zapi(received_text(phone=PHONE, text="o CNPJ é 11222333000181"))
        await wait_for(lambda: len(sandbox.sent_texts()) == 2)
        await wait_for(lambda: crm_settled(service))
    state = records(sandbox)
    [person], [deal] = state["persons"], state["deals"]
    assert person["company_id"] == deal["company_id"] == seller["id"]
    companies = {c["id"]: c for c in state["companies"]}
    assert companies[ours["id"]]["cnpj"] == ""
    assert companies[seller["id"]]["name"] == "Oeste (vendedor)"
    assert sandbox.piperun_requests("PUT", f"/v1/companies/{seller['id']}") == []
    assert "crm.company_relinked" in [line["event"] for line in lines]
