"""Loose equality of free-text slot values, for scoring a real model's own wording.

A real model records "2000 hambúrgueres/dia" where the scenario wrote "2.000 hambúrgueres por
dia", or "Smash Burger" for "Smash Burger Londrina". Two values are loosely equal when:

1. both are folded: accents dropped, case folded, punctuation to spaces, and numbers read the
   Brazilian way ("2.000" and "2 mil" are 2000, "2,5 mil" is 2500, a lone "mil" is 1000;
   digits right after a letter stay part of a code such as "FB300");
2. their key tokens are the folded words minus pt-BR function words ("de", "por", "uns",
   "este"...) with a plural ending dropped ("hambúrgueres" → "hamburguer", "dias" → "dia");
3. the value the model wrote has at least one key token (it is filled);
4. both name the same numbers (a volume of 2000 is not one of 3000);
5. at least half of the words (non-number key tokens) of the shorter value, rounded up, are
   among the other's. So one value containing the other always passes ("Marina" and "Marina
   Souza"), a one-word value must appear in the other, and "por dia" is not "por hora".
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

# Articles, prepositions and their contractions, demonstratives and hedges ("uns 3 mil").
_FUNCTION_WORDS = (
    "a o as os um uma uns umas de da do das dos e em no na nos nas num numa por para pra pro "
    "com ao aos que ou este esta esse essa isso isto cerca aproximadamente mais menos"
)
STOPWORDS = frozenset(_FUNCTION_WORDS.split())
# Digits right after a letter belong to a code ("FB300"), not a quantity.
_NUMBER_RE = re.compile(r"(?<![a-z\d])(\d{1,3}(?:\.\d{3})+|\d+(?:,\d+)?)(\s*mil\b)?|\bmil\b")
_WORD_RE = re.compile(r"[a-z0-9]+")
_NUMBER_TOKEN_RE = re.compile(r"\d+(?:d\d+)?")


def fold(text: str) -> str:
    """Accent- and case-free text with numbers written as plain digits ("2.000" → "2000")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD_RE.findall(_NUMBER_RE.sub(_plain_number, plain)))


def key_tokens(text: str) -> frozenset[str]:
    return frozenset(_singular(word) for word in fold(text).split() if word not in STOPWORDS)


def loosely_equal(expected: str, got: str) -> bool:
    mine, theirs = key_tokens(expected), key_tokens(got)
    if not theirs or _numbers(mine) != _numbers(theirs):
        return False
    words, other = mine - _numbers(mine), theirs - _numbers(theirs)
    return 2 * len(words & other) >= min(len(words), len(other))


def _plain_number(match: re.Match[str]) -> str:
    digits, thousand = match.group(1), match.group(2)
    if digits is None:  # a lone "mil"
        return " 1000 "
    grouped = re.fullmatch(r"\d{1,3}(?:\.\d{3})+", digits) is not None
    value = Decimal(digits.replace(".", "") if grouped else digits.replace(",", "."))
    if thousand:
        value *= 1000
    # One token even with decimals ("2,5" → "2d5"), so "2,5" and "2" stay different numbers.
    return " " + f"{value.normalize():f}".replace(".", "d") + " "


def _numbers(tokens: frozenset[str]) -> frozenset[str]:
    return frozenset(token for token in tokens if _NUMBER_TOKEN_RE.fullmatch(token))


def _singular(word: str) -> str:
    # pt-BR plurals: "-es" after r, z or s ("hambúrgueres", "meses"), "-s" after a vowel.
    if len(word) > 4 and word.endswith("es") and word[-3] in "rzs":
        return word[:-2]
    if len(word) > 3 and word.endswith("s"):
        return word[:-1]
    return word
