"""`make demo`: a scripted WhatsApp conversation through the real service and the sandbox.

SIMULATION: the lead is scripted, WhatsApp is the local simulator (Z-API, or the Cloud API with
`make demo PROVIDER=meta`) and the model is the sandbox's scripted stand-in (no AI). What is
real is the service: webhook, storage, worker, agent pipeline, WhatsApp client and admin API,
talking over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from seleto_agent.sandbox.app import create_sandbox_app
from seleto_agent.sandbox.config import SandboxConfig

LEAD_PHONE = "5511987654321"


def _tool(name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def _say(text: str) -> dict[str, Any]:
    return {"content": text}


# Throwaway credentials of a local simulation, not secrets.
WEBHOOK_TOKEN = "demo-webhook-token"  # noqa: S105
META_VERIFY_TOKEN = "demo-meta-verify-token"  # noqa: S105
ADMIN_TOKEN = "demo-admin-token"  # noqa: S105
# Each lead message, and what the scripted model answers: the tool calls a good model would make
# and its text. The service runs the real tools, rules and guardrail on them.
SCRIPT: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        "oi, vi a formadora de hambúrguer de vocês",
        [
            _tool("update_lead", product_interest="formadora de hambúrguer"),
            _say(
                "Olá! Sou o assistente virtual da Seleto Industrial; esta conversa fica "
                "registrada para o atendimento e o orçamento. Temos formadoras da manual à "
                "industrial. Com quem eu falo, e de qual empresa?"
            ),
        ],
    ),
    (
        "sou o Carlos, da Casa de Carnes Silva. Quanto custa a FB300?",
        [
            _tool("update_lead", name="Carlos", company_name="Casa de Carnes Silva"),
            _tool("create_quote_request", product="FB300"),
            # A draft that breaks the price rule: the guardrail blocks it and asks again.
            _say("A FB300 sai por R$ 25.000,00 à vista."),
            _say(
                "Prazer, Carlos! Registrei o seu pedido de orçamento da FB300; valores e "
                "condições vêm na proposta do especialista. Quantos hambúrgueres vocês fazem "
                "por dia?"
            ),
        ],
    ),
    (
        "fazemos uns 2000 hambúrgueres por dia, aqui em Campinas/SP, e queremos comprar este mês",
        [
            _tool(
                "update_lead",
                production_volume="2000 por dia",
                city="Campinas",
                uf="SP",
                urgency="este mês",
                segment="casa de carnes",
            ),
            _say(
                "Perfeito! Para 2.000 por dia a FB300 atende com folga. Um especialista da "
                "Seleto vai continuar o seu atendimento por aqui em breve."
            ),
        ],
    ),
)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(app: Any, port: int) -> _Server:
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return server


async def _wait_for_reply(sandbox: httpx.AsyncClient, provider: str, count: int) -> str:
    for _ in range(300):
        state = (await sandbox.get("/_sandbox/state")).json()
        if provider == "meta":
            sent = [
                str(c["body"]["text"]["body"])
                for c in state["meta"]["calls"]
                if c.get("kind") == "text" and c.get("status_code") == 200
            ]
        else:
            sent = [
                str(s["message"])
                for s in state["zapi"]["sent"]
                if s["endpoint"] == "send-text" and s["status_code"] == 200
            ]
        if len(sent) >= count:
            return sent[count - 1]
        await asyncio.sleep(0.1)
    raise RuntimeError("no reply within 30 s")


async def _subscribe(
    sandbox: httpx.AsyncClient, provider: str, service_url: str, config: SandboxConfig
) -> None:
    """Point the simulated WhatsApp at the service, as an operator does once (RUNBOOK)."""
    if provider == "meta":
        subscribed = await sandbox.post(
            "/_sandbox/meta/webhook",
            json={"url": f"{service_url}/webhooks/meta", "verify_token": META_VERIFY_TOKEN},
        )
        subscribed.raise_for_status()
        # The App Dashboard's "Verify and save": the handshake must echo the challenge.
        verified = (await sandbox.post("/_sandbox/meta/verify", json={})).json()
        print(f"Meta webhook verification: {verified}")
        return
    root = f"/instances/{config.zapi_instance_id}/token/{config.zapi_instance_token}"
    registered = await sandbox.put(
        f"{root}/update-every-webhooks",
        json={"value": f"{service_url}/webhooks/zapi/{WEBHOOK_TOKEN}"},
        headers={"Client-Token": config.zapi_client_token},
    )
    registered.raise_for_status()


async def _play(sandbox_url: str, service_url: str, config: SandboxConfig, provider: str) -> None:
    simulated = "the Cloud API (Meta)" if provider == "meta" else "Z-API"
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        await _subscribe(sandbox, provider, service_url, config)
        print("=" * 72)
        print(f"SIMULATION — scripted lead, simulated {simulated}, scripted model (no AI)")
        print("=" * 72)
        for number, (text, replies) in enumerate(SCRIPT, start=1):
            print(f"\nLead ({LEAD_PHONE[:4]}…{LEAD_PHONE[-4:]}): {text}")
            scripted = await sandbox.post("/_sandbox/model/script", json={"replies": replies})
            scripted.raise_for_status()
            if provider == "meta":
                inbound = {"kind": "text", "wa_id": LEAD_PHONE, "name": "Carlos", "text": text}
                await sandbox.post("/_sandbox/meta/inbound", json=inbound)
            else:
                inbound = {"phone": LEAD_PHONE, "text": text}
                await sandbox.post("/_sandbox/zapi/inbound", json=inbound)
            print(f"Seleto (bot): {await _wait_for_reply(sandbox, provider, number)}")
    async with httpx.AsyncClient(base_url=service_url, timeout=10) as service:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        await _wait_for_crm(service, headers)
        events = (await service.get("/admin/events?limit=20", headers=headers)).json()["items"]
        state = (await service.get(f"/admin/conversations/{LEAD_PHONE}", headers=headers)).json()
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        piperun = (await sandbox.get("/_sandbox/piperun/state")).json()
    print("\n--- Stored events (GET /admin/events) ---")
    for event in reversed(events):
        print(f"#{event['id']:<3} {event['type']:<22} {event['status']:<8} {event['phone']}")
    print("\n--- Conversation (GET /admin/conversations/{phone}) ---")
    print(f"owner={state['owner']} ({state['owner_reason']}) session={state['session_id']}")
    lead = state["lead"]
    slots = {k: v for k, v in lead.items() if v is not None and not k.startswith("temperature")}
    print("lead slots: " + ", ".join(f"{k}={v}" for k, v in slots.items()))
    print(f"temperature: {lead['temperature']} — {lead['temperature_reason']}")
    print(f"quote requests: {[quote['product'] for quote in state['quotes']]}")
    if state["handoff"]:
        print(f"handoff to the SDR team ({state['handoff']['kind']}):")
        for field, value in state["handoff"]["brief"].items():
            print(f"  {field}: {value}")
    print(f"CRM ids: {state['crm']}")
    print("\n--- PipeRun records (simulator state) ---")
    for company in piperun["companies"]:
        print(f"company #{company['id']}: {company['name']} (CNPJ {company.get('cnpj')})")
    for person in piperun["persons"]:
        print(f"person #{person['id']}: {person['name']} (company #{person.get('company_id')})")
    for deal in piperun["deals"]:
        print(
            f"deal #{deal['id']}: {deal['title']} "
            f"(pipeline {deal['pipeline_id']}, stage {deal['stage_id']})"
        )
    for note in piperun["notes"]:
        print(f"note #{note['id']} on deal #{note.get('deal_id')}:")
        for line in note["text"].splitlines():
            print(f"  {line}")


async def _wait_for_crm(service: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """The CRM sync runs in the background; give it a few seconds to settle."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        jobs = (await service.get("/admin/jobs?kind=crm.sync", headers=headers)).json()["items"]
        if jobs and all(job["status"] in ("done", "dead") for job in jobs):
            return
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=("zapi", "meta"), default="zapi")
    provider = parser.parse_args().provider

    from seleto_agent.app import create_app
    from seleto_agent.db.engine import create_engine
    from seleto_agent.observability.logging import configure_logging
    from seleto_agent.runtime import build_runtime
    from seleto_agent.services.schema import migrate_all
    from seleto_agent.settings import Settings

    configure_logging(level="ERROR", fmt="console", pii_key=b"demo")
    sandbox_port, service_port = _free_port(), _free_port()
    config = SandboxConfig(public_base_url=f"http://127.0.0.1:{sandbox_port}")
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{Path(folder) / 'demo.db'}",
            admin_token=ADMIN_TOKEN,
            zapi_base_url=sandbox_url,
            zapi_instance_id=config.zapi_instance_id,
            zapi_instance_token=config.zapi_instance_token,
            zapi_client_token=config.zapi_client_token,
            zapi_webhook_token=WEBHOOK_TOKEN,
            openai_base_url=f"{sandbox_url}/v1",
            openai_api_key="sandbox-scripted-model",
            openai_model="sandbox-scripted",
            debounce_seconds=0.3,
            log_level="ERROR",
            piperun_base_url=f"{sandbox_url}/v1",
            piperun_token=config.piperun_token,
            piperun_pipeline_id=100848,
            piperun_stage_id=647558,
            piperun_origin_id=556735,
            piperun_owner_id=42001,
            whatsapp_provider=provider,
            meta_graph_base_url=sandbox_url,
            meta_access_token=config.meta_access_token,
            meta_phone_number_id=config.meta_phone_number_id,
            meta_app_secret=config.meta_app_secret,
            meta_verify_token=META_VERIFY_TOKEN,
        )
        engine = create_engine(settings.database_url)
        asyncio.run(migrate_all(engine, settings.migrations_dir))
        asyncio.run(engine.dispose())
        _start(create_sandbox_app(config), sandbox_port)
        service = _start(create_app(build_runtime(settings)), service_port)
        try:
            asyncio.run(_play(sandbox_url, f"http://127.0.0.1:{service_port}", config, provider))
        finally:
            service.should_exit = True
            time.sleep(0.5)


if __name__ == "__main__":
    main()
