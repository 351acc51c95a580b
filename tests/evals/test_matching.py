"""Loose equality of free-text slots (what a real model's wording must meet)."""

from __future__ import annotations

import pytest

from seleto_agent.evals.matching import fold, key_tokens, loosely_equal


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("Chapecó", "chapeco"),
        ("Marina", "Marina Souza"),
        ("Smash Burger Londrina", "Smash Burger"),
        ("Frigorífico Vale Verde", "Vale Verde Alimentos"),
        ("formadora de hambúrguer", "Formadoras de hambúrgueres"),
        ("2.000 hambúrgueres por dia", "2000 hamburgueres/dia"),
        ("uns 3 mil por dia", "3.000 por dia"),
        ("2,5 mil por dia", "2500/dia"),
        ("1.000 por hora", "mil por hora"),
        ("uns 150 kg por hora", "150 kg/h"),
        ("este mês, abertura da segunda loja", "ainda este mês"),
        ("pesquisando, compra no ano que vem", "ano que vem"),
        ("FB300", "fb300"),
        ("SE-SMARTPRO", "SE SmartPro"),
    ],
)
def test_rewordings_are_loosely_equal(expected: str, got: str) -> None:
    assert loosely_equal(expected, got)


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("Marina", ""),
        ("Marina", "de"),  # a function word alone is not a value
        ("Marina", "Mariana"),
        ("formadora de hambúrguer", "FB300"),
        ("FB300", "FB700"),
        ("2.000 hambúrgueres por dia", "3.000 hambúrgueres por dia"),
        ("2000 por dia", "2000 por hora"),
        ("2,5 mil por dia", "2 mil por dia"),
        ("uns 150 kg por hora", "por hora"),
        ("frigorífico", "hamburgueria"),
    ],
)
def test_different_values_are_not(expected: str, got: str) -> None:
    assert not loosely_equal(expected, got)


def test_folding_reads_brazilian_numbers_and_keeps_codes_whole() -> None:
    assert fold("2.000 Hambúrgueres/DIA") == "2000 hamburgueres dia"
    assert fold("uns 3 mil, ou 2,5 mil") == "uns 3000 ou 2500"
    assert fold("FB300 e 1,5") == "fb300 e 1d5"
    assert key_tokens("Os hambúrgueres dos meses") == {"hamburguer", "mes"}
