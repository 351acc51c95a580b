"""`POST /webhooks/chatwoot/{token}`: verify, store, queue; the worker does the rest.

Chatwoot waits 5 s at most and does not retry account or API-inbox webhooks, so this answers
fast and never depends on WhatsApp or the model.

`CHATWOOT_WEBHOOK_SECRET` is a comma list: every webhook pointing here (the API inbox's, an
account webhook's) signs with its own secret, and a rotation needs the old and the new one for
a while. Chatwoot signs API-inbox webhooks from 4.13.0 only (DECISIONS C27).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from seleto_agent.api.deps import RuntimeDep, check_token
from seleto_agent.api.errors import InvalidPayload, MalformedJson, Unauthorized
from seleto_agent.domain.untrusted_json import UnreadableJson, loads
from seleto_agent.integrations.chatwoot.signature import SignatureCheck, verify_any
from seleto_agent.integrations.chatwoot.webhook import InvalidChatwootPayload, parse_event
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import WEBHOOKS
from seleto_agent.services.chatwoot_ingest import PROVIDER
from seleto_agent.settings import secret

router = APIRouter()
log = get_logger(__name__)

# What ops should look at first when a delivery is refused (vendors review #6).
LIKELY_CAUSE: dict[SignatureCheck, str] = {
    SignatureCheck.MISSING: (
        "Chatwoot sent no signature: API-inbox webhooks are signed from Chatwoot 4.13.0 "
        "(account webhooks from 4.11.2); upgrade Chatwoot. An older inbox shows only its "
        "HMAC token, which signs nothing"
    ),
    SignatureCheck.MISMATCH: (
        "no secret in CHATWOOT_WEBHOOK_SECRET signed it: copy the webhook secret of each "
        "webhook pointing here (not the inbox HMAC token), comma-separated"
    ),
    SignatureCheck.STALE: (
        "timestamp outside CHATWOOT_SIGNATURE_TOLERANCE_SECONDS: a replay, or the clocks of "
        "Chatwoot and this host differ"
    ),
    SignatureCheck.MALFORMED: "signature headers not in Chatwoot's format: not from Chatwoot",
}


def signing_secrets(value: str | None) -> list[bytes]:
    return [part.strip().encode() for part in (value or "").split(",") if part.strip()]


@router.post("/webhooks/chatwoot/{token}")
async def chatwoot_webhook(token: str, request: Request, runtime: RuntimeDep) -> dict[str, str]:
    settings = runtime.settings
    check_token(token, secret(settings.chatwoot_webhook_token))
    # At most MAX_BODY_BYTES: api/body_limit.py answered 413 before this route for more.
    raw = await request.body()
    secrets = signing_secrets(secret(settings.chatwoot_webhook_secret))
    timestamp = request.headers.get("x-chatwoot-timestamp")
    if secrets:
        check = verify_any(
            secrets=secrets,
            timestamp=timestamp,
            body=raw,
            signature=request.headers.get("x-chatwoot-signature"),
            now=time.time(),
            tolerance_seconds=settings.chatwoot_signature_tolerance_seconds,
        )
        if check is not SignatureCheck.OK:
            # Nothing is stored: an unsigned body could come from anyone.
            WEBHOOKS.labels(PROVIDER, "bad_signature").inc()
            log.warning(
                "chatwoot.bad_signature",
                check=check.value,
                cause=LIKELY_CAUSE[check],
                secrets_configured=len(secrets),
            )
            raise Unauthorized(f"signature check failed: {check.value}")
    try:
        event = parse_event(_document(raw))
    except InvalidChatwootPayload as exc:
        malformed = str(exc).endswith("is not JSON")
        await runtime.ingest.record_rejected(
            provider=PROVIDER,
            raw=raw,
            event_type="malformed",
            error="malformed_json" if malformed else "not_a_chatwoot_event",
        )
        if malformed:
            raise MalformedJson(str(exc)) from exc
        raise InvalidPayload(str(exc)) from exc
    outcome = await runtime.chatwoot_ingest.ingest(
        raw=raw, event=event, signed_at=timestamp if secrets else None
    )
    return {"status": outcome.value}


def _document(raw: bytes) -> dict[str, Any]:
    """The body read by the webhooks' rules (depth, NaN, storable strings: C29) before the
    Chatwoot parser sees it."""
    try:
        document = loads(raw)
    except UnreadableJson as exc:
        raise InvalidChatwootPayload("Chatwoot webhook body is not JSON") from exc
    if not isinstance(document, dict):
        raise InvalidChatwootPayload("Chatwoot webhook body is not a JSON object")
    return document
