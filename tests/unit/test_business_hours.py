from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from seleto_agent.domain.business_hours import (
    BusinessHours,
    BusinessHoursError,
    load_business_hours,
    parse_business_hours,
)

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "business_hours.yaml"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")

WEEKDAYS_8_TO_18: dict[str, Any] = {
    "timezone": "America/Sao_Paulo",
    "days": {day: ["08:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}


def sp(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A São Paulo wall-clock time as the UTC instant the service would pass in."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SAO_PAULO).astimezone(UTC)


def hours(**overrides: Any) -> BusinessHours:
    return parse_business_hours({**WEEKDAYS_8_TO_18, **overrides})


# 2026-03-16 is a Monday; 2026-03-14 a Saturday.


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (sp(2026, 3, 16, 7, 59, 59), False),
        (sp(2026, 3, 16, 8, 0, 0), True),
        (sp(2026, 3, 16, 12, 30), True),
        (sp(2026, 3, 16, 17, 59, 59), True),
        (sp(2026, 3, 16, 18, 0, 0), False),
        (sp(2026, 3, 16, 23, 0), False),
        (sp(2026, 3, 14, 10, 0), False),
        (sp(2026, 3, 15, 10, 0), False),
    ],
)
def test_weekday_hours_boundaries(at: datetime, is_open: bool) -> None:
    assert hours().is_open(at) is is_open


def test_utc_instant_is_read_in_the_files_zone() -> None:
    weekdays = hours()
    # São Paulo is UTC-3: 10:59 UTC is 07:59 there, 11:00 UTC is 08:00.
    assert weekdays.is_open(datetime(2026, 3, 16, 10, 59, tzinfo=UTC)) is False
    assert weekdays.is_open(datetime(2026, 3, 16, 11, 0, tzinfo=UTC)) is True
    # 20:59 UTC is 17:59 local (open) although 20:59 in UTC terms is evening.
    assert weekdays.is_open(datetime(2026, 3, 16, 20, 59, tzinfo=UTC)) is True
    assert weekdays.is_open(datetime(2026, 3, 16, 21, 0, tzinfo=UTC)) is False


def test_other_offsets_are_converted_too() -> None:
    lisbon = ZoneInfo("Europe/Lisbon")
    # 12:30 in Lisbon (UTC+0 in March) is 09:30 in São Paulo.
    assert hours().is_open(datetime(2026, 3, 16, 12, 30, tzinfo=lisbon)) is True


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hours().is_open(datetime(2026, 3, 16, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        hours().next_opening(datetime(2026, 3, 16, 12, 0))


def test_closed_date_is_closed_all_day() -> None:
    holiday = hours(closed_dates=["2026-04-21"])  # Tuesday, Tiradentes
    assert holiday.is_open(sp(2026, 4, 21, 10, 0)) is False
    assert holiday.is_open(sp(2026, 4, 20, 10, 0)) is True
    assert holiday.is_open(sp(2026, 4, 22, 10, 0)) is True


def test_split_ranges_close_for_lunch() -> None:
    split = hours(days={"tue": ["08:00-12:00", "13:00-18:00"]})
    assert split.is_open(sp(2026, 3, 17, 11, 59)) is True
    assert split.is_open(sp(2026, 3, 17, 12, 0)) is False
    assert split.is_open(sp(2026, 3, 17, 12, 59, 59)) is False
    assert split.is_open(sp(2026, 3, 17, 13, 0)) is True
    # Monday is now left out, so closed.
    assert split.is_open(sp(2026, 3, 16, 10, 0)) is False


def test_ranges_are_sorted_whatever_the_file_order() -> None:
    split = hours(days={"tue": ["13:00-18:00", "08:00-12:00"]})
    assert [str(r) for r in split.week[1]] == ["08:00-12:00", "13:00-18:00"]


def test_whole_day_range() -> None:
    always = hours(days={"sat": ["00:00-24:00"]})
    assert always.is_open(sp(2026, 3, 14, 0, 0)) is True
    assert always.is_open(sp(2026, 3, 14, 23, 59, 59)) is True
    assert always.is_open(sp(2026, 3, 15, 0, 0)) is False
    assert str(always.week[5][0]) == "00:00-24:00"


def test_wall_clock_hours_survive_a_dst_change() -> None:
    # New York moved its clocks on 2026-03-08; 08:00 local is 13:00 UTC before, 12:00 after.
    ny = parse_business_hours({"timezone": "America/New_York", "days": {"mon": ["08:00-18:00"]}})
    assert ny.is_open(datetime(2026, 3, 2, 13, 0, tzinfo=UTC)) is True
    assert ny.is_open(datetime(2026, 3, 2, 12, 59, tzinfo=UTC)) is False
    assert ny.is_open(datetime(2026, 3, 9, 12, 0, tzinfo=UTC)) is True
    assert ny.next_opening(datetime(2026, 3, 7, 0, 0, tzinfo=UTC)) == datetime(
        2026, 3, 9, 12, 0, tzinfo=UTC
    )


def test_next_opening_is_now_when_open() -> None:
    at = sp(2026, 3, 16, 9, 15)
    assert hours().next_opening(at) == at


def test_next_opening_later_the_same_day() -> None:
    assert hours().next_opening(sp(2026, 3, 16, 6, 0)) == sp(2026, 3, 16, 8, 0)


def test_next_opening_over_a_weekend() -> None:
    assert hours().next_opening(sp(2026, 3, 13, 18, 0)) == sp(2026, 3, 16, 8, 0)
    assert hours().next_opening(sp(2026, 3, 14, 12, 0)) == sp(2026, 3, 16, 8, 0)


def test_next_opening_skips_holidays_and_the_weekend() -> None:
    # Good Friday 2026-04-03, then the weekend: back on Monday the 6th.
    easter = hours(closed_dates=["2026-04-03"])
    assert easter.next_opening(sp(2026, 4, 2, 18, 30)) == sp(2026, 4, 6, 8, 0)
    # Carnival Monday and Tuesday: back on Ash Wednesday.
    carnival = hours(closed_dates=["2026-02-16", "2026-02-17"])
    assert carnival.next_opening(sp(2026, 2, 13, 19, 0)) == sp(2026, 2, 18, 8, 0)


def test_next_opening_after_lunch() -> None:
    split = hours(days={"tue": ["08:00-12:00", "13:00-18:00"]})
    assert split.next_opening(sp(2026, 3, 17, 12, 10)) == sp(2026, 3, 17, 13, 0)


def test_next_opening_is_none_when_never_open() -> None:
    assert hours(days={}).next_opening(sp(2026, 3, 16, 9, 0)) is None
    assert hours(days={}).is_open(sp(2026, 3, 16, 9, 0)) is False


def test_next_opening_returns_utc() -> None:
    found = hours().next_opening(sp(2026, 3, 14, 12, 0))
    assert found is not None
    assert found.utcoffset() == timedelta(0)
    assert found == datetime(2026, 3, 16, 11, 0, tzinfo=UTC)


def _error(raw: Any) -> str:
    with pytest.raises(BusinessHoursError) as caught:
        parse_business_hours(raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("just text", "must be a mapping"),
        ({"days": {}}, "timezone: Field required"),
        ({"timezone": "America/Sao_Paulo"}, "days: Field required"),
        ({"timezone": "Mars/Olympus", "days": {}}, "unknown IANA time zone 'Mars/Olympus'"),
        ({"timezone": "", "days": {}}, "timezone: must be an IANA time zone name"),
        ({"timezone": 3, "days": {}}, "timezone: must be an IANA time zone name"),
        ({"timezone": "/etc/passwd", "days": {}}, "unknown IANA time zone"),
        (
            {**WEEKDAYS_8_TO_18, "weekends": True},
            "weekends: unknown key (allowed: timezone, days, closed_dates)",
        ),
        ({**WEEKDAYS_8_TO_18, "days": {"monday": ["08:00-18:00"]}}, "days.monday: Input should"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": "08:00-18:00"}}, "days.mon: must be a list"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": None}}, "days.mon: must be a list"),
        ({**WEEKDAYS_8_TO_18, "days": None}, "days: Input should be a valid dictionary"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["8:00-18:00"]}}, "'8:00-18:00' is not a"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["08:00 to 18:00"]}}, 'is not a "HH:MM-HH:MM"'),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": [800]}}, '800 is not a "HH:MM-HH:MM" range'),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["08:60-18:00"]}}, "impossible time"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["25:00-26:00"]}}, "impossible time"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["24:00-24:00"]}}, "impossible time"),
        ({**WEEKDAYS_8_TO_18, "days": {"mon": ["08:00-24:30"]}}, "impossible time"),
        ({**WEEKDAYS_8_TO_18, "days": {"fri": ["18:00-08:00"]}}, "days.fri: '18:00-08:00' ends"),
        ({**WEEKDAYS_8_TO_18, "days": {"fri": ["08:00-08:00"]}}, "ends before it starts"),
        (
            {**WEEKDAYS_8_TO_18, "days": {"tue": ["08:00-12:30", "12:00-18:00"]}},
            "days.tue: ranges 08:00-12:30 and 12:00-18:00 overlap",
        ),
        (
            {**WEEKDAYS_8_TO_18, "days": {"tue": ["08:00-18:00", "08:00-18:00"]}},
            "overlap",
        ),
        ({**WEEKDAYS_8_TO_18, "closed_dates": "2026-12-25"}, "closed_dates: Input should be"),
        ({**WEEKDAYS_8_TO_18, "closed_dates": ["2026-13-01"]}, "closed_dates[0]: '2026-13-01'"),
        ({**WEEKDAYS_8_TO_18, "closed_dates": ["25/12/2026"]}, "is not a date written YYYY-MM-DD"),
        ({**WEEKDAYS_8_TO_18, "closed_dates": [20261225]}, "20261225 is not a date"),
        (
            {**WEEKDAYS_8_TO_18, "closed_dates": [datetime(2026, 12, 25, 10, 0)]},
            "is not a date written YYYY-MM-DD",
        ),
        (
            {**WEEKDAYS_8_TO_18, "closed_dates": ["2026-12-25", date(2026, 12, 25)]},
            "closed_dates: 2026-12-25 is listed twice",
        ),
    ],
)
def test_invalid_documents_are_refused_naming_the_problem(raw: Any, expected: str) -> None:
    assert expected in _error(raw)


