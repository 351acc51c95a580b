"""The per-turn lead context: what is known about the lead, filled into the prompt's template."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from seleto_agent.agents.prompts import Prompt
from seleto_agent.domain.lead_slots import NOT_INFORMED
from seleto_agent.domain.temperature import LeadSignals, missing_slots
from seleto_agent.services.leads import LeadState

# Slot labels as the SDR team writes them (the same words as the handoff brief).
SLOT_LABELS: dict[str, str] = {
    "name": "nome",
    "company_name": "empresa",
    "email": "e-mail",
    "city": "cidade",
    "uf": "UF",
    "segment": "segmento",
    "product_interest": "produto de interesse",
    "production_volume": "volume de produção",
    "urgency": "urgência",
    "knows_seleto": "já conhece a Seleto",
}
# Labels of `missing_slots` entries that are not a single slot.
MISSING_LABELS = {**SLOT_LABELS, "city_uf": "cidade e UF"}
# Dates in the note are the lead's local dates.
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
NONE_YET = "nenhum"


def render_lead_context(
    prompt: Prompt, state: LeadState | None, *, resumed_after: datetime | None
) -> str:
    slots = state.lead.slots() if state else {}
    known = [
        f"{SLOT_LABELS[slot]}: {_value(value)}"
        for slot, value in slots.items()
        if value not in (None, "")
    ]
    lead = state.lead if state else None
    signals = LeadSignals(
        name=lead.name if lead else None,
        city=lead.city if lead else None,
        uf=lead.uf if lead else None,
        product_interest=lead.product_interest if lead else None,
        urgency=lead.urgency if lead else None,
    )
    missing = [MISSING_LABELS[slot] for slot in missing_slots(signals)]
    temperature = (
        f"{lead.temperature} ({lead.temperature_reason})"
        if lead and lead.temperature
        else NOT_INFORMED
    )
    resumed = (
        prompt.template("retomada").format(
            data=resumed_after.astimezone(LOCAL_TZ).strftime("%d/%m/%Y")
        )
        if resumed_after
        else ""
    )
    return (
        prompt.template("contexto_lead")
        .format(
            dados="; ".join(known) or NONE_YET,
            faltam=", ".join(missing) or NONE_YET,
            temperatura=temperature,
            modelo_sugerido=(
                lead.suggested_model if lead and lead.suggested_model else NOT_INFORMED
            ),
            orcamentos=", ".join(q.product for q in state.quotes)
            if state and state.quotes
            else NONE_YET,
            encaminhado="sim" if state and state.handoff else "não",
            retomada=resumed,
        )
        .strip()
    )


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "sim" if value else "não"
    return str(value)
