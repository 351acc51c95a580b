"""Output guardrail: deterministic checks on a reply the bot is about to send.

DOMAIN.md decision 3: the agent never states prices, discounts or delivery lead times (payment
*methods* in general terms are fine); §2.3: at most two questions in a row. The model is told
so in the prompt, but a prompt is a request, not a guarantee, so every reply passes through
`check_reply` before it is sent.

Design: the text is folded (NFKD, accents dropped, casefolded) and matched against regexes
compiled once at import in `guardrail_patterns.py`; this module applies them and adds the
context checks. A number is money only when its shape or its neighbours say so (a currency
sign or word, a price word a few words before it, "mil"/"k" with no quantity after it); a
number followed by a unit ("300 por hora", "5 kg", "220 V", "20% de gordura") is a spec, not a
price. Each `Violation.rule` is a fixed id from these two modules, never text from the reply,
so it can go to logs and metrics as it is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from seleto_agent.domain import guardrail_patterns as rx


class ViolationKind(StrEnum):
    PRICE = "price"
    DISCOUNT = "discount"
    LEAD_TIME = "lead_time"
    TOO_MANY_QUESTIONS = "too_many_questions"


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind
    rule: str  # a fixed id such as "price.currency_symbol"; never the lead's or the bot's text


def fold(text: str) -> str:
    """Lowercase, accents removed ("Preço à vista" -> "preco a vista"), so patterns stay ASCII."""
    decomposed = unicodedata.normalize("NFKD", text)
    # Combining marks (accents) and format characters (zero-width spaces, which would split
    # "pre\u200bço" past every pattern) are dropped.
    kept = (
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cf"
    )
    return "".join(kept).casefold()


# --- price ----------------------------------------------------------------------------------


def _money_shaped(amount: str, *, min_digits: int) -> bool:
    """A thousands separator, a scale ("mil", "k") or at least `min_digits` digits; not a year."""
    if rx.YEAR.fullmatch(amount):
        return False
    if not amount[:1].isdigit():
        return True  # a spelled-out amount only matches BIG_WORDNUM when it is large
    digits = re.sub(r",\d{1,2}$", "", amount.split()[0]).replace(".", "")
    has_scale = any(ch.isalpha() for ch in amount)
    return has_scale or "." in amount or len(digits) >= min_digits


def _price_rules(folded: str) -> list[str]:
    fired = [rule for rule, pattern in rx.PRICE_PATTERNS if pattern.search(folded)]
    for rule, pattern, min_digits in (
        ("price.weak_cue_amount", rx.WEAK_CUE_AMOUNT, 3),
        ("price.by_amount", rx.BY_AMOUNT, 4),
    ):
        amounts = (m.group("amount").strip() for m in pattern.finditer(folded))
        if any(_money_shaped(a, min_digits=min_digits) for a in amounts):
            fired.append(rule)
    for match in rx.BARE_THOUSANDS.finditer(folded):
        if not rx.OUTPUT_CONTEXT.search(_clause_before(folded, match.start())):
            fired.append("price.bare_thousands")
            break
    return fired


def _clause_before(text: str, index: int, width: int = 60) -> str:
    """The words before `index` in the same sentence (at most `width` characters)."""
    start = max(0, index - width)
    head = text[start:index]
    cut = max(head.rfind(". "), head.rfind("!"), head.rfind("?"), head.rfind(";"), head.rfind("\n"))
    return head[cut + 1 :] if cut >= 0 else head


# --- discount -------------------------------------------------------------------------------


def _discount_rules(folded: str) -> list[str]:
    fired = [rule for rule, pattern in rx.DISCOUNT_PATTERNS if pattern.search(folded)]
    for match in rx.DISCOUNT_OFFER.finditer(folded):
        if not rx.NEGATION.search(_clause_before(folded, match.start(), width=30)):
            fired.append("discount.offer")
            break
    return fired


# --- lead time ------------------------------------------------------------------------------


def _lead_time_rules(folded: str) -> list[str]:
    fired = [rule for rule, pattern in rx.LEAD_TIME_PATTERNS if pattern.search(folded)]
    for rule, pattern in (
        ("lead_time.cue_duration", rx.CUE_DURATION),
        ("lead_time.duration_cue", rx.DURATION_CUE),
        ("lead_time.duration_running", rx.DURATION_RUNNING),
        ("lead_time.day_arrival", rx.DAY_ARRIVAL),
    ):
        for match in pattern.finditer(folded):
            end = match.end() + 25
            around = _clause_before(folded, match.start()) + folded[match.start() : end]
            if not rx.NOT_DELIVERY.search(around):
                fired.append(rule)
                break
    for rule, pattern in (
        ("lead_time.arrival_day", rx.ARRIVAL_DAY),
        ("lead_time.generic_duration", rx.GENERIC_DURATION),
    ):
        for match in pattern.finditer(folded):
            clause = _clause_before(folded, match.start()) + match.group()
            if not rx.CONTACT_CONTEXT.search(clause):
                fired.append(rule)
                break
    return fired


# --- questions ------------------------------------------------------------------------------


def count_questions(text: str) -> int:
    """Runs of "?" outside links: "Qual o volume??" is one question, "?!" too."""
    plain = unicodedata.normalize("NFKC", text)  # a full-width "？" is a "?" too
    return len(rx.QUESTION_RUN.findall(rx.URL.sub(" ", plain)))


# --- entry point ----------------------------------------------------------------------------


def check_reply(text: str, *, max_questions: int = 2) -> tuple[Violation, ...]:
    """Every rule the reply breaks, one `Violation` per rule that fired; empty means safe.

    Order is stable (price, discount, lead time, questions) so logs and tests can compare.
    """
    folded = fold(text)
    violations: list[Violation] = []
    for kind, rules in (
        (ViolationKind.PRICE, _price_rules(folded)),
        (ViolationKind.DISCOUNT, _discount_rules(folded)),
        (ViolationKind.LEAD_TIME, _lead_time_rules(folded)),
    ):
        violations.extend(Violation(kind=kind, rule=rule) for rule in dict.fromkeys(rules))
    if count_questions(text) > max_questions:
        violations.append(
            Violation(kind=ViolationKind.TOO_MANY_QUESTIONS, rule="questions.too_many")
        )
    return tuple(violations)
