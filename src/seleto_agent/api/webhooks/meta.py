"""`GET/POST /webhooks/meta`: the Cloud API's verification handshake and its signed notifications
(contracts/whatsapp_cloud_2026.md §2.2-2.4, 2.14).

Every item of a body is stored before the 200: Meta never re-sends a body it got a 200 for, so
a downstream failure is ours to replay (admin replay), and a failure before the writes end must
be a non-2xx so that Meta does re-send it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse

from seleto_agent.api.deps import RuntimeDep
from seleto_agent.api.errors import Forbidden, Unauthorized
from seleto_agent.api.webhooks.body import json_object
from seleto_agent.integrations.meta.adapter import PROVIDER, MetaLine, classify
from seleto_agent.integrations.meta.signature import SignatureCheck, verify_signature
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import WEBHOOKS
from seleto_agent.settings import secret

log = get_logger(__name__)
router = APIRouter()


@router.get("/webhooks/meta", response_class=PlainTextResponse)
async def meta_verify(
    runtime: RuntimeDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Echo `hub.challenge` as sent (not JSON, not an int) when the token is ours."""
    expected = secret(runtime.settings.meta_verify_token)
    given = (token or "").encode("utf-8", "surrogatepass")
    # Unset token: every handshake fails (fail closed).
    if (
        not expected
        or mode != "subscribe"
        or not challenge
        or not hmac.compare_digest(given, expected.encode())
    ):
        log.info("meta.verify_refused", mode_ok=mode == "subscribe", challenge=bool(challenge))
        raise Forbidden("verification refused")
    return PlainTextResponse(challenge)


@router.post("/webhooks/meta")
async def meta_webhook(
    request: Request,
    runtime: RuntimeDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> dict[str, str]:
    settings = runtime.settings
    # At most MAX_BODY_BYTES: api/body_limit.py answered 413 before this route for more.
    raw = await request.body()
    app_secret = secret(settings.meta_app_secret)
    check = verify_signature(
        secret=app_secret.encode() if app_secret else None, body=raw, signature=signature
    )
    if check is not SignatureCheck.OK:
        # Nothing stored: an unsigned body is no one's. Neither the header nor the expected
        # value is logged or answered (that would make this a signing oracle).
        WEBHOOKS.labels(PROVIDER, "rejected").inc()
        log.warning("meta.signature_refused", reason=check.value, bytes=len(raw))
        raise Unauthorized("invalid or missing signature")
    body = await json_object(runtime.ingest, provider=PROVIDER, raw=raw)
    items = classify(body, MetaLine(settings.meta_phone_number_id))
    outcome = await runtime.ingest.ingest_all(raw=raw, items=items)
    return {"status": outcome.value}
