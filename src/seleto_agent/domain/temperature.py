"""Lead temperature (quente / morno / frio) decided by rules over the qualification slots.

Decision 4 (DOMAIN.md): the model extracts the slots; these rules pick the label and write a
one-line pt-BR reason naming the facts used, so a person can review and override it (LGPD
Art. 20). When two labels fit, the colder one wins, so the rules run from cold to hot.

Signals read from the slots:
- product: `product_interest`, matched with `Catalog.find` / `Catalog.line_for`;
- volume: `production_volume` read by `parse_volume` and sized on the capacity ladder;
- urgency: `urgency` classified by `classify_urgency`;
- quote: the lead asked for a proposal, a visit or conditions (`quote_requested`).
A slot written "não informado" was asked: it is not missing, but it is no signal either.

Fit: the product names an available model, or the volume lands on the ladder while the product
is absent, not recognised, or only a former/line named generically.

Rules, first match wins:
1. frio: urgency NONE (no plan, curiosity, home use), home use in the segment or product, a
   volume under 100 un/dia, or neither product nor volume once name, city/UF and urgency were
   asked and no quote was requested;
2. no label, "dados insuficientes": no product, volume, urgency or quote signal yet;
3. quente: fit, urgency NEAR, and a volume or a quote request;
4. morno: anything else, including an unavailable product such as the skewering line.
`human_requested` never changes the label: the handoff flow deals with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from seleto_agent.domain.capacity import (
    LadderSuggestion,
    ProductionVolume,
    parse_volume,
    suggest_model,
)
from seleto_agent.domain.catalog import Catalog, CatalogModel, fold_text

# Fewer hamburgers than this a day is home or hobby use, not a machine buyer.
TINY_DAILY_UNITS = 100


class Temperature(StrEnum):
    QUENTE = "quente"
    MORNO = "morno"
    FRIO = "frio"


class Urgency(StrEnum):
    NEAR = "near"
    VAGUE = "vague"
    NONE = "none"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LeadSignals:
    name: str | None = None
    company_name: str | None = None
    city: str | None = None
    uf: str | None = None
    segment: str | None = None
    product_interest: str | None = None
    production_volume: str | None = None
    urgency: str | None = None
    knows_seleto: bool | None = None
    quote_requested: bool = False
    human_requested: bool = False


@dataclass(frozen=True, slots=True)
class TemperatureDecision:
    temperature: Temperature | None
    reason: str
    suggested_model: str | None
    missing: tuple[str, ...]


# --- urgency --------------------------------------------------------------------------------------


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns))


# Home use is a "none" urgency and, in the segment or product, a cold lead by itself.
# "para casa de carnes" is a butcher's shop, not home use.
_HOME_RE = _rx(
    r"\buso (?:domestico|pessoal|caseiro)\b", r"\b(?:em|para|pra) (?:minha )?casa\b(?! de)"
)
_NONE_RE = _rx(
    r"\bsem (?:previsao|data)\b",
    r"\b(?:nao|nenhuma) (?:tenho |tem |ha )?previsao\b",
    r"\bcuriosidade\b",
    r"\b(?:so|apenas) (?:queria|quero|para|pra) saber\b",
    r"\b(?:nao tenho|sem) (?:intencao|interesse)\b",
    r"\bnao (?:pretendo|vou|quero) comprar\b",
    r"\b(?:so|apenas) conhecendo\b",
    _HOME_RE.pattern,
)
_VAGUE_RE = _rx(
    r"\bpesquis\w*",
    r"\bcot(?:ando|acoes)\b",
    r"\bcompar\w*",
    r"\blevant\w* (?:de )?precos?\b",
    r"\b(?:ano que vem|proximo ano)\b",
    r"\b(?:proximos|uns|alguns|poucos) meses\b",
    r"\b(?:primeiro|segundo) semestre\b",
    r"\b(?:fim|final) do ano\b",
    r"\bsem (?:pressa|urgencia)\b",
    r"\bnao tenho pressa\b",
    r"\b(?:medio|longo) prazo\b",
    r"\bmais (?:pra|para) frente\b",
    r"\bfuturo\b",
    r"\bnao sei\b",
    r"\bainda nao\b",
    r"\bagora nao\b",
    r"\bquando der\b",
    r"\b(?:planej|avali|pens|estud)ando\b",
)
_NEAR_RE = _rx(
    r"\burgen(?:te|cia|temente)\b",
    r"\b(?:este|esse|neste|nesse|proximo) mes\b",
    r"\bmes que vem\b",
    r"\b(?:esta|essa|nesta|nessa|proxima) semana\b",
    r"\bsemana que vem\b",
    r"\bimediat\w*",
    r"\bo (?:quanto antes|mais rapido possivel)\b",
    r"\bassim que possivel\b",
    r"\b(?:pra|para) ontem\b",
    r"\b(?:ja|agora|hoje|amanha)\b",
    r"\binaugura\w*",
    r"\babertura\b",
    r"\b(?:contrato novo|novo contrato)\b",
    r"\bfech\w* (?:um |o )?contrato\b",
    r"\b(?:fim|final) do mes\b",
    r"\b(?:nos |nesses )?proximos dias\b",
)
# "em 30 dias", "daqui a 2 semanas", "dentro de 3 meses": near when within a month.
_WITHIN_RE = re.compile(
    r"\b(?:em|daqui a|daqui|dentro de|nos proximos|prazo de)\s+(?:ate\s+)?"
    r"(\d+|uma?|duas|dois|tres)\s+(dias?|semanas?|mes|meses|anos?)\b"
)
_COUNTS = {"um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3}
_DAYS_PER = {"dia": 1, "semana": 7, "mes": 30, "meses": 30, "ano": 365}
_NEAR_DAYS = 31
_NEGATIONS = frozenset({"nao", "sem", "nem", "nunca"})
# A negation only reaches words in its own clause: "não, é urgente" is urgent.
_CLAUSE_RE = re.compile(r"[,.;:!?]|\bmas\b|\bporem\b")
_EMPTY_VALUES = frozenset({"", "nao informado", "nao informada", "n/a", "-", "?"})


def classify_urgency(text: str | None) -> Urgency:
    """How soon the lead means to buy, from pt-BR wording; the colder reading wins."""
    value = _signal(text)
    if value is None:
        return Urgency.UNKNOWN
    found: set[Urgency] = set()
    for clause in _CLAUSE_RE.split(fold_text(value)):
        found |= _clause_urgencies(clause)
    return next(
        (u for u in (Urgency.NONE, Urgency.VAGUE, Urgency.NEAR) if u in found), Urgency.UNKNOWN
    )


def _clause_urgencies(clause: str) -> set[Urgency]:
    found: set[Urgency] = set()
    if _NONE_RE.search(clause):
        found.add(Urgency.NONE)
    if _VAGUE_RE.search(clause):
        found.add(Urgency.VAGUE)
    for match in _NEAR_RE.finditer(clause):
        found.add(Urgency.VAGUE if _negated(clause, match.start()) else Urgency.NEAR)
    for match in _WITHIN_RE.finditer(clause):
        count = _COUNTS.get(match.group(1)) or int(match.group(1))
        unit = match.group(2).removesuffix("s") if match.group(2) != "meses" else "meses"
        near = count * _DAYS_PER[unit] <= _NEAR_DAYS and not _negated(clause, match.start())
        found.add(Urgency.NEAR if near else Urgency.VAGUE)
    return found


def _negated(clause: str, start: int) -> bool:
    return any(word in _NEGATIONS for word in clause[:start].split()[-3:])


def _signal(value: str | None) -> str | None:
    """The slot's text when it carries information ("não informado" does not)."""
    if value is None or fold_text(value.strip()) in _EMPTY_VALUES:
        return None
    return value.strip()


