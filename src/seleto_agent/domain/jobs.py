"""Outbox job states and kinds: vendor work done in the background, never lost, never doubled."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


class JobKind(StrEnum):
    # Bring a lead's PipeRun company, person, deal and notes up to date.
    CRM_SYNC = "crm.sync"
    # Mirror one thing into the lead's Chatwoot conversation (a message, a note, a handoff).
    CHATWOOT_MIRROR = "chatwoot.mirror"
    # Act on one Chatwoot webhook event (a human reply, a command, a resolve).
    CHATWOOT_EVENT = "chatwoot.event"
    # A message sent from the company phone that may be an SDR taking over (or our own echo).
    PHONE_REPLY = "ownership.phone_reply"
    # A send the provider accepted and later reported failed (Cloud API statuses).
    SEND_FAILED = "outbound.failed"
    # LGPD erasure at the vendors: delete a Chatwoot contact (and its conversations) ...
    LGPD_CHATWOOT = "lgpd.chatwoot_erase"
    # ... and the PipeRun notes, person and company we filed for the lead.
    LGPD_PIPERUN = "lgpd.piperun_erase"
    # The daily retention pass (services/retention.py).
    RETENTION = "retention.run"


# Waiting for a (first or next) attempt.
PENDING_JOB_STATUSES = (JobStatus.PENDING, JobStatus.FAILED)
# Replay runs the job again; every handler is idempotent, so a done job may be replayed too
# (a CRM sync pushes the current state again; a mirrored message is found and not re-posted).
REPLAYABLE_JOB_STATUSES = (JobStatus.DEAD, JobStatus.FAILED, JobStatus.DONE)
