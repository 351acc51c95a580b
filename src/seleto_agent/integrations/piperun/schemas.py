"""PipeRun records as we read them (contracts/piperun.md §4); unknown fields are ignored.

PipeRun is loose with types: ids come as null or "", `external_code` as 1 or "", flags as 1/0,
and contacts as a list or as a single object. The types below absorb that so a cosmetic
difference never fails a sync.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _as_list(value: Any) -> Any:
    # piperun.md §4.1: one contact comes as an object, several as an array, none as [] or {}.
    if value is None or value == {} or value == "":
        return []
    if isinstance(value, dict):
        return [value]
    return value


OptionalId = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ContactEmail(_Record):
    email: OptionalText = None


class ContactPhone(_Record):
    phone: OptionalText = None


ContactEmails = Annotated[list[ContactEmail], BeforeValidator(_as_list)]
ContactPhones = Annotated[list[ContactPhone], BeforeValidator(_as_list)]


class _WithContacts(_Record):
    contact_emails: ContactEmails = Field(default_factory=list)
    contact_phones: ContactPhones = Field(default_factory=list)

    @property
    def emails(self) -> list[str]:
        return [item.email for item in self.contact_emails if item.email]

    @property
    def phones(self) -> list[str]:
        return [item.phone for item in self.contact_phones if item.phone]


class City(_Record):
    id: int
    name: str
    uf: str


class Company(_WithContacts):
    id: int
    name: OptionalText = None
    cnpj: OptionalText = None
    external_code: OptionalText = None
    hash: OptionalText = None
    city_id: OptionalId = None
    owner_id: OptionalId = None
    website: OptionalText = None
    email_nf: OptionalText = None
    created_at: OptionalText = None


class Person(_WithContacts):
    id: int
    name: OptionalText = None
    company_id: OptionalId = None
    cpf: OptionalText = None
    external_code: OptionalText = None
    hash: OptionalText = None
    city_id: OptionalId = None
    owner_id: OptionalId = None
    created_at: OptionalText = None


class Deal(_Record):
    id: int
    title: OptionalText = None
    pipeline_id: OptionalId = None
    stage_id: OptionalId = None
    person_id: OptionalId = None
    company_id: OptionalId = None
    origin_id: OptionalId = None
    owner_id: OptionalId = None
    reference: OptionalText = None
    # 0 aberta, 1 ganha, 3 perdida (piperun.md §4.3).
    status: OptionalId = None
    temperature: OptionalId = None
    hash: OptionalText = None
    created_at: OptionalText = None
    updated_at: OptionalText = None


class Note(_Record):
    id: int
    text: OptionalText = None
    deal_id: OptionalId = None
    company_id: OptionalId = None
    person_id: OptionalId = None
    user_id: OptionalId = None
    created_at: OptionalText = None


class Origin(_Record):
    id: int
    name: str
    origin_group_id: OptionalId = None
    description: OptionalText = None
    hash: OptionalText = None


class Pipeline(_Record):
    id: int
    name: str
    description: OptionalText = None
    is_main: bool | None = None


class Stage(_Record):
    id: int
    name: str
    pipeline_id: OptionalId = None
    order: OptionalId = None


class User(_Record):
    id: int
    name: str
    email: OptionalText = None
    # PipeRun sends 1/0.
    active: bool | None = None


class Envelope(BaseModel):
    """`{"success", "message", "data", "meta"}` around every answer (piperun.md §1)."""

    model_config = ConfigDict(extra="ignore")

    success: bool | None = None
    message: str | None = None
    data: Any = None
    meta: dict[str, Any] | None = None

    def next_cursor(self) -> str | None:
        cursor = (self.meta or {}).get("cursor")
        value = cursor.get("next") if isinstance(cursor, dict) else None
        return value if isinstance(value, str) and value else None

    def items(self) -> list[dict[str, Any]]:
        if isinstance(self.data, list):
            return [item for item in self.data if isinstance(item, dict)]
        return [self.data] if isinstance(self.data, dict) else []

    def one(self) -> dict[str, Any] | None:
        """The record of a create/show/update: POST /companies answers a one-item array,
        PUT an object (piperun.md §4.1)."""
        items = self.items()
        return items[0] if items else None
