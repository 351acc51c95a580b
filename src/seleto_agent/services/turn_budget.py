"""Per-lead turn budgets (TURN_BUDGET_PER_HOUR / _PER_DAY): checked before the model runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from seleto_agent.db.repositories.outbound import OutboundRepository
from seleto_agent.domain.turn_budget import (
    BUDGET_REPLY_KIND,
    HANDOFF_BUDGET,
    BudgetVerdict,
    PastReply,
    budget_windows,
    judge_budget,
)
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.leads import LeadService

log = get_logger(__name__)

_WINDOW_WORDS = {"hour": "hora", "day": "dia"}


class TurnBudget:
    def __init__(
        self, engine: AsyncEngine, *, leads: LeadService, per_hour: int, per_day: int
    ) -> None:
        self._engine = engine
        self._leads = leads
        self._windows = budget_windows(per_hour=per_hour, per_day=per_day)

    async def check(self, conversation_key: str, *, now: datetime) -> BudgetVerdict | None:
        """None while the lead may get one more model turn."""
        if not self._windows:
            return None
        since = now - max(w.length for w in self._windows)
        async with self._engine.connect() as conn:
            rows = await OutboundRepository(conn).turn_replies_since(conversation_key, since)
        replies = [PastReply(at, kind == BUDGET_REPLY_KIND) for at, kind in rows]
        verdict = judge_budget(replies, windows=self._windows, now=now)
        if verdict is not None:
            log.warning(
                "turn.budget_exceeded",
                window=verdict.window.name,
                limit=verdict.window.limit,
                note_due=verdict.note_due,
            )
        return verdict

    async def hand_off(
        self, conversation_key: str, verdict: BudgetVerdict, *, turn_id: str
    ) -> None:
        """The SDR team takes the lead; the refusing turn's own note still goes out."""
        window = verdict.window
        await self._leads.request_handoff(
            conversation_key,
            reason=(
                f"O lead passou do limite de {window.limit} respostas do bot por "
                f"{_WINDOW_WORDS[window.name]}: o bot parou de responder e a conversa é da equipe."
            ),
            kind=HANDOFF_BUDGET,
            turn_id=turn_id,
        )
