"""What the WhatsApp Cloud API demands of every send, decided when the message is about to go:
the 24 h service window, the pair rate per lead and the number's throughput.

Z-API has neither rule, so its sends take none of this (`OutboundService(rules=None)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from seleto_agent.domain.service_window import WindowState, service_window
from seleto_agent.integrations.whatsapp import SentMessage, WhatsAppOutsideWindow

GLOBAL_SCOPE = "global"


class OutsideServiceWindow(WhatsAppOutsideWindow):
    """Refused by us before calling the provider (Meta's own refusal is error 131047)."""


class TemplateSender(Protocol):
    async def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str = "pt_BR",
        body_params: Sequence[str] = (),
        reference: str | None = None,
    ) -> SentMessage: ...


@dataclass(frozen=True, slots=True)
class SendRules:
    window_safety: timedelta
    pair_gap: timedelta
    # 1 / META_MAX_MPS: the least time between two sends of the number.
    min_interval: timedelta
    # Sent instead of an SDR's text once the window closed; None = not sent, a note says why.
    reengage_template: str | None
    # Chatwoot configured: a send refused or replaced is explained to the SDR there.
    notify_chatwoot: bool

    def window(self, last_inbound_at: datetime | None, now: datetime) -> WindowState:
        return service_window(last_inbound_at, now=now, safety=self.window_safety)

    def gaps(self, conversation_key: str) -> dict[str, timedelta]:
        return {GLOBAL_SCOPE: self.min_interval, f"to:{conversation_key}": self.pair_gap}


def window_note(*, template: str | None, human: bool) -> str:
    """The private note the SDR team reads in Chatwoot when a text could not go out (pt-BR)."""
    closed = "a janela de 24 h do WhatsApp está fechada (o cliente não escreve há mais de 24 h)"
    if not human:
        return (
            f"⚠️ O bot não respondeu: {closed}. Para retomar, envie um modelo aprovado ou "
            "aguarde o cliente escrever de novo."
        )
    if template:
        return (
            f"⚠️ Mensagem não enviada: {closed}. Enviamos o modelo aprovado “{template}” "
            "convidando o cliente a retomar a conversa; quando ele responder, reenvie sua "
            "mensagem."
        )
    return (
        f"⚠️ Mensagem não enviada: {closed} e nenhum modelo de retomada está configurado "
        "(META_REENGAGE_TEMPLATE). Aguarde o cliente escrever ou fale com ele por outro canal."
    )
