from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seleto_agent.domain.crm import (
    DEAL_TITLE_MAX_CHARS,
    CrmLead,
    CrmQuote,
    DealTarget,
    company_contacts,
    company_contacts_update,
    company_create_payload,
    company_update_payload,
    crm_lead_fingerprint,
    deal_create_payload,
    deal_temperature,
    deal_title,
    deal_update_payload,
    handoff_brief_text,
    handoff_note_kind,
    lead_reference,
    note_create_payload,
    note_has_marker,
    note_marker,
    person_contacts,
    person_contacts_update,
    person_create_payload,
    person_update_payload,
    summary_note_text,
)
from seleto_agent.domain.lead_slots import NOT_INFORMED, handoff_brief

# PipeRun's official OpenAPI, copied beside the tests (fixtures/vendor/piperun/SOURCES.md).
CONTRACT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "piperun"
# Shown only in PipeRun's request examples, not in every schema (piperun.md §4.1).
EXAMPLE_ONLY_KEYS = {"contactEmails", "contactPhones", "external_code"}
TARGET = DealTarget(pipeline_id=100848, stage_id=647558, origin_id=556735, owner_id=31)
HOT_REASON = (
    "quente: modelo do catálogo atende, prazo próximo e volume informado "
    "(produto FB700; volume 3.000 un/dia; urgência próxima)"
)


def make_lead(**overrides: Any) -> CrmLead:
    """An anonymous @lid lead with nothing known; override what the test needs."""
    fields: dict[str, Any] = {
        "lead_id": 7,
        "phone": None,
        "name": None,
        "company_name": None,
        "email": None,
        "city": None,
        "uf": None,
        "segment": None,
        "product_interest": None,
        "production_volume": None,
        "urgency": None,
        "knows_seleto": None,
        "temperature": None,
        "temperature_reason": None,
        "suggested_model": None,
        "cnpj": None,
        "legal_name": None,
        "company_city": None,
        "company_uf": None,
        "quotes": (),
        "first_contact_at": None,
        "handed_off": False,
    }
    return CrmLead(**{**fields, **overrides})


def quote(product: str, *, day: int = 10, summary: str | None = None) -> CrmQuote:
    return CrmQuote(
        product=product, summary=summary, created_at=datetime(2026, 3, day, 13, 5, tzinfo=UTC)
    )


def hot_lead(**overrides: Any) -> CrmLead:
    lead = make_lead(
        lead_id=42,
        phone="+5549999887766",
        name="Marcos Silva",
        company_name="Frigorífico Oeste",
        email="marcos@frigoeste.com.br",
        city="Chapecó",
        uf="SC",
        segment="frigorífico",
        product_interest="formadora de hambúrguer automática",
        production_volume="3.000 hambúrgueres por dia",
        urgency="inauguração da nova unidade no mês que vem",
        knows_seleto=True,
        temperature="quente",
        temperature_reason=HOT_REASON,
        suggested_model="FB700",
        cnpj="11222333000181",
        legal_name="Frigorífico Oeste Alimentos Ltda",
        company_city="Chapecó",
        company_uf="SC",
        quotes=(quote("FB700", summary="moldes de 120 g e 11 cm de diâmetro"),),
        first_contact_at=datetime(2026, 3, 10, 12, 40, tzinfo=UTC),
        handed_off=True,
    )
    return replace(lead, **overrides)


# --- payload keys against PipeRun's documented schema -------------------------------------------


def _request_schema(path: str, method: str) -> dict[str, Any]:
    spec = json.loads((CONTRACT_DIR / "_openapi_subset.json").read_text(encoding="utf-8"))
    schema: dict[str, Any] = spec["paths"][path][method]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def _request_properties(path: str, method: str) -> set[str]:
    return set(_request_schema(path, method)["properties"])


