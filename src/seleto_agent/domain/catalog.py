"""Seleto's product catalog: `knowledge/catalog.yaml`, validated at start-up, queried by the agent.

The YAML is data ops edit, so loading is strict: unknown keys, duplicate codes, references to
unknown codes and any price, discount, instalment or delivery-time text (decision 3: the agent
never states them) stop the service with a message naming the entry. Pydantic checks the shape;
the rest of the code sees plain frozen dataclasses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

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


def _key(text: str) -> str:
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
        line_keys = {_key(a): line.code for line in self.lines for a in _line_aliases(line)}
        line_keys.update({k: self._by_code(code).line for k, code in model_keys.items()})
        object.__setattr__(self, "_model_keys", model_keys)
        object.__setattr__(self, "_line_keys", line_keys)

    def _by_code(self, code: str) -> CatalogModel:
        return next(m for m in self.models if m.code == code)

    def get(self, code: str) -> CatalogModel | None:
        """The model with this code, however it is spaced or cased ("fb-300" -> FB300)."""
        return next((m for m in self.models if _key(m.code) == _key(code)), None)

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
    return {_key(text) for text in (model.code, model.name, *model.aliases)}


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


# --- loading and validation ---------------------------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ThroughputDoc(_Strict):
    max: PositiveInt
    unit: ThroughputUnit
    min: PositiveInt | None = None

    @model_validator(mode="after")
    def _min_below_max(self) -> _ThroughputDoc:
        if self.min is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class _AvailabilityDoc(_Strict):
    available: bool
    note: Text | None = None
    eta: Text | None = None

    @model_validator(mode="after")
    def _unavailable_needs_note(self) -> _AvailabilityDoc:
        # The agent must have something to say about a product it cannot sell.
        if not self.available and self.note is None:
            raise ValueError("an unavailable model needs a note")
        return self


class _LineDoc(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z]+$")]
    name: Text
    aliases: list[Text] = Field(default_factory=list)


class _ModelDoc(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$")]
    line: Text
    name: Text
    drive: Text | None = None
    throughput: _ThroughputDoc | None = None
    capacity: Text | None = None
    highlights: list[Text] = Field(default_factory=list)
    aliases: list[Text] = Field(default_factory=list)
    availability: _AvailabilityDoc = _AvailabilityDoc(available=True)
    upsell_to: list[Text] = Field(default_factory=list)
    alternatives: list[Text] = Field(default_factory=list)
    best_seller: bool = False
    ladder_rank: PositiveInt | None = None

    @model_validator(mode="after")
    def _ladder_needs_piece_rating(self) -> _ModelDoc:
        if self.ladder_rank is not None and (
            self.throughput is None or self.throughput.unit not in PIECE_UNITS
        ):
            raise ValueError("a ladder model needs a throughput in un/dia, un/h or ciclos/h")
        return self


class _CommercialDoc(_Strict):
    material: Text
    warranty: Text
    molds: Text
    freight: Text
    installation: Text
    payment_methods: list[Text] = Field(min_length=1)


class _CatalogDoc(_Strict):
    lines: list[_LineDoc] = Field(min_length=1)
    models: list[_ModelDoc] = Field(min_length=1)
    commercial: _CommercialDoc


# Decision 3: no prices, discounts, instalments or delivery lead times, checked on folded text.
# "12x" is an instalment plan; "10 x 20 mm" is a size and passes.
_FORBIDDEN_RE = re.compile(
    r"r\$|\breais\b|%|\bdesconto|\b\d+\s*x\b(?!\s*\d)|\bsem juros\b"
    r"|\bprazo de entrega\b|\bpronta entrega\b|\bdias uteis\b"
)


def load_catalog(path: Path) -> Catalog:
    """Read and validate the catalog; raises CatalogError naming the bad entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: the catalog must be a mapping with lines, models, commercial")
    for where, text in _strings(raw, ""):
        found = _FORBIDDEN_RE.search(fold_text(text))
        if found:
            raise CatalogError(
                f"{path}: {where}: prices, discounts, instalments and delivery lead times are "
                f"not allowed in the catalog (found {found.group(0)!r})"
            )
    try:
        doc = _CatalogDoc.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(f"{_where(raw, e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CatalogError(f"{path}: invalid catalog: {details}") from exc
    problem = _cross_reference_problem(doc)
    if problem is not None:
        raise CatalogError(f"{path}: invalid catalog: {problem}")
    return _to_catalog(doc)


def _label(item: Any, index: int) -> str:
    """An entry is named by its code when it has one, else by its position."""
    code = item.get("code") if isinstance(item, dict) else None
    return f"[{code}]" if isinstance(code, str) else f"[{index}]"


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where or "(root)", node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{where}{_label(value, index)}")


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    where, node = "", raw
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            where += _label(node, part)
        else:
            node = node.get(part) if isinstance(node, dict) else None
            where += f".{part}" if where else str(part)
    return where or "(root)"


def _cross_reference_problem(doc: _CatalogDoc) -> str | None:
    line_codes = [line.code for line in doc.lines]
    if len(set(line_codes)) != len(line_codes):
        return "lines: duplicate line code"
    keys = [_key(model.code) for model in doc.models]
    codes = {model.code for model in doc.models}
    for index, model in enumerate(doc.models):
        if keys.index(keys[index]) != index:
            return f"models[{model.code}].code: duplicate code"
        if model.line not in line_codes:
            return f"models[{model.code}].line: unknown line {model.line!r}"
        for attr in ("upsell_to", "alternatives"):
            for ref in getattr(model, attr):
                # Exact codes: they reach the prompt and the CRM as written.
                if ref not in codes or ref == model.code:
                    return f"models[{model.code}].{attr}: unknown or self reference {ref!r}"
    return _alias_problem(doc)


def _alias_problem(doc: _CatalogDoc) -> str | None:
    """A lead's words must lead to one model, and a model's words to its own line."""
    line_of = {_key(a): x.code for x in doc.lines for a in (x.code, x.name, *x.aliases)}
    owner_of: dict[str, str] = {}
    for model in doc.models:
        for text in (model.code, model.name, *model.aliases):
            owner = owner_of.setdefault(_key(text), model.code)
            if owner != model.code:
                return f"models[{model.code}]: {text!r} also names models[{owner}]"
            if line_of.get(_key(text), model.line) != model.line:
                return f"models[{model.code}]: {text!r} names line {line_of[_key(text)]!r}"
    return _ladder_problem(doc)


def _ladder_problem(doc: _CatalogDoc) -> str | None:
    ranked = sorted(
        (m for m in doc.models if m.ladder_rank is not None), key=lambda m: m.ladder_rank or 0
    )
    for lower, upper in pairwise(ranked):
        if lower.ladder_rank == upper.ladder_rank:
            return f"models[{upper.code}].ladder_rank: rank {upper.ladder_rank} used twice"
        if _hourly(upper) <= _hourly(lower):
            return (
                f"models[{upper.code}].ladder_rank: rates {format_pt_int(_hourly(upper))}/h, "
                f"not above the rank below ({lower.code}, {format_pt_int(_hourly(lower))}/h)"
            )
    return None


def _hourly(model: _ModelDoc) -> float:
    assert model.throughput is not None  # ladder models are checked to have one
    return _to_throughput(model.throughput).hourly


def _to_throughput(doc: _ThroughputDoc) -> Throughput:
    return Throughput(max=doc.max, unit=doc.unit, min=doc.min)


def _to_catalog(doc: _CatalogDoc) -> Catalog:
    c = doc.commercial
    return Catalog(
        models=tuple(
            CatalogModel(
                code=m.code,
                line=m.line,
                name=m.name,
                drive=m.drive,
                throughput=None if m.throughput is None else _to_throughput(m.throughput),
                capacity=m.capacity,
                highlights=tuple(m.highlights),
                aliases=tuple(m.aliases),
                available=m.availability.available,
                availability_note=m.availability.note,
                eta=m.availability.eta,
                upsell_to=tuple(m.upsell_to),
                alternatives=tuple(m.alternatives),
                best_seller=m.best_seller,
                ladder_rank=m.ladder_rank,
            )
            for m in doc.models
        ),
        lines=tuple(
            ProductLine(code=x.code, name=x.name, aliases=tuple(x.aliases)) for x in doc.lines
        ),
        commercial=CommercialFacts(
            material=c.material,
            warranty=c.warranty,
            molds=c.molds,
            freight=c.freight,
            installation=c.installation,
            payment_methods=tuple(c.payment_methods),
        ),
    )
