"""Loading `knowledge/catalog.yaml`: strict pydantic checks, then the plain dataclasses.

The YAML is data ops edit, so loading is strict: unknown keys, duplicate codes, references to
unknown codes and any price, discount, instalment or delivery-time text (decision 3: the agent
never states them) stop the service with a message naming the entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

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

from seleto_agent.domain.catalog import (
    PIECE_UNITS,
    Catalog,
    CatalogError,
    CatalogModel,
    CommercialFacts,
    ProductLine,
    Throughput,
    ThroughputUnit,
    catalog_key,
    fold_text,
    format_pt_int,
)

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
    keys = [catalog_key(model.code) for model in doc.models]
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
    line_of = {catalog_key(a): x.code for x in doc.lines for a in (x.code, x.name, *x.aliases)}
    owner_of: dict[str, str] = {}
    for model in doc.models:
        for text in (model.code, model.name, *model.aliases):
            owner = owner_of.setdefault(catalog_key(text), model.code)
            if owner != model.code:
                return f"models[{model.code}]: {text!r} also names models[{owner}]"
            if line_of.get(catalog_key(text), model.line) != model.line:
                return f"models[{model.code}]: {text!r} names line {line_of[catalog_key(text)]!r}"
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
