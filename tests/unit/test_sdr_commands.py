from __future__ import annotations

from datetime import timedelta

import pytest

from seleto_agent.domain.sdr_commands import (
    HELP_TEXT,
    MAX_PAUSE,
    CommandKind,
    InvalidCommand,
    SdrCommand,
    UnknownCommand,
    parse_duration,
    parse_note,
)

RESUME = SdrCommand(CommandKind.RESUME)
PAUSE = SdrCommand(CommandKind.PAUSE)
STATUS = SdrCommand(CommandKind.STATUS)


def pause_for(**delta: float) -> SdrCommand:
    return SdrCommand(CommandKind.PAUSE_FOR, duration=timedelta(**delta))


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("/retomar", RESUME),
        ("/continuar", RESUME),
        ("/bot on", RESUME),
        ("/RETOMAR", RESUME),
        ("/Continuar", RESUME),
        ("/BOT ON", RESUME),
        ("/bot On", RESUME),
        ("   /retomar   ", RESUME),
        ("\n\n/retomar\n", RESUME),
        ("\u00a0/retomar", RESUME),
        ("\u200b/retomar", RESUME),
        ("\ufeff/bot on", RESUME),
        ("/bot    on", RESUME),
        ("/bot\ton", RESUME),
        ("/retomar agora, o cliente já foi atendido", RESUME),
        ("/retomar!", RESUME),
        ("/retomar.", RESUME),
        ("/continuar pode seguir", RESUME),
        ("/bot on por favor", RESUME),
        ("/retomár", RESUME),
        ("/cóntinuar", RESUME),
        ("/retomar\n/bot off", RESUME),
        ("/bot off", PAUSE),
        ("/BOT OFF", PAUSE),
        ("  /bot   off  ", PAUSE),
        ("/bot off\nvou ligar para ele", PAUSE),
        ("/bot status", STATUS),
        ("/bot STATUS", STATUS),
        ("/bot státus", STATUS),
        ("/bot status?", STATUS),
        ("/bot status de novo", STATUS),
    ],
)
def test_commands(note: str, expected: SdrCommand) -> None:
    assert parse_note(note) == expected


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("/bot off 2h", pause_for(hours=2)),
        ("/bot off 2H", pause_for(hours=2)),
        ("/bot off 30m", pause_for(minutes=30)),
        ("/bot off 1h30", pause_for(minutes=90)),
        ("/bot off 1h30m", pause_for(minutes=90)),
        ("/bot off 1h 30m", pause_for(minutes=90)),
        ("/bot off 90min", pause_for(minutes=90)),
        ("/bot off 90 min", pause_for(minutes=90)),
        ("/bot off 45 minutos", pause_for(minutes=45)),
        ("/bot off 1 minuto", pause_for(minutes=1)),
        ("/bot off 15mins", pause_for(minutes=15)),
        ("/bot off 1d", pause_for(days=1)),
        ("/bot off 2 dias", pause_for(days=2)),
        ("/bot off 1 dia", pause_for(days=1)),
        ("/bot off 3 horas", pause_for(hours=3)),
        ("/bot off 1 hora", pause_for(hours=1)),
        ("/bot off 2hrs", pause_for(hours=2)),
        ("/bot off 2hr", pause_for(hours=2)),
        ("/bot off 1d12h", pause_for(hours=36)),
        ("/bot off 1d 2h 30m", pause_for(days=1, hours=2, minutes=30)),
        ("/bot off 1,5h", pause_for(minutes=90)),
        ("/bot off 1.5h", pause_for(minutes=90)),
        ("/bot off 2h cliente vai ligar amanhã", pause_for(hours=2)),
        ("/bot off 2h\n3h", pause_for(hours=2)),
        ("/bot off 30d", pause_for(days=30)),
    ],
)
def test_timed_pauses(note: str, expected: SdrCommand) -> None:
    assert parse_note(note) == expected


