"""Production volumes written in pt-BR, and the capacity ladder that turns them into a model.

`parse_volume` reads what a lead says ("2.000 hambúrgueres/dia", "1,5 mil por dia", "3 mil a cada
3 dias", "50 kg/h"). A volume with no period ("2000 hambúrgueres") gives None: the SDR must ask
whether it is per day or spread over 2–3 days (DOMAIN §1.2) rather than guess.

`suggest_model` walks the ladder the catalog defines (`ladder_rank`): the first available model
whose rated hourly output covers the lead's hourly need plus 20 % headroom. Kilograms go to the
cutters (models rated in kg/h).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from seleto_agent.domain.catalog import Catalog, CatalogModel, fold_text, format_pt_int

Unit = Literal["un", "kg"]
Period = Literal["hora", "turno", "dia", "semana", "mes", "dias"]

# A machine rated at N/h cannot run at N all shift (breaks, mold and film changes, cleaning).
HEADROOM = 1.2
DEFAULT_SHIFT_HOURS = 8.0
_PERIOD_LABELS = {"hora": "h", "mes": "mês"}


@dataclass(frozen=True, slots=True)
class ProductionVolume:
    """`quantity` `unit` per `period`; period "dias" spreads it over `period_count` days."""

    quantity: float
    unit: Unit
    period: Period
    period_count: int = 1

    def per_day(
        self,
        shift_hours: float = DEFAULT_SHIFT_HOURS,
        days_per_week: float = 5.5,
        days_per_month: float = 22,
    ) -> float:
        """Output per working day; a "turno" volume assumes one shift a day."""
        match self.period:
            case "hora":
                return self.quantity * shift_hours
            case "turno" | "dia":
                return self.quantity
            case "semana":
                return self.quantity / days_per_week
            case "mes":
                return self.quantity / days_per_month
            case "dias":
                return self.quantity / self.period_count

    def describe(self) -> str:
        """pt-BR, for reasons and summaries: "2.000 un/dia", "1.500 un em 2 dias"."""
        amount = f"{format_pt_int(self.quantity)} {self.unit}"
        if self.period == "dias":
            return f"{amount} em {self.period_count} dias"
        return f"{amount}/{_PERIOD_LABELS.get(self.period, self.period)}"

    def per_hour(
        self,
        shift_hours: float = DEFAULT_SHIFT_HOURS,
        days_per_week: float = 5.5,
        days_per_month: float = 22,
    ) -> float:
        """Hourly rate the machine must sustain during the shift."""
        if self.period == "hora":
            return self.quantity
        return self.per_day(shift_hours, days_per_week, days_per_month) / shift_hours


@dataclass(frozen=True, slots=True)
class LadderSuggestion:
    model: CatalogModel
    needed_per_hour: float
    rationale: str
    # Above the top of the ladder: a specialist sizes several machines or a line.
    needs_specialist: bool = False


# pt-BR numbers: dots group thousands ("2.000"), the comma marks decimals ("1,5 mil").
_NUMBER = r"(?<![\w.,])(\d+(?:\.\d{3})*(?:[.,]\d+)?)\s*(mil\b|k\b)?"
_RANGE_RE = re.compile(rf"{_NUMBER}\s*(?:a|e|ate|ou|-)\s*{_NUMBER}")
_NUMBER_RE = re.compile(_NUMBER)
_BARE_THOUSAND_RE = re.compile(r"\bmil\b")
_NUMBER_PARTS_RE = re.compile(r"(\d+(?:\.\d{3})*)(?:[.,](\d+))?")
_COUNT_WORDS = {"dois": 2, "tres": 3, "quatro": 4, "cinco": 5}
_SPREAD_RE = re.compile(r"\b(?:em|a cada|cada|por|para)\s+(\d+|dois|tres|quatro|cinco)\s+dias\b")
_EXPLICIT_PERIOD_RE = re.compile(r"\bpor (?:uma? |cada )?(hora|hr|h|turno|dia|semana|mes)\b")
_EXPLICIT_PERIODS: dict[str, Period] = {
    "hora": "hora",
    "hr": "hora",
    "h": "hora",
    "turno": "turno",
    "dia": "dia",
    "semana": "semana",
    "mes": "mes",
}
# Looser wordings, tried in this order when no "por <period>" is written.
_PERIOD_WORDS: tuple[tuple[Period, re.Pattern[str]], ...] = (
    ("turno", re.compile(r"\bturnos?\b")),
    ("hora", re.compile(r"\b(?:horas?|hr|h)\b")),
    ("dia", re.compile(r"\b(?:dias?|diari[oa]s?|diariamente)\b")),
    ("semana", re.compile(r"\b(?:semanas?|semana(?:l|is)|semanalmente)\b")),
    ("mes", re.compile(r"\b(?:mes|meses|mensa(?:l|is)|mensalmente)\b")),
)
_KG_RE = re.compile(r"\b(?:kg|kgs|kilos?|quilos?|quilogramas?)\b")
_TONNE_RE = re.compile(r"\b(?:ton|tons|toneladas?)\b")


def parse_volume(text: str) -> ProductionVolume | None:
    """Read a pt-BR production volume; None without a number or a period."""
    folded = fold_text(text).replace("/", " por ")
    period: Period | None = None
    count = 1
    spread = _SPREAD_RE.search(folded)
    if spread:
        word = spread.group(1)
        count = _COUNT_WORDS[word] if word in _COUNT_WORDS else int(word)
        period = "dias" if count > 1 else "dia"
        folded = folded[: spread.start()] + " " + folded[spread.end() :]
    period = period or _period(folded)
    quantity = _quantity(folded)
    if period is None or quantity is None or quantity <= 0 or count <= 0:
        return None
    unit: Unit = "un"
    if _TONNE_RE.search(folded):
        unit, quantity = "kg", quantity * 1000
    elif _KG_RE.search(folded):
        unit = "kg"
    return ProductionVolume(
        quantity=quantity, unit=unit, period=period, period_count=count if period == "dias" else 1
    )


def _period(folded: str) -> Period | None:
    explicit = _EXPLICIT_PERIOD_RE.search(folded)
    if explicit:
        return _EXPLICIT_PERIODS[explicit.group(1)]
    return next((period for period, pattern in _PERIOD_WORDS if pattern.search(folded)), None)


def _quantity(folded: str) -> float | None:
    """The first quantity; for a range ("entre 500 e 800") its upper bound."""
    found = _RANGE_RE.search(folded)
    if found:
        return max(_number(found.group(1), found.group(2)), _number(found.group(3), found.group(4)))
    single = _NUMBER_RE.search(folded)
    if single is not None:
        return _number(single.group(1), single.group(2))
    # "mil hambúrgueres por dia": the word alone is the number.
    return 1000.0 if _BARE_THOUSAND_RE.search(folded) else None


def _number(digits: str, multiplier: str | None) -> float:
    parts = _NUMBER_PARTS_RE.fullmatch(digits)
    assert parts is not None  # `digits` was matched by _NUMBER
    whole, decimals = parts.groups()
    value = float(whole.replace(".", "") + (f".{decimals}" if decimals else ""))
    return value * 1000 if multiplier else value


def suggest_model(
    volume: ProductionVolume, catalog: Catalog, *, shift_hours: float = DEFAULT_SHIFT_HOURS
) -> LadderSuggestion | None:
    """The model that covers the volume, or None when the catalog has nothing rated for it."""
    needed = volume.per_hour(shift_hours)
    needed_text = f"~{format_pt_int(needed)} {volume.unit}/h"
    if volume.period != "hora":
        needed_text += f" em um turno de {shift_hours:g} h"
    if volume.unit == "kg":
        return _suggest_cutter(needed, needed_text, catalog)
    ladder = [m for m in catalog.ladder() if m.available]
    for model in ladder:
        assert model.throughput is not None  # the catalog loader guarantees a rating
        if model.throughput.hourly >= needed * HEADROOM:
            rationale = f"{needed_text} → {model.code} ({_rating(model)})"
            return LadderSuggestion(model=model, needed_per_hour=needed, rationale=rationale)
    if not ladder:
        return None
    top = ladder[-1]
    rationale = (
        f"{needed_text} → acima da {top.code} ({_rating(top)}): "
        "um especialista dimensiona (várias máquinas ou linha)"
    )
    return LadderSuggestion(top, needed, rationale, needs_specialist=True)


def _suggest_cutter(needed: float, needed_text: str, catalog: Catalog) -> LadderSuggestion | None:
    # Cutters are rated at a sustained kg/h, so no headroom on top of the rating.
    rated = [
        (m.throughput.max, m)
        for m in catalog.models
        if m.available and m.throughput is not None and m.throughput.unit == "kg/h"
    ]
    for capacity, model in sorted(rated, key=lambda pair: pair[0]):
        if capacity >= needed:
            rationale = f"{needed_text} → {model.code} (até {format_pt_int(capacity)} kg/h)"
            return LadderSuggestion(model=model, needed_per_hour=needed, rationale=rationale)
    return None


def _rating(model: CatalogModel) -> str:
    assert model.throughput is not None
    if model.throughput.unit == "un/dia":
        return f"até {format_pt_int(model.throughput.max)}/dia"
    return f"até {format_pt_int(model.throughput.hourly)}/h"
