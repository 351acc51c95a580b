"""What the agent's tools do to a lead: slots, company, quote requests, handoffs, LGPD requests.

Every method runs in its own transaction and is idempotent, because the model may repeat a
call and a retried turn runs its tools again. Temperature is recomputed by rules here, on
every change, never chosen by the model (DOMAIN.md decision 4).

A real model returns several tool calls in one response and Agno runs them concurrently, so
every transaction starts by locking the conversation row: the calls of one conversation then
run one after the other, each recomputing from what the previous one committed, and the result
is the one running them one by one gives. The database also allows one pending handoff per
conversation (`uq_handoffs_one_pending`), and handoffs change ownership only through the
ownership state machine.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.companies import CompanyRepository
from seleto_agent.db.repositories.conversations import ConversationRecord, ConversationRepository
from seleto_agent.db.repositories.crm import CrmRepository
from seleto_agent.db.repositories.handoffs import HandoffRecord, HandoffRepository
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.db.repositories.leads import LeadRecord, LeadRepository
from seleto_agent.db.repositories.lgpd import LgpdRequestRepository
from seleto_agent.db.repositories.quotes import QuoteDraft, QuoteRecord, QuoteRepository
from seleto_agent.domain.brazil import (
    InvalidCnpj,
    format_cnpj,
    normalize_city,
    normalize_uf,
    validate_cnpj,
)
from seleto_agent.domain.catalog import Catalog
from seleto_agent.domain.crm_lead import SHARED_CNPJ_NOTICE
from seleto_agent.domain.jobs import JobKind
from seleto_agent.domain.lead_slots import (
    MAX_SLOT_CHARS,
    TOO_LONG,
    changed_slots,
    clean_slots,
    handoff_brief,
)
from seleto_agent.domain.ownership import HANDOFF_LGPD
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.domain.temperature import (
    LeadSignals,
    Temperature,
    TemperatureDecision,
    decide_temperature,
)
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import FUNNEL
from seleto_agent.services.ownership import OwnershipService

log = get_logger(__name__)

AGENT_ACTOR = "agent"
# How long a CRM sync waits for the rest of its turn's tool calls (they run concurrently and
# commit within milliseconds of each other); the CRM is not lead-facing, a second is nothing.
CRM_SYNC_SETTLE = timedelta(seconds=1)


class UnknownConversation(LookupError):
    """A tool ran for a conversation that does not exist (a bug, not bad model input)."""


@dataclass(frozen=True, slots=True)
class LeadState:
    lead: LeadRecord
    quotes: list[QuoteRecord]
    handoff: HandoffRecord | None


@dataclass(frozen=True, slots=True)
class LeadUpdate:
    saved: list[str]
    errors: dict[str, str]
    decision: TemperatureDecision
    handoff: HandoffRecord | None = None
    handoff_created: bool = False


@dataclass(frozen=True, slots=True)
class CompanyResult:
    company_id: int | None
    created: bool
    # The CNPJ was registered first by another lead: this lead is only linked to it.
    shared: bool = False
    cnpj_formatted: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuoteResult:
    quote_id: int
    created: bool
    decision: TemperatureDecision
    handoff: HandoffRecord | None
    handoff_created: bool


@dataclass(frozen=True, slots=True)
class HandoffResult:
    handoff: HandoffRecord
    created: bool


class LeadService:
    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        *,
        ownership: OwnershipService,
        crm_enabled: bool = False,
        mirror_enabled: bool = False,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._ownership = ownership
        # PipeRun configured: qualified leads get a CRM sync job with every change.
        self._crm_enabled = crm_enabled
        # Chatwoot configured: a handoff's brief goes to the SDR team as a private note.
        self._mirror_enabled = mirror_enabled

    async def state(self, key: str) -> LeadState | None:
        async with self._engine.connect() as conn:
            conversation = await ConversationRepository(conn).get(key)
            if conversation is None:
                return None
            lead = await LeadRepository(conn).get_by_phone(_lead_phone(conversation))
            if lead is None:
                return None
            quotes = await QuoteRepository(conn).for_lead(lead.id)
            handoff = await HandoffRepository(conn).pending_for(key)
        return LeadState(lead=lead, quotes=quotes, handoff=handoff)

    async def update_lead(
        self, key: str, raw: dict[str, Any], *, turn_id: str | None
    ) -> LeadUpdate:
        cleaned = clean_slots(raw)
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            conversation, lead = await self._lead(conn, key, now)
            changes = changed_slots(lead.slots(), cleaned.values)
            if changes:
                await LeadRepository(conn).update_slots(lead.id, changes, now=now)
                await _audit(conn, "lead.slots_updated", key, {"slots": sorted(changes)}, now)
            decision, handoff, created = await self._recompute(conn, conversation, turn_id, now)
            if changes or created:
                await self._sync_crm(conn, lead.id, "lead_updated", now)
        return LeadUpdate(
            saved=sorted(changes),
            errors=cleaned.errors,
            decision=decision,
            handoff=handoff,
            handoff_created=created,
        )

    async def register_company(
        self,
        key: str,
        *,
        cnpj: str,
        legal_name: str | None,
        city: str | None,
        uf: str | None,
    ) -> CompanyResult:
        errors: dict[str, str] = {}
        try:
            normalised = validate_cnpj(cnpj)
        except InvalidCnpj as exc:
            return CompanyResult(company_id=None, created=False, errors={"cnpj": str(exc)})
        uf_code = normalize_uf(uf) if uf else None
        if uf and uf_code is None:
            errors["uf"] = "UF desconhecida: use a sigla do estado (ex.: SP, SC, MG)"
        name = _capped("legal_name", legal_name, errors)
        place = _capped("city", city, errors)
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            _, lead = await self._lead(conn, key, now)
            # Another lead's CNPJ gets this lead a link, never that lead's row (redteam L3).
            company, created = await CompanyRepository(conn).register(
                cnpj=normalised,
                legal_name=name,
                city=normalize_city(place) if place else None,
                uf=uf_code,
                lead_id=lead.id,
                now=now,
            )
            if name and not lead.company_name:
                await LeadRepository(conn).update_slots(lead.id, {"company_name": name}, now=now)
            await self._sync_crm(conn, lead.id, "company_registered", now)
            action = "company.registered" if created else "company.reused"
            await _audit(
                conn,
                "company.shared" if company.shared else action,
                key,
                {"company_id": company.id},
                now,
            )
        return CompanyResult(
            company_id=company.id,
            created=created,
            shared=company.shared,
            cnpj_formatted=format_cnpj(normalised),
            errors=errors,
        )

    async def create_quote_request(
        self, key: str, *, product: str, details: str | None, turn_id: str | None
    ) -> QuoteResult:
        now = datetime.now(UTC)
        product = " ".join(product.split())
        model = self._catalog.find(product)
        async with self._engine.begin() as conn:
            conversation, lead = await self._lead(conn, key, now)
            draft = QuoteDraft(
                # A catalog model is recorded by its code, however the lead wrote it.
                product=model.code if model else product,
                product_key=model.code if model else _product_key(product),
                summary=" ".join(details.split()) if details and details.strip() else None,
                segment=lead.segment,
                urgency=lead.urgency,
                volume=lead.production_volume,
            )
            quote, created = await QuoteRepository(conn).upsert(lead.id, draft, now=now)
            if created:
                await _audit(conn, "quote.requested", key, {"quote_id": quote.id}, now)
            decision, handoff, handoff_created = await self._recompute(
                conn, conversation, turn_id, now
            )
            await self._sync_crm(conn, lead.id, "quote_requested", now)
        return QuoteResult(
            quote_id=quote.id,
            created=created,
            decision=decision,
            handoff=handoff,
            handoff_created=handoff_created,
        )

    async def request_handoff(
        self, key: str, *, reason: str, kind: str, turn_id: str | None
    ) -> HandoffResult:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            conversation, lead = await self._lead(conn, key, now)
            handoff, created = await self._handoff(
                conn, conversation, lead, reason=reason, kind=kind, turn_id=turn_id, now=now
            )
            if created:
                await self._sync_crm(conn, lead.id, "handoff", now)
        return HandoffResult(handoff=handoff, created=created)

    async def record_lgpd_request(
        self, key: str, *, kinds: list[str], event_id: int | None, turn_id: str | None
    ) -> HandoffResult:
        """Store the data-subject request for the LGPD process and hand the lead to a person."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            conversation, lead = await self._lead(conn, key, now)
            for kind in kinds:
                if await LgpdRequestRepository(conn).record(
                    conversation_key=key, lead_id=lead.id, kind=kind, event_id=event_id, now=now
                ):
                    await _audit(conn, "lgpd.request_recorded", key, {"kind": kind}, now)
            handoff, created = await self._handoff(
                conn,
                conversation,
                lead,
                reason="Pedido do titular sobre dados pessoais (LGPD): " + ", ".join(kinds),
                kind=HANDOFF_LGPD,
                turn_id=turn_id,
                now=now,
            )
        return HandoffResult(handoff=handoff, created=created)

    async def _sync_crm(
        self, conn: AsyncConnection, lead_id: int, reason: str, now: datetime
    ) -> None:
        """Queue a PipeRun sync in the change's own transaction (an outbox: never lost).

        Only warm/hot leads, leads who asked for a quote, and leads already in the CRM are
        synced (DOMAIN.md: cold leads are closed by the bot, not filed)."""
        if not self._crm_enabled:
            return
        lead = await LeadRepository(conn).get(lead_id)
        qualified = lead is not None and lead.temperature in (
            Temperature.QUENTE.value,
            Temperature.MORNO.value,
        )
        if not (
            qualified
            or await QuoteRepository(conn).count_for_lead(lead_id) > 0
            or (await CrmRepository(conn).links(lead_id)).person_id is not None
            or await JobRepository(conn).has_unfinished(f"crm:lead:{lead_id}")
        ):
            return
        await JobRepository(conn).enqueue(
            kind=JobKind.CRM_SYNC,
            ordering_key=f"crm:lead:{lead_id}",
            dedupe_key=f"crm.sync:{lead_id}:{uuid.uuid4().hex}",
            payload={"lead_id": lead_id, "reason": reason},
            now=now,
            # The other tool calls of the same model response commit within this pause, so the
            # sync reads them all (and folds their jobs into one) instead of filing a company
            # by name a moment before its CNPJ arrives.
            not_before=now + CRM_SYNC_SETTLE,
        )

    async def _lead(
        self, conn: AsyncConnection, key: str, now: datetime
    ) -> tuple[ConversationRecord, LeadRecord]:
        # First statement of the transaction: the row stays locked until commit.
        conversation = await ConversationRepository(conn).lock(key)
        if conversation is None:
            raise UnknownConversation(mask_conversation_key(key))
        lead = await LeadRepository(conn).ensure(
            phone=_lead_phone(conversation), conversation_id=conversation.id, now=now
        )
        return conversation, lead

    async def _recompute(
        self,
        conn: AsyncConnection,
        conversation: ConversationRecord,
        turn_id: str | None,
        now: datetime,
    ) -> tuple[TemperatureDecision, HandoffRecord | None, bool]:
        """Temperature by rules after any change; a lead that turns hot goes to the SDR team."""
        key = conversation.conversation_key
        leads = LeadRepository(conn)
        lead = await leads.get_by_phone(_lead_phone(conversation))
        assert lead is not None
        pending = await HandoffRepository(conn).pending_for(key)
        quotes = await QuoteRepository(conn).count_for_lead(lead.id)
        decision = decide_temperature(
            LeadSignals(
                name=lead.name,
                company_name=lead.company_name,
                city=lead.city,
                uf=lead.uf,
                segment=lead.segment,
                product_interest=lead.product_interest,
                production_volume=lead.production_volume,
                urgency=lead.urgency,
                knows_seleto=lead.knows_seleto,
                quote_requested=quotes > 0,
                human_requested=pending is not None and pending.kind == "requested",
            ),
            self._catalog,
        )
        label = decision.temperature.value if decision.temperature else None
        if (label, decision.reason, decision.suggested_model) != (
            lead.temperature,
            lead.temperature_reason,
            lead.suggested_model,
        ):
            await leads.set_temperature(
                lead.id,
                temperature=label,
                reason=decision.reason,
                suggested_model=decision.suggested_model,
                now=now,
            )
            if label != lead.temperature:
                _count_funnel(before=lead.temperature, after=label)
                await _audit(
                    conn,
                    "lead.temperature_changed",
                    key,
                    {"from": lead.temperature, "to": label},
                    now,
                )
        if decision.temperature is not Temperature.QUENTE or lead.temperature == label:
            return decision, pending, False
        refreshed = await leads.get_by_phone(lead.phone)
        assert refreshed is not None
        handoff, created = await self._handoff(
            conn,
            conversation,
            refreshed,
            reason=decision.reason,
            kind="hot_lead",
            turn_id=turn_id,
            now=now,
        )
        return decision, handoff, created

    async def _handoff(
        self,
        conn: AsyncConnection,
        conversation: ConversationRecord,
        lead: LeadRecord,
        *,
        reason: str,
        kind: str,
        turn_id: str | None,
        now: datetime,
    ) -> tuple[HandoffRecord, bool]:
        key = conversation.conversation_key
        handoffs = HandoffRepository(conn)
        handoff = await handoffs.pending_for(key)
        created = handoff is None
        if handoff is None:
            quotes = await QuoteRepository(conn).for_lead(lead.id)
            observations = [
                f"Orçamento pedido: {q.product}" + (f" ({q.summary})" if q.summary else "")
                for q in quotes
            ]
            company = await CompanyRepository(conn).for_lead(lead.id)
            if company is not None and company.shared:
                observations.append(SHARED_CNPJ_NOTICE)
            notes = "; ".join(observations)
            handoff = await handoffs.create_pending(
                conversation_key=key,
                lead_id=lead.id,
                kind=kind,
                reason=" ".join(reason.split())[:500],
                summary=handoff_brief(
                    lead.slots(),
                    temperature=lead.temperature,
                    temperature_reason=lead.temperature_reason,
                    notes=notes or None,
                ),
                turn_id=turn_id,
                now=now,
            )
            # The conversation row is locked, so nothing else can have opened one meanwhile.
            assert handoff is not None
            FUNNEL.labels("handed_off").inc()
        elif kind != HANDOFF_LGPD:
            return handoff, False
        # The bot goes quiet, unless a person or an explicit pause already has the
        # conversation (then it stays theirs and the turn gets no right to answer); an LGPD
        # request also makes an existing takeover one that never ends by itself.
        await self._ownership.handoff_in(conn, key, kind=kind, turn_id=turn_id)
        if not created:
            return handoff, False
        await _audit(
            conn, "conversation.handoff", key, {"kind": kind, "handoff_id": handoff.id}, now
        )
        if self._mirror_enabled:
            await queue_mirror(
                conn, conversation_key=key, what="handoff", ref=str(handoff.id), now=now
            )
        log.info("lead.handoff", kind=kind, handoff_id=handoff.id)
        return handoff, True