@pytest.mark.parametrize("note", ["/bot off 31d", "/bot off 45 dias", "/bot off 99999999999d"])
def test_pauses_longer_than_the_cap_are_capped(note: str) -> None:
    assert parse_note(note) == SdrCommand(CommandKind.PAUSE_FOR, duration=MAX_PAUSE, capped=True)


def test_cap_is_thirty_days() -> None:
    assert timedelta(days=30) == MAX_PAUSE


@pytest.mark.parametrize(
    "note",
    [
        "/bot off amanhã",
        "/bot off 2",
        "/bot off 2x",
        "/bot off h",
        "/bot off -2h",
        "/bot off 1h 30",
        "/bot off 2h 3",
        "/bot off 1h90",
        "/bot off 2h2h",
        "/bot off 30m 20m",
        "/bot off 2 semanas",
        "/bot off 10s",
        "/bot off dois dias",
        "/bot off, o cliente pediu",
    ],
)
def test_unreadable_durations_are_explained(note: str) -> None:
    parsed = parse_note(note)
    assert isinstance(parsed, InvalidCommand)
    assert "Não entendi a duração" in parsed.message
    assert "/bot off 2h" in parsed.message
    assert "O bot continua como estava." in parsed.message


@pytest.mark.parametrize("note", ["/bot off 0m", "/bot off 0h", "/bot off 0.5m", "/bot off 0d"])
def test_pauses_under_a_minute_are_refused(note: str) -> None:
    parsed = parse_note(note)
    assert isinstance(parsed, InvalidCommand)
    assert "curta demais" in parsed.message


def test_invalid_duration_echo_is_bounded() -> None:
    parsed = parse_note("/bot off " + "x" * 200)
    assert isinstance(parsed, InvalidCommand)
    assert "x" * 31 not in parsed.message


@pytest.mark.parametrize(
    "note",
    [
        "",
        "   ",
        "\n\n",
        "Cliente pediu retorno amanhã",
        "retomar",
        "bot off",
        "ok /retomar",
        " - /bot off",
        "Falei com ele\n/retomar",
        "\\/retomar",
    ],
)
def test_notes_that_are_not_commands(note: str) -> None:
    assert parse_note(note) is None


@pytest.mark.parametrize(
    ("note", "shown"),
    [
        ("/pausar", "/pausar"),
        ("/retomarr", "/retomarr"),
        ("/retoma", "/retoma"),
        ("/bot", "/bot"),
        ("/bot   ", "/bot"),
        ("/bot ligar", "/bot ligar"),
        ("/bot onn", "/bot onn"),
        ("/bot offline", "/bot offline"),
        ("/botoff", "/botoff"),
        ("/", "/"),
        ("/ retomar", "/"),
        ("/123", "/"),
        ("/ajuda", "/ajuda"),
        ("/Ajúda", "/ajuda"),
    ],
)
def test_unknown_commands_get_the_help(note: str, shown: str) -> None:
    parsed = parse_note(note)
    assert isinstance(parsed, UnknownCommand)
    assert parsed.message.startswith(f"Comando não reconhecido: “{shown}”.")
    assert parsed.message.endswith(HELP_TEXT)


def test_unknown_command_does_not_echo_what_follows() -> None:
    parsed = parse_note("/anotar cliente João, CPF 123.456.789-09")
    assert isinstance(parsed, UnknownCommand)
    assert "João" not in parsed.message
    assert "123" not in parsed.message


def test_help_lists_every_command() -> None:
    for command in ("/retomar", "/continuar", "/bot on", "/bot off", "/bot off 2h", "/bot status"):
        assert command in HELP_TEXT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("  1h30 depois", timedelta(minutes=90)),
        ("1 d 1 h 1 m", timedelta(days=1, hours=1, minutes=1)),
        ("2 Horas", timedelta(hours=2)),
        ("", None),
        ("depois", None),
        ("1h60", None),
        ("5", None),
    ],
)
def test_parse_duration(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected
