"""The one place that maps a lead to PipeRun: company, person, deal and note payloads, the deal
title, the payload fingerprints; and, re-exported from `crm_notes.py`, the texts the SDR team
reads (summary note, hot-lead brief, note markers). Callers import all of it from here.

Only this module knows PipeRun's field names (contracts/piperun.md §4). Everything is pure:
city ids and PipeRun ids are looked up by the caller and passed in.

Create and update payloads differ on purpose. A create sends everything we know; an update
sends only fields the agent owns, because the SDR team edits the same records by hand and a
later sync must never undo their work (move a deal back to its first stage, rename a company
they found by CNPJ, reset a company's situation).

Contact lists (`contactEmails`, `contactPhones`) are not part of an update: whether a PUT
replaces a list or adds to it is undocumented (vendors.md #16), so a list is sent only when the
lead gave a value the record lacks, and then as the record's own values plus ours
(`*_contacts_update`): nothing an SDR typed is dropped under either semantics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from seleto_agent.domain.brazil import uf_from_ddd
from seleto_agent.domain.crm_lead import (
    CrmLead,
    CrmQuote,
    carries_phone,
    company_name,
    known,
    lead_place,
    phone_ddd,
    phone_display,
    quoted_products,
    shorten,
    usable_cnpj,
)
from seleto_agent.domain.crm_notes import (
    SUMMARY_NOTE_KIND,
    handoff_brief_text,
    handoff_note_kind,
    note_has_marker,
    note_marker,
    summary_note_text,
)
from seleto_agent.domain.lead_slots import NOT_INFORMED

__all__ = [
    "DEAL_TITLE_MAX_CHARS",
    "PERSON_OBSERVATION",
    "SUMMARY_NOTE_KIND",
    "CrmLead",
    "CrmQuote",
    "DealTarget",
    "company_contacts",
    "company_contacts_update",
    "company_create_payload",
    "company_update_payload",
    "crm_lead_fingerprint",
    "deal_create_payload",
    "deal_temperature",
    "deal_title",
    "deal_update_payload",
    "handoff_brief_text",
    "handoff_note_kind",
    "lead_reference",
    "note_create_payload",
    "note_has_marker",
    "note_marker",
    "person_contacts",
    "person_contacts_update",
    "person_create_payload",
    "person_name",
    "person_update_payload",
    "summary_note_text",
]

# PipeRun documents no title length (piperun.md §4.3); this keeps a title to one short line.
DEAL_TITLE_MAX_CHARS = 150
# Budgets that keep "Lead — <Produto> — <Lugar>" whole under DEAL_TITLE_MAX_CHARS.
_TITLE_PRODUCT_CHARS = 80
_TITLE_PLACE_CHARS = 50

# PipeRun deal temperature codes (piperun.md §4.3); 1 "muito quente" is left to the SDR team.
_DEAL_TEMPERATURES = {"quente": 2, "morno": 3, "frio": 4}
# PipeRun company_situation 1 = lead (piperun.md §4.1).
_COMPANY_SITUATION_LEAD = 1
# PipeRun deal status 0 = aberta.
_DEAL_STATUS_OPEN = 0

PERSON_OBSERVATION = "Contato via WhatsApp (assistente virtual Seleto)"
_FALLBACK_PERSON_NAME = "Lead WhatsApp"


@dataclass(frozen=True, slots=True)
class DealTarget:
    pipeline_id: int
    stage_id: int
    origin_id: int | None
    owner_id: int | None


# --- references and fingerprints ----------------------------------------------------------------


def lead_reference(lead_id: int) -> str:
    """Our id for a lead in PipeRun (deal `reference`, company `external_code`).

    PipeRun has no idempotency keys, so after a crash between a create and saving its id the
    record is found again by this reference.
    """
    return f"seleto-agent:lead:{lead_id}"


def crm_lead_fingerprint(payload: dict[str, Any]) -> str:
    """sha256 of the payload's canonical JSON: same content, same value, whatever the key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- companies and persons ----------------------------------------------------------------------


def company_contacts(lead: CrmLead) -> dict[str, Any]:
    """The lead's e-mail and phone in a company's lists, as sent on create.

    Companies declare no item schema; these are the shapes of their request example."""
    return _company_lists(*_lead_contacts(lead))


def person_contacts(lead: CrmLead) -> dict[str, Any]:
    """The lead's e-mail and phone in a person's lists, as sent on create.

    vendors.md #5: the persons schema says arrays of strings; its example's objects contradict
    it, and the schema is the contract."""
    return _person_lists(*_lead_contacts(lead))