def _payloads() -> list[tuple[str, str, dict[str, Any]]]:
    payloads: list[tuple[str, str, dict[str, Any]]] = []
    for lead in (hot_lead(), make_lead(), make_lead(company_name="Açougue Boi Bom")):
        company = company_create_payload(lead, city_id=4904)
        if company is not None:
            payloads.append(("/companies", "post", company))
        payloads += [
            ("/companies/{id}", "put", company_update_payload(lead, city_id=1, created_by_us=True)),
            ("/persons", "post", person_create_payload(lead, company_id=3, city_id=4904)),
            ("/persons/{person_id}", "put", person_update_payload(lead, company_id=3, city_id=1)),
            ("/persons/{person_id}", "put", person_contacts_update(lead, emails=[], phones=[])),
            ("/companies/{id}", "put", company_contacts_update(lead, emails=[], phones=[])),
            ("/deals", "post", deal_create_payload(lead, TARGET, person_id=5, company_id=3)),
            ("/deals/{deal_id}", "put", deal_update_payload(lead, person_id=5, company_id=3)),
            ("/notes", "post", note_create_payload("texto", deal_id=9, person_id=5)),
        ]
    return payloads


@pytest.mark.parametrize(("path", "method", "payload"), _payloads())
def test_every_key_sent_is_a_documented_piperun_field(
    path: str, method: str, payload: dict[str, Any]
) -> None:
    documented = _request_properties(path, method) | EXAMPLE_ONLY_KEYS
    assert set(payload) <= documented, set(payload) - documented


@pytest.mark.parametrize(("path", "method", "payload"), _payloads())
def test_array_items_have_the_documented_type(
    path: str, method: str, payload: dict[str, Any]
) -> None:
    properties = _request_schema(path, method)["properties"]
    for key, value in payload.items():
        items = properties.get(key, {}).get("items", {})
        if isinstance(value, list) and "type" in items:
            kinds = {"string": str, "integer": int, "object": dict}
            assert all(isinstance(item, kinds[items["type"]]) for item in value), (key, value)


def test_create_payloads_carry_the_required_fields() -> None:
    lead = make_lead()
    assert {"name"} <= set(person_create_payload(lead, company_id=None, city_id=None))
    deal = deal_create_payload(lead, TARGET, person_id=None, company_id=None)
    assert {"pipeline_id", "stage_id", "title"} <= set(deal)
    assert note_create_payload("x", deal_id=None) == {"text": "x"}


# --- companies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cnpj", "masked"),
    [("11222333000181", "11.222.333/0001-81"), ("12ABC34501DE35", "12.ABC.345/01DE-35")],
)
def test_company_cnpj_is_masked_like_piperun_examples(cnpj: str, masked: str) -> None:
    payload = company_create_payload(hot_lead(cnpj=cnpj), city_id=None)
    assert payload is not None
    assert payload["cnpj"] == masked
    assert payload["external_code"] == "seleto-agent:lead:42"


def test_company_with_cnpj_uses_the_registered_name() -> None:
    payload = company_create_payload(hot_lead(), city_id=4904)
    assert payload == {
        "name": "Frigorífico Oeste Alimentos Ltda",
        "company_situation": 1,
        "cnpj": "11.222.333/0001-81",
        "external_code": "seleto-agent:lead:42",
        "city_id": 4904,
        "contactEmails": [{"email": "marcos@frigoeste.com.br"}],
        "contactPhones": [{"phone": "(49) 99988-7766"}],
    }


def test_company_without_cnpj_is_findable_by_our_reference() -> None:
    payload = company_create_payload(make_lead(company_name="Açougue Boi Bom"), city_id=None)
    assert payload == {
        "name": "Açougue Boi Bom",
        "company_situation": 1,
        "external_code": "seleto-agent:lead:7",
    }


def test_invalid_cnpj_is_treated_as_unknown() -> None:
    payload = company_create_payload(
        make_lead(company_name="Açougue Boi Bom", cnpj="11222333000182"), city_id=None
    )
    assert payload is not None
    assert "cnpj" not in payload
    assert payload["external_code"] == lead_reference(7)


def test_no_company_without_a_name_or_cnpj() -> None:
    assert company_create_payload(make_lead(), city_id=4904) is None
    assert company_create_payload(make_lead(company_name="não informado"), city_id=1) is None


