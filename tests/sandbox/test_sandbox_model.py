"""Scripted OpenAI-compatible model: rule-based replies, scripts, tool calls, faults."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
from fastapi import FastAPI

COMPLETIONS = "/v1/chat/completions"
AUTH = {"Authorization": "Bearer sk-anything"}
SYSTEM: dict[str, Any] = {"role": "developer", "content": "You are an SDR."}


async def _complete(client: httpx.AsyncClient, messages: list[dict[str, Any]]) -> httpx.Response:
    return await client.post(
        COMPLETIONS, json={"model": "gpt-x", "messages": messages}, headers=AUTH
    )


async def test_first_turn_gets_a_greeting_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await _complete(client, [SYSTEM, {"role": "user", "content": "oi"}])
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "sandbox-scripted"
    assert body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert "Seleto Industrial" in choice["message"]["content"]
    assert "ajudar" in choice["message"]["content"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] > 0


async def test_later_turn_quotes_the_last_user_message(client: httpx.AsyncClient) -> None:
    long_text = "Preciso de uma seladora " + "x" * 300
    messages: list[dict[str, Any]] = [
        SYSTEM,
        {"role": "user", "content": "oi"},
        {"role": "assistant", "content": "Olá!"},
        {"role": "user", "content": [{"type": "text", "text": long_text}]},
    ]
    content = (await _complete(client, messages)).json()["choices"][0]["message"]["content"]
    assert content.startswith(f'Entendi: "{long_text[:200]}".')
    assert "volume de produção diário" in content


async def test_scripted_tool_call_round_trip(client: httpx.AsyncClient) -> None:
    script = await client.post(
        "/_sandbox/model/script",
        json={
            "replies": [
                {"tool_calls": [{"name": "get_price", "arguments": {"sku": "SKU-1"}}]},
                {"content": "Custa R$ 199,90."},
            ]
        },
    )
    assert script.json() == {"queued": 2}
    user: dict[str, Any] = {"role": "user", "content": "Qual o preço?"}
    first = (await _complete(client, [SYSTEM, user])).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_price"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"sku": "SKU-1"}

    tool_turn: list[dict[str, Any]] = [
        SYSTEM,
        user,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"price": 199.9}'},
    ]
    second = (await _complete(client, tool_turn)).json()
    assert second["choices"][0]["message"]["content"] == "Custa R$ 199,90."
    third = (await _complete(client, tool_turn)).json()  # queue empty: acknowledgement
    assert third["choices"][0]["finish_reason"] == "stop"
    assert "registrei" in third["choices"][0]["message"]["content"]

    model_state = (await client.get("/_sandbox/state")).json()["model"]
    assert model_state["requests_count"] == 3
    assert model_state["requests"][1]["messages"][-1]["role"] == "tool"


async def test_streaming_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        COMPLETIONS, json={"messages": [{"role": "user", "content": "oi"}], "stream": True}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "streaming" in response.json()["error"]["message"]


async def test_fail_next_then_recover(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/model/faults", json={"fail_next": 2, "status": 503})
    messages = [{"role": "user", "content": "oi"}]
    statuses = [(await _complete(client, messages)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    failed = await client.post("/_sandbox/model/faults", json={"fail_always": True})
    assert failed.json()["fail_always"] is True
    error = await _complete(client, messages)
    assert error.json()["error"]["type"] == "server_error"
    await client.post("/_sandbox/model/faults", json={"fail_always": False})
    assert (await _complete(client, messages)).status_code == 200


async def test_delay_next_slows_only_that_many_requests(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/model/faults", json={"delay_seconds": 0.3, "delay_next": 1})
    messages = [{"role": "user", "content": "oi"}]
    started = time.monotonic()
    assert (await _complete(client, messages)).status_code == 200
    slow = time.monotonic() - started
    started = time.monotonic()
    await _complete(client, messages)
    fast = time.monotonic() - started
    assert slow >= 0.3
    assert fast < 0.3


async def test_agno_agent_runs_a_scripted_tool_against_the_sandbox(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat

    calls: list[str] = []

    def get_price(sku: str) -> str:
        """Return the price of a product."""
        calls.append(sku)
        return json.dumps({"sku": sku, "price_brl": 199.9})

    await client.post(
        "/_sandbox/model/script",
        json={"replies": [{"tool_calls": [{"name": "get_price", "arguments": {"sku": "S-9"}}]}]},
    )
    model = OpenAIChat(
        id="any",
        api_key="sk-sandbox",
        base_url="http://sandbox/v1",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
    )
    output = await Agent(model=model, tools=[get_price], telemetry=False).arun("preço?")
    assert calls == ["S-9"]
    assert "registrei" in str(output.content)