def company_contacts_update(
    lead: CrmLead, *, emails: list[str] | None, phones: list[str] | None
) -> dict[str, Any]:
    """PUT body adding the lead's e-mail/phone to a company's lists as PipeRun holds them
    (None: PipeRun did not list them, so that list is left alone); {} when nothing is new."""
    return _company_lists(*_extended(lead, emails, phones))


def person_contacts_update(
    lead: CrmLead, *, emails: list[str] | None, phones: list[str] | None
) -> dict[str, Any]:
    """`company_contacts_update` for a person."""
    return _person_lists(*_extended(lead, emails, phones))


def _lead_contacts(lead: CrmLead) -> tuple[list[str], list[str]]:
    email, phone = known(lead.email), phone_display(lead.phone)
    return ([email] if email else []), ([phone] if phone else [])


def _extended(
    lead: CrmLead, emails: list[str] | None, phones: list[str] | None
) -> tuple[list[str], list[str]]:
    # Empty means "not sent". The record's own values go first and are all kept.
    email, phone = known(lead.email), phone_display(lead.phone)
    new_emails: list[str] = []
    if email and emails is not None and email.casefold() not in {e.casefold() for e in emails}:
        new_emails = [*emails, email]
    new_phones: list[str] = []
    if phone and phones is not None and not carries_phone(phones, lead.phone):
        new_phones = [*phones, phone]
    return new_emails, new_phones


def _company_lists(emails: list[str], phones: list[str]) -> dict[str, Any]:
    lists: dict[str, Any] = {}
    if emails:
        lists["contactEmails"] = [{"email": email} for email in emails]
    if phones:
        lists["contactPhones"] = [{"phone": phone} for phone in phones]
    return lists


def _person_lists(emails: list[str], phones: list[str]) -> dict[str, Any]:
    lists: dict[str, Any] = {}
    if emails:
        lists["contactEmails"] = emails
    if phones:
        lists["contactPhones"] = phones
    return lists


def company_create_payload(lead: CrmLead, *, city_id: int | None) -> dict[str, Any] | None:
    """POST /companies body, or None when the lead named no company and gave no CNPJ.

    Our lead reference always goes in `external_code`: without a CNPJ it is the only key we
    can search the company by after a crash, and with one it tells a company we created (and
    may keep up to date) from one a salesperson entered (which we only link).
    """
    cnpj = usable_cnpj(lead)
    name = _company_record_name(lead, cnpj)
    if name is None:
        return None
    payload: dict[str, Any] = {"name": name, "company_situation": _COMPANY_SITUATION_LEAD}
    if cnpj:
        payload["cnpj"] = cnpj
    payload["external_code"] = lead_reference(lead.lead_id)
    if city_id is not None:
        payload["city_id"] = city_id
    payload.update(company_contacts(lead))
    return payload


def _company_record_name(lead: CrmLead, cnpj: str | None) -> str | None:
    # PipeRun requires a name; a CNPJ given without one still identifies the company.
    return company_name(lead) or (f"Empresa CNPJ {cnpj}" if cnpj else None)


def company_update_payload(
    lead: CrmLead, *, city_id: int | None, created_by_us: bool = True
) -> dict[str, Any]:
    """PUT /companies/{id} body with only the fields the agent owns; may be empty.

    The name is sent only for a company we created: one found by CNPJ belongs to the client's
    records (the sync links such a company and never updates it; pass `created_by_us=False`
    should that change). Unknown values are left out, never sent empty, so nothing typed in
    PipeRun is cleared. `company_situation` is never sent: it is the sales team's funnel.
    Contact lists go separately (`company_contacts_update`).
    """
    payload: dict[str, Any] = {}
    cnpj = usable_cnpj(lead)
    name = _company_record_name(lead, cnpj)
    if created_by_us and name:
        payload["name"] = name
    if cnpj:
        payload["cnpj"] = cnpj
    if city_id is not None:
        payload["city_id"] = city_id
    return payload


def person_name(lead: CrmLead) -> str:
    """PipeRun requires a name; an anonymous lead is named after its phone."""
    name = known(lead.name)
    if name:
        return name
    phone = phone_display(lead.phone)
    return f"{_FALLBACK_PERSON_NAME} {phone}" if phone else _FALLBACK_PERSON_NAME


def person_create_payload(
    lead: CrmLead, *, company_id: int | None, city_id: int | None
) -> dict[str, Any]:
    """POST /persons body."""
    payload: dict[str, Any] = {"name": person_name(lead), "observation": PERSON_OBSERVATION}
    if company_id is not None:
        payload["company_id"] = company_id
    if city_id is not None:
        payload["city_id"] = city_id
    payload.update(person_contacts(lead))
    return payload


