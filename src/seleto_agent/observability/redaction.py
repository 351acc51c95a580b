"""Keeps personal data out of log lines (LGPD): phones, e-mails, CNPJs, CPFs and message text.

Known text-bearing keys are dropped to their length; known identifier keys are replaced by a
keyed HMAC (correlates lines without revealing the value); every other string is scanned and
the identifiers in it are masked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

# Keys whose values are message content or free text typed by a lead: never logged.
TEXT_KEYS = frozenset(
    {"text", "message", "body", "content", "payload", "transcript", "reply", "input", "prompt"}
)
# Keys that hold an identifier: masked, with a keyed hash beside them for correlation.
IDENTIFIER_KEYS = frozenset({"phone", "reply_to", "recipient", "sender", "e164", "to", "email"})

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CNPJ_MASKED_RE = re.compile(r"\b[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}\b")
_CNPJ_BARE_RE = re.compile(r"\b(?=[0-9A-Z]*\d[0-9A-Z]*\b)[0-9A-Z]{12}\d{2}\b")
_CPF_RE = re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b")
# Phone-like runs: 10 to 13 digits, optionally with +, spaces, dots, dashes or parentheses.
_PHONE_RE = re.compile(r"(?<![\w])\+?\(?\d[\d\s().-]{8,18}\d(?![\w])")
# Cloud API business-scoped user ids (`BR.1502576394655843`, parent `BR.ENT.…`): a person's id.
_BSUID_RE = re.compile(
    r"\b([A-Z]{2}\.)(?:ENT\.)?(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{2,124}([A-Za-z0-9]{4})\b"
)
# Z-API puts the instance token in the URL path; never let a URL carry it into a log.
_PATH_TOKEN_RE = re.compile(r"(/token/|/webhooks/(?:zapi|chatwoot)/)[^/\s?\"']+")
# A SQLAlchemy error message lists the statement's values (the whole row) after `[parameters:`;
# everything from there to SQLAlchemy's closing "(Background on this error" note goes.
_SQL_PARAMETERS_RE = re.compile(r"\[parameters: .*?(?=\(Background on this error|\Z)", re.DOTALL)


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not 10 <= len(digits) <= 13:
        return match.group(0)
    return f"***{digits[-4:]}"


def scrub(text: str) -> str:
    """Mask every identifier found in free text."""
    text = _SQL_PARAMETERS_RE.sub("[parameters: hidden]\n", text)
    text = _PATH_TOKEN_RE.sub(r"\1***", text)
    text = _BSUID_RE.sub(r"\1***\2", text)
    text = _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    text = _CNPJ_MASKED_RE.sub("**.***.***/****-**", text)
    text = _CPF_RE.sub("***.***.***-**", text)
    text = _CNPJ_BARE_RE.sub("**************", text)
    return _PHONE_RE.sub(_mask_phone_match, text)


def keyed_hash(key: bytes, value: str) -> str:
    """Short HMAC-SHA256 of an identifier: correlates log lines without revealing the value."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


class RedactPII:
    """structlog processor applying the rules above to every event dict."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for name in list(event_dict):
            event_dict[name] = self._clean(name, event_dict[name])
        return event_dict

    def _clean(self, name: str, value: Any) -> Any:
        lowered = name.lower()
        if lowered in TEXT_KEYS and name != "event":
            return f"[redacted {len(value)} chars]" if isinstance(value, str) else "[redacted]"
        if lowered in IDENTIFIER_KEYS and isinstance(value, str):
            return f"[{keyed_hash(self._key, value)}]"
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, Mapping):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(name, item) for item in value]
        return value
