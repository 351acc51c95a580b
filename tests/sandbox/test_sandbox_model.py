"""Scripted OpenAI-compatible model: rule-based replies, scripts (global and keyed), tool calls
(one or several per response), faults."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI

from seleto_agent.sandbox.model_replies import TOOL_ACKNOWLEDGEMENT
from tests.conftest import Sandbox

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


def _conversation(text: str, *after: dict[str, Any]) -> list[dict[str, Any]]:
    """A request of one lead's turn: history, the lead's message, then what followed it."""
    history = [{"role": "user", "content": "oi"}, {"role": "assistant", "content": "Olá!"}]
    return [SYSTEM, *history, {"role": "user", "content": text}, *after]


def _after_tools(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"ok": true}'},
    ]


def _update_name(name: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "update_lead", "arguments": {"name": name}}]}


async def test_keyed_scripts_answer_only_the_conversation_whose_last_user_message_matches(
    client: httpx.AsyncClient,
) -> None:
    for marker, name in (("Loja Alfa", "Ana"), ("Loja Beta", "Bruno")):
        queued = await client.post(
            "/_sandbox/model/script",
            json={"match": marker, "replies": [_update_name(name), {"content": f"Oi, {name}!"}]},
        )
        assert queued.json() == {"queued": 2}
    await client.post("/_sandbox/model/script", json={"replies": [{"content": "sem chave"}]})
    alfa, beta = "Sou a Ana, da Loja Alfa", "Aqui é o Bruno, da Loja Beta"

    # Interleaved as two workers would send them: A, B, then each follow-up after its tools.
    first_alfa = (await _complete(client, _conversation(alfa))).json()["choices"][0]
    first_beta = (await _complete(client, _conversation(beta))).json()["choices"][0]
    [call_alfa] = first_alfa["message"]["tool_calls"]
    [call_beta] = first_beta["message"]["tool_calls"]
    assert json.loads(call_alfa["function"]["arguments"]) == {"name": "Ana"}
    assert json.loads(call_beta["function"]["arguments"]) == {"name": "Bruno"}
    # An earlier user message that matches does not count: only the last one selects.
    beta_after_alfa = [*_conversation(alfa)[:-1], {"role": "user", "content": beta}]
    second_beta = (await _complete(client, [*beta_after_alfa, *_after_tools(call_beta)])).json()
    second_alfa = (await _complete(client, _conversation(alfa, *_after_tools(call_alfa)))).json()
    assert second_beta["choices"][0]["message"]["content"] == "Oi, Bruno!"
    assert second_alfa["choices"][0]["message"]["content"] == "Oi, Ana!"

    # Both markers used up: the unkeyed queue answers next, then the rules.
    state = (await client.get("/_sandbox/state")).json()["model"]
    assert state["keyed_scripts"] == {}
    assert [reply["content"] for reply in state["script"]] == ["sem chave"]
    third = (await _complete(client, _conversation(alfa, *_after_tools(call_alfa)))).json()
    assert third["choices"][0]["message"]["content"] == "sem chave"
    fourth = (await _complete(client, _conversation(alfa, *_after_tools(call_alfa)))).json()
    assert fourth["choices"][0]["message"]["content"] == TOOL_ACKNOWLEDGEMENT


async def test_a_repeating_script_answers_a_retried_run_the_same_way(
    client: httpx.AsyncClient,
) -> None:
    queued = await client.post(
        "/_sandbox/model/script",
        json={
            "match": "Loja Gama",
            "repeat": True,
            "replies": [_update_name("Gil"), {"content": "Oi, Gil!"}],
        },
    )
    assert queued.json() == {"queued": 2}
    text = "Aqui é o Gil, da Loja Gama"
    for _run in range(2):  # a run, then the same turn retried after a crash
        first = (await _complete(client, _conversation(text))).json()["choices"][0]
        [call] = first["message"]["tool_calls"]
        assert json.loads(call["function"]["arguments"]) == {"name": "Gil"}
        second = (await _complete(client, _conversation(text, *_after_tools(call)))).json()
        assert second["choices"][0]["message"]["content"] == "Oi, Gil!"
    # Past its last step the run falls back to the rules.
    call = first["message"]["tool_calls"][0]
    third = await _complete(
        client,
        _conversation(text, *_after_tools(call), *_after_tools({**call, "id": "call_x"})),
    )
    assert third.json()["choices"][0]["message"]["content"] == TOOL_ACKNOWLEDGEMENT
    state = (await client.get("/_sandbox/state")).json()["model"]
    assert list(state["repeating_scripts"]) == ["Loja Gama"]
    unkeyed = await client.post(
        "/_sandbox/model/script", json={"repeat": True, "replies": [{"content": "x"}]}
    )
    assert unkeyed.status_code == 400


async def test_state_lists_keyed_queues_and_reset_clears_them(client: httpx.AsyncClient) -> None:
    await client.post(
        "/_sandbox/model/script", json={"match": "FB300", "replies": [{"content": "a"}]}
    )
    again = await client.post(
        "/_sandbox/model/script", json={"match": "FB300", "replies": [{"content": "b"}]}
    )
    assert again.json() == {"queued": 2}
    await client.post(
        "/_sandbox/model/script", json={"match": "FB700", "replies": [_update_name("Rui")]}
    )
    state = (await client.get("/_sandbox/state")).json()["model"]
    assert state["script"] == []
    assert list(state["keyed_scripts"]) == ["FB300", "FB700"]
    assert [r["content"] for r in state["keyed_scripts"]["FB300"]] == ["a", "b"]
    assert state["keyed_scripts"]["FB700"][0]["tool_calls"][0]["name"] == "update_lead"
    empty = await client.post(
        "/_sandbox/model/script", json={"match": "", "replies": [{"content": "x"}]}
    )
    assert empty.status_code == 422
    await client.post("/_sandbox/reset", json={})
    assert (await client.get("/_sandbox/state")).json()["model"]["keyed_scripts"] == {}


def test_keyed_scripts_hold_under_concurrent_requests(sandbox: Sandbox) -> None:
    """Two conversations' requests fired at once over real HTTP: every reply reaches the
    conversation it was scripted for, exactly once."""
    per_conversation = 15
    for lead in ("Alfa", "Beta"):
        replies = [{"content": f"{lead}-{n}"} for n in range(per_conversation)]
        sandbox.script(*replies, match=f"Loja {lead}")

    def ask(lead: str) -> tuple[str, str]:
        with httpx.Client(base_url=sandbox.url, timeout=10) as http:
            body = {"messages": _conversation(f"Falo da Loja {lead}")}
            reply = http.post(COMPLETIONS, json=body, headers=AUTH).json()
        return lead, str(reply["choices"][0]["message"]["content"])

    leads = ["Alfa", "Beta"] * per_conversation
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, leads))
    for lead in ("Alfa", "Beta"):
        got = sorted(
            (text for who, text in answers if who == lead), key=lambda t: int(t.split("-")[1])
        )
        assert got == [f"{lead}-{n}" for n in range(per_conversation)]
    assert sandbox.state()["model"]["keyed_scripts"] == {}


async def test_one_scripted_reply_returns_several_tool_calls_in_one_response(
    client: httpx.AsyncClient,
) -> None:
    await client.post(
        "/_sandbox/model/script",
        json={
            "match": "FB300",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "update_lead", "arguments": {"urgency": "este mês"}},
                        {"name": "create_quote_request", "arguments": {"product": "FB300"}},
                    ]
                }
            ],
        },
    )
    body = (await _complete(client, _conversation("Quero orçamento da FB300"))).json()
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["update_lead", "create_quote_request"]
    assert len({call["id"] for call in calls}) == 2
    assert json.loads(calls[1]["function"]["arguments"]) == {"product": "FB300"}


async def test_agno_runs_the_tool_calls_of_one_response_concurrently(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The premise of the parallel evals: Agno gathers the calls of one model response, so
    each of these tools sees the other one running before it returns."""
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat

    started = {"first": asyncio.Event(), "second": asyncio.Event()}
    overlapped: list[str] = []

    async def meet(me: str, other: str) -> str:
        started[me].set()
        await asyncio.wait_for(started[other].wait(), timeout=2)
        overlapped.append(me)
        return "ok"

    async def first_tool() -> str:
        """First tool."""
        return await meet("first", "second")

    async def second_tool() -> str:
        """Second tool."""
        return await meet("second", "first")

    calls = [{"name": "first_tool", "arguments": {}}, {"name": "second_tool", "arguments": {}}]
    await client.post("/_sandbox/model/script", json={"replies": [{"tool_calls": calls}]})
    model = OpenAIChat(
        id="any",
        api_key="sk-sandbox",
        base_url="http://sandbox/v1",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
    )
    agent = Agent(model=model, tools=[first_tool, second_tool], telemetry=False)
    await agent.arun("as duas")
    assert sorted(overlapped) == ["first", "second"]
