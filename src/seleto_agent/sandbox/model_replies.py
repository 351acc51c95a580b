"""Reply building for the scripted OpenAI-compatible model (TEST/SANDBOX ONLY).

Nothing here is intelligent: replies are either scripted by a test or produced by a few fixed
pt-BR rules, and the `model` field of every response says `sandbox-scripted`.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

JsonDict = dict[str, Any]

SANDBOX_MODEL_NAME = "sandbox-scripted"

GREETING = "Olá! Sou o assistente virtual da Seleto Industrial. Como posso ajudar você hoje?"
# Asked in turn after the first reply so a multi-turn demo does not repeat itself.
FOLLOW_UP_QUESTIONS: tuple[str, ...] = (
    "Pode me contar qual é o volume de produção diário?",
    "Qual produto vocês precisam embalar ou processar?",
    "Qual é o nome da sua empresa e em que cidade ela fica?",
)
TOOL_ACKNOWLEDGEMENT = "Certo, já registrei essas informações. Posso ajudar em algo mais?"
QUOTE_LIMIT = 200


class ScriptedToolCall(BaseModel):
    name: str
    # An object is rendered as a JSON string (what clients expect); a string is passed
    # through verbatim so tests can also script malformed arguments.
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ScriptedReply(BaseModel):
    content: str | None = None
    tool_calls: list[ScriptedToolCall] | None = None

    @model_validator(mode="after")
    def _needs_content_or_tools(self) -> ScriptedReply:
        if self.content is None and not self.tool_calls:
            raise ValueError("a scripted reply needs `content` or `tool_calls`")
        return self


def message_text(message: JsonDict) -> str:
    """Plain text of a chat message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return " ".join(parts)
    return ""


def last_role(messages: list[JsonDict]) -> str | None:
    return str(messages[-1].get("role")) if messages else None


def last_user_text(messages: list[JsonDict]) -> str | None:
    """Text of the last `role: "user"` message. The requests that follow tool results repeat
    it, so it names the lead's turn for the whole run."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return None


def step_in_run(messages: list[JsonDict]) -> int:
    """How many model answers this run already had: assistant messages after the last user
    message (0 for the run's first request, 1 after its first tool round...)."""
    step = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            return step
        if role == "assistant":
            step += 1
    return step


def rule_based_reply(messages: list[JsonDict]) -> str:
    """Greeting on the first user turn, then a reply quoting the last user message."""
    # System prompts arrive as role "developer" (OpenAIChat) or "system" and are ignored.
    assistant_turns = sum(1 for m in messages if m.get("role") == "assistant")
    user_texts = [message_text(m) for m in messages if m.get("role") == "user"]
    if assistant_turns == 0 or not user_texts:
        return GREETING
    quoted = user_texts[-1].strip()[:QUOTE_LIMIT]
    question = FOLLOW_UP_QUESTIONS[(assistant_turns - 1) % len(FOLLOW_UP_QUESTIONS)]
    return f'Entendi: "{quoted}". {question}'


def render_tool_call(call: ScriptedToolCall, call_id: str) -> JsonDict:
    """OpenAI tool-call shape; Agno silently skips calls without id/type or with object args."""
    arguments = (
        call.arguments
        if isinstance(call.arguments, str)
        else json.dumps(call.arguments, ensure_ascii=False)
    )
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters per token); good enough for usage fields."""
    return len(text) // 4


def prompt_text(body: JsonDict) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return " ".join(message_text(m) for m in messages if isinstance(m, dict))


def completion_body(
    *,
    completion_id: str,
    message: JsonDict,
    finish_reason: Literal["stop", "tool_calls"],
    prompt_tokens: int,
) -> JsonDict:
    completion_text = str(message.get("content") or "") + "".join(
        call["function"]["arguments"] for call in message.get("tool_calls", [])
    )
    completion_tokens = estimate_tokens(completion_text)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": SANDBOX_MODEL_NAME,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, error_type: str) -> JsonDict:
    return {"error": {"message": message, "type": error_type, "code": None}}
