"""Who answers a conversation, persisted: applies `domain/ownership.py` transitions.

Every change is saved and audited in one transaction with a fresh read of the row, so two
events racing (a lead message and an SDR command) each see the other's result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.conversations import ConversationRecord, ConversationRepository
from seleto_agent.db.repositories.handoffs import HandoffRepository
from seleto_agent.domain.business_hours import BusinessHours
from seleto_agent.domain.conversation import ConversationOwner
from seleto_agent.domain.ownership import (
    OwnershipState,
    Transition,
    on_admin_pause,
    on_admin_resume,
    on_command,
    on_human_reply,
    on_lead_message,
    on_resolved,
)
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.domain.sdr_commands import ParsedNote
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

Event = Callable[[OwnershipState], Transition]


def state_of(conversation: ConversationRecord) -> OwnershipState:
    return OwnershipState(
        owner=conversation.owner,
        paused_until=conversation.paused_until,
        owner_reason=conversation.owner_reason,
        owner_turn_id=conversation.owner_turn_id,
        human_last_activity_at=conversation.human_last_activity_at,
    )


class OwnershipService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        hours: BusinessHours,
        idle_resume_after: timedelta | None,
        on_resolved_action: Literal["resume_bot", "nothing"],
    ) -> None:
        self._engine = engine
        self.hours = hours
        self._idle = idle_resume_after
        self._on_resolved = on_resolved_action

    async def apply(self, key: str, event: Event, *, actor: str) -> Transition | None:
        """Run one event on the conversation's current state; None when it does not exist."""
        async with self._engine.begin() as conn:
            return await self.apply_in(conn, key, event, actor=actor)

    async def apply_in(
        self, conn: AsyncConnection, key: str, event: Event, *, actor: str
    ) -> Transition | None:
        conversations = ConversationRepository(conn)
        conversation = await conversations.get(key)
        if conversation is None:
            return None
        before = state_of(conversation)
        transition = event(before)
        if not transition.changed:
            return transition
        now = datetime.now(UTC)
        after = transition.state
        await conversations.save_ownership(
            key,
            owner=after.owner,
            paused_until=after.paused_until,
            reason=after.owner_reason,
            turn_id=after.owner_turn_id,
            human_last_activity_at=after.human_last_activity_at,
            now=now,
        )
        if after.owner is ConversationOwner.BOT and before.owner is not ConversationOwner.BOT:
            # The SDR team is done with it; a new request opens a new handoff.
            await HandoffRepository(conn).close_pending(key, now=now)
        if transition.audit_action:
            await AuditRepository(conn).record(
                actor=actor,
                action=transition.audit_action,
                subject_type="conversation",
                subject_id=mask_conversation_key(key),
                details={
                    "from": before.state.value,
                    "to": after.state.value,
                    "reason": after.owner_reason,
                    "until": after.paused_until.isoformat() if after.paused_until else None,
                },
                now=now,
            )
            log.info("ownership.changed", action=transition.audit_action, to=after.state.value)
        return transition

    async def lead_wrote(self, key: str) -> Transition | None:
        """A lead message arrived: a timed pause may be over, or (outside business hours or
        after HUMAN_IDLE_RESUME_HOURS) a takeover may end by itself."""
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_lead_message(s, now=now, hours=self.hours, idle_resume_after=self._idle),
            actor="worker",
        )

    async def human_replied(
        self, key: str, *, source: Literal["chatwoot", "phone"]
    ) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key, lambda s: on_human_reply(s, now=now, source=source), actor=f"sdr:{source}"
        )

    async def command(self, key: str, parsed: ParsedNote) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_command(
                s, parsed, now=now, hours=self.hours, idle_resume_after=self._idle
            ),
            actor="sdr:chatwoot",
        )

    async def resolved(self, key: str) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key, lambda s: on_resolved(s, now=now, action=self._on_resolved), actor="sdr:chatwoot"
        )

    async def admin_pause(self, key: str, until: datetime | None) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key, lambda s: on_admin_pause(s, now=now, until=until), actor="admin_api"
        )

    async def admin_resume(self, key: str) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(key, lambda s: on_admin_resume(s, now=now), actor="admin_api")
