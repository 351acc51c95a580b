"""Who answers a conversation, persisted: the one path for every change of ownership.

Every change (a handoff by rule or by request, an SDR reply in Chatwoot or on the company
phone, a command, an admin pause or resume, a resolve, a lead message that ends a pause, an
LGPD request) runs `domain/ownership.py`'s state machine here, on the row held locked until
commit, so two events racing apply one after the other and each sees the other's result.
Every change is audited, and so are the requests that changed nothing.

An event carries the time it happened. One older than the conversation's last ownership change
(a replayed job, a late delivery) is stale: a later decision of a person or an operator already
superseded it, so it changes nothing (and that is audited too).
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
    on_handoff,
    on_human_reply,
    on_lead_message,
    on_resolved,
)
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.domain.sdr_commands import ParsedNote
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)

Event = Callable[[OwnershipState], Transition]
STALE_ACTION = "ownership.stale_event_ignored"
UNCHANGED_ACTION = "ownership.unchanged"


def state_of(conversation: ConversationRecord) -> OwnershipState:
    return OwnershipState(
        owner=conversation.owner,
        paused_until=conversation.paused_until,
        owner_reason=conversation.owner_reason,
        owner_turn_id=conversation.owner_turn_id,
        human_last_activity_at=conversation.human_last_activity_at,
    )


def is_stale(conversation: ConversationRecord, occurred_at: datetime | None) -> bool:
    changed = conversation.owner_changed_at
    return occurred_at is not None and changed is not None and occurred_at < changed


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

    async def apply(
        self,
        key: str,
        event: Event,
        *,
        name: str,
        actor: str,
        occurred_at: datetime | None = None,
        audit_unchanged: bool = True,
    ) -> Transition | None:
        """Run one event on the conversation's current state; None when it does not exist."""
        async with self._engine.begin() as conn:
            return await self.apply_in(
                conn,
                key,
                event,
                name=name,
                actor=actor,
                occurred_at=occurred_at,
                audit_unchanged=audit_unchanged,
            )

    async def apply_in(
        self,
        conn: AsyncConnection,
        key: str,
        event: Event,
        *,
        name: str,
        actor: str,
        occurred_at: datetime | None = None,
        audit_unchanged: bool = True,
    ) -> Transition | None:
        """`apply` inside the caller's transaction (which then holds the conversation row)."""
        conversations = ConversationRepository(conn)
        conversation = await conversations.lock(key)
        if conversation is None:
            return None
        before = state_of(conversation)
        now = datetime.now(UTC)
        audit = AuditRepository(conn)
        subject = mask_conversation_key(key)
        if is_stale(conversation, occurred_at):
            assert occurred_at is not None
            assert conversation.owner_changed_at is not None
            await audit.record(
                actor=actor,
                action=STALE_ACTION,
                subject_type="conversation",
                subject_id=subject,
                details={
                    "event": name,
                    "occurred_at": occurred_at.isoformat(),
                    "owner_changed_at": conversation.owner_changed_at.isoformat(),
                },
                now=now,
            )
            log.info("ownership.stale_event_ignored", ownership_event=name)
            return Transition(before, False, None)
        transition = event(before)
        after = transition.state
        if transition.changed:
            moved = transition.audit_action is not None
            changed_at = conversation.owner_changed_at
            if moved:
                happened = occurred_at or now
                changed_at = happened if changed_at is None else max(changed_at, happened)
            await conversations.save_ownership(
                key,
                owner=after.owner,
                paused_until=after.paused_until,
                reason=after.owner_reason,
                turn_id=after.owner_turn_id,
                human_last_activity_at=after.human_last_activity_at,
                changed_at=changed_at,
                now=now,
            )
        if after.owner is ConversationOwner.BOT and before.owner is not ConversationOwner.BOT:
            # The SDR team is done with it; a new request opens a new handoff.
            await HandoffRepository(conn).close_pending(key, now=now)
        details = {
            "event": name,
            "from": before.state.value,
            "to": after.state.value,
            "reason": after.owner_reason,
            "until": after.paused_until.isoformat() if after.paused_until else None,
        }
        if transition.audit_action:
            await audit.record(
                actor=actor,
                action=transition.audit_action,
                subject_type="conversation",
                subject_id=subject,
                details=details,
                now=now,
            )
            log.info("ownership.changed", action=transition.audit_action, to=after.state.value)
        elif audit_unchanged:
            await audit.record(
                actor=actor,
                action=UNCHANGED_ACTION,
                subject_type="conversation",
                subject_id=subject,
                details=details,
                now=now,
            )
        return transition

    async def lead_wrote(self, key: str, *, occurred_at: datetime) -> Transition | None:
        """A lead message arrived: a timed pause may be over, or (outside business hours or
        after HUMAN_IDLE_RESUME_HOURS) a takeover may end by itself. Not audited when it
        changes nothing: that is every message of a conversation the bot already answers."""
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_lead_message(s, now=now, hours=self.hours, idle_resume_after=self._idle),
            name="lead_message",
            actor="worker",
            occurred_at=occurred_at,
            audit_unchanged=False,
        )

    async def handoff_in(
        self, conn: AsyncConnection, key: str, *, kind: str, turn_id: str | None
    ) -> Transition | None:
        """The bot hands the conversation to the SDR team (in the lead change's transaction)."""
        now = datetime.now(UTC)
        return await self.apply_in(
            conn,
            key,
            lambda s: on_handoff(s, kind=kind, now=now, turn_id=turn_id),
            name=f"handoff:{kind}",
            actor="agent",
        )

    async def human_replied(
        self, key: str, *, source: Literal["chatwoot", "phone"], occurred_at: datetime
    ) -> Transition | None:
        # The person's activity counts from when they wrote, not from when we processed it.
        return await self.apply(
            key,
            lambda s: on_human_reply(s, now=occurred_at, source=source),
            name=f"human_reply:{source}",
            actor=f"sdr:{source}",
            occurred_at=occurred_at,
        )

    async def command(
        self, key: str, parsed: ParsedNote, *, occurred_at: datetime
    ) -> Transition | None:
        """An SDR command; the caller audits every command itself (`sdr.command.*`)."""
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_command(
                s, parsed, now=now, hours=self.hours, idle_resume_after=self._idle
            ),
            name="command",
            actor="sdr:chatwoot",
            occurred_at=occurred_at,
            audit_unchanged=False,
        )

    async def resolved(self, key: str, *, occurred_at: datetime) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_resolved(s, now=now, action=self._on_resolved),
            name="resolved",
            actor="sdr:chatwoot",
            occurred_at=occurred_at,
        )

    async def admin_pause(self, key: str, until: datetime | None) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key,
            lambda s: on_admin_pause(s, now=now, until=until),
            name="admin_pause",
            actor="admin_api",
        )

    async def admin_resume(self, key: str) -> Transition | None:
        now = datetime.now(UTC)
        return await self.apply(
            key, lambda s: on_admin_resume(s, now=now), name="admin_resume", actor="admin_api"
        )
