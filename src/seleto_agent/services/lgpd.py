"""Data-subject requests carried out (LGPD Arts. 18-19): export everything we hold about a
person, or erase it across our tables, Agno's tables and (through outbox jobs) Chatwoot and
PipeRun. Both are run by an operator (`seleto-agent lgpd ...`, `/admin/lgpd/...`) once the
request is verified; the bot only records requests (services/leads.py).

The erasure is one transaction that starts by locking the conversation row, like every
deciding transaction (DECISIONS C22), and refuses while a turn or a vendor job of the person
runs (they would write again what was just erased). It is idempotent: a second run finds
nothing, changes nothing and writes no audit row; the vendor jobs treat "already gone" as done.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seleto_agent.db.repositories.agno_store import AgnoStore
from seleto_agent.db.repositories.audit import AuditRepository
from seleto_agent.db.repositories.conversations import ConversationRepository
from seleto_agent.db.repositories.jobs import JobRepository
from seleto_agent.db.repositories.lgpd_subject import SubjectRepository, VendorRecords
from seleto_agent.domain.jobs import JobKind
from seleto_agent.domain.lgpd import ERASED_SUBJECT_TYPE, erasure_reference, subject_address
from seleto_agent.domain.phone import mask_conversation_key
from seleto_agent.observability.logging import get_logger
from seleto_agent.services.identity import find_conversation_key

log = get_logger(__name__)

DELETE_ACTION = "lgpd.delete"
EXPORT_ACTION = "lgpd.export"


class SubjectBusy(Exception):
    """Live work of this person would write again what an erasure removes: try in a minute."""


@dataclass(frozen=True, slots=True)
class Erasure:
    found: bool
    reference: str | None = None
    # Rows deleted or anonymised, per table (ours and Agno's).
    rows: dict[str, int] = field(default_factory=dict)
    vendor_jobs: list[int] = field(default_factory=list)
    # Masked audit subjects another number shares: those rows were left as they are.
    audit_shared_masks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "reference": self.reference,
            "rows": self.rows,
            "vendor_jobs": self.vendor_jobs,
            "audit_shared_masks": self.audit_shared_masks,
        }


class LgpdService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def export(self, value: str, *, actor: str) -> dict[str, Any]:
        """Every row about the person, as JSON-ready values (raw payloads decoded as text).
        The read is audited (`lgpd.export`, masked subject): who saw whose data, and when."""
        address = subject_address(value)
        async with self._engine.begin() as conn:
            key = await find_conversation_key(conn, address)
            subject = await SubjectRepository(conn).find(key, phone=address.e164)
            tables = await SubjectRepository(conn).export(subject)
            agno = await AgnoStore(conn).export(subject.keys)
            found = subject.found or any(agno.values())
            if found:
                await AuditRepository(conn).record(
                    actor=actor,
                    action=EXPORT_ACTION,
                    subject_type="conversation",
                    subject_id=mask_conversation_key(key),
                    details={"rows": sum(len(rows) for rows in tables.values())},
                    now=datetime.now(UTC),
                )
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "conversation_keys": list(subject.keys),
            "found": found,
            "tables": _jsonable(tables),
            "agno": _jsonable(agno),
            "notes": {
                "audit_log": "rows under a masked subject no other number shares; "
                f"{len(subject.shared_audit_subjects)} masked subject(s) are shared and left out",
            },
        }

    async def delete(self, value: str, *, actor: str) -> Erasure:
        address = subject_address(value)
        async with self._engine.connect() as conn:
            key = await find_conversation_key(conn, address)
        now = datetime.now(UTC)
        reference = erasure_reference()
        async with self._engine.begin() as conn:
            # First statement of the transaction (SQLite takes its writer lock here).
            await ConversationRepository(conn).lock(key)
            repo = SubjectRepository(conn)
            subject = await repo.find(key, phone=address.e164)
            reason = await repo.busy(subject)
            if reason is not None:
                raise SubjectBusy(reason)
            vendors = await repo.vendor_records(subject) if subject.found else None
            rows = await repo.erase(subject, reference=reference, now=now) if subject.found else {}
            rows |= await AgnoStore(conn).erase(subject.keys)
            if not rows:
                return Erasure(found=False)
            jobs = await _queue_vendor_jobs(conn, vendors, reference=reference, now=now)
            await AuditRepository(conn).record(
                actor=actor,
                action=DELETE_ACTION,
                subject_type=ERASED_SUBJECT_TYPE,
                subject_id=reference,
                details={"rows": rows, "vendor_jobs": len(jobs)},
                now=now,
            )
        log.info("lgpd.erased", tables=len(rows), vendor_jobs=len(jobs))
        return Erasure(
            found=True,
            reference=reference,
            rows=rows,
            vendor_jobs=jobs,
            audit_shared_masks=len(subject.shared_audit_subjects),
        )


async def _queue_vendor_jobs(
    conn: AsyncConnection, vendors: VendorRecords | None, *, reference: str, now: datetime
) -> list[int]:
    """One job per Chatwoot contact and one for the PipeRun records; their payloads hold
    vendor ids only, never a phone, so the job rows outlive the erasure harmlessly."""
    if vendors is None:
        return []
    jobs = JobRepository(conn)
    queued: list[int | None] = []
    for contact_id in vendors.chatwoot_contacts:
        queued.append(
            await jobs.enqueue(
                kind=JobKind.LGPD_CHATWOOT,
                ordering_key=reference,
                dedupe_key=f"{reference}:chatwoot:{contact_id}",
                payload={"contact_id": contact_id},
                now=now,
            )
        )
    if vendors.piperun_persons or vendors.piperun_notes or vendors.piperun_companies:
        queued.append(
            await jobs.enqueue(
                kind=JobKind.LGPD_PIPERUN,
                ordering_key=reference,
                dedupe_key=f"{reference}:piperun",
                payload={
                    "note_ids": list(vendors.piperun_notes),
                    "person_ids": list(vendors.piperun_persons),
                    "company_ids": list(vendors.piperun_companies),
                },
                now=now,
            )
        )
    return [job_id for job_id in queued if job_id is not None]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}
    return value
