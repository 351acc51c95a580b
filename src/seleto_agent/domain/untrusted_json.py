"""JSON from outside (webhooks, admin bodies), read so that nothing in it can crash a later step.

`json.loads` alone lets through what breaks us further on: nesting deep enough to raise
`RecursionError`, integers past Python's 4300-digit conversion limit, the non-JSON literals
`NaN`/`Infinity`, and strings that the databases refuse (Postgres `text` rejects NUL; a lone
UTF-16 surrogate, e.g. an emoji cut in half, cannot be encoded as UTF-8 at all). Everything
unreadable becomes one error; every string that is kept is made storable. Pure, no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Z-API and Chatwoot bodies nest 4-6 levels; 64 leaves room for any real payload and keeps the
# walk below far from Python's recursion limit.
MAX_DEPTH = 64

_NEEDS_CLEANING = re.compile("[\x00\ud800-\udfff]")


class UnreadableJson(ValueError):
    """The body is not JSON we accept; the message says why, with nothing from the body."""


def loads(raw: bytes | str) -> Any:
    """The parsed document with every string (keys too) made storable."""
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise UnreadableJson("nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableJson("not UTF-8") from exc
    except ValueError as exc:
        # JSONDecodeError, the integer-digits limit and `_refuse_constant`.
        raise UnreadableJson("not valid JSON") from exc
    return _clean(document, 0)


def clean_text(text: str) -> str:
    """NUL dropped; lone surrogates replaced by U+FFFD (a split pair is joined back)."""
    if not _NEEDS_CLEANING.search(text):
        return text
    text = text.replace("\x00", "")
    # Through UTF-16 and back: a valid high+low pair becomes its character again, and each
    # lone half becomes the replacement character.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise UnreadableJson("nested too deeply")
    if isinstance(value, dict):
        return {clean_text(key): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    return value
