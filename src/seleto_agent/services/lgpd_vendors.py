"""Outbox handlers that carry an LGPD erasure to the vendors (services/lgpd.py queues them).

Chatwoot: the contact is deleted, which takes its conversations and messages with it.
PipeRun: the notes we wrote (the summary and the SDR briefs hold the lead's data), then the
person, then a company we created for this lead alone, are deleted; anonymising by `PUT` is
not an option, since whether a PUT replaces or appends contact lists is undocumented (a kept
phone would survive). The deal stays: its title names a product and a place, and it is the
sales team's record that a lead existed. "Already gone" (404) counts as done, so a replay or
an erasure run twice is safe; a refusal (a non-admin Chatwoot token, say) parks the job dead
for ops, with the reason.
"""

from __future__ import annotations

from seleto_agent.db.repositories.jobs import JobRecord
from seleto_agent.integrations.chatwoot.client import ChatwootClient
from seleto_agent.integrations.piperun.client import PipeRunClient
from seleto_agent.observability.logging import get_logger

log = get_logger(__name__)


class ChatwootEraseHandler:
    def __init__(self, client: ChatwootClient) -> None:
        self._client = client

    async def handle(self, job: JobRecord) -> str | None:
        deleted = await self._client.delete_contact(int(job.payload["contact_id"]))
        log.info("lgpd.chatwoot_erased", deleted=deleted)
        return "contact_deleted" if deleted else "contact_already_gone"


class PipeRunEraseHandler:
    def __init__(self, client: PipeRunClient) -> None:
        self._client = client

    async def handle(self, job: JobRecord) -> str | None:
        counts = {"notes": 0, "persons": 0, "companies": 0}
        # Notes first: they hang on the deal and the person.
        for note_id in job.payload.get("note_ids", []):
            counts["notes"] += await self._client.delete_note(int(note_id))
        for person_id in job.payload.get("person_ids", []):
            counts["persons"] += await self._client.delete_person(int(person_id))
        for company_id in job.payload.get("company_ids", []):
            counts["companies"] += await self._client.delete_company(int(company_id))
        log.info("lgpd.piperun_erased", **counts)
        return "deleted " + ", ".join(f"{name}={count}" for name, count in counts.items())
