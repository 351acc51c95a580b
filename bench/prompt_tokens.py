"""Prompt size per model request over a 20-turn conversation, counted in the sandbox (issue 3).

A scripted lead qualifies over 20 turns (need, name and company, segment, volume, current
setup, mold, city/UF, timeline, two quote requests, side questions), with the tool calls a good
model makes as the slots fill. The urgency stays vague, so the lead stays warm and the bot
answers every turn. The service runs in-process (the evals harness: real webhook, worker,
Agno agent, guardrail) against the sandbox's scripted model, which records every request.

For turns 1, 5, 10, 15 and 20 it prints each model request's size, split into: the system
prompt (instructions, lead context, catalog), the history replayed from earlier runs (capped
at HISTORY_RUNS runs, agents/factory.py), this turn's messages (the lead's text, and the tool
call and result on a second request) and the tool schemas. "sandbox est." is the
`usage.prompt_tokens` the sandbox reports: message text / 4, an estimate that leaves out the
tool schemas and tool-call arguments. Exact o200k counts are added when `tiktoken` is
installed and can load its BPE file (it downloads it on first use).

Usage: uv run python bench/prompt_tokens.py
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import log, table

from seleto_agent.agents.factory import HISTORY_RUNS
from seleto_agent.agents.prompts import load_prompt
from seleto_agent.domain.catalog_file import load_catalog
from seleto_agent.evals.harness import (
    ModelMode,
    SandboxClient,
    eval_phone,
    eval_settings,
    local_sandbox,
    migrate_database,
    service_output_to_stderr,
)
from seleto_agent.evals.service import EvalService
from seleto_agent.sandbox.model_replies import (
    ScriptedReply,
    estimate_tokens,
    message_text,
    prompt_text,
)
from seleto_agent.settings import Settings

REPORTED_TURNS = (1, 5, 10, 15, 20)
PHONE = eval_phone(0)
TURN_TIMEOUT_SECONDS = 15.0
SYSTEM_ROLES = ("system", "developer")


def tool(name: str, /, **arguments: Any) -> ScriptedReply:
    return ScriptedReply.model_validate({"tool_calls": [{"name": name, "arguments": arguments}]})


def say(text: str) -> ScriptedReply:
    return ScriptedReply(content=text)


# (what the lead writes, the scripted model's replies for that turn)
CONVERSATION: tuple[tuple[str, tuple[ScriptedReply, ...]], ...] = (
    (
        "Oi, boa tarde! Vi no site as formadoras de hambúrguer",
        (
            tool("update_lead", product_interest="formadora de hambúrguer"),
            say(
                "Boa tarde! Sou o assistente virtual da Seleto Industrial, e esta conversa fica "
                "registrada para o atendimento. Qual é o seu nome e o da sua empresa?"
            ),
        ),
    ),
    (
        "Sou o Paulo, da Casa de Carnes Bom Corte",
        (
            tool("update_lead", name="Paulo", company_name="Casa de Carnes Bom Corte"),
            say("Prazer, Paulo! O que vocês produzem hoje na casa de carnes?"),
        ),
    ),
    (
        "Fazemos hambúrguer artesanal, linguiça e cortes para restaurantes",
        (
            tool("update_lead", segment="casa de carnes"),
            say(
                "Que bacana! Para hambúrguer temos da manual FBM100 à industrial SE6000. "
                "Quantos hambúrgueres vocês fazem por dia?"
            ),
        ),
    ),
    (
        "Hoje uns 800 por dia, tudo na mão",
        (
            tool("update_lead", production_volume="uns 800 por dia"),
            say(
                "Entendi! Para uns 800 por dia a FB300, a mais vendida, atende com folga: faz de "
                "300 a 350 por hora. Esse volume é diário ou a cada dois ou três dias?"
            ),
        ),
    ),
    (
        "É diário, de segunda a sábado",
        (
            say(
                "Perfeito. Com a FB300 vocês ganham padrão de peso e tempo. O que levou vocês a "
                "procurar uma máquina agora?"
            ),
        ),
    ),
    (
        "Estamos crescendo e o pessoal não dá conta de formar tudo na mão",
        (
            say(
                "Faz sentido: a FB300 tem pedal e funil de 5 kg, o operador só alimenta e "
                "retira. Vocês já usaram alguma formadora antes?"
            ),
        ),
    ),
    (
        "Nunca usamos, e eu não conhecia a Seleto",
        (
            tool("update_lead", knows_seleto=False),
            say(
                "Então vale contar: tudo é feito em aço inox AISI 304. Qual é o peso e o "
                "diâmetro do hambúrguer que vocês fazem?"
            ),
        ),
    ),
    (
        "Uns 120 gramas, 10 centímetros",
        (
            say(
                "Ótimo: o molde é feito sob encomenda, até 14 cm de diâmetro, então 10 cm fica "
                "perfeito. Em que cidade vocês estão?"
            ),
        ),
    ),
    (
        "Em Maringá",
        (
            tool("update_lead", city="Maringá"),
            say("Maringá, no Paraná, certo?"),
        ),
    ),
    (
        "Isso, PR",
        (
            tool("update_lead", uf="PR"),
            say("Anotado! E para quando vocês pensam em comprar a máquina?"),
        ),
    ),
    (
        "Ainda estamos planejando, talvez no segundo semestre",
        (
            tool("update_lead", urgency="planejando, talvez no segundo semestre"),
            say(
                "Sem problema! Assim o especialista prepara a proposta com calma. Quer que eu "
                "registre o pedido de orçamento da FB300?"
            ),
        ),
    ),
    (
        "Pode registrar sim",
        (
            tool(
                "create_quote_request",
                product="FB300",
                details="molde de 120 g e 10 cm; uns 800 por dia",
            ),
            say(
                "Pedido registrado! Um especialista envia a proposta com valores e condições. "
                "Posso ajudar em algo mais?"
            ),
        ),
    ),
    (
        "Qual a voltagem da máquina?",
        (
            say(
                "A FB300 é pneumática e trabalha com ar comprimido; a tensão do conjunto o "
                "especialista confirma na proposta. Vocês já têm compressor?"
            ),
        ),
    ),
    (
        "Temos sim, um compressor pequeno",
        (
            say(
                "Ótimo, o especialista confere se ele atende. Vocês também fazem linguiça: usam "
                "ensacadeira hoje?"
            ),
        ),
    ),
    (
        "Usamos uma bem antiga, manual",
        (
            say(
                "Temos a ensacadeira elétrica, com 3 bicos e controle de velocidade, de 15 kg ou "
                "30 kg. Quer incluir no orçamento?"
            ),
        ),
    ),
    (
        "Pode incluir a de 15 kg",
        (
            tool("create_quote_request", product="ensacadeira de linguiça", details="15 kg"),
            say("Incluída! O especialista envia as duas propostas juntas. Mais alguma dúvida?"),
        ),
    ),
    (
        "Vocês têm misturador também?",
        (
            say(
                "Temos sim: o misturador homogeneizador, com cuba basculante e dois eixos com "
                "reversão, de 25 a 210 litros. Quanta massa vocês preparam por vez?"
            ),
        ),
    ),
    (
        "Uns 40 quilos por vez",
        (
            say(
                "Para uns 40 kg por vez, o de 70 L (cerca de 50 kg) atende bem. Quer que eu "
                "inclua no orçamento também?"
            ),
        ),
    ),
    (
        "Por enquanto não, só a formadora e a ensacadeira",
        (
            say(
                "Combinado, fica registrado assim. O catálogo completo está em "
                "seletoindustrial.com.br, se quiser dar uma olhada."
            ),
        ),
    ),
    (
        "Obrigado, vou dar uma olhada",
        (
            say(
                "Eu que agradeço, Paulo! O especialista entra em contato com a proposta, e a "
                "Seleto fica à disposição por aqui."
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class RequestSize:
    turn: int
    request: int
    instructions: int
    lead_context: int
    catalog: int
    history: int
    history_messages: int
    this_turn: int
    tools: int
    sandbox_estimate: int
    o200k: int | None

    @property
    def total(self) -> int:
        return (
            self.instructions
            + self.lead_context
            + self.catalog
            + self.history
            + self.this_turn
            + self.tools
        )


@dataclass(frozen=True, slots=True)
class SystemMarkers:
    """Where the lead context and the catalog start inside the system prompt."""

    lead_context: str
    catalog: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SystemMarkers:
        template = load_prompt(settings.prompt_file).template("contexto_lead")
        catalog = load_catalog(settings.knowledge_file).render_for_prompt()
        return cls(lead_context=template.split("{", 1)[0], catalog=catalog.splitlines()[0])


def message_chars(message: dict[str, Any]) -> int:
    calls = message.get("tool_calls") or []
    return len(message_text(message)) + sum(
        len(call["function"]["name"]) + len(call["function"]["arguments"]) for call in calls
    )


def measure(
    turn: int,
    request: int,
    body: dict[str, Any],
    markers: SystemMarkers,
    encode: Callable[[str], int] | None,
) -> RequestSize:
    messages: list[dict[str, Any]] = body["messages"]
    system = "\n".join(message_text(m) for m in messages if m.get("role") in SYSTEM_ROLES)
    context_at = system.find(markers.lead_context)
    catalog_at = system.find(markers.catalog)
    if context_at < 0 or catalog_at < context_at:
        raise RuntimeError("the system prompt no longer has the lead context before the catalog")
    rest = [m for m in messages if m.get("role") not in SYSTEM_ROLES]
    last_user = max(i for i, m in enumerate(rest) if m.get("role") == "user")
    tools = json.dumps(body.get("tools") or [], ensure_ascii=False)
    return RequestSize(
        turn=turn,
        request=request,
        instructions=context_at,
        lead_context=catalog_at - context_at,
        catalog=len(system) - catalog_at,
        history=sum(message_chars(m) for m in rest[:last_user]),
        history_messages=last_user,
        this_turn=sum(message_chars(m) for m in rest[last_user:]),
        tools=len(tools),
        sandbox_estimate=estimate_tokens(prompt_text(body)),
        o200k=encode(json.dumps(messages, ensure_ascii=False) + tools) if encode else None,
    )


def o200k_encoder() -> tuple[Callable[[str], int] | None, str]:
    """A token counter for o200k_base, or None; and a note saying what was counted."""
    if importlib.util.find_spec("tiktoken") is None:
        return None, "not reported: tiktoken is not installed in this environment"
    import tiktoken

    try:
        encoding = tiktoken.get_encoding("o200k_base")
    except Exception as exc:  # tiktoken downloads the BPE file on first use
        return None, f"not reported: tiktoken could not load o200k_base ({type(exc).__name__})"
    note = (
        "o200k_base (tiktoken) over the messages and tool schemas as JSON text; the API's own "
        "count differs by its chat framing"
    )
    return (lambda text: len(encoding.encode(text))), note


async def play(sandbox_url: str, folder: Path) -> tuple[Settings, list[list[dict[str, Any]]]]:
    """Play the conversation; returns the settings used and each turn's model requests."""
    mode = ModelMode.from_environment({})  # always the scripted model
    settings = eval_settings(
        database_url=f"sqlite:///{folder / 'prompt_tokens.db'}", sandbox_url=sandbox_url, mode=mode
    )
    await migrate_database(settings)
    per_turn: list[list[dict[str, Any]]] = []
    async with (
        SandboxClient.connect(sandbox_url) as sandbox,
        EvalService.start(settings) as service,
    ):
        await sandbox.reset()
        for number, (lead, replies) in enumerate(CONVERSATION, start=1):
            before = len(await sandbox.model_requests())
            await sandbox.script(replies)
            message_id = await service.post_text(PHONE, lead)
            await service.settle(message_id, wait_seconds=TURN_TIMEOUT_SECONDS)
            requests = (await sandbox.model_requests())[before:]
            if len(requests) != len(replies):
                raise RuntimeError(f"turn {number}: {len(requests)} model requests")
            per_turn.append(requests)
            log(f"turn {number}: {len(requests)} model request(s)")
        sent = await sandbox.sent_texts(PHONE)
    if len(sent) != len(CONVERSATION):
        raise RuntimeError(f"{len(sent)} replies sent for {len(CONVERSATION)} turns")
    return settings, per_turn


