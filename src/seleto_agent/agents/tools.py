"""The agent's tools (INTERFACE.md §4): thin adapters from model calls to `LeadService`.

Results are compact JSON the prompt explains (`next_step` codes), so no lead-facing wording
lives here. Bad arguments come back as field errors for the model to fix with the lead.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from agno.exceptions import StopAgentRun
from agno.run import RunContext
from agno.tools import Toolkit

from seleto_agent.domain.temperature import Temperature, TemperatureDecision
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import TOOL_CALLS
from seleto_agent.services.leads import LeadService

log = get_logger(__name__)

TOOL_NAMES = ("update_lead", "register_company", "create_quote_request", "request_human_handoff")
# A run that keeps calling tools is looping; stop it (AGNO_NOTES §2: tool_call_limit does
# not bound model round-trips).
MAX_TOOL_CALLS_PER_RUN = 12


class SdrTools(Toolkit):
    def __init__(self, leads: LeadService) -> None:
        self._leads = leads
        super().__init__(
            name="seleto_sdr",
            tools=[
                self.update_lead,
                self.register_company,
                self.create_quote_request,
                self.request_human_handoff,
            ],
        )

    async def update_lead(
        self,
        run_context: RunContext,
        name: str | None = None,
        company_name: str | None = None,
        email: str | None = None,
        city: str | None = None,
        uf: str | None = None,
        segment: str | None = None,
        product_interest: str | None = None,
        production_volume: str | None = None,
        urgency: str | None = None,
        knows_seleto: bool | None = None,
    ) -> str:
        """Record qualification facts the lead gave (only what the lead said; omit unknowns).

        Args:
            name: lead's name.
            company_name: company or business name.
            email: e-mail address.
            city: city.
            uf: Brazilian state (UF), e.g. "SP".
            segment: business segment, e.g. "hamburgueria", "frigorífico".
            product_interest: equipment or need, e.g. "FB300", "formadora de hambúrguer".
            production_volume: production volume as the lead said it, e.g. "2000 por dia".
            urgency: when they want to buy, as the lead said it, e.g. "este mês".
            knows_seleto: whether the lead already knows or owns Seleto equipment.
        """
        raw = {
            "name": name,
            "company_name": company_name,
            "email": email,
            "city": city,
            "uf": uf,
            "segment": segment,
            "product_interest": product_interest,
            "production_volume": production_volume,
            "urgency": urgency,
            "knows_seleto": knows_seleto,
        }
        result = await self._leads.update_lead(
            _conversation_key(run_context), raw, turn_id=_turn_id(run_context)
        )
        return _json(
            {
                "ok": not result.errors,
                "saved": result.saved,
                "errors": result.errors,
                **_decision_fields(result.decision),
                "next_step": _next_step(result.decision, handoff=result.handoff is not None),
            }
        )

    async def register_company(
        self,
        run_context: RunContext,
        cnpj: str,
        legal_name: str | None = None,
        city: str | None = None,
        uf: str | None = None,
    ) -> str:
        """Register the lead's company by CNPJ (numeric or alphanumeric, masked or not).

        Args:
            cnpj: the company's CNPJ as the lead wrote it.
            legal_name: company legal name (razão social).
            city: company city.
            uf: company state (UF).
        """
        result = await self._leads.register_company(
            _conversation_key(run_context), cnpj=cnpj, legal_name=legal_name, city=city, uf=uf
        )
        if result.company_id is None:
            return _json({"ok": False, "errors": result.errors})
        return _json(
            {
                "ok": not result.errors,
                "company": "registered" if result.created else "already_registered",
                "cnpj": result.cnpj_formatted,
                "errors": result.errors,
            }
        )

    async def create_quote_request(
        self, run_context: RunContext, product: str, details: str | None = None
    ) -> str:
        """Record that the lead wants a quote (orçamento) for a product; a specialist sends it.

        Args:
            product: the equipment the quote is for, e.g. "FB700".
            details: what matters for the proposal (mold size, voltage, volume...).
        """
        if not product.strip():
            return _json({"ok": False, "errors": {"product": "informe o equipamento"}})
        result = await self._leads.create_quote_request(
            _conversation_key(run_context),
            product=product,
            details=details,
            turn_id=_turn_id(run_context),
        )
        return _json(
            {
                "ok": True,
                "quote": "recorded" if result.created else "already_recorded",
                **_decision_fields(result.decision),
                "next_step": _next_step(result.decision, handoff=result.handoff is not None),
            }
        )

    async def request_human_handoff(self, run_context: RunContext, reason: str) -> str:
        """Hand the conversation to Seleto's SDR team (a person) with a summary; the bot pauses.

        Args:
            reason: why a person should take over, in a few words.
        """
        if not reason.strip():
            return _json({"ok": False, "errors": {"reason": "informe o motivo"}})
        result = await self._leads.request_handoff(
            _conversation_key(run_context),
            reason=reason,
            kind="requested",
            turn_id=_turn_id(run_context),
        )
        return _json(
            {
                "ok": True,
                "handoff": "created" if result.created else "already_pending",
                "next_step": "handoff_done",
            }
        )


class ToolBudget:
    """Counts tool calls per run and stops a run that loops. The runner names each run and
    releases its count when the run ends, so nothing accumulates."""

    def __init__(self, limit: int = MAX_TOOL_CALLS_PER_RUN) -> None:
        self._limit = limit
        self._calls: dict[str, int] = {}

    async def hook(
        self,
        function_name: str,
        function_call: Callable[..., Any],
        arguments: dict[str, Any],
        run_context: RunContext,
    ) -> Any:
        calls = self._calls.get(run_context.run_id, 0) + 1
        self._calls[run_context.run_id] = calls
        TOOL_CALLS.labels(function_name).inc()
        if calls > self._limit:
            log.warning("agent.tool_budget_exhausted", tool=function_name)
            raise StopAgentRun("tool budget exhausted")
        result = function_call(**arguments)
        return await result if inspect.isawaitable(result) else result

    def release(self, run_id: str) -> None:
        self._calls.pop(run_id, None)


def _conversation_key(run_context: RunContext) -> str:
    # The runner passes the conversation key as the Agno user id (stable across sessions).
    if not run_context.user_id:
        raise RuntimeError("agent run without a user id")
    return run_context.user_id


def _turn_id(run_context: RunContext) -> str | None:
    dependencies = run_context.dependencies or {}
    turn_id = dependencies.get("turn_id")
    return str(turn_id) if turn_id else None


def _decision_fields(decision: TemperatureDecision) -> dict[str, Any]:
    return {
        "temperature": decision.temperature.value if decision.temperature else None,
        "temperature_reason": decision.reason,
        "suggested_model": decision.suggested_model,
        "missing": list(decision.missing),
    }


def _next_step(decision: TemperatureDecision, *, handoff: bool) -> str:
    if handoff:
        return "handoff_done"
    if decision.temperature is Temperature.FRIO:
        return "close_cold"
    if decision.missing:
        return "continue_qualifying"
    return "qualified"


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)
