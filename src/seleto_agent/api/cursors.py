"""Opaque page cursors of the admin lists (newest first, so a cursor is the last id seen)."""

from __future__ import annotations

import base64

from seleto_agent.api.errors import InvalidPayload


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = decoded.partition(":")
        if prefix != "id":
            raise ValueError(cursor)
        return int(value)
    except ValueError as exc:
        raise InvalidPayload("invalid cursor") from exc
