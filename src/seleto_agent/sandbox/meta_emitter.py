"""Delivers the Cloud API simulator's webhooks to the app's callback URL (TEST/SANDBOX ONLY).

Each body is serialised once and those exact bytes are signed: `X-Hub-Signature-256:
sha256=<hex HMAC-SHA256 of the bytes with the App Secret>` (contracts whatsapp_cloud.md §2).
Non-ASCII is sent \\u-escaped, so a receiver that parses and re-serialises before verifying
computes a different digest, as it would against Meta.

Like Meta, a body is re-delivered with exponential backoff until it gets a 200 (a handful of
attempts here instead of 7 days); every attempt is in the delivery log
(`GET /_sandbox/state` → `meta.deliveries`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.meta_payloads import User, change, envelope, status_item, value
from seleto_agent.sandbox.meta_state import Delivery, MetaState

JsonDict = dict[str, Any]

# What the wrong-signature mode signs with: not the App Secret the receiver holds.
WRONG_SECRET = "not-the-app-secret"  # noqa: S105
_BODY_PREVIEW = 300


def meta_json(payload: JsonDict) -> bytes:
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def signature_header(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AcceptedSend:
    """A message the Graph simulator accepted, as needed to report its statuses."""

    wamid: str
    recipient: User
    reference: str | None
    voice: bool


def status_plan(mode: str, *, voice: bool) -> tuple[str, ...]:
    if mode == "failed":
        return ("sent", "failed")
    if mode == "delivered_after_failed":
        return ("sent", "failed", "delivered")
    if mode == "read_before_delivered":
        return ("sent", "read", "delivered")
    if mode == "read_without_delivered":
        # [M] status reference: read and delivered together → only `read` is sent.
        return ("sent", "read")
    return ("sent", "delivered", "read", "played") if voice else ("sent", "delivered", "read")


class MetaEmitter:
    def __init__(self, config: SandboxConfig, state: MetaState) -> None:
        self._config = config
        self._state = state
        self._tasks: set[asyncio.Task[None]] = set()

    # --- delivery ---------------------------------------------------------------------------

    async def deliver(
        self,
        body: JsonDict,
        *,
        kind: str,
        copies: int = 1,
        concurrent: bool = True,
        signature_mode: str | None = None,
    ) -> list[JsonDict]:
        """POST `body` (`copies` times: a duplicate storm) with retries; one summary each."""
        raw = meta_json(body)
        signature = self._signature(raw, signature_mode or self._state.knobs.signature_mode)
        return await self.deliver_bytes(
            raw, kind=kind, signature=signature, copies=copies, concurrent=concurrent
        )

    async def deliver_bytes(
        self,
        raw: bytes,
        *,
        kind: str,
        signature: str | None,
        copies: int = 1,
        concurrent: bool = True,
    ) -> list[JsonDict]:
        """These exact bytes with this `X-Hub-Signature-256` (None: no header)."""
        url = self._state.webhook_url
        if url is None:
            return [{"delivered": False, "error": "no webhook subscribed"}]
        async with self._client() as client:

            async def one() -> JsonDict:
                return await self._deliver_one(client, url, kind, raw, signature)

            if not concurrent:
                return [await one() for _ in range(copies)]
            # The first half together, the rest one after another: "some concurrent".
            together = max(1, copies // 2)
            first = await asyncio.gather(*(one() for _ in range(together)))
            return [*first, *[await one() for _ in range(copies - together)]]

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._config.webhook_timeout_seconds)

    def _signature(self, raw: bytes, mode: str) -> str | None:
        if mode == "missing":
            return None
        secret = WRONG_SECRET if mode == "wrong" else self._config.meta_app_secret
        return signature_header(secret, raw)

    async def _deliver_one(
        self, client: httpx.AsyncClient, url: str, kind: str, raw: bytes, signature: str | None
    ) -> JsonDict:
        delivery = Delivery(
            delivery_id=uuid.uuid4().hex,
            url=url,
            kind=kind,
            body=raw.decode(),
            signature=signature,
        )
        self._state.add_delivery(delivery)
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        knobs = self._state.knobs
        for attempt in range(max(1, knobs.redeliver_attempts)):
            if attempt:
                await asyncio.sleep(knobs.redeliver_base_seconds * 2 ** (attempt - 1))
            result = await self._post(client, url, raw, headers)
            self._state.add_attempt(delivery, result)
            if result["status_code"] == 200:
                break
        return {
            "delivery_id": delivery.delivery_id,
            "delivered": delivery.delivered,
            "attempts": [dict(a) for a in delivery.attempts],
        }

    async def _post(
        self, client: httpx.AsyncClient, url: str, raw: bytes, headers: dict[str, str]
    ) -> JsonDict:
        try:
            response = await client.post(url, content=raw, headers=headers)
        except Exception as exc:  # a broken webhook must never break the simulator
            return {"status_code": None, "body": None, "error": type(exc).__name__}
        return {
            "status_code": response.status_code,
            "body": response.text[:_BODY_PREVIEW],
            "error": None,
        }

    # --- statuses after a send --------------------------------------------------------------

    def schedule_statuses(self, sent: AcceptedSend) -> None:
        """sent → delivered → read (→ played), per the status mode, without delaying the
        Graph answer."""
        self._spawn(self._statuses(sent))

    async def emit_statuses(
        self, sent: AcceptedSend, statuses: tuple[str, ...], *, error_code: int | None = None
    ) -> list[JsonDict]:
        knobs = self._state.knobs
        conversation_id = secrets.token_hex(16)
        results: list[JsonDict] = []
        for status in statuses:
            if knobs.status_step_seconds > 0:
                await asyncio.sleep(knobs.status_step_seconds)
            item = status_item(
                wamid=sent.wamid,
                status=status,
                recipient=sent.recipient,
                timestamp=int(self._state.now()),
                reference=sent.reference,
                error_code=error_code or knobs.failure_code,
                conversation_id=conversation_id,
            )
            status_value = value(self._config, statuses=[item])
            body = envelope(self._config, [change("messages", status_value)])
            results.extend(
                await self.deliver(body, kind=f"status:{status}", copies=knobs.status_copies)
            )
        return results

    async def _statuses(self, sent: AcceptedSend) -> None:
        knobs = self._state.knobs
        if not knobs.emit_statuses or self._state.webhook_url is None:
            return
        await self.emit_statuses(sent, status_plan(knobs.status_mode, voice=sent.voice))

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- verification handshake -------------------------------------------------------------

    async def verify(
        self, *, verify_token: str | None, challenge: str, mode: str = "subscribe"
    ) -> JsonDict:
        """Meta's GET when the Callback URL is saved in the App Dashboard."""
        url = self._state.webhook_url
        if url is None:
            return {"error": "no webhook subscribed"}
        params = {"hub.mode": mode, "hub.challenge": challenge}
        token = verify_token if verify_token is not None else self._state.verify_token
        if token is not None:
            params["hub.verify_token"] = token
        async with self._client() as client:
            try:
                response = await client.get(url, params=params)
            except Exception as exc:  # reported, never raised
                return {"status_code": None, "echoed": False, "error": type(exc).__name__}
        return {
            "status_code": response.status_code,
            "body": response.text[:_BODY_PREVIEW],
            # Meta accepts only the exact challenge echoed back.
            "echoed": response.status_code == 200 and response.text == challenge,
        }

    # --- lifecycle ---------------------------------------------------------------------------

    async def flush(self, wait_seconds: float) -> int:
        if not self._tasks:
            return 0
        _done, still_running = await asyncio.wait(set(self._tasks), timeout=wait_seconds)
        return len(still_running)

    async def cancel_pending(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
