"""A send the provider accepted and later reported `failed` (Cloud API statuses[].errors[]).

Ingestion queues one job per failed message; this handler acts by the error code's class
(`integrations/meta/errors.classify_error_code`, contract table §2.12), once per failure:

- retry (throughput, a Meta outage): the row is sent again, at most `MAX_RESENDS` times;
- outside the window (131047): final, never resent as text;
- hand-off (undeliverable: not on WhatsApp, blocked, old app): the SDR team takes the lead;
- dead or alert (a bad request, a template problem, our account or token): left to people.

Every case but a retry leaves a private note in pt-BR in Chatwoot saying what to do next.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.chatwoot import queue_mirror
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.jobs import JobRecord, JobRepository
from seleto_agent.db.repositories.outbound import OutboundRepository
from seleto_agent.domain.events import OutboundStatus
from seleto_agent.domain.jobs import JobKind
from seleto_agent.integrations.meta.errors import ErrorAction, classify_error_code
from seleto_agent.observability.logging import get_logger
from seleto_agent.observability.metrics import OUTBOUND
from seleto_agent.services.outbound import FINAL_ERROR_PREFIX, OUTSIDE_WINDOW, OutboundService
from seleto_agent.services.outbox import JobNotReady
from seleto_agent.services.ownership import OwnershipService
from seleto_agent.services.send_rules import window_note

log = get_logger(__name__)

# Sends of one row after failures Meta called transient; then it is a person's call.
MAX_RESENDS = 2
UNDELIVERABLE_HANDOFF = "whatsapp_undeliverable"


async def queue_send_failure(
    conn: AsyncConnection, *, provider: str, message_id: str, error_code: int, now: datetime
) -> bool:
    """In the status' own transaction: queue the handling of a failed send we hold."""
    record = await OutboundRepository(conn).by_message_id(provider=provider, message_id=message_id)
    if record is None:
        return False
    await JobRepository(conn).enqueue(
        kind=JobKind.SEND_FAILED,
        ordering_key=f"send:{record.conversation_key}",
        # A repeated `failed` status of one message is handled once.
        dedupe_key=f"sendfail:{provider}:{message_id}",
        payload={"outbound_id": record.id, "message_id": message_id, "code": error_code},
        now=now,
    )
    return True


class SendFailureHandler:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        outbound: OutboundService,
        ownership: OwnershipService,
        mirror: bool,
    ) -> None:
        self._engine = engine
        self._outbound = outbound
        self._ownership = ownership
        self._mirror = mirror

    async def handle(self, job: JobRecord) -> str | None:
        outbound_id, code = int(job.payload["outbound_id"]), int(job.payload["code"])
        message_id = str(job.payload["message_id"])
        action = classify_error_code(code)
        error = failure_error(action, code)
        now = datetime.now(UTC)
        async with self._engine.connect() as conn:
            seen, _db_now = await OutboundRepository(conn).current(outbound_id)
        async with self._engine.begin() as conn:
            # The conversation first, like every deciding transaction (C22): a hand-off and
            # the lead's turn never wait on each other's rows.
            await ConversationRepository(conn).lock(seen.conversation_key)
            repo = OutboundRepository(conn)
            record, _db_now = await repo.current(outbound_id)
            if record.provider_message_id != message_id:
                # Sent again since (a resend has its own id): this failure is history.
                return "superseded"
            if record.status is OutboundStatus.FAILED and record.last_error == error:
                # Handled already (a replay, or a resend that is still to happen): a hand-off
                # is not applied again over what the SDR team did since.
                resend = action is ErrorAction.RETRY and record.attempts <= MAX_RESENDS
            else:
                resend = action is ErrorAction.RETRY and record.attempts <= MAX_RESENDS
                await repo.reopen_failed(record.id, attempt=record.attempts, error=error)
                if not resend:
                    await self._note(conn, record.conversation_key, outbound_id, action, code, now)
                if action is ErrorAction.HANDOFF:
                    await self._ownership.handoff_in(
                        conn, record.conversation_key, kind=UNDELIVERABLE_HANDOFF, turn_id=None
                    )
                OUTBOUND.labels(self._outbound.provider, f"failed_{action.value}").inc()
                log.warning(
                    "outbound.failed_status", outbound_id=outbound_id, code=code, action=action
                )
        if resend:
            await self._resend(outbound_id)
            return "resent"
        return action.value

    async def _resend(self, outbound_id: int) -> None:
        async with self._engine.connect() as conn:
            record, _now = await OutboundRepository(conn).current(outbound_id)
        if record.status is OutboundStatus.SENT:
            return
        try:
            await self._outbound.deliver(record)
        except Exception as exc:
            # The job's own retry with backoff: the row is `failed`, the next attempt sends it.
            raise JobNotReady(f"resend: {type(exc).__name__}", retry_in=5.0) from exc

    async def _note(
        self,
        conn: AsyncConnection,
        key: str,
        outbound_id: int,
        action: ErrorAction,
        code: int,
        now: datetime,
    ) -> None:
        if not self._mirror:
            return
        await queue_mirror(
            conn,
            conversation_key=key,
            what="note",
            ref=f"sendfail-{outbound_id}-{code}",
            now=now,
            extra={"text": failure_note(action, code)},
        )


def failure_error(action: ErrorAction, code: int) -> str:
    """The row's `last_error`: a transient code may be sent again, any other is final."""
    if action is ErrorAction.OUTSIDE_WINDOW:
        return OUTSIDE_WINDOW
    if action is ErrorAction.RETRY:
        return f"failed:{code}"
    return f"{FINAL_ERROR_PREFIX}{code}"


def failure_note(action: ErrorAction, code: int) -> str:
    """What the SDR team reads in Chatwoot (pt-BR), with the next step."""
    if action is ErrorAction.OUTSIDE_WINDOW:
        return window_note(template=None, human=False)
    if action is ErrorAction.HANDOFF:
        return (
            f"⚠️ O WhatsApp não entregou a última mensagem (código {code}): o número pode não "
            "ter WhatsApp, estar com o app desatualizado ou ter bloqueado a empresa. A conversa "
            "foi passada para a equipe; tente contato por telefone ou e-mail."
        )
    if action is ErrorAction.ALERT:
        return (
            f"⚠️ Mensagem não enviada por um problema na conta do WhatsApp da empresa (código "
            f"{code}). A equipe técnica foi avisada; até lá, responda por outro canal."
        )
    return (
        f"⚠️ Mensagem não enviada: o WhatsApp recusou o envio (código {code}). A equipe técnica "
        "precisa verificar; responda o cliente por aqui manualmente se for urgente."
    )
