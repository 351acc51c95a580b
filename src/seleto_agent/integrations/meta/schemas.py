"""Cloud API answers we read (contracts whatsapp_cloud.md §3-4, 2026 §2.8-2.10).

Unknown fields are kept and ignored: Meta adds fields without a version bump.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MetaSentContact(_Lenient):
    input: str | None = None
    wa_id: str | None = None


class MetaSentItem(_Lenient):
    id: str | None = None
    # "accepted" or "held_for_quality_assessment" (whatsapp-api-js ServerSentMessageResponse);
    # absent on older versions. Acceptance is not delivery: statuses say that.
    message_status: str | None = None


class MetaSendResponse(_Lenient):
    messaging_product: str | None = None
    contacts: list[MetaSentContact] = Field(default_factory=list)
    messages: list[MetaSentItem] = Field(default_factory=list)

    @property
    def first(self) -> MetaSentItem | None:
        return self.messages[0] if self.messages else None


class MetaSuccessResponse(_Lenient):
    """Mark-as-read (and typing) answer: `{"success": true}`."""

    success: bool = False


class MetaMediaMetadata(_Lenient):
    """`GET /{version}/{media_id}`. The `url` lives 5 minutes and must never be stored."""

    url: str
    mime_type: str = "application/octet-stream"
    # Base64 in webhooks; the media object's encoding is a GAP, so either is accepted.
    sha256: str | None = None
    file_size: int | None = None
    id: str | None = None
    messaging_product: str | None = None


class GraphErrorDetail(_Lenient):
    code: int | None = None
    error_subcode: int | None = None
    fbtrace_id: str | None = None
    # Kept only so the model reads the body; never logged or raised (they can echo content).
    type: str | None = None


class GraphErrorBody(_Lenient):
    error: GraphErrorDetail | None = None
