"""structlog set-up: JSON (or console) lines on stdout, correlation ids, PII redaction.

Standard-library loggers (uvicorn, httpx, agno) go through the same processors, so a third-party
line cannot leak what ours may not.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from seleto_agent.observability.errors import safe_traceback
from seleto_agent.observability.redaction import RedactPII

# Third-party loggers that log request URLs, SQL parameters or message bodies below WARNING.
_QUIET_LOGGERS = {
    name: logging.WARNING
    for name in (
        "httpx",
        "httpcore",
        "agno",
        "aiosqlite",
        "sqlalchemy",
        "psycopg",
        "openai",
        "httpx2",
        "asyncio",
    )
}
# Agno's loggers print to their own stdout handler and do not propagate (agno/utils/log.py), and
# Agno sets them back to INFO on every run, so a logger level is not enough for them.
_AGNO_LOGGERS = ("agno", "agno-team", "agno-workflow")


def configure_logging(*, level: str, fmt: str, pii_key: bytes) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _format_exc_info_safely,
        _drop_color_message,
        RedactPII(pii_key),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(_QuietThirdParty())
    for name in _AGNO_LOGGERS:
        agno_logger = logging.getLogger(name)
        agno_logger.handlers = []
        agno_logger.propagate = True
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Our own access log (api/middleware.py) replaces uvicorn's, whose paths hold webhook tokens.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


class _QuietThirdParty(logging.Filter):
    """Drops third-party records below WARNING whatever level their logger was reset to."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        root_name = record.name.split(".", 1)[0]
        return root_name not in _QUIET_LOGGERS and root_name not in _AGNO_LOGGERS


def _drop_color_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn duplicates its message with terminal colour codes for its own formatter.
    event_dict.pop("color_message", None)
    return event_dict


def _format_exc_info_safely(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog's `format_exc_info`, but exception messages never reach the line: they quote
    rows, vendor bodies and arguments (observability/errors.py)."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    error = exc_info if isinstance(exc_info, BaseException) else None
    if isinstance(exc_info, tuple):
        error = exc_info[1]
    if error is not None:
        event_dict["exception"] = safe_traceback(error)
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