def _asked(value: str | None) -> bool:
    return value is not None and value.strip() != ""


# --- temperature ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reading:
    """The signals of one lead, read once so the rules below stay plain."""

    product: str | None
    model: CatalogModel | None
    line: str | None
    volume: ProductionVolume | None
    volume_text: str | None
    suggestion: LadderSuggestion | None  # only when it sizes the product the lead asked about
    urgency: Urgency
    quote: bool
    home_use: bool

    @property
    def fit(self) -> bool:
        if self.model is not None:
            return self.model.available
        return self.suggestion is not None and self.suggestion.model.ladder_rank is not None

    @property
    def tiny(self) -> bool:
        return (
            self.volume is not None
            and self.volume.unit == "un"
            and self.volume.per_day() < TINY_DAILY_UNITS
        )

    @property
    def suggested_model(self) -> str | None:
        if self.model is not None and not self.model.available:
            return next(iter(self.model.alternatives), None)
        if self.suggestion is not None:
            return self.suggestion.model.code
        return None if self.model is None else self.model.code


def _read(signals: LeadSignals, catalog: Catalog) -> _Reading:
    product = _signal(signals.product_interest)
    model = catalog.find(product) if product else None
    line = model.line if model else (catalog.line_for(product) if product else None)
    volume_text = _signal(signals.production_volume)
    volume = parse_volume(volume_text) if volume_text else None
    suggestion = suggest_model(volume, catalog) if volume else None
    if suggestion is not None and not _sizes(suggestion, model, line, catalog):
        suggestion = None
    home_texts = (fold_text(t) for t in (signals.segment, product) if t)
    return _Reading(
        product=product,
        model=model,
        line=line,
        volume=volume,
        volume_text=volume_text,
        suggestion=suggestion,
        urgency=classify_urgency(signals.urgency),
        quote=signals.quote_requested,
        home_use=any(_HOME_RE.search(t) for t in home_texts),
    )


