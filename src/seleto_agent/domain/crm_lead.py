"""The lead as the CRM texts and payloads see it, and the readings both share.

A frozen snapshot built by the sync from the database; `crm.py` maps it to PipeRun payloads and
`crm_notes.py` renders the SDR texts from it. Placeholder answers ("não informado") read as
unknown here, so every consumer writes the client's "Não informado" the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers

from seleto_agent.domain.brazil import InvalidCnpj, format_cnpj
from seleto_agent.domain.catalog import fold_text

# redteam L3: a CNPJ is public; a lead giving one another lead registered first is flagged in
# the SDR brief and the CRM note (pt-BR, read by the SDR team).
SHARED_CNPJ_NOTICE = (
    "CNPJ já cadastrado por outro contato: confirme o vínculo deste contato com a empresa "
    "antes de usar os dados dela"
)

# What a lead or the model writes for a slot it was asked and could not answer.
_EMPTY_WORDS = frozenset({"", "nao informado", "nao informada", "n/a", "-", "?"})


@dataclass(frozen=True, slots=True)
class CrmQuote:
    product: str
    summary: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CrmLead:
    lead_id: int
    phone: str | None  # E.164 like "+5549999887766"; None for @lid senders
    name: str | None
    company_name: str | None
    email: str | None
    city: str | None
    uf: str | None
    segment: str | None
    product_interest: str | None
    production_volume: str | None
    urgency: str | None
    knows_seleto: bool | None
    temperature: str | None  # "quente" | "morno" | "frio" | None
    temperature_reason: str | None
    suggested_model: str | None
    cnpj: str | None  # 14 chars, unmasked, uppercase (alphanumeric CNPJs exist)
    legal_name: str | None  # from the empresa table, may differ from company_name
    company_city: str | None
    company_uf: str | None
    quotes: tuple[CrmQuote, ...]
    first_contact_at: datetime | None
    handed_off: bool  # a handoff to the SDR team is pending
    # The CNPJ was registered first by another lead: the empresa row and the PipeRun company
    # are that lead's (cnpj, legal_name and company_* above describe them, not this lead).
    company_shared: bool = False
    # The Click-to-WhatsApp ads the lead came from (Cloud API `referral`), first one first.
    referrals: tuple[dict[str, str], ...] = ()


def known(value: str | None) -> str | None:
    """The value on one line, or None when blank or a "não informado" placeholder."""
    if value is None:
        return None
    text = " ".join(value.split())
    return None if fold_text(text) in _EMPTY_WORDS else text


def usable_cnpj(lead: CrmLead) -> str | None:
    """The masked CNPJ, or None when absent or invalid.

    The empresa table holds validated CNPJs; an invalid one would be refused by PipeRun or,
    worse, become a wrong dedupe key, so it is treated as unknown rather than raising.
    """
    if not lead.cnpj:
        return None
    try:
        return format_cnpj(lead.cnpj)
    except InvalidCnpj:
        return None


def phone_display(phone: str | None) -> str | None:
    """ "(49) 99988-7766" for Brazilian numbers, international form otherwise."""
    number = _parse_phone(phone)
    if number is None:
        return None
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 55
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(number, style))


def phone_ddd(phone: str | None) -> str | None:
    """The DDD of a Brazilian number ("49"); None for foreign numbers and @lid senders."""
    number = _parse_phone(phone)
    if number is None or number.country_code != 55:
        return None
    return str(phonenumbers.national_significant_number(number))[:2]


def carries_phone(stored: Iterable[str | None], phone: str | None) -> bool:
    """Whether one of PipeRun's phone strings is this lead's number, however PipeRun wrote it
    ("(49) 99988-7766", "49999887766", "+55 49 ..."): the digits end with its national number.
    False when the lead has no valid number."""
    number = _parse_phone(phone)
    if number is None:
        return False
    national = str(phonenumbers.national_significant_number(number))
    return any(re.sub(r"\D", "", value or "").endswith(national) for value in stored)


def _parse_phone(phone: str | None) -> phonenumbers.PhoneNumber | None:
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def lead_place(lead: CrmLead) -> str | None:
    """ "Chapecó/SC", "SC" or "Chapecó": what the lead said, else the company's address.

    The two sources are not mixed: a lead's city with the company's UF could name a place
    that does not exist.
    """
    for city, uf in ((lead.city, lead.uf), (lead.company_city, lead.company_uf)):
        place = "/".join(part for part in (known(city), known(uf)) if part)
        if place:
            return place
    return None


def quotes_in_order(lead: CrmLead) -> list[CrmQuote]:
    """Oldest first; equal times keep the given order."""
    return [
        q for _, q in sorted(enumerate(lead.quotes), key=lambda p: (as_utc(p[1].created_at), p[0]))
    ]


def quoted_products(lead: CrmLead) -> list[str]:
    """Distinct quote products, oldest first, as the lead named them."""
    products: list[str] = []
    seen: set[str] = set()
    for quote in quotes_in_order(lead):
        product = known(quote.product)
        if product and fold_text(product) not in seen:
            seen.add(fold_text(product))
            products.append(product)
    return products


def as_utc(moment: datetime) -> datetime:
    # Naive datetimes come from SQLite, which stores UTC without an offset.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def company_name(lead: CrmLead) -> str | None:
    """The registered name when the empresa table has it, else the name the lead gave."""
    return known(lead.legal_name) or known(lead.company_name)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
