"""Brazilian identifiers: CNPJ, UF, DDD, e-mail and city names (DOMAIN.md §3).

One module wraps the libraries (python-stdnum for the CNPJ, email-validator for e-mail) so a
later swap, or the LGPL question on stdnum, touches a single file. Error reasons are pt-BR
because the agent may relay them to the lead.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError
from email_validator import validate_email as _check_email
from stdnum.br import cnpj as _stdnum_cnpj
from stdnum.exceptions import InvalidChecksum, ValidationError


class InvalidCnpj(ValueError):
    """The reason (pt-BR) is the exception message."""


class InvalidEmail(ValueError):
    """The reason (pt-BR) is the exception message."""


# --- CNPJ ---------------------------------------------------------------------------------------

_CNPJ_SEPARATORS_RE = re.compile(r"[./\-\s]")
# NT Conjunta 2025.001: root and branch may hold letters from July 2026; check digits stay numeric.
_CNPJ_RE = re.compile(r"[A-Z0-9]{12}[0-9]{2}")


def normalize_cnpj(text: str) -> str:
    """Strip only `. / -` and spaces and uppercase; letters are kept (alphanumeric CNPJ)."""
    return _CNPJ_SEPARATORS_RE.sub("", text).upper()


def validate_cnpj(text: str) -> str:
    """The normalised CNPJ, or InvalidCnpj with a pt-BR reason."""
    value = normalize_cnpj(text)
    if len(value) != 14:
        raise InvalidCnpj("O CNPJ deve ter 14 caracteres.")
    if not _CNPJ_RE.fullmatch(value):
        raise InvalidCnpj("O CNPJ tem caracteres inválidos (os 2 últimos devem ser números).")
    # "00000000000000" and the like pass the checksum but are never issued.
    if len(set(value)) == 1:
        raise InvalidCnpj("O CNPJ não pode ter todos os caracteres iguais.")
    try:
        _stdnum_cnpj.validate(value)
    except InvalidChecksum as exc:
        raise InvalidCnpj("Os dígitos verificadores do CNPJ não conferem.") from exc
    except ValidationError as exc:  # stdnum's own format rules, should ours ever drift
        raise InvalidCnpj("O CNPJ não está em um formato válido.") from exc
    return value


def same_cnpj(stored: str | None, cnpj: str) -> bool:
    """Whether a CNPJ as another system wrote it (masked or not, any letter case) is this one."""
    return bool(stored) and normalize_cnpj(stored or "") == normalize_cnpj(cnpj)


def format_cnpj(value: str) -> str:
    """Masked form of a valid CNPJ: "12ABC34501DE35" -> "12.ABC.345/01DE-35"."""
    return str(_stdnum_cnpj.format(validate_cnpj(value)))


# --- UF and DDD ---------------------------------------------------------------------------------

_UF_NAMES = {
    "AC": "acre",
    "AL": "alagoas",
    "AP": "amapa",
    "AM": "amazonas",
    "BA": "bahia",
    "CE": "ceara",
    "DF": "distrito federal",
    "ES": "espirito santo",
    "GO": "goias",
    "MA": "maranhao",
    "MT": "mato grosso",
    "MS": "mato grosso do sul",
    "MG": "minas gerais",
    "PA": "para",
    "PB": "paraiba",
    "PR": "parana",
    "PE": "pernambuco",
    "PI": "piaui",
    "RJ": "rio de janeiro",
    "RN": "rio grande do norte",
    "RS": "rio grande do sul",
    "RO": "rondonia",
    "RR": "roraima",
    "SC": "santa catarina",
    "SP": "sao paulo",
    "SE": "sergipe",
    "TO": "tocantins",
}
# Short forms leads write for a state.
_UF_NICKNAMES = {"minas": "MG", "brasilia": "DF"}
_UF_LOOKUP = {
    **{name: uf for uf, name in _UF_NAMES.items()},
    **{uf.lower(): uf for uf in _UF_NAMES},
    **_UF_NICKNAMES,
}
_ABBREVIATIONS = {"sta": "santa", "sto": "santo", "est": "estado"}
_STATE_PREFIX_RE = re.compile(r"^(?:estado|est) (?:de |do |da )?")

# DOMAIN §3.3 (checked against the phonenumbers geocoder): UF -> DDDs.
_DDDS = {
    "SP": "11 12 13 14 15 16 17 18 19",
    "RJ": "21 22 24",
    "ES": "27 28",
    "MG": "31 32 33 34 35 37 38",
    "PR": "41 42 43 44 45 46",
    "SC": "47 48 49",
    "RS": "51 53 54 55",
    "DF": "61",
    "GO": "62 64",
    "TO": "63",
    "MT": "65 66",
    "MS": "67",
    "AC": "68",
    "RO": "69",
    "BA": "71 73 74 75 77",
    "SE": "79",
    "PE": "81 87",
    "AL": "82",
    "PB": "83",
    "RN": "84",
    "CE": "85 88",
    "PI": "86 89",
    "PA": "91 93 94",
    "AM": "92 97",
    "RR": "95",
    "AP": "96",
    "MA": "98 99",
}
_UF_BY_DDD = {ddd: uf for uf, ddds in _DDDS.items() for ddd in ddds.split()}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def normalize_uf(text: str) -> str | None:
    """The 2-letter UF for "SC", "Santa Catarina", "sta. catarina", "Estado de São Paulo"..."""
    words = re.sub(r"[^a-z]+", " ", _fold(text)).split()
    folded = " ".join(_ABBREVIATIONS.get(word, word) for word in words)
    return _UF_LOOKUP.get(_STATE_PREFIX_RE.sub("", folded))


def uf_from_ddd(ddd: str) -> str | None:
    """The UF of a DDD ("47", "(47)", "047"); the DDD gives the state, never the city."""
    digits = re.sub(r"\D", "", ddd).lstrip("0")
    return _UF_BY_DDD.get(digits)


# --- e-mail and city ----------------------------------------------------------------------------


def validate_email(text: str) -> str:
    """Normalised address (domain lowercased), or InvalidEmail; no DNS lookup (no I/O here)."""
    try:
        return _check_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidEmail("E-mail inválido; confira o endereço.") from exc


_CITY_PARTICLES = frozenset({"de", "da", "do", "dos", "das"})


def normalize_city(text: str) -> str:
    """Trimmed, single-spaced title case, "de/da/do/dos/das" lowercase: "São José dos Pinhais"."""
    words = text.split()
    return " ".join(
        word.lower() if index and word.lower() in _CITY_PARTICLES else _capitalize(word)
        for index, word in enumerate(words)
    )


def _capitalize(word: str) -> str:
    # Hyphenated names capitalise each part: "Embu-Guaçu".
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
