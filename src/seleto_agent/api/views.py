"""JSON views shared by the admin API and the CLI (kept free of the app's heavy imports)."""

from __future__ import annotations

from typing import Any

from seleto_agent.db.repositories.events import EventRecord
from seleto_agent.db.repositories.jobs import JobRecord
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


def job_item(job: JobRecord) -> dict[str, Any]:
    """An outbox job for ops. The payload holds ids only (no PII), so it is shown."""
    return {
        "id": job.id,
        "kind": job.kind.value,
        "status": job.status.value,
        "ordering_key": _masked_ordering_key(job.ordering_key),
        "payload": job.payload,
        "attempts": job.attempts,
        "last_error": job.last_error,
        # A vendor's field errors (PipeRun 422: field -> messages), readable by ops.
        "error_detail": job.error_detail,
        "next_attempt_at": job.next_attempt_at.isoformat(),
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "done_at": job.done_at.isoformat() if job.done_at else None,
    }


def _masked_ordering_key(key: str) -> str:
    # Chatwoot jobs are ordered per conversation key, which holds the lead's phone.
    prefix, sep, rest = key.partition(":")
    if sep and rest.startswith("wa:"):
        return f"{prefix}:{mask_conversation_key(rest)}"
    return key