def _capped(field_name: str, value: str | None, errors: dict[str, str]) -> str | None:
    # redteam L8: these reach SDR briefs and CRM notes, capped like the text slots.
    text = " ".join(value.split()) if value else None
    if text and len(text) > MAX_SLOT_CHARS:
        errors[field_name] = TOO_LONG
        return None
    return text or None


def _lead_phone(conversation: ConversationRecord) -> str:
    # A @lid sender has no phone: the conversation key stands in for it.
    return conversation.phone_e164 or conversation.conversation_key


def _product_key(product: str) -> str:
    decomposed = unicodedata.normalize("NFKD", product.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


async def _audit(
    conn: AsyncConnection, action: str, key: str, details: dict[str, Any], now: datetime
) -> None:
    await AuditRepository(conn).record(
        actor=AGENT_ACTOR,
        action=action,
        subject_type="conversation",
        subject_id=mask_conversation_key(key),
        details=details,
        now=now,
    )


_QUALIFIED = (Temperature.MORNO.value, Temperature.QUENTE.value)


def _count_funnel(*, before: str | None, after: str | None) -> None:
    """A lead counts once when it first becomes warm or hot, and once when it first is hot."""
    if after in _QUALIFIED and before not in _QUALIFIED:
        FUNNEL.labels("qualified").inc()
    if after == Temperature.QUENTE.value and before != Temperature.QUENTE.value:
        FUNNEL.labels("hot").inc()
