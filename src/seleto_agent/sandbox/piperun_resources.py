"""The PipeRun simulator's endpoints (TEST/SANDBOX ONLY): records created, updated, shown and
listed as contracts/piperun.md §4 describes, with the record shapes of its fixtures.

No idempotency, on purpose (piperun.md §5): the same POST twice makes two records, so tests
catch a client that creates without looking up first.

Where the project's contract was wrong (vendors.md), this follows PipeRun's official schema:

- Persons' `contactEmails`/`contactPhones` are arrays of **strings** (`items: {type: string}`
  on `POST /persons` and `PUT /persons/{id}`; piperun.md §4.2 said "item schema not specified",
  true only for companies). An object item is refused with 422 and a Laravel message on the
  item (`contactPhones.0`), rather than silently dropped: PipeRun validates its requests
  Laravel-style (see piperun_protocol), a schema-following server cannot store an object as a
  phone string, and of the two outcomes vendors.md #5 names the refusal is the stricter one (a
  client sending objects fails every sync, not only a read-back check). The persons request
  example, whose `[{"email": ...}]` was answered 201, is the contrary evidence: the
  `person_contact_items="objects"` knob plays that reading (objects kept, strings dropped).
  Companies declare no item schema and take both shapes, their example's objects included.
- A company's `cnpj` outside the documented formats (an alphanumeric CNPJ) is refused with 422
  unless the `alphanumeric_cnpj` knob is on (vendors.md #9; whether PipeRun takes them is a
  GAP, and the refusal is the side a client must survive).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seleto_agent.sandbox.piperun_protocol import (
    FILTERS,
    Call,
    Checks,
    Handler,
    Refusal,
    Reply,
    as_int,
    cnpj_readable,
    cpf_key,
    failure,
    matches,
    now_text,
    ok,
    page,
)
from seleto_agent.sandbox.piperun_seed import ACCOUNT_ID, ADMIN_USER_ID
from seleto_agent.sandbox.piperun_state import PipeRunStore

JsonDict = dict[str, Any]

Check = Callable[[PipeRunStore, Call, JsonDict | None, Checks], None]
# (store, record after the write, the request, the record before it or None on create)
Derive = Callable[[PipeRunStore, JsonDict, Call, JsonDict | None], None]
Unique = Callable[[PipeRunStore, JsonDict, int | None], None]

DUPLICATE_CPF = "O CPF que você está tentando cadastrar já existe."
INVALID_CNPJ = "O campo cnpj não é um CNPJ válido."
# Not in PipeRun's docs (GAP); the simulator's wording for a stage of another funnel.
STAGE_OUTSIDE_PIPELINE = "A etapa informada não pertence ao funil informado."


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    writable: tuple[str, ...]
    ints: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    refs: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    hashed: bool = True
    # piperun.md §4.1: POST /companies answers `data` as a one-item array.
    created_as_list: bool = False
    check: Check | None = None
    derive: Derive | None = None
    unique: Unique | None = None


# --- generic handlers -----------------------------------------------------------------------


def _lookup(store: PipeRunStore, table: str) -> Callable[[int], bool]:
    if table in store.records:
        records = store.records[table]
        return lambda record_id: record_id in records
    items = store.catalogue(table)
    return lambda record_id: store.find(items, record_id) is not None


def _validate(store: PipeRunStore, spec: Spec, call: Call, current: JsonDict | None) -> None:
    checks = Checks(call.body)
    checks.required(spec.required, creating=current is None)
    checks.integers((*spec.ints, *spec.refs))
    for name, table in spec.refs.items():
        checks.exists(name, _lookup(store, table))
    if spec.check is not None:
        spec.check(store, call, current, checks)
    checks.done()
    if spec.unique is not None:
        spec.unique(store, call.body, current["id"] if current else None)


def _write(spec: Spec, record: JsonDict, body: JsonDict) -> None:
    ints = {*spec.ints, *spec.refs}
    for name in spec.writable:
        if name in body:
            value = body[name]
            record[name] = as_int(value) if name in ints and value is not None else value


def create(spec: Spec) -> Handler:
    def handle(store: PipeRunStore, call: Call) -> Reply:
        _validate(store, spec, call, None)
        stamp = now_text()
        record: JsonDict = {"id": store.next_id(spec.name), "account_id": ACCOUNT_ID}
        if spec.hashed:
            record["hash"] = uuid.uuid4().hex
        # Every column comes back, null when never set, as in PipeRun's examples.
        record |= dict.fromkeys(spec.writable)
        record |= {**spec.defaults, "created_at": stamp, "updated_at": stamp}
        _write(spec, record, call.body)
        if spec.derive is not None:
            spec.derive(store, record, call, None)
        store.records[spec.name][record["id"]] = record
        data = [record] if spec.created_as_list else record
        return ok(data, status=201, message="Created")

    return handle


def _get(store: PipeRunStore, table: str, record_id: int | None) -> JsonDict:
    record = store.records[table].get(record_id) if record_id is not None else None
    if record is None:
        raise Refusal(failure(404, "Not Found"))
    return record


def update(spec: Spec) -> Handler:
    def handle(store: PipeRunStore, call: Call) -> Reply:
        record = _get(store, spec.name, call.record_id)
        _validate(store, spec, call, record)
        previous = dict(record)
        _write(spec, record, call.body)
        record["updated_at"] = now_text()
        if spec.derive is not None:
            spec.derive(store, record, call, previous)
        return ok(record)

    return handle


def remove(table: str) -> Handler:
    """`DELETE /{table}/{id}`: the official schema's 204 (its example body `{}` cannot travel
    with a 204), 404 `Not Found` for a record that is not there. What PipeRun does to the
    records pointing at a deleted one is not documented (GAP): a deal keeps its `person_id`
    here, as a plain column would."""

    def handle(store: PipeRunStore, call: Call) -> Reply:
        _get(store, table, call.record_id)
        del store.records[table][call.record_id or 0]
        return Reply(204, {})

    return handle


def show(table: str, *, missing: str = "Not Found") -> Handler:
    def handle(store: PipeRunStore, call: Call) -> Reply:
        if table in store.records:
            record = store.records[table].get(call.record_id or 0)
        else:
            record = store.find(store.catalogue(table), call.record_id)
        if record is None:
            raise Refusal(failure(404, missing))
        return ok(record)

    return handle


def listing(table: str) -> Handler:
    def handle(store: PipeRunStore, call: Call) -> Reply:
        items = store.records[table].values() if table in store.records else store.catalogue(table)
        filters = FILTERS.get(table, {})
        return page(
            [item for item in items if matches(item, call.query, filters, call.knobs)],
            call.query,
            trailing_cursor=call.knobs.trailing_cursor,
        )

    return handle


# --- resource-specific rules ----------------------------------------------------------------


def _city(store: PipeRunStore, record: JsonDict) -> None:
    city = store.find(store.cities, record.get("city_id"))
    record["city"] = dict(city) if city else None


_CONTACT_LISTS = (
    ("contactEmails", "contact_emails", "email"),
    ("contactPhones", "contact_phones", "phone"),
)


def _merge_contacts(
    store: PipeRunStore,
    record: JsonDict,
    call: Call,
    owner: JsonDict,
    *,
    updating: bool,
    shapes: tuple[type, ...] = (str, dict),
) -> None:
    # `contactEmails` in, `contact_emails` records out; items of another shape than `shapes`
    # are dropped. Whether a PUT replaces or adds is undocumented (vendors.md #16, GAP): the
    # `contact_lists_on_put` knob plays either.
    replace = updating and call.knobs.contact_lists_on_put == "replace"
    for source, target, key in _CONTACT_LISTS:
        items = call.body.get(source)
        contacts: list[JsonDict] = record.setdefault(target, [])
        if not isinstance(items, list):
            continue
        if replace:
            contacts.clear()
        for item in items:
            if not isinstance(item, shapes):
                continue
            value = item.get(key) if isinstance(item, dict) else item
            if not isinstance(value, str) or not value.strip():
                continue
            if any(contact[key] == value for contact in contacts):
                continue
            kind = item.get("type") if isinstance(item, dict) else None
            contacts.append(
                {
                    "id": store.next_id("contacts"),
                    "account_id": ACCOUNT_ID,
                    **owner,
                    "is_main": 0 if contacts else 1,
                    "type": kind or "Comercial",
                    key: value,
                }
            )


def _merge_custom_fields(record: JsonDict, body: JsonDict) -> None:
    # piperun.md §4.2: companies document `customFields`, deals `custom_fields`; both are taken.
    items = body.get("customFields", body.get("custom_fields"))
    fields: list[JsonDict] = record.setdefault("custom_fields", [])
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict) or as_int(item.get("id")) is None:
            continue
        field_id = as_int(item.get("id"))
        fields[:] = [f for f in fields if f["id"] != field_id]
        fields.append({"id": field_id, "value": item.get("value")})


def _derive_company(
    store: PipeRunStore, record: JsonDict, call: Call, previous: JsonDict | None
) -> None:
    _city(store, record)
    record["cep"] = record.get("address_postal_code")
    owner = {"company_id": record["id"], "person_id": None}
    _merge_contacts(store, record, call, owner, updating=previous is not None)
    _merge_custom_fields(record, call.body)


def _check_company(
    store: PipeRunStore, call: Call, current: JsonDict | None, checks: Checks
) -> None:
    del store, current
    cnpj = call.body.get("cnpj")
    if isinstance(cnpj, str) and cnpj.strip() and not cnpj_readable(cnpj, call.knobs):
        # The wording of this refusal is not documented (GAP); Laravel's style.
        checks.errors.setdefault("cnpj", INVALID_CNPJ)


def _check_person(
    store: PipeRunStore, call: Call, current: JsonDict | None, checks: Checks
) -> None:
    del store, current
    if call.knobs.person_contact_items != "strings":
        return
    for source, _target, _key in _CONTACT_LISTS:
        items = call.body.get(source)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, str):
                name = f"{source}.{index}"
                checks.errors.setdefault(name, f"O campo {name} deve ser uma string.")


def _derive_person(
    store: PipeRunStore, record: JsonDict, call: Call, previous: JsonDict | None
) -> None:
    _city(store, record)
    owner = {"company_id": record.get("company_id"), "person_id": record["id"]}
    shape = str if call.knobs.person_contact_items == "strings" else dict
    updating = previous is not None
    _merge_contacts(store, record, call, owner, updating=updating, shapes=(shape,))
    _merge_custom_fields(record, call.body)


def _unique_cpf(store: PipeRunStore, body: JsonDict, own_id: int | None) -> None:
    cpf = body.get("cpf")
    if not isinstance(cpf, str) or not cpf_key(cpf):
        return
    for person in store.records["persons"].values():
        other = person.get("cpf")
        if person["id"] != own_id and isinstance(other, str) and cpf_key(other) == cpf_key(cpf):
            # piperun.md §3: the uniqueness error is the array form, with another message.
            raise Refusal(failure(422, "Unprocessable Content", {"cpf": [DUPLICATE_CPF]}))


def _check_deal(store: PipeRunStore, call: Call, current: JsonDict | None, checks: Checks) -> None:
    body = call.body
    if "status" in body and as_int(body["status"]) not in (0, 1, 3):
        checks.errors.setdefault("status", "O campo status selecionado é inválido.")
    if not call.knobs.stage_must_match_pipeline or checks.errors:
        return
    if "stage_id" not in body and "pipeline_id" not in body:
        return
    pipeline_id = as_int(body.get("pipeline_id", (current or {}).get("pipeline_id")))
    stage = store.find(store.stages, as_int(body.get("stage_id", (current or {}).get("stage_id"))))
    if stage is not None and stage["pipeline_id"] != pipeline_id:
        checks.errors["stage_id"] = STAGE_OUTSIDE_PIPELINE


def _derive_deal(
    store: PipeRunStore, record: JsonDict, call: Call, previous: JsonDict | None
) -> None:
    del store
    if previous is None:
        if record.get("started_in_stage_id") is None:
            record["started_in_stage_id"] = record["stage_id"]
        record["last_stage_updated_at"] = record["created_at"]
    elif record.get("stage_id") != previous.get("stage_id"):
        record["last_stage_updated_at"] = record["stage_changed_at"] = record["updated_at"]
    if record.get("status") in (1, 3) and not record.get("closed_at"):
        record["closed_at"] = record["updated_at"]
    _merge_custom_fields(record, call.body)


def _derive_note(
    store: PipeRunStore, record: JsonDict, call: Call, previous: JsonDict | None
) -> None:
    del call
    if previous is None:
        # Real notes are signed by the token's user; the fixture's 201 has updated_at null.
        if record.get("user_id") is None:
            record["user_id"] = ADMIN_USER_ID
        record["updated_at"] = None
    user = store.find(store.users, record.get("user_id"))
    record["user_name"] = user["name"] if user else None


_ADDRESS = ("address_postal_code", "address", "address_number", "address_complement", "district")
_COMPANY_FLAGS = tuple(
    f"is_{kind}"
    for kind in (
        "brand",
        "supplier",
        "client",
        "carrier",
        "franchise",
        "channel",
        "distributor",
        "manufacturer",
        "partner",
    )
)

COMPANIES = Spec(
    name="companies",
    writable=(
        "name",
        "city_id",
        "owner_id",
        "manager_id",
        "segment_id",
        "cnae_id",
        "cnpj",
        "website",
        "email_nf",
        "logo",
        "observation",
        *_ADDRESS,
        "company_name",
        "ie",
        "country",
        "facebook",
        "linkedin",
        "customer_at",
        "foundation_at",
        "company_type",
        "company_situation",
        "status_touch",
        "nps_score",
        "legal_nature",
        "social_capital",
        *_COMPANY_FLAGS,
        "external_code",
        "status",
        "company_status",
        "foreign_contact",
        "size",
    ),
    ints=("segment_id", "cnae_id", "company_situation"),
    required=("name",),
    refs={"city_id": "cities", "owner_id": "users", "manager_id": "users"},
    defaults={"cnpj": "", "external_code": "", "status": 1, "lat": None, "lng": None},
    created_as_list=True,
    check=_check_company,
    derive=_derive_company,
)

PERSONS = Spec(
    name="persons",
    writable=(
        "name",
        "city_id",
        "company_id",
        "owner_id",
        "manager_id",
        "cpf",
        "avatar",
        "website",
        "job_title",
        "gender",
        "birth_day",
        "observation",
        "customer_at",
        "facebook",
        "linkedin",
        *_ADDRESS,
        "external_code",
        "status",
        "foreign_contact",
    ),
    required=("name",),
    refs={
        "city_id": "cities",
        "company_id": "companies",
        "owner_id": "users",
        "manager_id": "users",
    },
    defaults={"cpf": "", "external_code": "", "status": 1, "company_id": None},
    check=_check_person,
    derive=_derive_person,
    unique=_unique_cpf,
)

DEALS = Spec(
    name="deals",
    writable=(
        "pipeline_id",
        "stage_id",
        "title",
        "reference",
        "frozen_at",
        "temperature",
        "probability",
        "owner_id",
        "person_id",
        "company_id",
        "lost_reason_id",
        "origin_id",
        "started_in_stage_id",
        "description",
        "observation",
        "closed_at",
        "reason_close",
        "status",
        "deleted",
        "freezed",
        "value",
        "value_mrr",
        "order",
        "probably_closed_at",
        "last_contact_at",
    ),
    ints=("temperature", "probability", "status", "lost_reason_id", "started_in_stage_id"),
    required=("pipeline_id", "stage_id", "title"),
    refs={
        "pipeline_id": "pipelines",
        "stage_id": "stages",
        "person_id": "persons",
        "company_id": "companies",
        "origin_id": "origins",
        "owner_id": "users",
    },
    defaults={
        "reference": None,
        "status": 0,
        "deleted": 0,
        "freezed": 0,
        "value": 0,
        "order": 0,
        "person_id": None,
        "company_id": None,
        "origin_id": None,
        "owner_id": None,
        "closed_at": None,
        "stage_changed_at": None,
    },
    check=_check_deal,
    derive=_derive_deal,
)

NOTES = Spec(
    name="notes",
    writable=("text", "user_id", "deal_id", "company_id", "person_id", "call_id"),
    ints=("call_id",),
    required=("text",),
    refs={
        "deal_id": "deals",
        "company_id": "companies",
        "person_id": "persons",
        "user_id": "users",
    },
    defaults={"deal_id": None, "company_id": None, "person_id": None, "call_id": None},
    hashed=False,
    derive=_derive_note,
)

# (method, path under /v1 with `{id}` for the record id, handler)
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    *(
        route
        for spec in (COMPANIES, PERSONS, DEALS, NOTES)
        for route in (
            ("GET", f"/{spec.name}", listing(spec.name)),
            ("POST", f"/{spec.name}", create(spec)),
            ("GET", f"/{spec.name}/{{id}}", show(spec.name)),
            ("PUT", f"/{spec.name}/{{id}}", update(spec)),
            ("DELETE", f"/{spec.name}/{{id}}", remove(spec.name)),
        )
    ),
    ("GET", "/cities", listing("cities")),
    # piperun.md §3: the one 404 that speaks Laravel's own text.
    ("GET", "/cities/{id}", show("cities", missing="No query results for model.")),
    *(
        ("GET", f"/{name}", listing(name))
        for name in ("pipelines", "stages", "origins", "users", "customFields")
    ),
)

SEEDABLE: dict[str, Handler] = {
    spec.name: create(spec) for spec in (COMPANIES, PERSONS, DEALS, NOTES)
}

__all__ = ["ROUTES", "SEEDABLE", "Call", "Refusal", "Reply"]