def test_company_known_only_by_cnpj_gets_a_name() -> None:
    payload = company_create_payload(make_lead(cnpj="12ABC34501DE35"), city_id=None)
    assert payload is not None
    assert payload["name"] == "Empresa CNPJ 12.ABC.345/01DE-35"


def test_company_update_keeps_the_sales_team_fields() -> None:
    found_by_cnpj = company_update_payload(hot_lead(), city_id=4904, created_by_us=False)
    # vendors.md #16: contact lists are never part of an update (see *_contacts_update).
    assert found_by_cnpj == {"cnpj": "11.222.333/0001-81", "city_id": 4904}
    ours = company_update_payload(hot_lead(), city_id=None)
    assert ours["name"] == "Frigorífico Oeste Alimentos Ltda"
    assert "company_situation" not in ours
    assert "city_id" not in ours
    assert company_update_payload(make_lead(), city_id=None, created_by_us=False) == {}


# --- persons ------------------------------------------------------------------------------------


def test_person_create_payload() -> None:
    # vendors.md #5: for persons the schema's items are strings (the example's objects are not).
    assert person_create_payload(hot_lead(), company_id=3, city_id=4904) == {
        "name": "Marcos Silva",
        "observation": "Contato via WhatsApp (assistente virtual Seleto)",
        "company_id": 3,
        "city_id": 4904,
        "contactEmails": ["marcos@frigoeste.com.br"],
        "contactPhones": ["(49) 99988-7766"],
    }


@pytest.mark.parametrize(
    ("phone", "name"),
    [
        ("+5549999887766", "Lead WhatsApp (49) 99988-7766"),
        ("+554933221100", "Lead WhatsApp (49) 3322-1100"),
        ("+14155552671", "Lead WhatsApp +1 415-555-2671"),
        (None, "Lead WhatsApp"),
        ("wa:lid:123456789", "Lead WhatsApp"),
    ],
)
def test_person_without_a_name_is_named_after_the_phone(phone: str | None, name: str) -> None:
    payload = person_create_payload(make_lead(phone=phone), company_id=None, city_id=None)
    assert payload["name"] == name


def test_person_update_never_sends_the_placeholder_name_or_observation() -> None:
    anonymous = person_update_payload(
        make_lead(phone="+5549999887766"), company_id=None, city_id=None
    )
    assert anonymous == {}
    named = person_update_payload(hot_lead(), company_id=3, city_id=None)
    assert named == {"name": "Marcos Silva", "company_id": 3}


def test_contacts_update_adds_only_what_the_record_lacks_and_keeps_its_values() -> None:
    lead = hot_lead()
    sdr = {"emails": ["compras@frigoeste.com.br"], "phones": ["(49) 3322-1100"]}
    assert person_contacts_update(lead, **sdr) == {
        "contactEmails": ["compras@frigoeste.com.br", "marcos@frigoeste.com.br"],
        "contactPhones": ["(49) 3322-1100", "(49) 99988-7766"],
    }
    assert company_contacts_update(lead, **sdr) == {
        "contactEmails": [
            {"email": "compras@frigoeste.com.br"},
            {"email": "marcos@frigoeste.com.br"},
        ],
        "contactPhones": [{"phone": "(49) 3322-1100"}, {"phone": "(49) 99988-7766"}],
    }
    # PipeRun writes the number its own way; the same number is not added twice.
    held = {"emails": ["MARCOS@frigoeste.com.br"], "phones": ["49999887766"]}
    assert person_contacts_update(lead, **held) == {}
    # A list PipeRun did not list is left alone: sending ours alone could replace it.
    assert person_contacts_update(lead, emails=None, phones=[]) == {
        "contactPhones": ["(49) 99988-7766"]
    }
    assert person_contacts_update(make_lead(), emails=[], phones=[]) == {}
    assert person_contacts(lead) == {
        "contactEmails": ["marcos@frigoeste.com.br"],
        "contactPhones": ["(49) 99988-7766"],
    }
    assert company_contacts(make_lead()) == {}


