from __future__ import annotations

import pytest

from seleto_agent.domain.brazil import (
    InvalidCnpj,
    InvalidEmail,
    format_cnpj,
    normalize_city,
    normalize_cnpj,
    normalize_uf,
    uf_from_ddd,
    validate_cnpj,
    validate_email,
)


@pytest.mark.parametrize(
    ("raw", "normalised", "masked"),
    [
        # RFB worked example of the alphanumeric CNPJ (IN RFB 2.229/2024).
        ("12ABC34501DE35", "12ABC34501DE35", "12.ABC.345/01DE-35"),
        ("12.ABC.345/01DE-35", "12ABC34501DE35", "12.ABC.345/01DE-35"),
        ("12abc34501de35", "12ABC34501DE35", "12.ABC.345/01DE-35"),
        ("11.222.333/0001-81", "11222333000181", "11.222.333/0001-81"),
        (" 11 222 333 0001 81 ", "11222333000181", "11.222.333/0001-81"),
    ],
)
def test_valid_cnpjs_normalise_and_format(raw: str, normalised: str, masked: str) -> None:
    assert validate_cnpj(raw) == normalised
    assert format_cnpj(raw) == masked


def test_normalising_never_drops_letters() -> None:
    assert normalize_cnpj("12.abc.345/01de-35") == "12ABC34501DE35"
    assert normalize_cnpj("12_ABC") == "12_ABC"  # left for validation to reject


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("11.222.333/0001-82", "dígitos verificadores"),
        ("12ABC34501DE36", "dígitos verificadores"),
        ("11111111111111", "todos os caracteres iguais"),
        ("00.000.000/0000-00", "todos os caracteres iguais"),
        ("12ABC34501DEAB", "caracteres inválidos"),
        ("12_ABC34501DE3", "caracteres inválidos"),
        ("1122233300018", "14 caracteres"),
        ("", "14 caracteres"),
    ],
)
def test_invalid_cnpjs_explain_why_in_pt_br(raw: str, reason: str) -> None:
    with pytest.raises(InvalidCnpj, match=reason):
        validate_cnpj(raw)


def test_formatting_an_invalid_cnpj_raises() -> None:
    with pytest.raises(InvalidCnpj):
        format_cnpj("11.222.333/0001-82")


@pytest.mark.parametrize(
    ("text", "uf"),
    [
        ("SC", "SC"),
        ("sc", "SC"),
        ("Santa Catarina", "SC"),
        ("sta catarina", "SC"),
        ("Sta. Catarina", "SC"),
        ("São Paulo", "SP"),
        ("sao paulo", "SP"),
        ("SÃO PAULO", "SP"),
        ("Distrito Federal", "DF"),
        ("Estado do Paraná", "PR"),
        ("Pará", "PA"),
        ("paraiba", "PB"),
        ("Rio Grande do Sul", "RS"),
        ("Mato Grosso do Sul", "MS"),
        ("Minas", "MG"),
        ("  espírito   santo ", "ES"),
        ("Rio", None),  # a city or a state: ask
        ("Atlântida", None),
        ("", None),
    ],
)
def test_normalize_uf(text: str, uf: str | None) -> None:
    assert normalize_uf(text) == uf


@pytest.mark.parametrize(
    ("ddd", "uf"),
    [
        ("11", "SP"),
        ("19", "SP"),
        ("21", "RJ"),
        ("47", "SC"),
        ("(48)", "SC"),
        ("044", "PR"),
        ("51", "RS"),
        ("61", "DF"),
        ("71", "BA"),
        ("81", "PE"),
        ("92", "AM"),
        ("99", "MA"),
        ("20", None),  # not in use
        ("52", None),
        ("", None),
    ],
)
def test_uf_from_ddd(ddd: str, uf: str | None) -> None:
    assert uf_from_ddd(ddd) == uf


def test_every_uf_has_a_ddd_and_there_are_67_of_them() -> None:
    ufs = [uf_from_ddd(str(n)) for n in range(11, 100)]
    assert sum(uf is not None for uf in ufs) == 67
    assert len({uf for uf in ufs if uf}) == 27


def test_valid_email_is_normalised() -> None:
    assert validate_email("  Joao.Silva@Empresa.COM.br ") == "Joao.Silva@empresa.com.br"


@pytest.mark.parametrize("text", ["joao@", "joao@@empresa.com", "sem arroba", "joao@empresa"])
def test_invalid_email_is_rejected(text: str) -> None:
    with pytest.raises(InvalidEmail, match="E-mail inválido"):
        validate_email(text)


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("  são   josé DOS pinhais ", "São José dos Pinhais"),
        ("rio de janeiro", "Rio de Janeiro"),
        ("FLORIANÓPOLIS", "Florianópolis"),
        ("embu-guaçu", "Embu-Guaçu"),
        ("das neves", "Das Neves"),  # a particle opening the name is capitalised
    ],
)
def test_normalize_city(text: str, city: str) -> None:
    assert normalize_city(text) == city
