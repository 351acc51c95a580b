"""Who answers a conversation, as one explicit state machine.

BOT answers; HUMAN means a person owns the conversation and the bot is silent; PAUSED_UNTIL is a
silence that ends by itself at a set instant. The client's rule (DOMAIN.md, PRD D7): after a
person took over, inside business hours only an SDR command brings the bot back; outside them
the bot comes back by itself when the lead writes again. `/bot off` and admin pauses are explicit
silences and never end by themselves.

Every function is pure: the caller loads the state, passes the time in, saves the new state when
`changed`, records `audit_action` when set and posts `note` to the SDR.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Literal

from seleto_agent.domain.business_hours import BusinessHours
from seleto_agent.domain.conversation import ConversationOwner, bot_may_answer
from seleto_agent.domain.sdr_commands import (
    CommandKind,
    InvalidCommand,
    ParsedNote,
    UnknownCommand,
)

HANDOFF_PREFIX = "handoff:"
# A data-subject request (LGPD): a person must answer it, so this silence never ends by itself.
HANDOFF_LGPD = "lgpd"
REASON_LGPD = HANDOFF_PREFIX + HANDOFF_LGPD
REASON_HUMAN_REPLY = "human_reply"
REASON_PHONE_REPLY = "phone_reply"
REASON_COMMAND_OFF = "command_off"
REASON_ADMIN_PAUSE = "admin_pause"

_REASON_LABELS = {
    "handoff:hot_lead": "lead quente encaminhado à equipe",
    "handoff:requested": "o cliente pediu para falar com uma pessoa",
    "handoff:lgpd": "pedido do cliente sobre dados pessoais (LGPD)",
    "handoff:budget": "o cliente passou do limite de mensagens do bot",
    REASON_HUMAN_REPLY: "um atendente respondeu pelo Chatwoot",
    REASON_PHONE_REPLY: "um atendente respondeu pelo celular da empresa",
    REASON_COMMAND_OFF: "pausado com /bot off",
    REASON_ADMIN_PAUSE: "pausado pela administração",
}
_WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")


class OwnershipStatus(StrEnum):
    BOT = "bot"
    HUMAN = "human"
    PAUSED_UNTIL = "paused_until"


def may_auto_resume(reason: str | None) -> bool:
    """A takeover (handoff, a person replying) may end by itself; anything else may not.
    Unknown and missing reasons (older rows, e.g. the first admin pauses stored "admin") count
    as explicit silences: waking the bot by mistake is worse than leaving a lead to a person.
    An LGPD handoff never does: the bot must not go on processing a person who asked to have
    their data erased or to be left alone until somebody has answered them."""
    if reason is None or reason == REASON_LGPD:
        return False
    return reason.startswith(HANDOFF_PREFIX) or reason in (REASON_HUMAN_REPLY, REASON_PHONE_REPLY)


@dataclass(frozen=True, slots=True)
class OwnershipState:
    """The persisted ownership columns of one conversation (all datetimes UTC)."""

    owner: ConversationOwner = ConversationOwner.BOT
    paused_until: datetime | None = None
    owner_reason: str | None = None
    # The turn that handed off: its own reply still goes out although a human now owns it.
    owner_turn_id: str | None = None
    # When the human side last acted (took the conversation, paused it or wrote to the lead);
    # the idle resume counts from here.
    human_last_activity_at: datetime | None = None

    @property
    def state(self) -> OwnershipStatus:
        if self.owner is ConversationOwner.BOT:
            return OwnershipStatus.BOT
        if self.paused_until is None:
            return OwnershipStatus.HUMAN
        return OwnershipStatus.PAUSED_UNTIL

    def bot_may_answer(self, now: datetime, *, turn_id: str | None = None) -> bool:
        if turn_id is not None and turn_id == self.owner_turn_id:
            return True
        return bot_may_answer(self.owner, self.paused_until, now)


@dataclass(frozen=True, slots=True)
class Transition:
    state: OwnershipState
    # The state differs from the one given and must be saved.
    changed: bool
    # Set when who answers, why or until when changed; None when only the activity time moved.
    audit_action: str | None
    # pt-BR private note confirming an SDR command; None for everything else.
    note: str | None = None


BOT_STATE = OwnershipState()


def _to(
    old: OwnershipState, new: OwnershipState, action: str | None, note: str | None = None
) -> Transition:
    moved = (new.owner, new.paused_until, new.owner_reason) != (
        old.owner,
        old.paused_until,
        old.owner_reason,
    )
    return Transition(new, new != old, action if moved else None, note)


def _unchanged(state: OwnershipState, note: str | None = None) -> Transition:
    return Transition(state, False, None, note)


def _human(
    reason: str, now: datetime, *, until: datetime | None = None, turn_id: str | None = None
) -> OwnershipState:
    return OwnershipState(
        owner=ConversationOwner.HUMAN,
        paused_until=until,
        owner_reason=reason,
        owner_turn_id=turn_id,
        human_last_activity_at=now,
    )


# --- events ---------------------------------------------------------------------------------------


def on_human_reply(
    state: OwnershipState, *, now: datetime, source: Literal["chatwoot", "phone"]
) -> Transition:
    """A person wrote to the lead (in Chatwoot or on the company phone): the bot goes quiet."""
    if state.state is OwnershipStatus.HUMAN:
        # Keep why it is human (an explicit silence stays explicit); a racing bot turn from a
        # handoff must not answer over the person, hence no owner turn any more.
        return _to(state, replace(state, owner_turn_id=None, human_last_activity_at=now), None)
    reason = REASON_HUMAN_REPLY if source == "chatwoot" else REASON_PHONE_REPLY
    return _to(state, _human(reason, now), "ownership.human_took_over")


def on_handoff(
    state: OwnershipState, *, kind: str, now: datetime, turn_id: str | None
) -> Transition:
    """The bot handed the lead to the SDR team; the handing-off turn still sends its reply.

    A person or a pause that is still running keeps the conversation: a handoff never shortens
    or replaces an explicit silence (an admin pause stays an admin pause), and the turn gets no
    right to answer over it. The one exception makes silence stronger: an LGPD request turns a
    silence that could end by itself (a takeover, a timed pause) into one that does not.
    """
    if not kind or any(ch.isspace() for ch in kind):
        raise ValueError(f"handoff kind must be one word, got {kind!r}")
    if state.bot_may_answer(now):
        return _to(
            state, _human(HANDOFF_PREFIX + kind, now, turn_id=turn_id), "ownership.human_took_over"
        )
    if kind == HANDOFF_LGPD and (
        state.state is OwnershipStatus.PAUSED_UNTIL or may_auto_resume(state.owner_reason)
    ):
        return _to(state, _human(REASON_LGPD, now), "ownership.lgpd_hold")
    return _unchanged(state)


def on_lead_message(
    state: OwnershipState,
    *,
    now: datetime,
    hours: BusinessHours,
    idle_resume_after: timedelta | None,
) -> Transition:
    """Whether this lead message gives the conversation back to the bot."""
    if state.state is OwnershipStatus.BOT:
        return _unchanged(state)
    if state.state is OwnershipStatus.PAUSED_UNTIL:
        assert state.paused_until is not None
        if now >= state.paused_until:
            return _to(state, BOT_STATE, "ownership.pause_expired")
        return _unchanged(state)
    if not may_auto_resume(state.owner_reason):
        return _unchanged(state)
    if not hours.is_open(now):
        return _to(state, BOT_STATE, "ownership.auto_resumed_outside_hours")
    if _idle_for_long(state, now, idle_resume_after):
        return _to(state, BOT_STATE, "ownership.auto_resumed_idle")
    return _unchanged(state)


def _idle_for_long(state: OwnershipState, now: datetime, after: timedelta | None) -> bool:
    # Without a last activity (rows older than the column) there is no telling how long the
    # person has been quiet, and guessing would wake the bot mid-conversation.
    if after is None or after <= timedelta(0) or state.human_last_activity_at is None:
        return False
    return now - state.human_last_activity_at >= after


def on_command(
    state: OwnershipState,
    command: ParsedNote,
    *,
    now: datetime,
    hours: BusinessHours,
    idle_resume_after: timedelta | None = None,
) -> Transition:
    """An SDR's private-note command; the note confirms (or explains) it in pt-BR."""
    if isinstance(command, (InvalidCommand, UnknownCommand)):
        return _unchanged(state, command.message)
    tz = hours.timezone
    if command.kind is CommandKind.RESUME:
        if state.state is OwnershipStatus.BOT:
            return _unchanged(state, "O bot já está respondendo esta conversa; nada mudou.")
        note = "Bot retomado: ele volta a responder este cliente a partir da próxima mensagem."
        return _to(state, BOT_STATE, "ownership.resumed_by_command", note)
    if command.kind is CommandKind.PAUSE:
        if state.state is OwnershipStatus.HUMAN and state.owner_reason == REASON_COMMAND_OFF:
            return _unchanged(state, "O bot já estava pausado nesta conversa; nada mudou.")
        note = "Bot pausado nesta conversa. Ele só volta com /retomar (ou /bot on)."
        return _to(state, _human(REASON_COMMAND_OFF, now), "ownership.paused_by_command", note)
    if command.kind is CommandKind.PAUSE_FOR:
        assert command.duration is not None
        until = now + command.duration
        note = (
            f"Bot pausado até {format_local(until, tz)}; depois disso ele volta a responder "
            "sozinho. Para retomar antes, use /retomar."
        )
        if command.capped:
            note += " (A pausa máxima é de 30 dias.)"
        new = _human(REASON_COMMAND_OFF, now, until=until)
        return _to(state, new, "ownership.paused_by_command", note)
    return _unchanged(state, _status_note(state, now, hours, idle_resume_after))