# --- deals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "title"),
    [
        ({}, "Lead — FB700"),
        # The latest quote wins, whatever order the quotes come in.
        ({"quotes": (quote("Misturador 70 L", day=11), quote("FB700"))}, "Lead — Misturador 70 L"),
        ({"quotes": ()}, "Lead — formadora de hambúrguer automática"),
        ({"quotes": (), "product_interest": "Não informado"}, "Lead — FB700"),
        ({"quotes": (), "product_interest": None, "suggested_model": None}, "Lead — Não informado"),
    ],
)
def test_deal_title_product(overrides: dict[str, Any], title: str) -> None:
    assert deal_title(hot_lead(**overrides)).startswith(title + " — ")


@pytest.mark.parametrize(
    ("overrides", "place"),
    [
        ({}, "Chapecó/SC"),
        ({"city": None}, "SC"),
        ({"uf": None}, "Chapecó"),
        ({"city": None, "uf": None, "company_city": "Xanxerê", "company_uf": "SC"}, "Xanxerê/SC"),
        ({"city": None, "uf": None, "company_city": None, "company_uf": None}, "DDD 49/SC"),
        (
            {"city": None, "uf": None, "company_city": None, "company_uf": None, "phone": None},
            NOT_INFORMED,
        ),
    ],
)
def test_deal_title_place(overrides: dict[str, Any], place: str) -> None:
    assert deal_title(hot_lead(**overrides)) == f"Lead — FB700 — {place}"


def test_long_deal_title_keeps_its_shape() -> None:
    lead = hot_lead(quotes=(), product_interest="formadora " * 30, city="São José " * 10)
    title = deal_title(lead)
    assert len(title) <= DEAL_TITLE_MAX_CHARS
    product, place = title.removeprefix("Lead — ").split(" — ")
    assert product.endswith("…")
    assert place.endswith("…")
    assert "\n" not in title


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("quente", 2),
        ("morno", 3),
        ("frio", 4),
        ("Quente", 2),
        (None, None),
        ("muito quente", None),
    ],
)
def test_deal_temperature_codes(label: str | None, code: int | None) -> None:
    assert deal_temperature(label) == code


def test_deal_create_payload() -> None:
    assert deal_create_payload(hot_lead(), TARGET, person_id=5, company_id=3) == {
        "pipeline_id": 100848,
        "stage_id": 647558,
        "title": "Lead — FB700 — Chapecó/SC",
        "reference": "seleto-agent:lead:42",
        "status": 0,
        "origin_id": 556735,
        "owner_id": 31,
        "temperature": 2,
        "person_id": 5,
        "company_id": 3,
    }


def test_deal_create_leaves_out_what_is_not_set() -> None:
    target = DealTarget(pipeline_id=1, stage_id=2, origin_id=None, owner_id=None)
    payload = deal_create_payload(make_lead(), target, person_id=5, company_id=None)
    assert set(payload) == {"pipeline_id", "stage_id", "title", "reference", "status", "person_id"}


@pytest.mark.parametrize("lead", [hot_lead(), make_lead()])
def test_updates_never_move_or_reassign_the_deal(lead: CrmLead) -> None:
    payload = deal_update_payload(lead, person_id=5, company_id=3)
    assert not {"pipeline_id", "stage_id", "owner_id", "status", "origin_id"} & set(payload)
    assert payload["title"] == deal_title(lead)


def test_fingerprint_is_stable_and_detects_changes() -> None:
    payload = deal_update_payload(hot_lead(), person_id=5, company_id=3)
    reordered = dict(reversed(list(payload.items())))
    assert crm_lead_fingerprint(payload) == crm_lead_fingerprint(reordered)
    assert len(crm_lead_fingerprint(payload)) == 64
    warmer = deal_update_payload(hot_lead(temperature="morno"), person_id=5, company_id=3)
    assert crm_lead_fingerprint(warmer) != crm_lead_fingerprint(payload)
    nested = {"contactPhones": [{"phone": "(49) 99988-7766"}]}
    changed = {"contactPhones": [{"phone": "(49) 99988-7767"}]}
    assert crm_lead_fingerprint(nested) != crm_lead_fingerprint(changed)


