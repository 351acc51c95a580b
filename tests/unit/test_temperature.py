from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.domain.temperature import (
    LeadSignals,
    Temperature,
    TemperatureDecision,
    Urgency,
    classify_urgency,
    decide_temperature,
)

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "knowledge" / "catalog.yaml")

QUALIFIED: dict[str, Any] = {"name": "Ana", "city": "Joinville", "uf": "SC"}


def decide(**slots: Any) -> TemperatureDecision:
    return decide_temperature(LeadSignals(**slots), CATALOG)


@pytest.mark.parametrize(
    "text",
    [
        "urgente",
        "preciso este mês",
        "esse mês ainda",
        "na próxima semana",
        "imediato",
        "o quanto antes",
        "já",
        "agora",
        "em 30 dias",
        "daqui a 2 semanas",
        "inauguração em março",
        "contrato novo com uma rede",
        "até o fim do mês",
        "nos próximos dias",
        "não, é urgente",  # the "não" answers something else
    ],
)
def test_near_urgency(text: str) -> None:
    assert classify_urgency(text) is Urgency.NEAR


@pytest.mark.parametrize(
    "text",
    [
        "pesquisando",
        "estou cotando",
        "comparando orçamentos",
        "ano que vem",
        "nos próximos meses",
        "sem pressa",
        "daqui a uns meses",
        "segundo semestre",
        "em 3 meses",
        "não é urgente",
        "sem urgência",
        "não preciso agora",
        "agora não",
        "não é pra já",
        "urgente, mas ainda estou pesquisando",  # torn: the colder reading wins
        "inauguração só no ano que vem",
    ],
)
def test_vague_urgency_including_negated_near_words(text: str) -> None:
    assert classify_urgency(text) is Urgency.VAGUE


@pytest.mark.parametrize(
    "text",
    [
        "sem previsão",
        "não tenho previsão",
        "só curiosidade",
        "só queria saber",
        "não tenho intenção de comprar",
        "apenas conhecendo",
        "uso doméstico",
        "é pra fazer em casa",
        "sem previsão, mas é urgente",
    ],
)
def test_no_urgency(text: str) -> None:
    assert classify_urgency(text) is Urgency.NONE


@pytest.mark.parametrize("text", [None, "", "não informado", "depende do sócio"])
def test_unknown_urgency(text: str | None) -> None:
    assert classify_urgency(text) is Urgency.UNKNOWN


def test_casa_de_carnes_is_not_home_use() -> None:
    assert classify_urgency("é para a casa de carnes, urgente") is Urgency.NEAR


def test_hot_needs_fit_near_urgency_and_volume() -> None:
    decision = decide(
        **QUALIFIED, product_interest="FB 300", production_volume="2000 por dia", urgency="este mês"
    )
    assert decision.temperature is Temperature.QUENTE
    assert decision.suggested_model == "FB300"
    assert decision.missing == ()
    assert decision.reason.startswith("quente: ")
    assert "FB300" in decision.reason
    assert "urgência próxima" in decision.reason
    assert "\n" not in decision.reason


def test_hot_with_quote_request_instead_of_volume() -> None:
    decision = decide(product_interest="FB700", urgency="urgente", quote_requested=True)
    assert decision.temperature is Temperature.QUENTE
    assert "pediu orçamento" in decision.reason


def test_generic_former_is_hot_when_the_volume_lands_on_the_ladder() -> None:
    decision = decide(
        product_interest="formadora de hambúrguer",
        production_volume="10 mil por dia",
        urgency="o quanto antes",
    )
    assert decision.temperature is Temperature.QUENTE
    assert decision.suggested_model == "SE-SMARTPRO"


def test_fit_and_near_but_no_volume_nor_quote_is_warm() -> None:
    decision = decide(product_interest="FB300", urgency="urgente")
    assert decision.temperature is Temperature.MORNO
    assert "sem volume nem pedido de orçamento" in decision.reason


def test_negated_urgency_keeps_a_good_fit_warm() -> None:
    decision = decide(
        product_interest="FB300", production_volume="2000 por dia", urgency="não é urgente"
    )
    assert decision.temperature is Temperature.MORNO
    assert "urgência vaga" in decision.reason


def test_unavailable_product_is_at_most_warm_and_points_to_the_alternative() -> None:
    decision = decide(
        product_interest="linha de espetos",
        production_volume="2000 por dia",
        urgency="urgente",
        quote_requested=True,
    )
    assert decision.temperature is Temperature.MORNO
    assert "indisponível" in decision.reason
    assert decision.suggested_model == "CT200"


def test_unknown_product_with_volume_but_vague_urgency_is_warm() -> None:
    decision = decide(product_interest="máquina pra carne", production_volume="300 por hora")
    assert decision.temperature is Temperature.MORNO
    assert decision.suggested_model == "FB700"


def test_no_intention_is_cold_even_with_a_quote_request() -> None:
    # Torn between hot signals and "só curiosidade": the colder label wins.
    decision = decide(
        product_interest="FB300",
        production_volume="2000 por dia",
        urgency="só curiosidade",
        quote_requested=True,
    )
    assert decision.temperature is Temperature.FRIO


def test_tiny_volume_is_cold() -> None:
    decision = decide(product_interest="FBM100", production_volume="50 por dia", urgency="já")
    assert decision.temperature is Temperature.FRIO
    assert "abaixo de 100 un/dia" in decision.reason


def test_home_use_in_the_segment_is_cold() -> None:
    decision = decide(product_interest="FBM100", segment="uso doméstico")
    assert decision.temperature is Temperature.FRIO


def test_no_need_after_the_basics_is_cold() -> None:
    decision = decide(**QUALIFIED, urgency="ano que vem")
    assert decision.temperature is Temperature.FRIO
    assert decision.missing == ("product_interest",)


def test_no_need_after_the_basics_but_a_quote_request_is_warm() -> None:
    decision = decide(**QUALIFIED, urgency="ano que vem", quote_requested=True)
    assert decision.temperature is Temperature.MORNO


def test_no_signal_yet_gives_no_label() -> None:
    decision = decide(name="Ana", knows_seleto=True)
    assert decision.temperature is None
    assert decision.reason.startswith("dados insuficientes")
    assert decision.suggested_model is None


def test_not_informed_slots_are_no_signal() -> None:
    decision = decide(product_interest="não informado", urgency="Não informado")
    assert decision.temperature is None


def test_asking_for_a_human_does_not_change_the_label() -> None:
    slots: dict[str, Any] = {"product_interest": "FB300", "urgency": "pesquisando"}
    assert decide(**slots).temperature is Temperature.MORNO
    assert decide(**slots, human_requested=True).temperature is Temperature.MORNO


def test_missing_slots_follow_the_question_order() -> None:
    assert decide().missing == ("product_interest", "name", "urgency", "city_uf")
    assert decide(name="Ana", city="Joinville").missing == (
        "product_interest",
        "urgency",
        "city_uf",
    )
    # "não informado" was asked and answered: do not ask again.
    assert decide(**QUALIFIED, product_interest="FB300", urgency="não informado").missing == ()
