from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from seleto_agent.domain.capacity import ProductionVolume, parse_volume, suggest_model
from seleto_agent.domain.catalog import Catalog
from seleto_agent.domain.catalog_file import load_catalog

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "knowledge" / "catalog.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2000 por dia", ProductionVolume(2000, "un", "dia")),
        ("2.000 hambúrgueres/dia", ProductionVolume(2000, "un", "dia")),
        ("1,5 mil por dia", ProductionVolume(1500, "un", "dia")),
        ("2 mil por semana", ProductionVolume(2000, "un", "semana")),
        ("5 mil por mês", ProductionVolume(5000, "un", "mes")),
        ("300 por hora", ProductionVolume(300, "un", "hora")),
        ("300 hambúrgueres por hora", ProductionVolume(300, "un", "hora")),
        ("50 kg/h", ProductionVolume(50, "kg", "hora")),
        ("200 kg por dia", ProductionVolume(200, "kg", "dia")),
        ("uns 800 por turno", ProductionVolume(800, "un", "turno")),
        ("1500 em 2 dias", ProductionVolume(1500, "un", "dias", period_count=2)),
        ("3 mil a cada 3 dias", ProductionVolume(3000, "un", "dias", period_count=3)),
        ("entre 500 e 800 por dia", ProductionVolume(800, "un", "dia")),
        ("10k/dia", ProductionVolume(10000, "un", "dia")),
        ("500-800/dia", ProductionVolume(800, "un", "dia")),
        ("mil hambúrgueres diários", ProductionVolume(1000, "un", "dia")),
        ("em dois dias faço 1500", ProductionVolume(1500, "un", "dias", period_count=2)),
        ("2 toneladas por mês", ProductionVolume(2000, "kg", "mes")),
        ("com a FB300 faço 400 por dia", ProductionVolume(400, "un", "dia")),
        ("uns 800 por turno de 8 horas", ProductionVolume(800, "un", "turno")),
    ],
)
def test_parse_volume_reads_pt_br_wording(text: str, expected: ProductionVolume) -> None:
    assert parse_volume(text) == expected


@pytest.mark.parametrize("text", ["2000 hambúrgueres", "bastante por dia", "", "0 por dia"])
def test_volume_without_number_or_period_is_not_guessed(text: str) -> None:
    assert parse_volume(text) is None


def test_per_hour_spreads_the_volume_over_working_time() -> None:
    assert ProductionVolume(2000, "un", "dia").per_hour() == 250
    assert ProductionVolume(2000, "un", "dia").per_hour(shift_hours=10) == 200
    assert ProductionVolume(300, "un", "hora").per_hour() == 300
    assert ProductionVolume(800, "un", "turno").per_hour() == 100
    assert ProductionVolume(4400, "un", "semana").per_hour() == 100  # 5.5 days a week
    assert ProductionVolume(17600, "un", "mes").per_hour() == 100  # 22 days a month
    assert ProductionVolume(17600, "un", "mes").per_hour(days_per_month=11) == 200
    assert ProductionVolume(1600, "un", "dias", period_count=2).per_hour() == 100


def test_per_day_assumes_one_shift() -> None:
    assert ProductionVolume(100, "un", "hora").per_day() == 800
    assert ProductionVolume(800, "un", "turno").per_day() == 800


def test_describe_is_pt_br() -> None:
    assert ProductionVolume(2000, "un", "dia").describe() == "2.000 un/dia"
    assert ProductionVolume(5000, "un", "mes").describe() == "5.000 un/mês"
    assert ProductionVolume(1500, "un", "dias", period_count=2).describe() == "1.500 un em 2 dias"
    assert ProductionVolume(50, "kg", "hora").describe() == "50 kg/h"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("400 por dia", "FBM100"),  # 50/h + 20 % = 60/h <= 75/h (600 a day)
        ("2000 por dia", "FB300"),  # 250/h + 20 % = 300/h <= 350/h
        ("300 por hora", "FB700"),  # 360/h > 350/h
        ("1000 por hora", "EPE1200"),  # 1,200/h <= 1,400/h
        ("10 mil por dia", "SE-SMARTPRO"),  # 1,250/h -> 1,500/h <= 1,800/h
        ("2000 por hora", "SE3000"),  # 2,400/h <= 3,000/h
        ("4000 por hora", "SE6000"),  # 4,800/h <= 6,000/h
    ],
)
def test_each_ladder_step_is_reachable(text: str, code: str) -> None:
    volume = parse_volume(text)
    assert volume is not None
    suggestion = suggest_model(volume, CATALOG)
    assert suggestion is not None
    assert suggestion.model.code == code
    assert not suggestion.needs_specialist


def test_rationale_names_the_need_and_the_rating() -> None:
    suggestion = suggest_model(ProductionVolume(2000, "un", "dia"), CATALOG)
    assert suggestion is not None
    assert suggestion.needed_per_hour == 250
    assert suggestion.rationale == "~250 un/h em um turno de 8 h → FB300 (até 350/h)"


def test_headroom_pushes_a_full_load_to_the_next_model() -> None:
    # 350/h is the FB300's rating; running it flat out leaves no slack.
    suggestion = suggest_model(ProductionVolume(350, "un", "hora"), CATALOG)
    assert suggestion is not None
    assert suggestion.model.code == "FB700"


def test_above_the_ladder_a_specialist_sizes_it() -> None:
    suggestion = suggest_model(ProductionVolume(8000, "un", "hora"), CATALOG)
    assert suggestion is not None
    assert suggestion.model.code == "SE6000"
    assert suggestion.needs_specialist
    assert "especialista" in suggestion.rationale


def test_kilograms_go_to_the_cutter_up_to_its_rating() -> None:
    by_day = suggest_model(ProductionVolume(200, "kg", "dia"), CATALOG)
    assert by_day is not None
    assert by_day.model.code == "CT200"
    assert by_day.rationale == "~25 kg/h em um turno de 8 h → CT200 (até 300 kg/h)"
    at_limit = suggest_model(ProductionVolume(300, "kg", "hora"), CATALOG)
    assert at_limit is not None
    assert at_limit.model.code == "CT200"
    assert suggest_model(ProductionVolume(400, "kg", "hora"), CATALOG) is None


def _with(catalog: Catalog, code: str, **changes: Any) -> Catalog:
    models = tuple(
        dataclasses.replace(m, **changes) if m.code == code else m for m in catalog.models
    )
    return dataclasses.replace(catalog, models=models)


def test_unavailable_ladder_model_is_skipped() -> None:
    catalog = _with(CATALOG, "FB300", available=False)
    suggestion = suggest_model(ProductionVolume(2000, "un", "dia"), catalog)
    assert suggestion is not None
    assert suggestion.model.code == "FB700"


def test_ladder_comes_from_catalog_data() -> None:
    catalog = _with(CATALOG, "FB700", ladder_rank=None)
    suggestion = suggest_model(ProductionVolume(300, "un", "hora"), catalog)
    assert suggestion is not None
    assert suggestion.model.code == "EPE1200"