def report(sizes: list[RequestSize], o200k_note: str) -> str:
    headers = [
        "turn",
        "req",
        "instructions",
        "lead ctx",
        "catalog",
        "history (msgs)",
        "this turn",
        "tool schemas",
        "total chars",
        "sandbox est. tokens",
        "chars/4 incl. tools",
        "o200k tokens",
    ]
    rows = [
        [
            str(s.turn),
            str(s.request),
            f"{s.instructions:,}",
            f"{s.lead_context:,}",
            f"{s.catalog:,}",
            f"{s.history:,} ({s.history_messages})",
            f"{s.this_turn:,}",
            f"{s.tools:,}",
            f"{s.total:,}",
            f"{s.sandbox_estimate:,}",
            f"{s.total // 4:,}",
            "-" if s.o200k is None else f"{s.o200k:,}",
        ]
        for s in sizes
    ]
    return "\n".join(
        [
            f"Prompt size per model request, {len(CONVERSATION)}-turn conversation "
            "(SANDBOX, scripted model; sizes in characters unless marked tokens)",
            "",
            table(headers, rows),
            "",
            "req 1 carries the lead's text; req 2 adds this turn's tool call and result.",
            f"History replays the last {HISTORY_RUNS} runs (HISTORY_RUNS, agents/factory.py), "
            "tool calls and results included.",
            "sandbox est. tokens = the sandbox's usage.prompt_tokens: message text / 4, an "
            "ESTIMATE without tool schemas or tool-call arguments.",
            f"o200k tokens: {o200k_note}.",
        ]
    )


def main() -> None:
    encode, o200k_note = o200k_encoder()
    with (
        tempfile.TemporaryDirectory(prefix="seleto-prompt-tokens-") as scratch,
        service_output_to_stderr(pii_key=b"bench"),
        local_sandbox() as sandbox_url,
    ):
        settings, per_turn = asyncio.run(play(sandbox_url, Path(scratch)))
    markers = SystemMarkers.from_settings(settings)
    sizes = [
        measure(turn, index, body, markers, encode)
        for turn in REPORTED_TURNS
        for index, body in enumerate(per_turn[turn - 1], start=1)
    ]
    print(report(sizes, o200k_note))


if __name__ == "__main__":
    main()