def _sizes(
    suggestion: LadderSuggestion, model: CatalogModel | None, line: str | None, catalog: Catalog
) -> bool:
    """Whether a volume-based suggestion is about the product the lead named."""
    if model is not None and not model.available:
        return False
    if line is None:
        return True
    if suggestion.model.ladder_rank is not None:
        return line in {m.line for m in catalog.ladder()}
    return suggestion.model.line == line


def missing_slots(signals: LeadSignals) -> tuple[str, ...]:
    """RN-06 minimum slots not asked yet, in the order DOMAIN §2.2 asks them."""
    missing = [
        slot
        for slot, value in (
            ("product_interest", signals.product_interest),
            ("name", signals.name),
            ("urgency", signals.urgency),
        )
        if not _asked(value)
    ]
    if not (_asked(signals.city) and _asked(signals.uf)):
        missing.append("city_uf")
    return tuple(missing)


def decide_temperature(signals: LeadSignals, catalog: Catalog) -> TemperatureDecision:
    reading = _read(signals, catalog)
    missing = missing_slots(signals)
    temperature, why = _rule(
        reading, basics_asked=not {"name", "urgency", "city_uf"} & set(missing)
    )
    reason = why if temperature is None else f"{temperature.value}: {why} ({_facts(reading)})"
    return TemperatureDecision(
        temperature=temperature,
        reason=reason,
        suggested_model=reading.suggested_model,
        missing=missing,
    )


def _rule(r: _Reading, *, basics_asked: bool) -> tuple[Temperature | None, str]:
    if r.urgency is Urgency.NONE:
        return Temperature.FRIO, "sem intenção ou previsão de compra"
    if r.home_use:
        return Temperature.FRIO, "uso doméstico"
    if r.tiny:
        return Temperature.FRIO, f"volume abaixo de {TINY_DAILY_UNITS} un/dia"
    if r.product is None and r.volume is None and basics_asked and not r.quote:
        return Temperature.FRIO, "sem produto nem volume após nome, cidade/UF e urgência"
    if r.product is None and r.volume is None and r.urgency is Urgency.UNKNOWN and not r.quote:
        return (
            None,
            "dados insuficientes: ainda sem produto, volume, urgência ou pedido de orçamento",
        )
    if r.fit and r.urgency is Urgency.NEAR and (r.volume is not None or r.quote):
        return Temperature.QUENTE, "modelo do catálogo atende, prazo próximo e " + (
            "volume informado" if r.volume is not None else "pediu orçamento"
        )
    return Temperature.MORNO, _why_not_hot(r)


def _why_not_hot(r: _Reading) -> str:
    if r.model is not None and not r.model.available:
        return "produto indisponível"
    if not r.fit:
        return "interesse sem modelo definido"
    if r.urgency is not Urgency.NEAR:
        return "prazo não é próximo"
    return "sem volume nem pedido de orçamento"


_URGENCY_FACTS = {
    Urgency.NEAR: "urgência próxima",
    Urgency.VAGUE: "urgência vaga",
    Urgency.NONE: "sem previsão de compra",
    Urgency.UNKNOWN: "urgência não informada",
}


def _facts(r: _Reading) -> str:
    if r.model is not None:
        product = f"produto {r.model.code}" + ("" if r.model.available else " (indisponível)")
    elif r.line is not None:
        product = f"produto genérico ({r.line})"
    else:
        product = "produto não identificado" if r.product else "sem produto"
    if r.suggestion is not None:
        volume = f"volume {r.suggestion.rationale}"
    elif r.volume is not None:
        volume = f"volume {r.volume.describe()}"
    else:
        volume = "volume não interpretado" if r.volume_text else "sem volume"
    facts = [product, volume, _URGENCY_FACTS[r.urgency]]
    if r.quote:
        facts.append("pediu orçamento")
    return "; ".join(facts)