def on_admin_pause(state: OwnershipState, *, now: datetime, until: datetime | None) -> Transition:
    """An operator silenced the bot through the admin API, for good or until an instant."""
    if until is not None and until <= now:
        raise ValueError("a pause must end in the future")
    return _to(state, _human(REASON_ADMIN_PAUSE, now, until=until), "ownership.admin_paused")


def on_admin_resume(state: OwnershipState, *, now: datetime) -> Transition:
    """An operator gave the conversation back to the bot."""
    return _to(state, BOT_STATE, "ownership.admin_resumed")


def on_resolved(
    state: OwnershipState, *, now: datetime, action: Literal["resume_bot", "nothing"]
) -> Transition:
    """An SDR resolved the conversation in Chatwoot (CHATWOOT_ON_RESOLVED says what that means).
    An admin pause outranks it: ops may have silenced the bot for a reason the SDR cannot see."""
    if action == "nothing" or state.owner_reason == REASON_ADMIN_PAUSE:
        return _unchanged(state)
    return _to(state, BOT_STATE, "ownership.resumed_on_resolve")


def on_merge(state: OwnershipState, *, other: OwnershipState) -> Transition:
    """Another conversation of the same person was merged into this one: the stricter silence
    wins, so a person (or an LGPD request) who had the other never finds the bot answering.

    Stricter means, in order: any silence over the bot; an LGPD hold over anything; a silence
    that never ends by itself over one that may (a takeover, a timed pause)."""
    if other.state is OwnershipStatus.BOT or _strictness(other) <= _strictness(state):
        return _unchanged(state)
    activity = max(
        (t for t in (state.human_last_activity_at, other.human_last_activity_at) if t),
        default=None,
    )
    # The other conversation's handing-off turn is gone: it gets no right to answer here.
    merged = replace(other, owner_turn_id=None, human_last_activity_at=activity)
    return _to(state, merged, "ownership.kept_on_merge")


