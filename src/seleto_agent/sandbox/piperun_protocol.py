"""Conventions every endpoint of the PipeRun simulator shares (TEST/SANDBOX ONLY): envelope,
cursor pages, query filters and validation messages (contracts/piperun.md §1-§3, §6).

PipeRun runs on Laravel ("No query results for model." is Laravel's 404 text), so where the
docs are silent the simulator does what a Laravel API does: unknown query filters are ignored
(a typo lists everything), validation messages read "O campo <field> é obrigatório.", and a
cursor it cannot decode starts from the first page.

A `cnpj` filter outside the documented formats ("XXXXXXXX0001XX", "XX.XXX.XXX/0001-XX"), an
alphanumeric CNPJ included, is ignored the same way and lists every company (vendors.md #9):
the project's contract said "masked or unmasked" and matched letters too, which hid a client
that links the first company it is given.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from seleto_agent.sandbox.piperun_state import PipeRunKnobs, PipeRunStore

JsonDict = dict[str, Any]

DEFAULT_PAGE_SIZE = 15
MAX_PAGE_SIZE = 200
# Brazil has had no daylight saving time since 2019; PipeRun's times carry no zone.
_BRASILIA = timezone(timedelta(hours=-3))


@dataclass(frozen=True, slots=True)
class Call:
    query: Mapping[str, str] = field(default_factory=dict)
    body: JsonDict = field(default_factory=dict)
    record_id: int | None = None
    knobs: PipeRunKnobs = field(default_factory=PipeRunKnobs)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: JsonDict


class Refusal(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.get("message"))
        self.reply = reply


Handler = Callable[[PipeRunStore, Call], Reply]


def ok(data: Any, *, status: int = 200, message: str = "OK") -> Reply:
    return Reply(status, {"success": True, "message": message, "data": copy.deepcopy(data)})


def failure(status: int, message: str, data: Any = None) -> Reply:
    body: JsonDict = {"success": False, "message": message}
    if data is not None:
        body["data"] = data
    return Reply(status, body)


def now_text() -> str:
    return datetime.now(_BRASILIA).strftime("%Y-%m-%d %H:%M:%S")


# --- cursor pages (piperun.md §2) -----------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    # Laravel's cursor: URL-safe base64 of {"id": ..., "_pointsToNextItems": true}, unpadded.
    raw = json.dumps({"id": last_id, "_pointsToNextItems": True}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> int | None:
    if not value or value == "1":
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return None
    last_id = decoded.get("id") if isinstance(decoded, dict) else None
    return last_id if isinstance(last_id, int) else None


def page_size(value: str | None) -> int:
    try:
        return min(max(int(value or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE


def page(
    items: Iterable[JsonDict], query: Mapping[str, str], *, trailing_cursor: bool = False
) -> Reply:
    show = page_size(query.get("show"))
    after = decode_cursor(query.get("cursor"))
    remaining = [
        item for item in sorted(items, key=lambda i: i["id"]) if after is None or item["id"] > after
    ]
    chunk = remaining[:show]
    next_cursor = encode_cursor(chunk[-1]["id"]) if len(remaining) > show else None
    if trailing_cursor and next_cursor is None:
        # The end as PipeRun's own extractor guards against it (vendors.md #11).
        next_cursor = encode_cursor(chunk[-1]["id"]) if chunk else query.get("cursor") or None
    reply = ok(chunk)
    reply.body["meta"] = {
        "cursor": {"current": None, "prev": None, "next": next_cursor, "count": None}
    }
    return reply


# --- filters --------------------------------------------------------------------------------


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def cnpj_key(text: str) -> str:
    # Masked or not, and alphanumeric CNPJs (from July 2026) keep their letters.
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


_DOCUMENTED_CNPJ_RE = re.compile(r"[0-9]{14}|[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}")
_ALPHANUMERIC_CNPJ_RE = re.compile(
    r"[0-9A-Z]{12}[0-9]{2}|[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-[0-9]{2}"
)


def cnpj_readable(text: str, knobs: PipeRunKnobs) -> bool:
    """Whether PipeRun understands this CNPJ: a documented format, or an alphanumeric one
    once the `alphanumeric_cnpj` knob says PipeRun has learned them."""
    value = text.strip()
    if _DOCUMENTED_CNPJ_RE.fullmatch(value):
        return True
    return knobs.alphanumeric_cnpj and bool(_ALPHANUMERIC_CNPJ_RE.fullmatch(value.upper()))


def cpf_key(text: str) -> str:
    return re.sub(r"\D", "", text)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


Matcher = Callable[[Any, str], bool]


def _same_int(value: Any, wanted: str) -> bool:
    return value is not None and as_int(value) == as_int(wanted)


def _contains(value: Any, wanted: str) -> bool:
    # Whether PipeRun's `name` filter is exact or partial is a GAP; LIKE %name% is Laravel's habit.
    return isinstance(value, str) and fold(wanted) in fold(value)


def _same_folded(value: Any, wanted: str) -> bool:
    return isinstance(value, str) and fold(value) == fold(wanted)


def _same_text(value: Any, wanted: str) -> bool:
    return value is not None and str(value) == wanted


def _same_cnpj(value: Any, wanted: str) -> bool:
    # Only called with a readable CNPJ: `matches` drops the others, as PipeRun does.
    return isinstance(value, str) and bool(value) and cnpj_key(value) == cnpj_key(wanted)


def _same_cpf(value: Any, wanted: str) -> bool:
    return isinstance(value, str) and bool(value) and cpf_key(value) == cpf_key(wanted)


FILTERS: dict[str, dict[str, Matcher]] = {
    "companies": {
        "cnpj": _same_cnpj,
        "name": _contains,
        "external_code": _same_text,
        "city_id": _same_int,
    },
    "persons": {
        "company_id": _same_int,
        "cpf": _same_cpf,
        "name": _contains,
        "external_code": _same_text,
        "city_id": _same_int,
    },
    "deals": {
        name: _same_int
        for name in ("person_id", "pipeline_id", "status", "company_id", "stage_id", "origin_id")
    },
    "notes": {name: _same_int for name in ("deal_id", "company_id", "person_id", "user_id")},
    "cities": {"name": _same_folded, "uf": _same_folded},
    "pipelines": {"name": _contains},
    "stages": {"pipeline_id": _same_int, "name": _contains},
    "origins": {"name": _contains, "active": _same_int},
    "users": {"email": _same_folded, "name": _contains, "active": _same_int},
    "customFields": {"belongs": _same_int, "type": _same_int},
}


def matches(
    item: JsonDict,
    query: Mapping[str, str],
    filters: Mapping[str, Matcher],
    knobs: PipeRunKnobs,
) -> bool:
    return all(
        match(item.get(name), query[name])
        for name, match in filters.items()
        if query.get(name) not in (None, "")
        and (match is not _same_cnpj or cnpj_readable(query[name], knobs))
    )


# --- validation (Laravel-style messages, piperun.md §3) -------------------------------------


def _label(name: str) -> str:
    return name.replace("_", " ")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


class Checks:
    def __init__(self, body: JsonDict) -> None:
        self.body = body
        self.errors: dict[str, Any] = {}

    def required(self, names: Iterable[str], *, creating: bool) -> None:
        for name in names:
            # On update a field may be left out, but not sent empty.
            if (creating or name in self.body) and _blank(self.body.get(name)):
                self.errors.setdefault(name, f"O campo {_label(name)} é obrigatório.")

    def integers(self, names: Iterable[str]) -> None:
        for name in names:
            value = self.body.get(name)
            if value is not None and as_int(value) is None:
                self.errors.setdefault(name, f"O campo {_label(name)} deve ser um número inteiro.")

    def exists(self, name: str, found: Callable[[int], bool]) -> None:
        value = as_int(self.body.get(name))
        if name not in self.errors and value is not None and not found(value):
            self.errors[name] = f"O campo {_label(name)} selecionado é inválido."

    def done(self) -> None:
        if self.errors:
            raise Refusal(failure(422, "Unprocessable Entity", self.errors))
