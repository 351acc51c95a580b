"""The texts the SDR team reads: the CRM summary note (PRD §20.3) and the hot-lead brief (§20.4).

Plain text with line breaks: PipeRun notes and Chatwoot private notes both show it as typed.
Missing facts are written "Não informado", as the client's template asks. The template wording
never mentions prices (decision 3); what the lead wrote is quoted as written, because the note
is internal and the SDR needs the lead's own words.

A note posted to PipeRun ends with a marker line: PipeRun has no idempotency keys, so after a
crash between posting a note and recording it the sync looks for the marker in the deal's notes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from seleto_agent.domain.brazil import uf_from_ddd
from seleto_agent.domain.crm_lead import (
    SHARED_CNPJ_NOTICE,
    CrmLead,
    as_utc,
    company_name,
    known,
    lead_place,
    phone_ddd,
    quoted_products,
    quotes_in_order,
    shorten,
    usable_cnpj,
)
from seleto_agent.domain.lead_slots import NOT_INFORMED

# Dates in the note are the lead's and the SDR team's local dates.
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
SUMMARY_NOTE_KIND = "resumo"
# Quote details are free text from the model; a note is read on one screen.
_QUOTE_SUMMARY_CHARS = 300

_TEMPERATURE_LABELS = {"quente": "Quente", "morno": "Morno", "frio": "Frio"}
_MARKER_KIND_RE = re.compile(r"[a-z0-9][a-z0-9-]*")

_BRIEF_TITLES = {
    "hot_lead": "Novo Lead Quente",
    "requested": "Lead pediu atendimento humano",
    "lgpd": "Pedido LGPD do titular",
}
_BRIEF_FALLBACK_TITLE = "Lead encaminhado ao time SDR"
# Keys of `lead_slots.handoff_brief`, in the client's order (PRD §20.4).
_BRIEF_FIELDS = (
    "Nome",
    "Empresa",
    "Localização",
    "Produto de Interesse",
    "Capacidade / Volume",
    "Urgência",
    "Já conhece a Seleto Industrial?",
    "Observações adicionais",
)


# --- markers ------------------------------------------------------------------------------------


def note_marker(lead_id: int, kind: str) -> str:
    """The last line of a note we post: "ref: seleto-agent/lead/42/resumo"."""
    if not _MARKER_KIND_RE.fullmatch(kind):
        raise ValueError(f"note kind must be lowercase letters, digits and dashes: {kind!r}")
    return f"ref: seleto-agent/lead/{lead_id}/{kind}"


def handoff_note_kind(handoff_id: int) -> str:
    return f"handoff-{handoff_id}"


def note_has_marker(text: str, lead_id: int, kind: str) -> bool:
    """Whether a note carries this exact marker.

    Bounded on both sides so lead 4 does not match lead 42, nor "handoff-1" "handoff-12", even
    if PipeRun hands the text back wrapped in HTML.
    """
    pattern = r"(?<![\w/-])" + re.escape(note_marker(lead_id, kind)) + r"(?![\w-])"
    return re.search(pattern, text) is not None


# --- the CRM summary note -----------------------------------------------------------------------


def summary_note_text(lead: CrmLead) -> str:
    """The client's CRM note template, every field present, ending with the summary marker.

    The text depends on the lead alone (no "generated at" time): the sync rewrites the note only
    when its fingerprint changes, and a clock in the text would change it on every run.
    """
    sections = [
        ("Resumo do Atendimento", [_overview(lead)]),
        ("Dados do Cliente", _client_lines(lead)),
        ("Necessidade Identificada", _need_lines(lead)),
        ("Equipamento de Interesse", _equipment_lines(lead)),
        ("Classificação do Lead", [_classification(lead.temperature, lead.temperature_reason)]),
        ("Próximo Passo", _next_steps(lead)),
    ]
    blocks = ["\n".join([title, *lines]) for title, lines in sections]
    return "\n\n".join([*blocks, note_marker(lead.lead_id, SUMMARY_NOTE_KIND)])


def _overview(lead: CrmLead) -> str:
    arrival = "Contato recebido pelo WhatsApp"
    if lead.first_contact_at is not None:
        arrival += f" em {_local(lead.first_contact_at, '%d/%m/%Y')}"
    sentences = [arrival + " e atendido pelo assistente virtual da Seleto Industrial."]
    origin = _ad_origin(lead.referrals)
    if origin:
        sentences.append(origin)
    missing: list[str] = []
    product = known(lead.product_interest)
    products = quoted_products(lead)
    if product:
        sentences.append(f"Interesse em {_inline(product)}.")
    if products:
        sentences.append(f"Pediu orçamento de {_join(products)}.")
    if not (product or products):
        missing.append("equipamento de interesse")
    for label, value in (
        ("Volume de produção", lead.production_volume),
        ("Urgência de compra", lead.urgency),
    ):
        text = known(value)
        if text:
            sentences.append(f"{label}: {_inline(text)}.")
        else:
            missing.append(label.lower())
    if lead.knows_seleto is None:
        missing.append("se já conhece a Seleto Industrial")
    else:
        sentences.append(
            "Já conhece a Seleto Industrial."
            if lead.knows_seleto
            else "Ainda não conhece a Seleto Industrial."
        )
    if missing:
        sentences.append(f"{NOT_INFORMED} pelo lead: {_join(missing)}.")
    return " ".join(sentences)


def _ad_origin(referrals: tuple[dict[str, str], ...]) -> str | None:
    """Campaign attribution for the SDR team: the first ad the lead came from."""
    if not referrals:
        return None
    ad = referrals[0]
    kind = "post" if ad.get("source_type") == "post" else "anúncio"
    parts = [f"Chegou por um {kind} de Clique para o WhatsApp"]
    if ad.get("headline"):
        parts.append(f"“{_inline(ad['headline'])}”")
    details = [
        f"{label} {_inline(ad[key])}"
        for label, key in (("id", "source_id"), ("link", "source_url"), ("ctwa_clid", "ctwa_clid"))
        if ad.get(key)
    ]
    text = " ".join(parts)
    return f"{text} ({'; '.join(details)})." if details else f"{text}."


def _client_lines(lead: CrmLead) -> list[str]:
    given, legal = known(lead.company_name), known(lead.legal_name)
    company = company_name(lead) or NOT_INFORMED
    if given and legal and given.casefold() != legal.casefold():
        company = f"{given} (razão social: {legal})"
    ddd = phone_ddd(lead.phone)
    place = lead_place(lead)
    if ddd and place:
        where = f"{place} · DDD {ddd}"
    elif ddd:
        uf = uf_from_ddd(ddd)
        where = f"{NOT_INFORMED} · DDD {ddd}" + (f" ({uf})" if uf else "")
    else:
        where = place or NOT_INFORMED
    lines = [
        f"Empresa: {company}",
        f"Contato: {known(lead.name) or NOT_INFORMED}",
        f"Cidade / DDD: {where}",
        f"Segmento: {known(lead.segment) or NOT_INFORMED}",
    ]
    cnpj = usable_cnpj(lead)
    if cnpj:
        lines.append(f"CNPJ: {cnpj}")
    if cnpj and lead.company_shared:
        lines.append(f"Atenção: {SHARED_CNPJ_NOTICE}.")
    email = known(lead.email)
    if email:
        lines.append(f"E-mail: {email}")
    return lines


def _need_lines(lead: CrmLead) -> list[str]:
    lines = [
        f"Volume de produção: {known(lead.production_volume) or NOT_INFORMED}",
        f"Urgência de compra: {known(lead.urgency) or NOT_INFORMED}",
    ]
    quotes = [q for q in quotes_in_order(lead) if known(q.product)]
    if not quotes:
        return [*lines, "Pedidos de orçamento: nenhum"]
    lines.append("Pedidos de orçamento:")
    for quote in quotes:
        item = f"- {known(quote.product)} (pedido em {_local(quote.created_at, '%d/%m/%Y')})"
        details = known(quote.summary)
        lines.append(f"{item}: {shorten(details, _QUOTE_SUMMARY_CHARS)}" if details else item)
    return lines


def _equipment_lines(lead: CrmLead) -> list[str]:
    products = quoted_products(lead)
    return [
        f"Produto de interesse: {known(lead.product_interest) or NOT_INFORMED}",
        f"Orçamento pedido para: {', '.join(products) if products else 'nenhum'}",
        # Not always sized on volume: for an unavailable product it is the alternative offered.
        f"Modelo sugerido pelo assistente: {known(lead.suggested_model) or NOT_INFORMED}",
    ]


def _classification(temperature: str | None, reason: str | None) -> str:
    key = (temperature or "").strip().lower()
    label = _TEMPERATURE_LABELS.get(key, NOT_INFORMED)
    why = known(reason)
    if why and key and why.lower().startswith(f"{key}:"):
        # temperature.py writes "quente: <why>"; the label is already in front.
        why = why[len(key) + 1 :].strip()
    return f"{label} — {why}" if why else label


def _next_steps(lead: CrmLead) -> list[str]:
    steps: list[str] = []
    if lead.handed_off:
        steps.append(
            "Especialista assume o atendimento pelo WhatsApp (lead transferido ao time SDR)."
        )
    products = quoted_products(lead)
    if products:
        steps.append(f"Preparar e enviar a proposta de {_join(products)}.")
    if steps:
        return steps
    temperature = (lead.temperature or "").strip().lower()
    if temperature == "quente":
        return ["Especialista entra em contato pelo WhatsApp para dar sequência ao atendimento."]
    if temperature == "morno":
        return [
            "Acompanhar o lead: o assistente segue a conversa pelo WhatsApp; "
            "fazer follow-up se ele não retomar o contato."
        ]
    if temperature == "frio":
        return ["Manter em nutrição (catálogo, site e novidades); sem ação comercial imediata."]
    return ["Aguardar mais informações: o assistente segue a qualificação pelo WhatsApp."]


# --- the hot-lead brief -------------------------------------------------------------------------


def handoff_brief_text(
    summary: Mapping[str, Any],
    *,
    kind: str = "hot_lead",
    reason: str,
    temperature: str | None,
    temperature_reason: str | None,
    channel: str = "WhatsApp",
    marker: str | None = None,
) -> str:
    """The brief for the SDR, from the dict `lead_slots.handoff_brief` stored with the handoff.

    Posted as a Chatwoot private note (no marker) and as a PipeRun note (with
    `note_marker(lead_id, handoff_note_kind(handoff_id))`). The temperature arguments win over
    the copy in `summary`, which is as old as the handoff.
    """
    title = _BRIEF_TITLES.get(kind, _BRIEF_FALLBACK_TITLE)
    lines = [f"{title} — via {channel}", ""]
    for field in _BRIEF_FIELDS:
        value = _text(summary.get(field)) or NOT_INFORMED
        separator = " " if field.endswith("?") else ": "
        lines.append(f"{field}{separator}{value}")
    label = temperature or _text(summary.get("Temperatura"))
    why = temperature_reason if temperature else _text(summary.get("Motivo da temperatura"))
    lines.append(f"Temperatura: {_classification(label, why)}")
    lines.append(f"Motivo do encaminhamento: {known(reason) or NOT_INFORMED}")
    if marker:
        lines.extend(["", marker])
    return "\n".join(lines)


# --- small text helpers -------------------------------------------------------------------------


def _text(value: object) -> str | None:
    # The brief dict comes back from a JSON column; read any value as text.
    return None if value is None else known(str(value))


def _local(moment: datetime, pattern: str) -> str:
    return as_utc(moment).astimezone(LOCAL_TZ).strftime(pattern)


def _join(items: list[str]) -> str:
    """ "A", "A e B", "A, B e C"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} e {items[-1]}"


def _inline(text: str) -> str:
    # The lead's words end a sentence here; their own full stop would double it.
    return text.rstrip(" .")