def _strictness(state: OwnershipState) -> int:
    if state.state is OwnershipStatus.BOT:
        return 0
    if state.owner_reason == REASON_LGPD:
        return 3
    if state.state is OwnershipStatus.HUMAN and not may_auto_resume(state.owner_reason):
        return 2
    return 1


# --- pt-BR text for the SDR ---------------------------------------------------------------------


def describe(state: OwnershipState, now: datetime, tz: tzinfo) -> str:
    """Who answers this conversation, for the `/bot status` note."""
    status = state.state
    if status is OwnershipStatus.BOT:
        return "Status: o bot está respondendo esta conversa."
    reason = reason_label(state.owner_reason)
    if status is OwnershipStatus.PAUSED_UNTIL:
        assert state.paused_until is not None
        until = format_local(state.paused_until, tz)
        if state.paused_until <= now:
            return (
                f"Status: a pausa terminou em {until}; o bot responde a próxima mensagem do "
                "cliente."
            )
        return f"Status: bot em silêncio até {until}. Motivo: {reason}."
    text = f"Status: atendimento humano, o bot está em silêncio. Motivo: {reason}."
    if state.human_last_activity_at is not None:
        text += f" Última atividade da equipe: {format_local(state.human_last_activity_at, tz)}."
    return text


def _status_note(
    state: OwnershipState, now: datetime, hours: BusinessHours, idle: timedelta | None
) -> str:
    tz = hours.timezone
    text = describe(state, now, tz)
    if state.state is OwnershipStatus.PAUSED_UNTIL and state.paused_until is not None:
        if state.paused_until > now:
            text += " Depois disso ele volta sozinho; para retomar antes, use /retomar."
        return text
    if state.state is not OwnershipStatus.HUMAN:
        return text
    if not may_auto_resume(state.owner_reason):
        return text + " É uma pausa manual: o bot não volta sozinho, só com /retomar."
    if not hours.is_open(now):
        back = hours.next_opening(now)
        when = f" (a equipe volta {format_local(back, tz)})" if back is not None else ""
        return text + (
            f" Estamos fora do horário comercial{when}: se o cliente escrever, o bot volta a "
            "responder sozinho."
        )
    closing = _closing_after(hours, now)
    if closing is None:
        text += " Estamos no horário comercial: o bot só volta com /retomar."
    else:
        text += (
            f" Estamos no horário comercial: até {format_local(closing, tz)} o bot só volta com "
            "/retomar; depois disso, volta sozinho se o cliente escrever."
        )
    if idle is not None and idle > timedelta(0):
        text += (
            f" Se a equipe ficar {_format_span(idle)} sem responder, o bot também volta "
            "quando o cliente escrever."
        )
    return text


