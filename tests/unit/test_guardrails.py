from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from seleto_agent.domain.guardrails import (
    Violation,
    ViolationKind,
    check_reply,
    count_questions,
)

EVALS = Path(__file__).resolve().parents[2] / "evals" / "guardrails"


def _load(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load((EVALS / name).read_text(encoding="utf-8"))
    return items


def _case_id(index: int, text: str) -> str:
    """`042-a-fb300-custa-r-12900` style ids: readable in pytest output, ASCII only."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return f"{index:03d}-{slug[:48]}"


SENTENCES = _load("sentences.yaml")
# Written blind, before the rules were tuned to it (see the file header); now a regression set.
HOLDOUT = _load("holdout_replies.yaml")


def test_the_list_is_big_and_balanced_enough() -> None:
    violating = [s for s in SENTENCES if s["expect"]]
    innocent = [s for s in SENTENCES if not s["expect"]]
    assert len(SENTENCES) >= 90
    assert len(violating) >= 40
    assert len(innocent) >= 40
    kinds = {kind for s in SENTENCES for kind in s["expect"]}
    assert kinds == {k.value for k in ViolationKind}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(s["text"], s["expect"], id=_case_id(i, s["text"]))
        for i, s in enumerate(SENTENCES)
    ],
)
def test_labelled_sentence_gets_exactly_its_kinds(text: str, expected: list[str]) -> None:
    got = {v.kind for v in check_reply(text)}
    assert got == {ViolationKind(k) for k in expected}, [v.rule for v in check_reply(text)]


def test_the_holdout_is_balanced_and_covers_every_kind() -> None:
    assert len(HOLDOUT) >= 80
    assert sum(1 for s in HOLDOUT if s["expect"]) >= 40
    assert sum(1 for s in HOLDOUT if not s["expect"]) >= 40
    assert {kind for s in HOLDOUT for kind in s["expect"]} == {k.value for k in ViolationKind}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(s["text"], s["expect"], id=_case_id(i, s["text"]))
        for i, s in enumerate(HOLDOUT)
    ],
)
def test_holdout_reply_gets_exactly_its_kinds(text: str, expected: list[str]) -> None:
    got = {v.kind for v in check_reply(text)}
    assert got == {ViolationKind(k) for k in expected}, [v.rule for v in check_reply(text)]


def test_rules_are_fixed_ids_without_digits_or_reply_text() -> None:
    for sentence in [*SENTENCES, *HOLDOUT]:
        for violation in check_reply(sentence["text"]):
            assert re.fullmatch(r"[a-z_]+\.[a-z_]+", violation.rule), violation.rule
            assert not any(ch.isdigit() for ch in violation.rule)
            assert violation.rule.split(".")[0] in {"price", "discount", "lead_time", "questions"}


def test_one_violation_per_rule_in_a_stable_order() -> None:
    text = "A FB300 custa R$ 12.900 com 10% de desconto e entregamos em 20 dias. Ok? Certo? Tá?"
    violations = check_reply(text)
    assert len(violations) == len(set(violations))
    kinds = [v.kind for v in violations]
    assert kinds == sorted(kinds, key=list(ViolationKind).index)
    assert Violation(ViolationKind.TOO_MANY_QUESTIONS, "questions.too_many") in violations


def test_empty_and_plain_replies_are_safe() -> None:
    assert check_reply("") == ()
    assert check_reply("Olá! Sou o assistente virtual da Seleto Industrial.") == ()


# --- question counting ------------------------------------------------------------------


def test_exactly_two_questions_are_allowed() -> None:
    assert check_reply("Qual o seu nome? E a cidade?") == ()


def test_three_questions_are_rejected() -> None:
    violations = check_reply("Qual o seu nome? E a cidade? E o volume?")
    assert [v.kind for v in violations] == [ViolationKind.TOO_MANY_QUESTIONS]


def test_repeated_marks_count_once() -> None:
    assert count_questions("Sério?? Mesmo?!? Nossa???") == 3
    assert check_reply("Sério?? Quantos por dia??") == ()


def test_url_query_strings_are_not_questions() -> None:
    text = (
        "Catálogo: https://seletoindustrial.com.br/catalogo?utm_source=wa&x=1 e "
        "www.seletoindustrial.com.br/fb300?ref=bot. Qual te interessou? Quer o vídeo?"
    )
    assert count_questions(text) == 2
    assert check_reply(text) == ()


def test_max_questions_is_configurable() -> None:
    assert check_reply("Qual o seu nome? E a cidade?", max_questions=1) == (
        Violation(ViolationKind.TOO_MANY_QUESTIONS, "questions.too_many"),
    )
    assert check_reply("A? B? C? D?", max_questions=4) == ()


# --- a few focused forms ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "R$ 1.500,00",
        "R$1500",
        "r$ 2 mil",
        "US$ 3.000",
        "1.500 reais",
        "15k",
        "15 mil",
        "custa dez mil",
        "mil e quinhentos reais",
        "800 pila",
        "50 paus",
        "27 e quinhentos",
    ],
)
def test_money_on_its_own_is_a_price(text: str) -> None:
    assert {v.kind for v in check_reply(text)} == {ViolationKind.PRICE}


@pytest.mark.parametrize(
    "text",
    [
        "ligue (11) 98765-4321",
        "CNPJ 11.222.333/0001-81",
        "CNPJ 12.ABC.345/01DE-35",
        "produz 2 mil por dia",
        "3x220 V",
        "20% de gordura",
        "a partir de março de 2026",
    ],
)
def test_numbers_that_are_not_money_pass(text: str) -> None:
    assert check_reply(text) == ()


def test_instalment_count_is_a_condition_but_an_amount_is_a_price() -> None:
    assert {v.kind for v in check_reply("Dá para pagar em 6 parcelas.")} == {ViolationKind.DISCOUNT}
    assert {v.kind for v in check_reply("Fica em 12x de 150.")} == {ViolationKind.PRICE}
    assert check_reply("Em 3x220 V ela roda bem.") == ()


@pytest.mark.parametrize(
    "text",
    [
        "Consigo te entregar antes do Natal.",
        "Até o fim do mês chega aí na sua fábrica.",
        "Em uns 20 dias ela tá rodando na sua produção.",
        "Despachamos até o dia 15.",
    ],
)
def test_delivery_promises_without_a_duration_word(text: str) -> None:
    assert {v.kind for v in check_reply(text)} == {ViolationKind.LEAD_TIME}


def test_accents_and_case_do_not_matter() -> None:
    assert check_reply("PREÇO: 9.990") == check_reply("preco: 9.990")
    assert check_reply("ENTREGA IMEDIATA")[0].kind is ViolationKind.LEAD_TIME


def test_long_reply_is_checked_quickly() -> None:
    import time

    text = "A FB300 faz de 300 a 350 hambúrgueres por hora, mil mil mil e e e 1.2.3.4 " * 200
    started = time.perf_counter()
    check_reply(text)
    assert time.perf_counter() - started < 1.0


def test_zero_width_characters_do_not_hide_a_price() -> None:
    assert {v.kind for v in check_reply("O pre\u200bço é R$\u200b 9.990")} == {ViolationKind.PRICE}
