"""JSON views shared by the admin API and the CLI (kept free of the app's heavy imports)."""

from __future__ import annotations

from typing import Any

from seleto_agent.db.repositories.events import EventRecord
from seleto_agent.domain.phone import mask_conversation_key


def event_item(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "provider": event.provider,
        "type": event.event_type,
        "status": event.status.value,
        "phone": mask_conversation_key(event.conversation_key) if event.conversation_key else None,
        "message_id": event.message_id,
        "attempts": event.attempts,
        "last_error": event.last_error,
        # Voice notes: why one could not be used (a reason code), and whether the event's text
        # is a transcript. The transcript itself is message content: never in this view.
        "media_error": event.media_error,
        "body_is_transcript": event.body_is_transcript,
        "received_at": event.received_at.isoformat(),
        "updated_at": event.updated_at.isoformat(),
    }