def _closing_after(hours: BusinessHours, now: datetime) -> datetime | None:
    """When the opening `now` falls in ends; None when the next range starts right then."""
    local = now.astimezone(hours.timezone)
    second = local.hour * 3600 + local.minute * 60 + local.second
    for opening in hours.ranges_on(local.date()):
        if opening.start <= second < opening.end:
            midnight = datetime.combine(local.date(), time(), tzinfo=hours.timezone)
            closing = midnight + timedelta(seconds=opening.end)
            return None if hours.is_open(closing) else closing
    return None


def reason_label(reason: str | None) -> str:
    if reason is None:
        return "motivo não registrado"
    if reason in _REASON_LABELS:
        return _REASON_LABELS[reason]
    if reason.startswith(HANDOFF_PREFIX):
        return f"encaminhado à equipe ({reason.removeprefix(HANDOFF_PREFIX)})"
    return reason


def format_local(at: datetime, tz: tzinfo) -> str:
    """Wall-clock time as an SDR reads it: sex 13/03/2026 às 16:30 (horário de Brasília)."""
    local = at.astimezone(tz)
    zone = str(getattr(tz, "key", tz))
    label = "horário de Brasília" if zone == "America/Sao_Paulo" else zone
    return f"{_WEEKDAYS[local.weekday()]} {local:%d/%m/%Y} às {local:%H:%M} ({label})"


def _format_span(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