def person_update_payload(
    lead: CrmLead, *, company_id: int | None, city_id: int | None
) -> dict[str, Any]:
    """PUT /persons/{id} body; may be empty.

    The name goes only when the lead gave one: the phone-based placeholder must not overwrite
    a name the SDR typed. `observation` is written once, at create, and then is the SDR's.
    Contact lists go separately (`person_contacts_update`).
    """
    payload: dict[str, Any] = {}
    name = known(lead.name)
    if name:
        payload["name"] = name
    if company_id is not None:
        payload["company_id"] = company_id
    if city_id is not None:
        payload["city_id"] = city_id
    return payload


# --- deals --------------------------------------------------------------------------------------


def deal_title(lead: CrmLead) -> str:
    """ "Lead — <Produto> — <Cidade/UF>" (the client's PRD §13.5 shape).

    Product: the latest quote, else the stated interest, else the suggested model. Place: the
    lead's city/UF, else the company's, else the phone's DDD as "DDD 49/SC" (the DDD gives the
    state, never the city). Each part is cut on its own so the shape always survives.
    """
    quotes = quoted_products(lead)
    product = (
        (quotes[-1] if quotes else None)
        or known(lead.product_interest)
        or known(lead.suggested_model)
        or NOT_INFORMED
    )
    place = lead_place(lead) or _ddd_place(lead.phone) or NOT_INFORMED
    title = (
        f"Lead — {shorten(product, _TITLE_PRODUCT_CHARS)} — {shorten(place, _TITLE_PLACE_CHARS)}"
    )
    return shorten(title, DEAL_TITLE_MAX_CHARS)


def _ddd_place(phone: str | None) -> str | None:
    ddd = phone_ddd(phone)
    uf = uf_from_ddd(ddd) if ddd else None
    return f"DDD {ddd}/{uf}" if ddd and uf else None


def deal_temperature(temperature: str | None) -> int | None:
    """PipeRun's temperature code for our label: quente 2, morno 3, frio 4; else None."""
    if temperature is None:
        return None
    return _DEAL_TEMPERATURES.get(temperature.strip().lower())


def deal_create_payload(
    lead: CrmLead, target: DealTarget, *, person_id: int | None, company_id: int | None
) -> dict[str, Any]:
    """POST /deals body: a new open deal in the configured pipeline and stage."""
    payload: dict[str, Any] = {
        "pipeline_id": target.pipeline_id,
        "stage_id": target.stage_id,
        "title": deal_title(lead),
        "reference": lead_reference(lead.lead_id),
        "status": _DEAL_STATUS_OPEN,
    }
    if target.origin_id is not None:
        payload["origin_id"] = target.origin_id
    if target.owner_id is not None:
        payload["owner_id"] = target.owner_id
    payload.update(_deal_links(lead, person_id=person_id, company_id=company_id))
    return payload


def deal_update_payload(
    lead: CrmLead, *, person_id: int | None, company_id: int | None
) -> dict[str, Any]:
    """PUT /deals/{id} body: title, temperature and links only.

    Never pipeline, stage, owner or status: the SDR moves the deal by hand and a sync must not
    move it back. The sync sends this only when its fingerprint changed, so a temperature the
    SDR set by hand is overwritten only when the agent's own reading of the lead changes.
    """
    payload: dict[str, Any] = {"title": deal_title(lead)}
    payload.update(_deal_links(lead, person_id=person_id, company_id=company_id))
    return payload


def _deal_links(lead: CrmLead, *, person_id: int | None, company_id: int | None) -> dict[str, Any]:
    links: dict[str, Any] = {}
    temperature = deal_temperature(lead.temperature)
    if temperature is not None:
        links["temperature"] = temperature
    if person_id is not None:
        links["person_id"] = person_id
    if company_id is not None:
        links["company_id"] = company_id
    return links


# --- notes --------------------------------------------------------------------------------------


def note_create_payload(
    text: str, *, deal_id: int | None, person_id: int | None = None, company_id: int | None = None
) -> dict[str, Any]:
    """POST /notes body; the SDR reads notes on the deal, so pass `deal_id` when there is one."""
    payload: dict[str, Any] = {"text": text}
    for key, value in (("deal_id", deal_id), ("person_id", person_id), ("company_id", company_id)):
        if value is not None:
            payload[key] = value
    return payload
