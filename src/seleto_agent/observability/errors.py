"""What an exception may say in a log line or a stored `last_error`: never the data it carries.

Exception messages quote their input. A database error quotes the row (SQLAlchemy's
`[parameters: ...]`, Postgres' `DETAIL: Key (...)=(...)`), a vendor's 4xx/5xx body may echo the
message we sent and the phone, and a builtin error quotes its argument (`int('...')`,
`KeyError('...')`). So:
- database errors: the class names and a fixed reason;
- exceptions of other libraries: the class name and where it was raised, never the message;
- our own exceptions: their message, which we write, with everything after `HTTP <status>:`
  (the vendor's words, by this codebase's convention) cut and identifiers masked.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from seleto_agent.observability.redaction import scrub

_OURS = "seleto_agent"
_VENDOR_WORDS = re.compile(r"(HTTP \d{3}):.*", re.DOTALL)
# `last_error` is read in the admin API and the CLI: a line, not an essay.
MAX_ERROR_CHARS = 500


def describe_error(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        driver = f" ({type(orig).__name__})" if orig is not None else ""
        return f"{name}: database error{driver}"
    if not type(exc).__module__.startswith(_OURS):
        where = _raised_at(exc)
        return f"{name} at {where}" if where else name
    message = _VENDOR_WORDS.sub(r"\1", str(exc))
    return scrub(f"{name}: {message}" if message else name)[:MAX_ERROR_CHARS]


def safe_traceback(exc: BaseException) -> str:
    """A traceback with every frame, but `describe_error` in place of each message."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for error in reversed(chain):
        if parts:
            parts.append("\nThe above exception led to the following one:\n\n")
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(frames.format())
        parts.append(describe_error(error) + "\n")
    return "".join(parts).rstrip("\n")


def _raised_at(exc: BaseException) -> str | None:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"