# --- markers ------------------------------------------------------------------------------------


def test_marker_round_trip() -> None:
    marker = note_marker(42, "resumo")
    assert marker == "ref: seleto-agent/lead/42/resumo"
    assert note_has_marker(summary_note_text(hot_lead()), 42, "resumo")
    assert note_has_marker(f"<p>texto</p><p>{marker}</p>", 42, "resumo")


def test_marker_does_not_match_a_neighbour() -> None:
    text = "\n".join(["Resumo", note_marker(42, "handoff-12")])
    assert not note_has_marker(text, 4, "handoff-12")
    assert not note_has_marker(text, 42, "handoff-1")
    assert not note_has_marker(text, 42, "resumo")
    assert note_has_marker(text, 42, handoff_note_kind(12))


def test_marker_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="note kind"):
        note_marker(1, "Resumo Final")


# --- the summary note ---------------------------------------------------------------------------

HOT_NOTE = """\
Resumo do Atendimento
Contato recebido pelo WhatsApp em 10/03/2026 e atendido pelo assistente virtual da Seleto \
Industrial. Interesse em formadora de hambúrguer automática. Pediu orçamento de FB700. Volume \
de produção: 3.000 hambúrgueres por dia. Urgência de compra: inauguração da nova unidade no mês \
que vem. Já conhece a Seleto Industrial.

Dados do Cliente
Empresa: Frigorífico Oeste (razão social: Frigorífico Oeste Alimentos Ltda)
Contato: Marcos Silva
Cidade / DDD: Chapecó/SC · DDD 49
Segmento: frigorífico
CNPJ: 11.222.333/0001-81
E-mail: marcos@frigoeste.com.br

Necessidade Identificada
Volume de produção: 3.000 hambúrgueres por dia
Urgência de compra: inauguração da nova unidade no mês que vem
Pedidos de orçamento:
- FB700 (pedido em 10/03/2026): moldes de 120 g e 11 cm de diâmetro

Equipamento de Interesse
Produto de interesse: formadora de hambúrguer automática
Orçamento pedido para: FB700
Modelo sugerido pelo assistente: FB700

Classificação do Lead
Quente — modelo do catálogo atende, prazo próximo e volume informado (produto FB700; volume \
3.000 un/dia; urgência próxima)

Próximo Passo
Especialista assume o atendimento pelo WhatsApp (lead transferido ao time SDR).
Preparar e enviar a proposta de FB700.

ref: seleto-agent/lead/42/resumo"""

EMPTY_NOTE = """\
Resumo do Atendimento
Contato recebido pelo WhatsApp e atendido pelo assistente virtual da Seleto Industrial. Não \
informado pelo lead: equipamento de interesse, volume de produção, urgência de compra e se já \
conhece a Seleto Industrial.

Dados do Cliente
Empresa: Não informado
Contato: Não informado
Cidade / DDD: Não informado
Segmento: Não informado

Necessidade Identificada
Volume de produção: Não informado
Urgência de compra: Não informado
Pedidos de orçamento: nenhum

Equipamento de Interesse
Produto de interesse: Não informado
Orçamento pedido para: nenhum
Modelo sugerido pelo assistente: Não informado

Classificação do Lead
Não informado

Próximo Passo
Aguardar mais informações: o assistente segue a qualificação pelo WhatsApp.

ref: seleto-agent/lead/7/resumo"""


def test_summary_note_of_a_hot_lead() -> None:
    assert summary_note_text(hot_lead()) == HOT_NOTE


def test_summary_note_of_an_empty_lead() -> None:
    assert summary_note_text(make_lead()) == EMPTY_NOTE


def _sections(note: str) -> dict[str, str]:
    blocks = note.split("\n\n")
    return {block.split("\n", 1)[0]: block for block in blocks[:-1]}