def test_touching_ranges_are_not_an_overlap() -> None:
    touching = hours(days={"tue": ["08:00-12:00", "12:00-18:00"]})
    assert touching.is_open(sp(2026, 3, 17, 12, 0)) is True


def test_empty_day_list_means_closed() -> None:
    assert hours(days={"mon": []}).is_open(sp(2026, 3, 16, 10, 0)) is False


def test_loader_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(BusinessHoursError, match=r"nope\.yaml: cannot read"):
        load_business_hours(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("timezone: [unclosed\n", encoding="utf-8")
    with pytest.raises(BusinessHoursError, match=r"broken\.yaml: not valid YAML"):
        load_business_hours(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: America/Sao_Paulo\ndays:\n  mon: ['9-5']\n", encoding="utf-8")
    with pytest.raises(BusinessHoursError, match=r"bad\.yaml: invalid business hours: days\.mon"):
        load_business_hours(bad)


def test_loader_reads_quoted_and_unquoted_dates(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(
        "timezone: America/Sao_Paulo\n"
        "days:\n  mon: [08:00-18:00]\n"
        "closed_dates:\n  - 2026-03-16\n  - '2026-03-23'\n",
        encoding="utf-8",
    )
    loaded = load_business_hours(path)
    assert loaded.closed_dates == {date(2026, 3, 16), date(2026, 3, 23)}
    assert loaded.is_open(sp(2026, 3, 16, 10, 0)) is False
    assert loaded.is_open(sp(2026, 3, 30, 10, 0)) is True


# --- the shipped file ----------------------------------------------------------------------------


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm published in Nature, 1876)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _national_closures(year: int) -> set[date]:
    easter = _easter(year)
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25)]
    movable = {
        easter - timedelta(days=48),  # Carnival Monday
        easter - timedelta(days=47),  # Carnival Tuesday
        easter - timedelta(days=2),  # Good Friday
        easter + timedelta(days=60),  # Corpus Christi
    }
    return {date(year, month, day) for month, day in fixed} | movable


def test_easter_algorithm_against_known_years() -> None:
    assert _easter(2024) == date(2024, 3, 31)
    assert _easter(2025) == date(2025, 4, 20)
    assert _easter(2026) == date(2026, 4, 5)
    assert _easter(2027) == date(2027, 3, 28)


def test_shipped_file_loads_with_the_clients_hours() -> None:
    shipped = load_business_hours(SHIPPED)
    assert shipped.timezone.key == "America/Sao_Paulo"
    weekdays, weekend = shipped.week[:5], shipped.week[5:]
    assert all([str(r) for r in day] == ["08:00-18:00"] for day in weekdays)
    assert weekend == ((), ())


def test_shipped_holidays_match_the_calendar() -> None:
    shipped = load_business_hours(SHIPPED)
    assert shipped.closed_dates == _national_closures(2026) | _national_closures(2027)


def test_shipped_file_closes_on_a_holiday_and_reopens_after() -> None:
    shipped = load_business_hours(SHIPPED)
    assert shipped.is_open(sp(2026, 6, 4, 10, 0)) is False  # Corpus Christi, a Thursday
    assert shipped.next_opening(sp(2026, 6, 3, 18, 0)) == sp(2026, 6, 5, 8, 0)
