"""Posts Z-API webhooks to the URLs the service under test registered.

Every attempt is recorded in `ZapiState.emitted`; a failing or unreachable webhook is recorded
with its error and never breaks the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.zapi_payloads import (
    ReceivedMessage,
    delivery_callback,
    lid_for,
    message_status_callback,
    received_callback,
)
from seleto_agent.sandbox.zapi_state import ZapiState

JsonDict = dict[str, Any]

TEXT_STATUSES: tuple[str, ...] = ("SENT", "RECEIVED", "READ")
# Voice notes additionally report PLAYED once the recipient listens.
AUDIO_STATUSES: tuple[str, ...] = (*TEXT_STATUSES, "PLAYED")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A successful send-* call, as needed to emit its follow-up callbacks."""

    phone: str
    message_id: str
    zaap_id: str
    text: str | None = None
    audio: str | None = None


def _response_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class ZapiEmitter:
    def __init__(self, config: SandboxConfig, state: ZapiState) -> None:
        self._config = config
        self._state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._config.webhook_timeout_seconds,
            headers=self._state.knobs.webhook_headers,
        )

    async def post(
        self, url: str, payload: JsonDict, *, copies: int = 1, concurrent: bool = True
    ) -> list[JsonDict]:
        """POST the same body `copies` times (simulating duplicate delivery); one result each."""
        async with self._client() as client:
            if concurrent:
                posts = (self._post_once(client, url, payload) for _ in range(copies))
                return list(await asyncio.gather(*posts))
            return [await self._post_once(client, url, payload) for _ in range(copies)]

    async def _post_once(self, client: httpx.AsyncClient, url: str, payload: JsonDict) -> JsonDict:
        result: JsonDict
        try:
            response = await client.post(url, json=payload)
        except Exception as exc:  # a broken webhook must never break the simulator
            result = {"status_code": None, "body": None, "error": f"{type(exc).__name__}: {exc}"}
        else:
            result = {
                "status_code": response.status_code,
                "body": _response_body(response),
                "error": None,
            }
        self._state.record_emission(
            {"type": payload.get("type"), "url": url, **result, "payload": payload}
        )
        return result

    # --- follow-up callbacks of a send -----------------------------------------------------

    def schedule_after_send(self, sent: SentMessage, *, delay: float = 0.0) -> None:
        """Emit delivery/status (and optional echo) callbacks without delaying the response,
        starting `delay` seconds from now."""
        self._spawn(self._after_send(sent, delay))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_send(self, sent: SentMessage, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await self._emit_follow_ups(sent)
        except Exception as exc:  # recorded, never raised: emission is best effort
            self._state.record_emission(
                {
                    "type": "after-send",
                    "url": None,
                    "status_code": None,
                    "body": None,
                    "error": f"{type(exc).__name__}: {exc}",
                    "payload": None,
                }
            )

    async def _emit_follow_ups(self, sent: SentMessage) -> None:
        knobs = self._state.knobs
        instance_id = self._config.zapi_instance_id
        targets = (
            self._state.webhook_url("delivery"),
            self._state.webhook_url("received_delivery", "received")
            if knobs.echo_from_me
            else None,
            self._state.webhook_url("message_status") if knobs.emit_statuses else None,
        )
        if not any(targets):
            # Nothing registered: skip building an HTTP client (it costs ~25 ms of CPU).
            return
        async with self._client() as client:
            delivery_url = self._state.webhook_url("delivery")
            if delivery_url:
                body = delivery_callback(
                    instance_id=instance_id,
                    phone=sent.phone,
                    zaap_id=sent.zaap_id,
                    message_id=sent.message_id,
                )
                await self._post_once(client, delivery_url, body)
            echo_url = self._state.webhook_url("received_delivery", "received")
            if knobs.echo_from_me and echo_url:
                await self._post_once(client, echo_url, self._echo_payload(sent))
            status_url = self._state.webhook_url("message_status")
            if not (knobs.emit_statuses and status_url):
                return
            for status in AUDIO_STATUSES if sent.audio is not None else TEXT_STATUSES:
                if self._config.status_step_delay_seconds > 0:
                    await asyncio.sleep(self._config.status_step_delay_seconds)
                body = message_status_callback(
                    instance_id=instance_id,
                    phone=sent.phone,
                    message_ids=[sent.message_id],
                    status=status,
                    is_group=sent.phone.endswith("-group"),
                )
                await self._post_once(client, status_url, body)

    def _echo_payload(self, sent: SentMessage) -> JsonDict:
        """ReceivedCallback with fromMe/fromApi true, as sent when notify-sent-by-me is on."""
        audio_url: str | None = None
        if sent.audio is not None:
            audio_url = (
                sent.audio
                if sent.audio.startswith(("http://", "https://"))
                else f"{self._config.public_base_url}/_sandbox/media/{sent.message_id}.ogg"
            )
        digits = sent.phone.split("@")[0].split("-")[0]
        message = ReceivedMessage(
            instance_id=self._config.zapi_instance_id,
            connected_phone=self._config.zapi_connected_phone,
            message_id=sent.message_id,
            phone=sent.phone,
            # Sent by the line: senderLid is the line's own @lid, chatLid the recipient's.
            sender_lid=lid_for(self._config.zapi_connected_phone),
            chat_lid=None if sent.phone.endswith("-group") else _chat_lid(sent.phone),
            chat_name=digits,
            sender_name="Seleto Industrial",
            from_me=True,
            from_api=True,
            is_group=sent.phone.endswith("-group"),
            text=sent.text,
            audio_url=audio_url,
        )
        return received_callback(message)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def flush(self, wait_seconds: float) -> int:
        """Wait for scheduled emissions; returns how many were still running at the deadline."""
        if not self._tasks:
            return 0
        _done, still_running = await asyncio.wait(set(self._tasks), timeout=wait_seconds)
        return len(still_running)

    async def cancel_pending(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _chat_lid(phone: str) -> str:
    return phone if phone.endswith("@lid") else lid_for(phone)