def test_every_field_section_says_not_informed_when_empty() -> None:
    sections = _sections(summary_note_text(make_lead()))
    assert list(sections) == [
        "Resumo do Atendimento",
        "Dados do Cliente",
        "Necessidade Identificada",
        "Equipamento de Interesse",
        "Classificação do Lead",
        "Próximo Passo",
    ]
    # The next step is always a rule-made action, never a missing field.
    for title, block in list(sections.items())[:-1]:
        assert NOT_INFORMED in block, title


@pytest.mark.parametrize(
    "lead",
    [
        hot_lead(),
        make_lead(),
        hot_lead(temperature="morno", handed_off=False, quotes=()),
        hot_lead(temperature="frio", handed_off=False, quotes=()),
    ],
)
def test_note_template_has_no_price_wording(lead: CrmLead) -> None:
    note = summary_note_text(lead).lower()
    for word in ("r$", "preço", "preco", "valor", "desconto", "prazo de entrega", "parcela"):
        assert word not in note


@pytest.mark.parametrize(
    ("overrides", "step"),
    [
        (
            {"handed_off": False},
            "Preparar e enviar a proposta de FB700.",
        ),
        (
            {"handed_off": False, "quotes": (quote("FB700"), quote("Misturador 70 L", day=11))},
            "Preparar e enviar a proposta de FB700 e Misturador 70 L.",
        ),
        (
            {"handed_off": False, "quotes": ()},
            "Especialista entra em contato pelo WhatsApp para dar sequência ao atendimento.",
        ),
        (
            {"handed_off": False, "quotes": (), "temperature": "morno"},
            "Acompanhar o lead: o assistente segue a conversa pelo WhatsApp; fazer follow-up se "
            "ele não retomar o contato.",
        ),
        (
            {"handed_off": False, "quotes": (), "temperature": "frio"},
            "Manter em nutrição (catálogo, site e novidades); sem ação comercial imediata.",
        ),
    ],
)
def test_next_step_follows_the_lead_state(overrides: dict[str, Any], step: str) -> None:
    sections = _sections(summary_note_text(hot_lead(**overrides)))
    assert sections["Próximo Passo"] == f"Próximo Passo\n{step}"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"city": None, "uf": None}, "Chapecó/SC · DDD 49"),  # the company's address
        (
            {"city": None, "uf": None, "company_city": None, "company_uf": None},
            "Não informado · DDD 49 (SC)",
        ),
        ({"phone": None}, "Chapecó/SC"),
        ({"phone": "+5511987654321", "city": "Campinas", "uf": "SP"}, "Campinas/SP · DDD 11"),
    ],
)
def test_city_and_ddd_line(overrides: dict[str, Any], line: str) -> None:
    assert f"Cidade / DDD: {line}\n" in summary_note_text(hot_lead(**overrides))


def test_dates_are_written_in_brasilia_time() -> None:
    # 02:00 UTC on the 11th is still the evening of the 10th in Brasília.
    lead = hot_lead(first_contact_at=datetime(2026, 3, 11, 2, 0, tzinfo=UTC))
    assert "pelo WhatsApp em 10/03/2026 " in summary_note_text(lead)
    naive = hot_lead(first_contact_at=datetime(2026, 3, 11, 2, 0))  # SQLite: UTC, no offset
    assert "pelo WhatsApp em 10/03/2026 " in summary_note_text(naive)


def test_cold_lead_reason_loses_only_the_repeated_label() -> None:
    lead = hot_lead(temperature="frio", temperature_reason="frio: uso doméstico (sem produto)")
    sections = _sections(summary_note_text(lead))
    assert sections["Classificação do Lead"] == (
        "Classificação do Lead\nFrio — uso doméstico (sem produto)"
    )


# --- the handoff brief --------------------------------------------------------------------------


def _brief_summary(**slots: Any) -> dict[str, str]:
    return handoff_brief(
        slots, temperature="quente", temperature_reason=HOT_REASON, notes=slots.pop("notes", None)
    )


