"""Seleto's product catalog as the code sees it: plain frozen dataclasses and the queries the
agent needs (find a model in a lead's words, the capacity ladder, the prompt text).
Loading and validating `knowledge/catalog.yaml` is `catalog_file.py`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ThroughputUnit = Literal["un/dia", "un/h", "ciclos/h", "kg/h", "espetos/h"]

# The FBM100's "per day" rating is one operator's working day.
RATED_DAY_HOURS = 8.0
# Units that count hamburgers; one forming cycle makes one burger.
PIECE_UNITS: frozenset[str] = frozenset({"un/dia", "un/h", "ciclos/h"})


class CatalogError(ValueError):
    """The catalog file is missing or invalid; the message names the bad entry."""


# --- text folding shared by the pt-BR matchers -------------------------------------------------

_NON_WORD_RE = re.compile(r"[^a-z0-9]+")
# Leads write plurals ("hambúrgueres", "formadoras"); folding both sides to the singular lets an
# alias be written once. Short words ("mes", "tres") are left alone.
_PLURAL_ES_RE = re.compile(r"(?<=[rzl])es$")
_PLURAL_S_RE = re.compile(r"(?<=[aeiou])s$")


def fold_text(text: str) -> str:
    """Lowercase without accents ("Hambúrguer São" -> "hamburguer sao"); punctuation is kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _words(text: str) -> list[str]:
    return [_singular(word) for word in _NON_WORD_RE.split(fold_text(text)) if word]


def _singular(word: str) -> str:
    if len(word) <= 4 or not word.isalpha():
        return word
    without_es = _PLURAL_ES_RE.sub("", word)
    return without_es if without_es != word else _PLURAL_S_RE.sub("", word)


def catalog_key(text: str) -> str:
    """Spacing- and hyphen-free key: "FB-300", "fb 300" and "FB300" all give "fb300"."""
    return "".join(_words(text))


def format_pt_int(value: float) -> str:
    """Rounded with pt-BR thousands dots: 1800 -> "1.800"."""
    return f"{round(value):,}".replace(",", ".")


# --- what the rest of the code uses -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    max: int
    unit: ThroughputUnit
    min: int | None = None

    @property
    def hourly(self) -> float:
        """Rated output per hour (daily ratings spread over one working day)."""
        return self.max / RATED_DAY_HOURS if self.unit == "un/dia" else float(self.max)

    def describe(self) -> str:
        if self.min is None:
            return f"até {format_pt_int(self.max)} {self.unit}"
        return f"{format_pt_int(self.min)}–{format_pt_int(self.max)} {self.unit}"


@dataclass(frozen=True, slots=True)
class CatalogModel:
    code: str
    line: str
    name: str
    drive: str | None
    throughput: Throughput | None
    capacity: str | None
    highlights: tuple[str, ...]
    aliases: tuple[str, ...]
    available: bool
    availability_note: str | None
    eta: str | None
    upsell_to: tuple[str, ...]
    alternatives: tuple[str, ...]
    best_seller: bool
    ladder_rank: int | None


