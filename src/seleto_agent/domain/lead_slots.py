"""Qualification slots: cleaning what the model extracted, and the SDR brief built from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seleto_agent.domain.brazil import InvalidEmail, normalize_city, normalize_uf, validate_email

# Free-text slots are short facts; anything longer is the model pasting the conversation.
MAX_SLOT_CHARS = 200

TEXT_SLOTS = (
    "name",
    "company_name",
    "segment",
    "product_interest",
    "production_volume",
    "urgency",
)

NOT_INFORMED = "Não informado"
TOO_LONG = f"texto longo demais (máximo {MAX_SLOT_CHARS} caracteres)"


@dataclass(frozen=True, slots=True)
class CleanedSlots:
    values: dict[str, Any] = field(default_factory=dict)
    # Slot → why it was refused (pt-BR, read by the model to ask the lead again).
    errors: dict[str, str] = field(default_factory=dict)


def clean_slots(raw: Mapping[str, Any]) -> CleanedSlots:
    """Validate and normalise the slots the model sent; absent or blank values are skipped."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for slot in TEXT_SLOTS:
        text = _text(raw.get(slot))
        if text is None:
            continue
        if len(text) > MAX_SLOT_CHARS:
            errors[slot] = TOO_LONG
            continue
        values[slot] = text
    city = _text(raw.get("city"))
    # redteam L8: the city reaches SDR briefs and CRM notes like the text slots.
    if city is not None and len(city) > MAX_SLOT_CHARS:
        errors["city"] = TOO_LONG
    elif city is not None:
        values["city"] = normalize_city(city)
    uf = _text(raw.get("uf"))
    if uf is not None:
        code = normalize_uf(uf)
        if code is None:
            errors["uf"] = "UF desconhecida: use a sigla do estado (ex.: SP, SC, MG)"
        else:
            values["uf"] = code
    email = _text(raw.get("email"))
    if email is not None:
        try:
            values["email"] = validate_email(email)
        except InvalidEmail as exc:
            errors["email"] = str(exc)
    knows = raw.get("knows_seleto")
    if isinstance(knows, bool):
        values["knows_seleto"] = knows
    return CleanedSlots(values=values, errors=errors)


def changed_slots(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs: a repeated call with the same values changes nothing."""
    return {slot: value for slot, value in update.items() if current.get(slot) != value}


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def handoff_brief(
    slots: Mapping[str, Any],
    *,
    temperature: str | None,
    temperature_reason: str | None,
    notes: str | None,
) -> dict[str, str]:
    """The client's hot-lead brief (PRD §20.4), every field present, in the client's words."""

    def value(slot: str) -> str:
        found = slots.get(slot)
        return str(found) if found not in (None, "") else NOT_INFORMED

    city, uf = slots.get("city"), slots.get("uf")
    location = " / ".join(part for part in (city, uf) if part) or NOT_INFORMED
    knows = slots.get("knows_seleto")
    return {
        "Nome": value("name"),
        "Empresa": value("company_name"),
        "Localização": location,
        "Produto de Interesse": value("product_interest"),
        "Capacidade / Volume": value("production_volume"),
        "Urgência": value("urgency"),
        "Já conhece a Seleto Industrial?": NOT_INFORMED
        if knows is None
        else ("Sim" if knows else "Não"),
        "Observações adicionais": notes or NOT_INFORMED,
        "Temperatura": temperature or NOT_INFORMED,
        "Motivo da temperatura": temperature_reason or NOT_INFORMED,
    }
