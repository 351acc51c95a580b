"""Slot cleaning, the SDR brief, session windows and the lead context the prompt receives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seleto_agent.agents.context import render_lead_context
from seleto_agent.agents.prompts import load_prompt
from seleto_agent.db.repositories.handoffs import HandoffRecord, HandoffStatus
from seleto_agent.db.repositories.leads import LeadRecord
from seleto_agent.db.repositories.quotes import QuoteRecord
from seleto_agent.domain.conversation import needs_new_session, new_session_id, resumed_after
from seleto_agent.domain.lead_slots import (
    NOT_INFORMED,
    changed_slots,
    clean_slots,
    handoff_brief,
)
from seleto_agent.services.leads import LeadState
from seleto_agent.settings import PROJECT_ROOT

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def test_clean_slots_normalises_and_reports_field_errors() -> None:
    cleaned = clean_slots(
        {
            "name": "  João   Silva ",
            "city": "são josé dos pinhais",
            "uf": "paraná",
            "email": "joao@",
            "knows_seleto": False,
            "segment": "",
            "urgency": None,
            "product_interest": "x" * 201,
        }
    )
    assert cleaned.values == {
        "name": "João Silva",
        "city": "São José dos Pinhais",
        "uf": "PR",
        "knows_seleto": False,
    }
    assert set(cleaned.errors) == {"email", "product_interest"}


def test_unknown_uf_is_an_error_not_a_guess() -> None:
    assert "uf" in clean_slots({"uf": "Atlântida"}).errors


def test_changed_slots_ignores_repeats() -> None:
    current = {"name": "Ana", "uf": "SC", "city": None}
    assert changed_slots(current, {"name": "Ana", "uf": "SP"}) == {"uf": "SP"}
    assert changed_slots(current, {"name": "Ana"}) == {}


def test_handoff_brief_has_every_client_field_with_not_informed() -> None:
    brief = handoff_brief(
        {"name": "Ana", "city": "Joinville", "uf": None, "knows_seleto": True},
        temperature="quente",
        temperature_reason="FB700, este mês",
        notes=None,
    )
    assert list(brief) == [
        "Nome",
        "Empresa",
        "Localização",
        "Produto de Interesse",
        "Capacidade / Volume",
        "Urgência",
        "Já conhece a Seleto Industrial?",
        "Observações adicionais",
        "Temperatura",
        "Motivo da temperatura",
    ]
    assert brief["Localização"] == "Joinville"
    assert brief["Já conhece a Seleto Industrial?"] == "Sim"
    assert brief["Empresa"] == NOT_INFORMED
    assert brief["Observações adicionais"] == NOT_INFORMED


def test_session_rotates_once_after_the_window() -> None:
    old_turn = NOW - timedelta(hours=30)
    assert needs_new_session(last_turn_at=old_turn, session_started_at=None, now=NOW, window=WINDOW)
    # Already rotated for this window (a retried turn): no second rotation.
    assert not needs_new_session(
        last_turn_at=old_turn, session_started_at=NOW - timedelta(minutes=1), now=NOW, window=WINDOW
    )
    assert not needs_new_session(
        last_turn_at=NOW - timedelta(hours=2), session_started_at=None, now=NOW, window=WINDOW
    )
    assert not needs_new_session(last_turn_at=None, session_started_at=None, now=NOW, window=WINDOW)


def test_resumed_after_only_for_the_first_turn_of_a_new_session() -> None:
    old_turn = NOW - timedelta(days=3)
    assert resumed_after(last_turn_at=old_turn, session_started_at=NOW) == old_turn
    assert resumed_after(last_turn_at=NOW, session_started_at=old_turn) is None
    assert new_session_id("wa:+5541998765432", NOW) == "wa:+5541998765432@20261121T150000Z"


def _lead(**slots: object) -> LeadRecord:
    base: dict[str, object] = {
        "id": 1,
        "phone": "+5541998765432",
        "name": None,
        "company_name": None,
        "email": None,
        "city": None,
        "uf": None,
        "segment": None,
        "product_interest": None,
        "production_volume": None,
        "urgency": None,
        "knows_seleto": None,
        "temperature": None,
        "temperature_reason": None,
        "suggested_model": None,
        "updated_at": NOW,
    }
    base.update(slots)
    return LeadRecord(**base)  # type: ignore[arg-type]


def test_lead_context_lists_known_and_missing_slots() -> None:
    prompt = load_prompt(PROJECT_ROOT / "prompts" / "sp_agente_v1.xml")
    state = LeadState(
        lead=_lead(
            name="Ana",
            product_interest="FB700",
            knows_seleto=False,
            temperature="morno",
            temperature_reason="prazo não é próximo",
            suggested_model="FB700",
        ),
        quotes=[QuoteRecord(1, 1, "FB700", None, None, None, None, None)],
        handoff=HandoffRecord(
            1, "wa:+5541998765432", 1, "requested", "r", {}, HandoffStatus.PENDING, None
        ),
    )
    text = render_lead_context(prompt, state, resumed_after=NOW - timedelta(days=3))
    assert "nome: Ana" in text
    assert "já conhece a Seleto: não" in text
    assert "Ainda faltam: urgência, cidade e UF" in text
    assert "morno (prazo não é próximo)" in text
    assert "Pedidos de orçamento registrados: FB700" in text
    assert "especialista: sim" in text
    assert "última conversa em 18/11/2026" in text


def test_lead_context_for_a_new_lead() -> None:
    prompt = load_prompt(PROJECT_ROOT / "prompts" / "sp_agente_v1.xml")
    text = render_lead_context(prompt, None, resumed_after=None)
    assert "Dados já coletados deste lead (não pergunte de novo): nenhum" in text
    assert "última conversa" not in text
