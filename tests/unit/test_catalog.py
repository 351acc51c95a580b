from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from seleto_agent.domain.catalog import Catalog, CatalogError
from seleto_agent.domain.catalog_file import load_catalog

SHIPPED = Path(__file__).resolve().parents[2] / "knowledge" / "catalog.yaml"

MINIMAL: dict[str, Any] = {
    "lines": [
        {"code": "formadora", "name": "Formadoras", "aliases": ["formadora"]},
        {"code": "corte", "name": "Corte", "aliases": ["cortador"]},
    ],
    "models": [
        {
            "code": "FBM100",
            "line": "formadora",
            "name": "Formadora manual FBM100",
            "throughput": {"min": 500, "max": 600, "unit": "un/dia"},
            "ladder_rank": 1,
            "upsell_to": ["FB300"],
        },
        {
            "code": "FB300",
            "line": "formadora",
            "name": "Formadora FB300",
            "throughput": {"max": 350, "unit": "un/h"},
            "highlights": ["1 molde personalizado"],
            "ladder_rank": 2,
        },
        {
            "code": "CT200",
            "line": "corte",
            "name": "Cortadora CT200",
            "throughput": {"max": 300, "unit": "kg/h"},
        },
    ],
    "commercial": {
        "material": "aço inox",
        "warranty": "6 meses",
        "molds": "sob encomenda",
        "freight": "FOB",
        "installation": "à parte",
        "payment_methods": ["à vista", "Cartão BNDES"],
    },
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SHIPPED)


def _load(tmp_path: Path, doc: Any) -> Catalog:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_catalog(path)


def _doc() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def _model(doc: dict[str, Any], code: str) -> dict[str, Any]:
    return next(m for m in doc["models"] if m["code"] == code)


def test_shipped_catalog_has_every_model_of_the_briefing(catalog: Catalog) -> None:
    assert {m.code for m in catalog.models} == {
        "FBM100",
        "FB300",
        "FB700",
        "SE-SMARTPRO",
        "SE3000",
        "SE6000",
        "EPE1200",
        "LINHA-FB700",
        "LINHA-ESPETOS",
        "CT200",
        "FS150",
        "ENSACADEIRA",
        "MISTURADOR",
    }
    assert {line.code for line in catalog.lines} == {
        "formadora",
        "linha",
        "corte",
        "fatiador",
        "ensacadeira",
        "misturador",
    }


def test_shipped_catalog_encodes_the_playbook_rules(catalog: Catalog) -> None:
    fbm100, fb300, skewers = (catalog.get(c) for c in ("FBM100", "FB300", "LINHA-ESPETOS"))
    assert fbm100 is not None
    assert fbm100.upsell_to == ("FB300",)
    assert fb300 is not None
    assert fb300.best_seller
    assert skewers is not None
    assert not skewers.available
    assert skewers.eta == "mar/2026"
    assert skewers.alternatives == ("CT200",)
    assert [m.code for m in catalog.ladder()] == [
        "FBM100",
        "FB300",
        "FB700",
        "EPE1200",
        "SE-SMARTPRO",
        "SE3000",
        "SE6000",
    ]
    assert "Cartão BNDES" in catalog.commercial.payment_methods
    assert catalog.commercial.warranty == "6 meses"


def test_shipped_catalog_file_has_no_price_discount_or_lead_time() -> None:
    text = SHIPPED.read_text(encoding="utf-8").lower()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for forbidden in ("r$", "reais", "%", "desconto", "12x", "sem juros", "prazo de entrega"):
        assert forbidden not in body


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("fb-300", "FB300"),
        ("FB 300", "FB300"),
        ("quero a Fb300", "FB300"),
        ("formadora manual", "FBM100"),
        ("Formadoras manuais", None),  # "manuais" is not an alias: no guessing
        ("SE Smart Pro", "SE-SMARTPRO"),
        ("se 6000", "SE6000"),
        ("a FB700 com linha automática", "LINHA-FB700"),
        ("máquina de espetinhos", "LINHA-ESPETOS"),
        ("cortador de cubos", "CT200"),
        ("um fatiador", "FS150"),  # the only model of its line
        ("formadora de hambúrguer", None),
        ("FB300 ou FB700", None),
        ("fritadeira", None),
    ],
)
def test_find_matches_lead_wording_to_one_model(
    catalog: Catalog, text: str, code: str | None
) -> None:
    model = catalog.find(text)
    assert (model.code if model else None) == code


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("formadora de hambúrguer", "formadora"),
        ("Máquina de HAMBÚRGUERES", "formadora"),
        ("FB300 ou FB700", "formadora"),
        ("linha automática", "linha"),
        ("misturador de 70 litros", "misturador"),
        ("embutideira", "ensacadeira"),
        ("fritadeira", None),
        ("formadora e misturador", None),
    ],
)
def test_line_for_names_the_product_line(catalog: Catalog, text: str, line: str | None) -> None:
    assert catalog.line_for(text) == line


def test_get_ignores_case_and_separators(catalog: Catalog) -> None:
    model = catalog.get("se-3000")
    assert model is not None
    assert model.code == "SE3000"
    assert catalog.get("formadora manual") is None  # aliases are not codes