def test_hot_lead_brief_for_piperun() -> None:
    summary = _brief_summary(
        name="Marcos Silva",
        company_name="Frigorífico Oeste",
        city="Chapecó",
        uf="SC",
        product_interest="FB700",
        production_volume="3.000 hambúrgueres por dia",
        urgency="inauguração no mês que vem",
        knows_seleto=True,
        notes="Orçamento pedido: FB700 (moldes de 120 g)",
    )
    text = handoff_brief_text(
        summary,
        reason="Lead quente e pediu proposta",
        temperature="quente",
        temperature_reason=HOT_REASON,
        marker=note_marker(42, handoff_note_kind(3)),
    )
    assert text == (
        "Novo Lead Quente — via WhatsApp\n"
        "\n"
        "Nome: Marcos Silva\n"
        "Empresa: Frigorífico Oeste\n"
        "Localização: Chapecó / SC\n"
        "Produto de Interesse: FB700\n"
        "Capacidade / Volume: 3.000 hambúrgueres por dia\n"
        "Urgência: inauguração no mês que vem\n"
        "Já conhece a Seleto Industrial? Sim\n"
        "Observações adicionais: Orçamento pedido: FB700 (moldes de 120 g)\n"
        "Temperatura: Quente — modelo do catálogo atende, prazo próximo e volume informado "
        "(produto FB700; volume 3.000 un/dia; urgência próxima)\n"
        "Motivo do encaminhamento: Lead quente e pediu proposta\n"
        "\n"
        "ref: seleto-agent/lead/42/handoff-3"
    )
    assert note_has_marker(text, 42, "handoff-3")


def test_empty_brief_says_not_informed_everywhere() -> None:
    text = handoff_brief_text(
        {}, reason="", temperature=None, temperature_reason=None, kind="requested"
    )
    lines = text.split("\n")
    assert lines[0] == "Lead pediu atendimento humano — via WhatsApp"
    assert len(lines) == 12
    for line in lines[2:]:
        assert line.endswith(NOT_INFORMED), line
    assert "ref:" not in text


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("hot_lead", "Novo Lead Quente — via WhatsApp"),
        ("requested", "Lead pediu atendimento humano — via WhatsApp"),
        ("lgpd", "Pedido LGPD do titular — via WhatsApp"),
        ("something_new", "Lead encaminhado ao time SDR — via WhatsApp"),
    ],
)
def test_brief_title_names_the_kind_of_handoff(kind: str, title: str) -> None:
    text = handoff_brief_text(
        _brief_summary(), kind=kind, reason="x", temperature=None, temperature_reason=None
    )
    assert text.split("\n")[0] == title


def test_brief_falls_back_to_the_stored_temperature() -> None:
    text = handoff_brief_text(
        _brief_summary(name="Ana"), reason="x", temperature=None, temperature_reason=None
    )
    assert "Temperatura: Quente — modelo do catálogo atende" in text
    newer = handoff_brief_text(
        _brief_summary(name="Ana"),
        reason="x",
        temperature="morno",
        temperature_reason="morno: prazo não é próximo",
    )
    assert "Temperatura: Morno — prazo não é próximo\n" in newer


def test_brief_keeps_each_field_on_one_line() -> None:
    summary = _brief_summary(name="Ana\nPaula", urgency="logo\n\nurgente")
    text = handoff_brief_text(summary, reason="a\nb", temperature=None, temperature_reason=None)
    assert "Nome: Ana Paula\n" in text
    assert "Urgência: logo urgente\n" in text
    assert text.endswith("Motivo do encaminhamento: a b")


def test_brief_reads_values_stored_as_json() -> None:
    text = handoff_brief_text(
        {"Nome": "Ana", "Capacidade / Volume": 500, "Urgência": None},
        reason="x",
        temperature=None,
        temperature_reason=None,
    )
    assert "Capacidade / Volume: 500\n" in text
    assert f"Urgência: {NOT_INFORMED}\n" in text


def test_summary_note_depends_on_the_lead_only() -> None:
    # The sync rewrites the note only when its fingerprint changes.
    first = crm_lead_fingerprint({"text": summary_note_text(hot_lead())})
    assert first == crm_lead_fingerprint({"text": summary_note_text(hot_lead())})
    changed = summary_note_text(hot_lead(urgency="em 15 dias"))
    assert first != crm_lead_fingerprint({"text": changed})
