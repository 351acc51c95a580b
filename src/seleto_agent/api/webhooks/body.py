"""A provider's webhook body as a JSON object, or a 400 with the raw bytes kept as rejected."""

from __future__ import annotations

from typing import Any

from seleto_agent.api.errors import InvalidPayload, MalformedJson
from seleto_agent.domain.untrusted_json import UnreadableJson, loads
from seleto_agent.services.ingest import IngestService


async def json_object(ingest: IngestService, *, provider: str, raw: bytes) -> dict[str, Any]:
    """Strings come back storable (no NUL, no lone surrogate): the raw bytes are what is kept
    as sent, the parsed columns are what the turn and the databases read."""
    try:
        body = loads(raw)
    except UnreadableJson as exc:
        await ingest.record_rejected(
            provider=provider, raw=raw, event_type="malformed", error="malformed_json"
        )
        raise MalformedJson(f"body is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        await ingest.record_rejected(
            provider=provider, raw=raw, event_type="malformed", error="not_a_json_object"
        )
        raise InvalidPayload("body must be a JSON object")
    return body