def test_prompt_block_is_short_and_has_no_price(catalog: Catalog) -> None:
    block = catalog.render_for_prompt()
    assert len(block) < 2800
    assert "R$" not in block
    assert "%" not in block
    for model in catalog.models:
        assert f"- {model.code} (" in block
    assert "FB300 é a mais vendida" in block
    assert "Interesse na FBM100: apresente também a FB300" in block
    assert "LINHA-ESPETOS indisponível (previsão mar/2026)" in block
    assert "Alternativa à LINHA-ESPETOS: CT200" in block
    assert "Cartão BNDES" in block
    assert "um especialista envia a proposta" in block


def test_minimal_document_loads(tmp_path: Path) -> None:
    catalog = _load(tmp_path, _doc())
    fb300 = catalog.get("FB300")
    assert fb300 is not None
    assert fb300.available
    assert fb300.highlights == ("1 molde personalizado",)


@pytest.mark.parametrize(
    "text",
    [
        "a partir de R$ 9.900",
        "custa 10 mil reais",
        "10% à vista",
        "12x no cartão",
        "em 10 x sem juros",
        "pronta entrega",
        "entrega em 15 dias úteis",
    ],
)
def test_price_discount_and_instalment_text_is_rejected(tmp_path: Path, text: str) -> None:
    doc = _doc()
    _model(doc, "FB300")["highlights"] = ["1 molde", text]
    with pytest.raises(CatalogError, match=r"models\[FB300\]\.highlights\[1\]: prices"):
        _load(tmp_path, doc)


def test_sizes_written_with_x_are_not_instalments(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "FB300")["highlights"] = ["bandeja de 40 x 60 cm"]
    fb300 = _load(tmp_path, doc).get("FB300")
    assert fb300 is not None
    assert fb300.highlights == ("bandeja de 40 x 60 cm",)


def test_reference_must_use_the_exact_code(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "FBM100")["upsell_to"] = ["fb-300"]
    with pytest.raises(CatalogError, match=r"models\[FBM100\]\.upsell_to: .*'fb-300'"):
        _load(tmp_path, doc)


def test_discount_in_commercial_facts_is_rejected(tmp_path: Path) -> None:
    doc = _doc()
    doc["commercial"]["payment_methods"].append("desconto à vista")
    with pytest.raises(CatalogError, match=r"commercial\.payment_methods\[2\]"):
        _load(tmp_path, doc)


def test_unknown_key_is_rejected_naming_the_model(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "FB300")["upsel_to"] = ["FBM100"]
    with pytest.raises(CatalogError, match=r"models\[FB300\]\.upsel_to: Extra inputs"):
        _load(tmp_path, doc)


def test_duplicate_code_is_rejected_even_when_spelled_differently(tmp_path: Path) -> None:
    doc = _doc()
    doc["models"].append({**_model(doc, "FB300"), "code": "FB-300", "ladder_rank": None})
    with pytest.raises(CatalogError, match=r"models\[FB-300\]\.code: duplicate code"):
        _load(tmp_path, doc)


@pytest.mark.parametrize("field", ["upsell_to", "alternatives"])
def test_reference_to_unknown_code_is_rejected(tmp_path: Path, field: str) -> None:
    doc = _doc()
    _model(doc, "FBM100")[field] = ["FB999"]
    with pytest.raises(CatalogError, match=rf"models\[FBM100\]\.{field}: .*'FB999'"):
        _load(tmp_path, doc)


def test_unknown_line_is_rejected(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "CT200")["line"] = "cortes"
    with pytest.raises(CatalogError, match=r"models\[CT200\]\.line: unknown line 'cortes'"):
        _load(tmp_path, doc)


def test_alias_naming_two_models_is_rejected(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "FBM100")["aliases"] = ["formadora pequena"]
    _model(doc, "FB300")["aliases"] = ["Formadora Pequena"]
    with pytest.raises(CatalogError, match=r"'Formadora Pequena' also names models\[FBM100\]"):
        _load(tmp_path, doc)


def test_ladder_must_grow_with_rank(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "FB300")["throughput"] = {"max": 50, "unit": "un/h"}
    with pytest.raises(CatalogError, match=r"models\[FB300\]\.ladder_rank: rates 50/h"):
        _load(tmp_path, doc)


def test_ladder_model_needs_a_piece_rating(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "CT200")["ladder_rank"] = 3
    with pytest.raises(CatalogError, match=r"models\[CT200\]: .*ladder model needs a throughput"):
        _load(tmp_path, doc)


def test_unavailable_model_needs_a_note(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "CT200")["availability"] = {"available": False}
    with pytest.raises(CatalogError, match=r"models\[CT200\]\.availability: .*needs a note"):
        _load(tmp_path, doc)


def test_bad_throughput_unit_is_rejected(tmp_path: Path) -> None:
    doc = _doc()
    _model(doc, "CT200")["throughput"]["unit"] = "kg/dia"
    with pytest.raises(CatalogError, match=r"models\[CT200\]\.throughput\.unit"):
        _load(tmp_path, doc)


def test_missing_section_is_rejected(tmp_path: Path) -> None:
    doc = _doc()
    del doc["commercial"]
    with pytest.raises(CatalogError, match=r"commercial: Field required"):
        _load(tmp_path, doc)


def test_unreadable_or_malformed_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(broken)
    with pytest.raises(CatalogError, match="must be a mapping"):
        _load(tmp_path, ["a", "list"])
