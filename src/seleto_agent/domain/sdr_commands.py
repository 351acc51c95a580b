"""SDR commands typed as a Chatwoot private note (INTERFACE.md §3).

`/retomar`, `/continuar`, `/bot on` give the conversation back to the bot; `/bot off [2h]`
silences it, optionally for a while; `/bot status` says who has it. SDRs type these on a phone
between calls, so parsing forgives case, accents, extra spaces and words after the command;
anything it cannot read gets a pt-BR answer instead of a silent no-op, because a command that
did nothing looks exactly like one that worked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from seleto_agent.domain.catalog import fold_text

# Long enough for a holiday week plus a margin; a pause past it is more likely a typo than a
# plan, and a forgotten pause silently loses leads.
MAX_PAUSE = timedelta(days=30)
# Shorter pauses are typos too ("/bot off 0m") and would end before the note is even read.
MIN_PAUSE = timedelta(minutes=1)

HELP_TEXT = (
    "Comandos do bot (escreva como nota privada, no início da nota):\n"
    "• /retomar, /continuar ou /bot on: o bot volta a responder este cliente\n"
    "• /bot off: o bot fica em silêncio até alguém usar /retomar\n"
    "• /bot off 2h: silêncio por um tempo (ex.: 30m, 1h30, 90min, 1d; máximo 30 dias)\n"
    "• /bot status: mostra quem está atendendo esta conversa"
)


class CommandKind(StrEnum):
    RESUME = "resume"
    PAUSE = "pause"
    PAUSE_FOR = "pause_for"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class SdrCommand:
    kind: CommandKind
    # Only for PAUSE_FOR: how long, already capped at MAX_PAUSE.
    duration: timedelta | None = None
    # The SDR asked for more than MAX_PAUSE; the confirmation note says so.
    capped: bool = False


@dataclass(frozen=True, slots=True)
class InvalidCommand:
    """A known command with an argument that cannot be read; `message` is posted back."""

    message: str


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """A `/word` that is no command; `message` (with the help text) is posted back."""

    message: str


ParsedNote = SdrCommand | InvalidCommand | UnknownCommand

_RESUME = SdrCommand(CommandKind.RESUME)
_COMMAND_RE = re.compile(r"/([a-z]*)(.*)", re.DOTALL)
_WORD_RE = re.compile(r"\s*([a-z]+)(.*)", re.DOTALL)
_NUMBER = r"(\d+(?:[.,]\d+)?)"
# Longer spellings first so "min" is not read as "m" followed by the word "in".
_PART_RE = re.compile(
    _NUMBER + r"\s*(dias|dia|d|horas|hora|hrs|hr|h|minutos|minuto|mins|min|m)(?![a-z])"
)
# "1h30": minutes written without their unit, right after the hours.
_BARE_MINUTES_RE = re.compile(r"(\d{1,2})(?![\d.,a-z])")
_LONGEST = timedelta(days=3650)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60}
# str.strip() keeps zero-width spaces and byte-order marks, which pasted text often carries.
_BLANKS = " \t\r\n\v\f\u200b\u200c\u200d\u2060\ufeff"


def parse_note(text: str) -> ParsedNote | None:
    """The command on the note's first line; None when the note is not a command at all."""
    line = _first_line(text)
    if not line.startswith("/"):
        return None
    found = _COMMAND_RE.fullmatch(line)
    word, rest = (found.group(1), found.group(2)) if found else ("", line)
    if word in ("retomar", "continuar"):
        return _RESUME
    if word == "bot":
        return _parse_bot(rest)
    return _unknown(f"/{word}")


def _first_line(text: str) -> str:
    # NFKC turns a no-break space (phones insert them) into a plain one before folding.
    normalised = unicodedata.normalize("NFKC", text).strip(_BLANKS)
    first = normalised.splitlines()[0] if normalised else ""
    return fold_text(first).strip()


def _parse_bot(rest: str) -> ParsedNote:
    found = _WORD_RE.match(rest)
    argument, tail = (found.group(1), found.group(2)) if found else ("", rest)
    if argument == "on":
        return _RESUME
    if argument == "status":
        return SdrCommand(CommandKind.STATUS)
    if argument == "off":
        return _parse_off(tail.strip())
    return _unknown(f"/bot {argument}" if argument else "/bot")


def _parse_off(argument: str) -> ParsedNote:
    if not argument:
        return SdrCommand(CommandKind.PAUSE)
    parsed = parse_duration(argument)
    if parsed is None:
        return InvalidCommand(
            f"Não entendi a duração em “/bot off {argument[:30]}”. Use, por exemplo, "
            "/bot off 30m, /bot off 2h, /bot off 1h30, /bot off 90min ou /bot off 1d "
            "(máximo 30 dias), ou só /bot off para pausar até alguém usar /retomar. "
            "O bot continua como estava."
        )
    if parsed < MIN_PAUSE:
        return InvalidCommand(
            f"A pausa em “/bot off {argument[:30]}” é curta demais (mínimo 1 minuto). "
            "O bot continua como estava."
        )
    if parsed > MAX_PAUSE:
        return SdrCommand(CommandKind.PAUSE_FOR, duration=MAX_PAUSE, capped=True)
    return SdrCommand(CommandKind.PAUSE_FOR, duration=parsed)


def parse_duration(text: str) -> timedelta | None:
    """A duration at the start of `text` ("2h", "1h30", "90 min", "1d 12h"); words after it are
    ignored, but not digits, which more likely mean a mistyped duration. None when unreadable."""
    text = fold_text(text).strip()
    position, total, seen = 0, 0.0, set[str]()
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        part = _PART_RE.match(text, position)
        if part is not None:
            unit = part.group(2)[0]
            amount = float(part.group(1).replace(",", "."))
        elif "h" in seen and "m" not in seen and text[position - 1 : position] == "h":
            part = _BARE_MINUTES_RE.match(text, position)
            if part is None:
                break
            unit, amount = "m", float(part.group(1))
            if amount >= 60:
                return None
        else:
            break
        if unit in seen:
            return None
        seen.add(unit)
        total += amount * _UNIT_SECONDS[unit]
        position = part.end()
    remainder = text[position:].strip()
    if not seen or remainder[:1].isdigit():
        return None
    # Far past any cap the callers apply; keeps a typo like "99999999999d" off timedelta's limit.
    return timedelta(seconds=round(min(total, _LONGEST.total_seconds())))


def _unknown(shown: str) -> UnknownCommand:
    # Only the command word is echoed: the rest of the line may hold lead data the SDR pasted.
    return UnknownCommand(f"Comando não reconhecido: “{shown}”.\n{HELP_TEXT}")
