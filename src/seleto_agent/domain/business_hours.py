"""The SDR team's business hours, read from `BUSINESS_HOURS_FILE` (INTERFACE.md §3).

They decide whether a conversation a human took over comes back to the bot by itself: outside
these hours it does when the lead writes again, inside them only an SDR command brings it back
(DOMAIN.md, client requirements). Times are wall-clock times in the file's IANA zone, so a
daylight-saving change (Brazil has none since 2019, but it may return) moves nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_RANGE_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class BusinessHoursError(ValueError):
    """The business-hours file is missing or invalid; the message names the bad key or value."""


@dataclass(frozen=True, slots=True, order=True)
class OpeningRange:
    """One opening on a day, in seconds after local midnight; `end` is exclusive and may be a
    whole day (86400, written "24:00")."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: ZoneInfo
    # Index 0 is Monday, as `date.weekday()` counts; a closed day has no ranges.
    week: tuple[tuple[OpeningRange, ...], ...]
    closed_dates: frozenset[date] = frozenset()

    def ranges_on(self, day: date) -> tuple[OpeningRange, ...]:
        if day in self.closed_dates:
            return ()
        return self.week[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        local = _require_aware(at, "at").astimezone(self.timezone)
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return any(r.start <= second < r.end for r in self.ranges_on(local.date()))

    def next_opening(self, after: datetime) -> datetime | None:
        """The first instant at or after `after` (UTC) when the team is in; `after` itself when
        already open; None when the week has no opening at all."""
        after = _require_aware(after, "after")
        if not any(self.week):
            return None
        if self.is_open(after):
            return after.astimezone(UTC)
        first_day = after.astimezone(self.timezone).date()
        # Each closed date removes at most one day, so an open day comes within this many.
        for offset in range(len(self.closed_dates) + 8):
            day = first_day + timedelta(days=offset)
            for opening in self.ranges_on(day):
                start = _local_instant(day, opening.start, self.timezone)
                # A start inside a skipped daylight-saving hour resolves to the first real
                # instant after it; checking is_open keeps a fully skipped range out.
                if start >= after and self.is_open(start):
                    return start
        return None


def load_business_hours(path: Path) -> BusinessHours:
    """Read and validate the file; raises BusinessHoursError naming the bad key or value."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BusinessHoursError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise BusinessHoursError(f"{path}: not valid YAML ({exc})") from exc
    return parse_business_hours(raw, source=str(path))


def parse_business_hours(raw: object, *, source: str = "BUSINESS_HOURS_FILE") -> BusinessHours:
    """Validate an already-parsed document (a mapping with timezone, days, closed_dates)."""
    if not isinstance(raw, dict):
        raise BusinessHoursError(f"{source}: must be a mapping with timezone and days")
    try:
        doc = _HoursDoc.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(f"{_where(e['loc'])}: {_message(e)}" for e in exc.errors())
        raise BusinessHoursError(f"{source}: invalid business hours: {details}") from exc
    return BusinessHours(
        timezone=ZoneInfo(doc.timezone),
        week=tuple(tuple(doc.days.get(name, ())) for name in DAY_NAMES),
        closed_dates=frozenset(doc.closed_dates),
    )


# --- validation -------------------------------------------------------------------------------


def _check_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an IANA time zone name such as America/Sao_Paulo")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value.strip()


def _parse_range(value: Any) -> OpeningRange:
    found = _RANGE_RE.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f'{value!r} is not a "HH:MM-HH:MM" range')
    sh, sm, eh, em = (int(part) for part in found.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"{value!r} has an impossible time (24:00 is only valid as an end)")
    opening = OpeningRange(start=(sh * 60 + sm) * 60, end=(eh * 60 + em) * 60)
    if opening.end <= opening.start:
        raise ValueError(f"{value!r} ends before it starts (a range cannot cross midnight)")
    return opening


def _parse_day(value: Any) -> tuple[OpeningRange, ...]:
    if not isinstance(value, list):
        raise ValueError('must be a list of "HH:MM-HH:MM" ranges (leave the day out to close it)')
    ranges = sorted(_parse_range(item) for item in value)
    for earlier, later in pairwise(ranges):
        if later.start < earlier.end:
            raise ValueError(f"ranges {earlier} and {later} overlap")
    return tuple(ranges)


def _parse_date(value: Any) -> date:
    # YAML turns an unquoted 2026-12-25 into a date already; a quoted one stays text.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date written YYYY-MM-DD")


def _unique_dates(value: list[date]) -> list[date]:
    repeated = sorted({d for d in value if value.count(d) > 1})
    if repeated:
        raise ValueError(f"{repeated[0].isoformat()} is listed twice")
    return value


ClosedDate = Annotated[date, BeforeValidator(_parse_date)]
DayRanges = Annotated[tuple[OpeningRange, ...], BeforeValidator(_parse_day)]


class _HoursDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: Annotated[str, BeforeValidator(_check_timezone)]
    days: dict[DayName, DayRanges]
    closed_dates: Annotated[list[ClosedDate], AfterValidator(_unique_dates)] = Field(
        default_factory=list
    )


# --- helpers ------------------------------------------------------------------------------------


def _require_aware(value: datetime, name: str) -> datetime:
    # A naive datetime would be read in the server's zone and shift every answer by hours.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def _local_instant(day: date, second: int, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, time(), tzinfo=tz) + timedelta(seconds=second)
    return wall.astimezone(UTC)


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}"


def _where(loc: tuple[int | str, ...]) -> str:
    # Pydantic reports a bad mapping key as (..., "<key>", "[key]"); name the key itself.
    parts = [str(part) for part in loc if part != "[key]"]
    where = ""
    for part in parts:
        where += f"[{part}]" if part.isdigit() else (f".{part}" if where else part)
    return where or "(root)"


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (allowed: timezone, days, closed_dates)"
    text = str(error["msg"])
    return text.removeprefix("Value error, ")