@dataclass(frozen=True, slots=True)
class ProductLine:
    code: str
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CommercialFacts:
    material: str
    warranty: str
    molds: str
    freight: str
    installation: str
    payment_methods: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    lines: tuple[ProductLine, ...]
    commercial: CommercialFacts
    # Folded keys (code, name, aliases) -> model code / line code, built once.
    _model_keys: dict[str, str] = field(init=False, repr=False, compare=False)
    _line_keys: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        model_keys = {k: m.code for m in self.models for k in _model_key_set(m)}
        line_keys = {catalog_key(a): line.code for line in self.lines for a in _line_aliases(line)}
        line_keys.update({k: self._by_code(code).line for k, code in model_keys.items()})
        object.__setattr__(self, "_model_keys", model_keys)
        object.__setattr__(self, "_line_keys", line_keys)

    def _by_code(self, code: str) -> CatalogModel:
        return next(m for m in self.models if m.code == code)

    def get(self, code: str) -> CatalogModel | None:
        """The model with this code, however it is spaced or cased ("fb-300" -> FB300)."""
        return next((m for m in self.models if catalog_key(m.code) == catalog_key(code)), None)

    def find(self, text: str) -> CatalogModel | None:
        """The one model a lead's words name, or None when they name none or several.

        A line with a single model ("fatiador" -> FS150) resolves to that model.
        """
        codes = _maximal_matches(text, self._model_keys)
        if len(codes) == 1:
            return self._by_code(codes.pop())
        if codes:
            return None
        lines = _maximal_matches(text, self._line_keys)
        if len(lines) == 1:
            in_line = [m for m in self.models if m.line == next(iter(lines))]
            if len(in_line) == 1:
                return in_line[0]
        return None

    def line_for(self, text: str) -> str | None:
        """The product line a lead's words point to ("formadora de hambúrguer" -> "formadora")."""
        lines = _maximal_matches(text, self._line_keys)
        return lines.pop() if len(lines) == 1 else None

    def ladder(self) -> tuple[CatalogModel, ...]:
        """Hamburger-former capacity ladder, smallest first (availability not filtered)."""
        ranked = [m for m in self.models if m.ladder_rank is not None]
        return tuple(sorted(ranked, key=lambda m: m.ladder_rank or 0))

    def render_for_prompt(self) -> str:
        """Compact pt-BR block for the system prompt: one line per model, rules, conditions."""
        lines = [f"Catálogo Seleto Industrial ({self.commercial.material}):"]
        lines += [_render_model(m) for m in self.models]
        lines.append("Regras:")
        lines += [f"- {m.code} é a mais vendida." for m in self.models if m.best_seller]
        for m in self.models:
            if m.upsell_to:
                upsell = ", ".join(m.upsell_to)
                lines.append(f"- Interesse na {m.code}: apresente também a {upsell}.")
            if not m.available:
                eta = f" (previsão {m.eta})" if m.eta else ""
                note = f": {m.availability_note}" if m.availability_note else ""
                lines.append(f"- {m.code} indisponível{eta}{note}.")
            if m.alternatives:
                lines.append(f"- Alternativa à {m.code}: {', '.join(m.alternatives)}.")
        c = self.commercial
        lines.append(
            f"Condições: garantia de {c.warranty}; moldes {c.molds}; frete {c.freight}; "
            f"instalação {c.installation}; formas de pagamento: {', '.join(c.payment_methods)}."
        )
        lines.append(
            "Nunca informe preços, descontos, parcelamento ou prazos de entrega: "
            "um especialista envia a proposta."
        )
        return "\n".join(lines)


def _line_aliases(line: ProductLine) -> tuple[str, ...]:
    return (line.code, line.name, *line.aliases)


def _model_key_set(model: CatalogModel) -> set[str]:
    return {catalog_key(text) for text in (model.code, model.name, *model.aliases)}


def _maximal_matches(text: str, keys: Mapping[str, str]) -> set[str]:
    """Owners of the keys found in `text`, ignoring a match inside a longer one.

    Keys are compared with the text's words joined, so "fb 300", "fb-300" and "FB300" all hit
    "fb300", and "fb700 com linha" (the line) hides the "fb700" inside it.
    """
    words = _words(text)
    longest = max((len(k) for k in keys), default=0)
    spans: list[tuple[int, int, str]] = []
    for start in range(len(words)):
        joined = ""
        for end in range(start, len(words)):
            joined += words[end]
            if len(joined) > longest:
                break
            if joined in keys:
                spans.append((start, end + 1, keys[joined]))
    return {
        owner
        for start, end, owner in spans
        if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, _ in spans)
    }


def _render_model(model: CatalogModel) -> str:
    parts = [part for part in (model.drive, model.capacity) if part]
    if model.throughput is not None:
        parts.insert(1 if model.drive else 0, model.throughput.describe())
    parts += model.highlights
    return f"- {model.code} ({model.name}): {'; '.join(parts)}."
