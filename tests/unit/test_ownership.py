from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from seleto_agent.domain.business_hours import BusinessHours, parse_business_hours
from seleto_agent.domain.conversation import ConversationOwner
from seleto_agent.domain.ownership import (
    BOT_STATE,
    OwnershipState,
    OwnershipStatus,
    Transition,
    describe,
    format_local,
    may_auto_resume,
    on_admin_pause,
    on_admin_resume,
    on_command,
    on_handoff,
    on_human_reply,
    on_lead_message,
    on_resolved,
)
from seleto_agent.domain.sdr_commands import (
    CommandKind,
    InvalidCommand,
    SdrCommand,
    UnknownCommand,
    parse_note,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
HOURS: BusinessHours = parse_business_hours(
    {
        "timezone": "America/Sao_Paulo",
        "days": {day: ["08:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "closed_dates": ["2026-04-21"],
    }
)


def sp(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SAO_PAULO).astimezone(UTC)


# 2026-03-16 is a Monday; 2026-03-14 a Saturday.
MONDAY_10 = sp(2026, 3, 16, 10, 0)
TAKEN_AT = sp(2026, 3, 16, 9, 0)


def human(reason: str, *, at: datetime = TAKEN_AT, turn_id: str | None = None) -> OwnershipState:
    return OwnershipState(
        owner=ConversationOwner.HUMAN,
        owner_reason=reason,
        owner_turn_id=turn_id,
        human_last_activity_at=at,
    )


def paused(until: datetime, reason: str = "command_off") -> OwnershipState:
    return replace(human(reason), paused_until=until)


def lead_writes(state: OwnershipState, now: datetime, idle: timedelta | None = None) -> Transition:
    return on_lead_message(state, now=now, hours=HOURS, idle_resume_after=idle)


def command(state: OwnershipState, note: str, now: datetime = MONDAY_10) -> Transition:
    parsed = parse_note(note)
    assert parsed is not None
    return on_command(state, parsed, now=now, hours=HOURS)


# --- the state itself ---------------------------------------------------------------------------


def test_states_and_who_may_answer() -> None:
    assert BOT_STATE.state is OwnershipStatus.BOT
    assert BOT_STATE.bot_may_answer(MONDAY_10) is True
    assert human("human_reply").state is OwnershipStatus.HUMAN
    assert human("human_reply").bot_may_answer(MONDAY_10) is False
    timed = paused(MONDAY_10 + timedelta(hours=1))
    assert timed.state is OwnershipStatus.PAUSED_UNTIL
    assert timed.bot_may_answer(MONDAY_10) is False
    assert timed.bot_may_answer(MONDAY_10 + timedelta(hours=1)) is True


def test_the_handing_off_turn_may_still_answer() -> None:
    handed = human("handoff:hot_lead", turn_id="turn-7")
    assert handed.bot_may_answer(MONDAY_10, turn_id="turn-7") is True
    assert handed.bot_may_answer(MONDAY_10, turn_id="turn-8") is False
    assert handed.bot_may_answer(MONDAY_10) is False
    assert human("human_reply").bot_may_answer(MONDAY_10, turn_id=None) is False


@pytest.mark.parametrize(
    ("reason", "auto"),
    [
        ("handoff:hot_lead", True),
        ("handoff:requested", True),
        # A person must answer a data-rights request; the bot never takes it back alone.
        ("handoff:lgpd", False),
        ("human_reply", True),
        ("phone_reply", True),
        ("command_off", False),
        ("admin_pause", False),
        ("admin", False),
        (None, False),
        ("something_new", False),
    ],
)
def test_which_reasons_may_end_by_themselves(reason: str | None, auto: bool) -> None:
    assert may_auto_resume(reason) is auto


# --- a person replies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"), [("chatwoot", "human_reply"), ("phone", "phone_reply")]
)
def test_human_reply_takes_over_from_the_bot(
    source: Literal["chatwoot", "phone"], reason: str
) -> None:
    moved = on_human_reply(BOT_STATE, now=MONDAY_10, source=source)
    assert moved.changed is True
    assert moved.audit_action == "ownership.human_took_over"
    assert moved.note is None
    assert moved.state == OwnershipState(
        owner=ConversationOwner.HUMAN, owner_reason=reason, human_last_activity_at=MONDAY_10
    )


def test_human_reply_keeps_the_reason_and_refreshes_activity() -> None:
    handed = human("handoff:hot_lead", turn_id="turn-7")
    moved = on_human_reply(handed, now=MONDAY_10, source="chatwoot")
    assert moved.state.owner_reason == "handoff:hot_lead"
    assert moved.state.human_last_activity_at == MONDAY_10
    # A person is talking now; the handoff turn's late reply must not go out over them.
    assert moved.state.owner_turn_id is None
    assert moved.changed is True
    assert moved.audit_action is None


def test_human_reply_keeps_an_explicit_silence_explicit() -> None:
    moved = on_human_reply(human("command_off"), now=MONDAY_10, source="phone")
    assert moved.state.owner_reason == "command_off"
    assert moved.state.human_last_activity_at == MONDAY_10


def test_human_reply_during_a_timed_pause_makes_it_human() -> None:
    moved = on_human_reply(paused(MONDAY_10 + timedelta(hours=2)), now=MONDAY_10, source="chatwoot")
    assert moved.state.state is OwnershipStatus.HUMAN
    assert moved.state.paused_until is None
    assert moved.state.owner_reason == "human_reply"
    assert moved.audit_action == "ownership.human_took_over"


# --- handoff ------------------------------------------------------------------------------------


def test_handoff_silences_the_bot_but_not_its_turn() -> None:
    moved = on_handoff(BOT_STATE, kind="hot_lead", now=MONDAY_10, turn_id="turn-7")
    assert moved.state == human("handoff:hot_lead", at=MONDAY_10, turn_id="turn-7")
    assert moved.audit_action == "ownership.human_took_over"
    assert moved.state.bot_may_answer(MONDAY_10, turn_id="turn-7") is True


def test_handoff_when_a_person_already_has_it_changes_nothing() -> None:
    for state in (human("human_reply"), human("command_off"), human("handoff:requested")):
        moved = on_handoff(state, kind="hot_lead", now=MONDAY_10, turn_id="turn-9")
        assert moved == Transition(state, False, None, None)


def test_handoff_replaces_a_timed_pause() -> None:
    moved = on_handoff(
        paused(MONDAY_10 - timedelta(minutes=1)), kind="requested", now=MONDAY_10, turn_id="t"
    )
    assert moved.state.state is OwnershipStatus.HUMAN
    assert moved.state.owner_reason == "handoff:requested"


def test_handoff_never_shortens_or_replaces_a_running_pause() -> None:
    for state in (
        paused(MONDAY_10 + timedelta(hours=2), reason="admin_pause"),
        paused(MONDAY_10 + timedelta(minutes=5)),
        human("admin_pause"),
    ):
        moved = on_handoff(state, kind="requested", now=MONDAY_10, turn_id="turn-3")
        assert moved == Transition(state, False, None, None)
        # The handing-off turn gets no right to answer over the pause.
        assert moved.state.bot_may_answer(MONDAY_10, turn_id="turn-3") is False


def test_a_handoff_starts_the_idle_clock() -> None:
    moved = on_handoff(BOT_STATE, kind="requested", now=MONDAY_10, turn_id="t")
    assert moved.state.human_last_activity_at == MONDAY_10
    later = MONDAY_10 + timedelta(hours=3)
    resumed = lead_writes(moved.state, later, idle=timedelta(hours=2))
    assert resumed.state == BOT_STATE
    assert resumed.audit_action == "ownership.auto_resumed_idle"


def test_an_lgpd_request_makes_a_takeover_permanent() -> None:
    for state in (
        human("handoff:hot_lead"),
        human("human_reply"),
        paused(MONDAY_10 + timedelta(hours=1)),
    ):
        moved = on_handoff(state, kind="lgpd", now=MONDAY_10, turn_id="turn-4")
        assert moved.state.owner_reason == "handoff:lgpd"
        assert moved.state.paused_until is None
        assert moved.audit_action == "ownership.lgpd_hold"
        # Neither closed hours nor a long silence bring the bot back.
        sunday = sp(2026, 3, 22, 10, 0)
        assert lead_writes(moved.state, sunday, idle=timedelta(minutes=1)).changed is False
    permanent = human("admin_pause")
    assert on_handoff(permanent, kind="lgpd", now=MONDAY_10, turn_id=None).changed is False


@pytest.mark.parametrize("kind", ["", "hot lead"])
def test_handoff_kind_must_be_one_word(kind: str) -> None:
    with pytest.raises(ValueError, match="handoff kind"):
        on_handoff(BOT_STATE, kind=kind, now=MONDAY_10, turn_id=None)


# --- the lead writes: the client's business-hours rule ------------------------------------------


def test_bot_state_stays_bot() -> None:
    assert lead_writes(BOT_STATE, MONDAY_10) == Transition(BOT_STATE, False, None, None)


@pytest.mark.parametrize(
    "reason",
    ["handoff:hot_lead", "handoff:requested", "human_reply", "phone_reply"],
)
@pytest.mark.parametrize(
    ("now", "resumed"),
    [
        (sp(2026, 3, 16, 17, 59, 59), False),
        (sp(2026, 3, 16, 18, 0, 0), True),
        (sp(2026, 3, 16, 7, 59, 59), True),
        (sp(2026, 3, 16, 8, 0, 0), False),
        (sp(2026, 3, 14, 11, 0), True),  # Saturday
        (sp(2026, 4, 21, 11, 0), True),  # a closed date, on a Tuesday
    ],
)
def test_takeovers_resume_only_outside_business_hours(
    reason: str, now: datetime, resumed: bool
) -> None:
    moved = lead_writes(human(reason, turn_id="turn-7"), now)
    if resumed:
        assert moved.state == BOT_STATE
        assert moved.changed is True
        assert moved.audit_action == "ownership.auto_resumed_outside_hours"
    else:
        assert moved.state == human(reason, turn_id="turn-7")
        assert moved.changed is False
        assert moved.audit_action is None
    assert moved.note is None


@pytest.mark.parametrize("reason", ["command_off", "admin_pause", "admin", None])
@pytest.mark.parametrize(
    "now", [sp(2026, 3, 16, 18, 0), sp(2026, 3, 14, 11, 0), sp(2026, 3, 16, 3, 0), MONDAY_10]
)
def test_explicit_silences_never_end_by_themselves(reason: str | None, now: datetime) -> None:
    state = replace(human("x"), owner_reason=reason)
    moved = lead_writes(state, now + timedelta(days=20), idle=timedelta(hours=1))
    assert moved.changed is False
    assert moved.state == state


def test_idle_human_gives_the_conversation_back_inside_hours() -> None:
    state = human("human_reply", at=sp(2026, 3, 16, 8, 0))
    idle = timedelta(hours=2)
    assert lead_writes(state, sp(2026, 3, 16, 9, 59, 59), idle).changed is False
    moved = lead_writes(state, sp(2026, 3, 16, 10, 0), idle)
    assert moved.state == BOT_STATE
    assert moved.audit_action == "ownership.auto_resumed_idle"


def test_idle_counts_from_the_last_human_activity() -> None:
    state = human("handoff:hot_lead", at=sp(2026, 3, 16, 8, 0))
    refreshed = on_human_reply(state, now=sp(2026, 3, 16, 9, 30), source="chatwoot").state
    assert lead_writes(refreshed, sp(2026, 3, 16, 10, 0), timedelta(hours=2)).changed is False
    assert lead_writes(refreshed, sp(2026, 3, 16, 11, 30), timedelta(hours=2)).changed is True


@pytest.mark.parametrize("idle", [None, timedelta(0), timedelta(hours=-1)])
def test_idle_resume_off(idle: timedelta | None) -> None:
    state = human("human_reply", at=sp(2026, 3, 10, 8, 0))
    assert lead_writes(state, MONDAY_10, idle).changed is False


def test_idle_resume_needs_a_known_last_activity() -> None:
    state = replace(human("human_reply"), human_last_activity_at=None)
    assert lead_writes(state, MONDAY_10, timedelta(minutes=1)).changed is False


def test_timed_pause_ends_exactly_at_its_instant() -> None:
    until = sp(2026, 3, 16, 12, 0)
    state = paused(until)
    before = lead_writes(state, until - timedelta(microseconds=1))
    assert before.changed is False
    assert before.state.bot_may_answer(until - timedelta(microseconds=1)) is False
    at = lead_writes(state, until)
    assert at.state == BOT_STATE
    assert at.audit_action == "ownership.pause_expired"


def test_timed_pause_holds_outside_business_hours_too() -> None:
    state = paused(sp(2026, 3, 16, 21, 0))
    assert lead_writes(state, sp(2026, 3, 16, 20, 0)).changed is False
    admin_timed = paused(sp(2026, 3, 16, 21, 0), reason="admin_pause")
    assert lead_writes(admin_timed, sp(2026, 3, 16, 20, 0), timedelta(minutes=1)).changed is False
    assert (
        lead_writes(admin_timed, sp(2026, 3, 16, 21, 0)).audit_action == "ownership.pause_expired"
    )


# --- SDR commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["/retomar", "/continuar", "/bot on"])
@pytest.mark.parametrize(
    "state",
    [
        human("handoff:hot_lead", turn_id="turn-7"),
        human("command_off"),
        human("admin_pause"),
        paused(MONDAY_10 + timedelta(hours=1)),
    ],
)
def test_resume_command_gives_it_back_to_the_bot(note: str, state: OwnershipState) -> None:
    moved = command(state, note)
    assert moved.state == BOT_STATE
    assert moved.state.owner_reason is None
    assert moved.state.paused_until is None
    assert moved.state.owner_turn_id is None
    assert moved.audit_action == "ownership.resumed_by_command"
    assert moved.note is not None
    assert moved.note.startswith("Bot retomado")


def test_resume_when_already_bot_says_so() -> None:
    moved = command(BOT_STATE, "/retomar")
    assert moved.changed is False
    assert moved.audit_action is None
    assert moved.note == "O bot já está respondendo esta conversa; nada mudou."


def test_pause_command_is_an_indefinite_explicit_silence() -> None:
    moved = command(human("handoff:hot_lead", turn_id="turn-7"), "/bot off")
    assert moved.state == human("command_off", at=MONDAY_10)
    assert moved.audit_action == "ownership.paused_by_command"
    assert moved.note == "Bot pausado nesta conversa. Ele só volta com /retomar (ou /bot on)."
    # Outside business hours and long after, the lead writing changes nothing.
    assert lead_writes(moved.state, sp(2026, 3, 21, 23, 0), timedelta(hours=1)).changed is False


def test_pause_command_twice_changes_nothing() -> None:
    moved = command(human("command_off"), "/bot off")
    assert moved.changed is False
    assert moved.note == "O bot já estava pausado nesta conversa; nada mudou."


def test_timed_pause_command() -> None:
    moved = command(BOT_STATE, "/bot off 2h")
    assert moved.state == OwnershipState(
        owner=ConversationOwner.HUMAN,
        paused_until=MONDAY_10 + timedelta(hours=2),
        owner_reason="command_off",
        human_last_activity_at=MONDAY_10,
    )
    assert moved.state.state is OwnershipStatus.PAUSED_UNTIL
    assert moved.audit_action == "ownership.paused_by_command"
    assert moved.note == (
        "Bot pausado até seg 16/03/2026 às 12:00 (horário de Brasília); depois disso ele volta "
        "a responder sozinho. Para retomar antes, use /retomar."
    )


def test_capped_timed_pause_says_so() -> None:
    moved = command(BOT_STATE, "/bot off 60d")
    assert moved.state.paused_until == MONDAY_10 + timedelta(days=30)
    assert moved.note is not None
    assert moved.note.endswith("(A pausa máxima é de 30 dias.)")


def test_bad_commands_change_nothing_and_explain() -> None:
    for parsed in (InvalidCommand("duração?"), UnknownCommand("ajuda")):
        moved = on_command(human("human_reply"), parsed, now=MONDAY_10, hours=HOURS)
        assert moved == Transition(human("human_reply"), False, None, parsed.message)


def test_status_of_the_bot() -> None:
    moved = command(BOT_STATE, "/bot status")
    assert moved == Transition(
        BOT_STATE, False, None, "Status: o bot está respondendo esta conversa."
    )


def test_status_of_a_takeover_inside_business_hours() -> None:
    moved = command(human("handoff:hot_lead"), "/bot status", sp(2026, 3, 16, 10, 0))
    assert moved.changed is False
    assert moved.note == (
        "Status: atendimento humano, o bot está em silêncio. Motivo: lead quente encaminhado à "
        "equipe. "
        "Última atividade da equipe: seg 16/03/2026 às 09:00 (horário de Brasília). "
        "Estamos no horário comercial: até seg 16/03/2026 às 18:00 (horário de Brasília) o bot "
        "só volta com /retomar; depois disso, volta sozinho se o cliente escrever."
    )


def test_status_of_a_takeover_outside_business_hours() -> None:
    moved = command(human("phone_reply"), "/bot status", sp(2026, 3, 13, 19, 0))
    assert moved.note is not None
    assert "um atendente respondeu pelo celular da empresa" in moved.note
    assert (
        "Estamos fora do horário comercial (a equipe volta seg 16/03/2026 às 08:00 (horário de "
        "Brasília)): se o cliente escrever, o bot volta a responder sozinho."
    ) in moved.note


def test_status_mentions_the_idle_resume_when_on() -> None:
    parsed = SdrCommand(CommandKind.STATUS)
    moved = on_command(
        human("human_reply"),
        parsed,
        now=MONDAY_10,
        hours=HOURS,
        idle_resume_after=timedelta(hours=4, minutes=30),
    )
    assert moved.note is not None
    assert moved.note.endswith(
        "Se a equipe ficar 4 h 30 min sem responder, o bot também volta quando o cliente escrever."
    )


def test_status_of_an_explicit_silence() -> None:
    moved = command(human("command_off"), "/bot status", sp(2026, 3, 14, 11, 0))
    assert moved.note == (
        "Status: atendimento humano, o bot está em silêncio. Motivo: pausado com /bot off. "
        "Última atividade da equipe: seg 16/03/2026 às 09:00 (horário de Brasília). "
        "É uma pausa manual: o bot não volta sozinho, só com /retomar."
    )


def test_status_of_a_timed_pause() -> None:
    state = paused(sp(2026, 3, 16, 14, 30))
    moved = command(state, "/bot status")
    assert moved.note == (
        "Status: bot em silêncio até seg 16/03/2026 às 14:30 (horário de Brasília). Motivo: "
        "pausado com /bot off. Depois disso ele volta sozinho; para retomar antes, use /retomar."
    )
    expired = command(state, "/bot status", sp(2026, 3, 16, 15, 0))
    assert expired.note == (
        "Status: a pausa terminou em seg 16/03/2026 às 14:30 (horário de Brasília); o bot responde "
        "a próxima mensagem do cliente."
    )


# --- admin and Chatwoot resolve -----------------------------------------------------------------


def test_admin_pause_indefinite_and_timed() -> None:
    forever = on_admin_pause(BOT_STATE, now=MONDAY_10, until=None)
    assert forever.state == human("admin_pause", at=MONDAY_10)
    assert forever.audit_action == "ownership.admin_paused"
    until = MONDAY_10 + timedelta(days=1)
    timed = on_admin_pause(human("human_reply"), now=MONDAY_10, until=until)
    assert timed.state.state is OwnershipStatus.PAUSED_UNTIL
    assert timed.state.paused_until == until
    assert timed.state.owner_reason == "admin_pause"


def test_repeated_admin_pause_only_refreshes_activity() -> None:
    again = on_admin_pause(human("admin_pause"), now=MONDAY_10, until=None)
    assert again.changed is True
    assert again.state.human_last_activity_at == MONDAY_10
    assert again.audit_action is None


def test_admin_pause_must_end_in_the_future() -> None:
    with pytest.raises(ValueError, match="future"):
        on_admin_pause(BOT_STATE, now=MONDAY_10, until=MONDAY_10)


def test_admin_resume() -> None:
    moved = on_admin_resume(human("admin_pause"), now=MONDAY_10)
    assert moved.state == BOT_STATE
    assert moved.audit_action == "ownership.admin_resumed"
    assert on_admin_resume(BOT_STATE, now=MONDAY_10) == Transition(BOT_STATE, False, None, None)


@pytest.mark.parametrize(
    "state",
    [human("handoff:hot_lead"), human("command_off"), paused(MONDAY_10 + timedelta(hours=3))],
)
def test_resolving_in_chatwoot_resumes_the_bot(state: OwnershipState) -> None:
    moved = on_resolved(state, now=MONDAY_10, action="resume_bot")
    assert moved.state == BOT_STATE
    assert moved.audit_action == "ownership.resumed_on_resolve"
    assert on_resolved(state, now=MONDAY_10, action="nothing").changed is False


def test_resolving_leaves_an_admin_pause_and_the_bot_alone() -> None:
    assert on_resolved(human("admin_pause"), now=MONDAY_10, action="resume_bot").changed is False
    assert on_resolved(BOT_STATE, now=MONDAY_10, action="resume_bot").changed is False


# --- text ---------------------------------------------------------------------------------------


def test_describe_unknown_and_missing_reasons() -> None:
    text = describe(replace(human("x"), owner_reason=None), MONDAY_10, SAO_PAULO)
    assert "motivo não registrado" in text
    assert "encaminhado à equipe (price)" in describe(human("handoff:price"), MONDAY_10, SAO_PAULO)


def test_format_local_uses_the_wall_clock_of_the_zone() -> None:
    at = datetime(2026, 3, 14, 2, 30, tzinfo=UTC)  # Friday 23:30 in São Paulo
    assert format_local(at, SAO_PAULO) == "sex 13/03/2026 às 23:30 (horário de Brasília)"
    lisbon = ZoneInfo("Europe/Lisbon")
    assert format_local(at, lisbon) == "sáb 14/03/2026 às 02:30 (Europe/Lisbon)"
