"""Opaque page cursors of the admin lists (newest first, so a cursor is the last id seen)."""

from __future__ import annotations

import base64

from seleto_agent.api.errors import InvalidPayload
from seleto_agent.db.ids import MAX_ROW_ID


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = decoded.partition(":")
        last_id = int(value)
        if prefix != "id" or not 0 < last_id <= MAX_ROW_ID:
            raise ValueError(cursor)
        return last_id
    except ValueError as exc:
        raise InvalidPayload("invalid cursor") from exc
