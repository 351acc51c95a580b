"""Ops API (`/admin/*`, Bearer ADMIN_TOKEN): events, replay, conversation state, pause/resume."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from seleto_agent.api.cursors import decode_cursor, encode_cursor
from seleto_agent.api.deps import RuntimeDep, check_bearer
from seleto_agent.api.errors import InvalidPayload, NotFound
from seleto_agent.api.strict_json import StrictJsonRoute
from seleto_agent.api.views import event_item
from seleto_agent.db.ids import MAX_ROW_ID
from seleto_agent.db.repositories.companies import CompanyRepository
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.crm import CrmRepository
from seleto_agent.db.repositories.events import EventRepository
from seleto_agent.db.repositories.handoffs import HandoffRepository
from seleto_agent.db.repositories.identities import IdentityRepository
from seleto_agent.db.repositories.leads import SLOT_COLUMNS, LeadRepository
from seleto_agent.db.repositories.lgpd import LgpdRequestRepository
from seleto_agent.db.repositories.quotes import QuoteRepository
from seleto_agent.domain.events import EventStatus
from seleto_agent.domain.lgpd import UnknownSubject, subject_address
from seleto_agent.domain.ownership import Transition
from seleto_agent.runtime import Runtime
from seleto_agent.services.identity import find_conversation_key
from seleto_agent.services.replay import MAX_BULK_REPLAY, ReplayResult
from seleto_agent.settings import secret

MAX_PAGE = 200
ADMIN_ACTOR = "admin_api"

# Ids from a path or a body: past the id column's range is a 422, never a driver error.
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
RowIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] | None,
    # A replay by ids touches as many events as a bulk replay by status at most.
    Field(max_length=MAX_BULK_REPLAY),
]


def require_admin(request: Request, runtime: RuntimeDep) -> Runtime:
    check_bearer(request, secret(runtime.settings.admin_token), name="ADMIN_TOKEN")
    return runtime


AdminDep = Annotated[Runtime, Depends(require_admin)]
router = APIRouter(prefix="/admin", route_class=StrictJsonRoute)


@router.get("/events")
async def list_events(
    runtime: AdminDep,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    before_id = decode_cursor(cursor) if cursor else None
    async with runtime.engine.connect() as conn:
        events = await EventRepository(conn).list_page(
            status=status, limit=limit + 1, before_id=before_id
        )
    page = events[:limit]
    has_more = len(events) > limit
    return {
        "items": [event_item(e) for e in page],
        "next_cursor": encode_cursor(page[-1].id) if has_more and page else None,
    }


@router.get("/events/{event_id}")
async def get_event(
    event_id: RowIdPath, runtime: AdminDep, include_payload: bool = False
) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        repo = EventRepository(conn)
        event = await repo.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id} not found")
        item = event_item(event)
        if include_payload:
            payload = await repo.get_payload(event_id) or b""
            try:
                item["payload"], item["payload_encoding"] = payload.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                item["payload"] = base64.b64encode(payload).decode()
                item["payload_encoding"] = "base64"
    return item


class ReplayRequest(BaseModel):
    ids: RowIds = None
    status: EventStatus | None = None
    dry_run: bool = False


def replay_body(result: ReplayResult, dry_run: bool) -> dict[str, Any]:
    return {
        "queued": result.queued,
        "skipped": [{"id": i, "reason": r} for i, r in result.skipped]
        + [{"id": i, "reason": "not_found"} for i in result.not_found],
        "dry_run": dry_run,
    }


@router.post("/events/{event_id}/replay", status_code=202)
async def replay_one(event_id: RowIdPath, runtime: AdminDep) -> dict[str, Any]:
    result = await runtime.replay.replay(ids=[event_id], actor=ADMIN_ACTOR)
    if result.not_found:
        raise NotFound(f"event {event_id} not found")
    return replay_body(result, False)


@router.post("/events/replay", status_code=202)
async def replay_many(body: ReplayRequest, runtime: AdminDep) -> dict[str, Any]:
    if not body.ids and body.status is None:
        raise InvalidPayload('give "ids" or "status"')
    result = await runtime.replay.replay(
        ids=body.ids, status=body.status, dry_run=body.dry_run, actor=ADMIN_ACTOR
    )
    return replay_body(result, body.dry_run)


async def _conversation_key(runtime: Runtime, phone: str) -> str:
    """A phone in any common format, `lid:<id>` for a sender known only by a @lid, or
    `bsuid:<BSUID>` for a Cloud API username user: the key of the conversation that id belongs
    to (a conversation first opened by `@lid` or BSUID keeps its key after it learns the
    number; a merged one resolves to the conversation it was merged into)."""
    try:
        address = subject_address(phone)
    except UnknownSubject as exc:
        raise NotFound(str(exc)) from exc
    async with runtime.engine.connect() as conn:
        return await find_conversation_key(conn, address)


@router.get("/conversations/{phone}")
async def get_conversation(phone: str, runtime: AdminDep) -> dict[str, Any]:
    key = await _conversation_key(runtime, phone)
    async with runtime.engine.connect() as conn:
        conversation = await ConversationRepository(conn).get(key)
        if conversation is None:
            raise NotFound("conversation not found")
        identities = await IdentityRepository(conn).of_conversation(conversation.id)
        lead = await LeadRepository(conn).get_by_phone(conversation.phone_e164 or key)
        quotes = await QuoteRepository(conn).for_lead(lead.id) if lead else []
        company = await CompanyRepository(conn).for_lead(lead.id) if lead else None
        handoff = await HandoffRepository(conn).pending_for(key)
        lgpd = await LgpdRequestRepository(conn).kinds_for(key)
        links = await CrmRepository(conn).links(lead.id) if lead else None
    lead_body: dict[str, Any] = {slot: None for slot in SLOT_COLUMNS}
    lead_body.update(temperature=None, temperature_reason=None, suggested_model=None)
    if lead is not None:
        lead_body.update(lead.slots())
        lead_body.update(
            temperature=lead.temperature,
            temperature_reason=lead.temperature_reason,
            suggested_model=lead.suggested_model,
        )
    return {
        "phone": conversation.phone_e164 or key,
        "conversation_key": key,
        # Every id this person is known by; `key` rows are conversations merged into this one.
        "identities": [{"kind": kind, "value": value} for kind, value in identities],
        "owner": conversation.owner.value,
        "owner_reason": conversation.owner_reason,
        "paused_until": _iso(conversation.paused_until),
        "session_id": conversation.session_id,
        "last_inbound_at": _iso(conversation.last_inbound_at),
        "last_turn_at": _iso(conversation.last_turn_at),
        "lead": lead_body,
        "company": {"id": company.id, "cnpj": company.cnpj, "legal_name": company.legal_name}
        if company
        else None,
        "quotes": [{"id": q.id, "product": q.product, "details": q.summary} for q in quotes],
        "handoff": {
            "id": handoff.id,
            "kind": handoff.kind,
            "reason": handoff.reason,
            "brief": handoff.summary,
        }
        if handoff
        else None,
        "lgpd_requests": lgpd,
        "crm": {
            "company_id": links.company_id if links else None,
            "person_id": links.person_id if links else None,
            "deal_id": links.deal_id if links else None,
            "synced_at": _iso(links.synced_at) if links else None,
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class PauseRequest(BaseModel):
    until: datetime | None = Field(default=None, description="ISO-8601; absent = until resumed")


def _ownership_body(transition: Transition | None) -> dict[str, Any]:
    if transition is None:
        raise NotFound("conversation not found")
    state = transition.state
    return {
        "owner": state.owner.value,
        "owner_reason": state.owner_reason,
        "paused_until": _iso(state.paused_until),
    }


@router.post("/conversations/{phone}/pause")
async def pause(phone: str, runtime: AdminDep, body: PauseRequest | None = None) -> dict[str, Any]:
    key = await _conversation_key(runtime, phone)
    until = body.until if body else None
    if until is not None and until.tzinfo is None:
        raise InvalidPayload("until must carry a time zone offset")
    try:
        transition = await runtime.ownership.admin_pause(key, until)
    except ValueError as exc:
        raise InvalidPayload(str(exc)) from exc
    return _ownership_body(transition)


@router.post("/conversations/{phone}/resume")
async def resume(phone: str, runtime: AdminDep) -> dict[str, Any]:
    key = await _conversation_key(runtime, phone)
    return _ownership_body(await runtime.ownership.admin_resume(key))
