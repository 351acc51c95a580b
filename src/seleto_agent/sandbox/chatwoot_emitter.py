"""Delivers the Chatwoot simulator's webhooks (contracts/chatwoot.md §3) (TEST/SANDBOX ONLY).

Targets: account webhooks subscribed to the event (optionally scoped to an inbox) and the API
inbox's `webhook_url`, which gets every conversation and message event of its inbox. Both are
delivered once, without retry, as Chatwoot does. The body bytes are fixed per delivery; the
timestamp and signature are computed per attempt, and `X-Chatwoot-Delivery` stays the same
across attempts. Every attempt is recorded in `ChatwootState` deliveries.

What is signed depends on the simulated version (knob `version`): account webhooks from 4.11.2,
the API inbox's webhook from 4.13.0, each with its own secret; the inbox's HMAC token (identity
validation) never signs anything. Whether 4.11.2-4.12 sent X-Chatwoot-Delivery to the API inbox
is not documented; it is sent here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from seleto_agent.integrations.chatwoot.signature import sign
from seleto_agent.sandbox.chatwoot_state import (
    ACCOUNT_WEBHOOK_SIGNING_SINCE,
    INBOX_WEBHOOK_SIGNING_SINCE,
    ChatwootKnobs,
    ChatwootState,
    version_tuple,
)
from seleto_agent.sandbox.config import SandboxConfig

JsonDict = dict[str, Any]

# Chatwoot's WEBHOOK_TIMEOUT default, for both open and read (contracts §3).
WEBHOOK_TIMEOUT_SECONDS = 5.0
# What the wrong-secret switch signs with: not the secret the receiver was given.
WRONG_SECRET = "not-the-secret-shown-in-chatwoot"  # noqa: S105
_BODY_PREVIEW = 300


@dataclass(frozen=True, slots=True)
class Emission:
    """One event to deliver. `inbox_id` None: an account-level event (contacts)."""

    event: str
    payload: JsonDict
    inbox_id: int | None


@dataclass(frozen=True, slots=True)
class _Delivery:
    delivery_id: str
    event: str
    target: str
    url: str
    secret: str | None
    body: bytes


def rails_json(payload: JsonDict) -> bytes:
    """The bytes Rails' `to_json` would send: compact, UTF-8, with `<`, `>` and `&` escaped
    (ActiveSupport's default). A receiver that re-serialises the body cannot verify it."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.encode()


def _response_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:_BODY_PREVIEW]


class ChatwootEmitter:
    def __init__(self, config: SandboxConfig, state: ChatwootState) -> None:
        self._inbox_id = config.chatwoot_inbox_id
        self._state = state
        self._tasks: set[asyncio.Task[None]] = set()

    async def dispatch(self, emissions: Sequence[Emission]) -> None:
        """Starts the deliveries in the background. With `emit_before_response` (and no
        delivery delay) it returns only once each delivery's first attempt was answered, so
        the caller's API answer comes after its webhooks, as can happen in Chatwoot."""
        knobs = self._state.knobs
        deliveries = [d for emission in emissions for d in self._deliveries(emission)]
        if not deliveries:
            return
        generation = self._state.generation
        first_attempts: list[asyncio.Event] = []
        for delivery in deliveries:
            answered = asyncio.Event()
            first_attempts.append(answered)
            self._spawn(self._deliver(delivery, knobs, generation, answered))
        if knobs.emit_before_response and knobs.delay_seconds <= 0:
            waits = asyncio.gather(*(event.wait() for event in first_attempts))
            # A receiver that never answers still lets the API answer go after the timeout.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waits, timeout=WEBHOOK_TIMEOUT_SECONDS + 1)

    def _deliveries(self, emission: Emission) -> list[_Delivery]:
        body = rails_json(emission.payload)
        targets: list[tuple[str, str, str | None]] = []
        for webhook in self._state.webhooks():
            if emission.event not in webhook.subscriptions:
                continue
            if webhook.inbox_id is not None and webhook.inbox_id != emission.inbox_id:
                continue
            targets.append((f"account_webhook:{webhook.id}", webhook.url, webhook.secret))
        inbox_webhook = self._state.inbox_webhook()
        if inbox_webhook is not None and emission.inbox_id == self._inbox_id:
            url, secret = inbox_webhook
            targets.append(("api_inbox", url, secret))
        return [
            _Delivery(str(uuid.uuid4()), emission.event, target, url, secret, body)
            for target, url, secret in targets
        ]

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        delivery: _Delivery,
        knobs: ChatwootKnobs,
        generation: int,
        answered: asyncio.Event,
    ) -> None:
        try:
            if knobs.delay_seconds > 0:
                await asyncio.sleep(knobs.delay_seconds)
            copies = 2 if knobs.duplicate_delivery else 1
            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
                for attempt in range(1, copies + 1):
                    if generation != self._state.generation:
                        return
                    await self._attempt(client, delivery, knobs, generation, attempt)
                    answered.set()
        finally:
            answered.set()

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        delivery: _Delivery,
        knobs: ChatwootKnobs,
        generation: int,
        attempt: int,
    ) -> None:
        version = version_tuple(knobs.version)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if version >= ACCOUNT_WEBHOOK_SIGNING_SINCE:
            headers["X-Chatwoot-Delivery"] = delivery.delivery_id
        signs_since = (
            INBOX_WEBHOOK_SIGNING_SINCE
            if delivery.target == "api_inbox"
            else ACCOUNT_WEBHOOK_SIGNING_SINCE
        )
        if version >= signs_since and delivery.secret:
            timestamp = str(int(time.time()))
            secret = WRONG_SECRET if knobs.wrong_secret else delivery.secret
            headers["X-Chatwoot-Timestamp"] = timestamp
            headers["X-Chatwoot-Signature"] = sign(secret.encode(), timestamp, delivery.body)
        entry: JsonDict = {
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "target": delivery.target,
            "url": delivery.url,
            "attempt": attempt,
            "headers": headers,
            "body": delivery.body.decode(),
        }
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=headers)
        except Exception as exc:  # a broken receiver must never break the simulator
            entry |= {
                "status_code": None,
                "response": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
        else:
            entry |= {
                "status_code": response.status_code,
                "response": _response_body(response),
                "error": None,
            }
        self._state.record_delivery(entry, generation=generation)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def flush(self, wait_seconds: float) -> int:
        """Waits for running deliveries; returns how many were still running at the deadline."""
        if not self._tasks:
            return 0
        _done, still_running = await asyncio.wait(set(self._tasks), timeout=wait_seconds)
        return len(still_running)

    async def cancel_pending(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
