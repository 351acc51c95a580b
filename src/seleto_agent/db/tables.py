"""Table declarations. They must match `supabase/migrations/` (a test compares them on Postgres).

Jobs are rows: every inbound event and outbound send has a status, attempts and timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres gets bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


inbound_events = Table(
    "inbound_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", Text, nullable=False),
    # '' when the provider sent none, so the dedupe key never holds a NULL.
    Column("instance_id", Text, nullable=False),
    Column("message_id", Text),
    Column("event_type", Text, nullable=False),
    Column("conversation_key", Text),
    Column("reply_to", Text),
    Column("phone_e164", Text),
    Column("content_kind", Text),
    Column("body_text", Text),
    # True when body_text is the transcript of a voice note; the audio itself is never kept.
    Column("body_is_transcript", Boolean, nullable=False, server_default=false()),
    # Why a voice note could not be used (`domain/voice.py`, AudioProblem); null otherwise.
    Column("media_error", Text),
    # Cloud API: the lead's send time, a button's id, the ad they came from (Referral.as_dict).
    Column("sent_at", UtcDateTime),
    Column("machine_value", Text),
    Column("referral", JsonDoc),
    Column("payload", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_expires_at", UtcDateTime),
    Column("turn_id", Text),
    Column("last_error", Text),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "instance_id", "message_id", name="uq_inbound_events_dedupe"),
    Index("ix_inbound_events_status_next", "status", "next_attempt_at"),
    Index("ix_inbound_events_conversation", "conversation_key", "status"),
    Index("ix_inbound_events_turn", "turn_id"),
    # 20261203130000_lgpd: the retention pass finds old rows still holding a raw body or a
    # text without scanning the rows it already cleared.
    Index(
        "ix_inbound_events_payload_retention",
        "received_at",
        postgresql_where=text("length(payload) > 0"),
        sqlite_where=text("length(payload) > 0"),
    ),
    Index(
        "ix_inbound_events_text_retention",
        "received_at",
        postgresql_where=text("body_text IS NOT NULL"),
        sqlite_where=text("body_text IS NOT NULL"),
    ),
)

outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # One row per intended send; a retry reuses the row, so it can never send twice.
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("provider", Text, nullable=False),
    Column("conversation_key", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("turn_id", Text),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("provider_message_id", Text),
    Column("provider_zaap_id", Text),
    Column("delivery_status", Text),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("prompt_version", Text),
    Column("agent_run_id", Text),
    # "agent", or "fixed:<key>" for a text from the fixed-replies file.
    Column("reply_kind", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    # The latest provider call began (database clock): callbacks before it prove nothing.
    Column("send_started_at", UtcDateTime),
    # The latest send ended without a usable answer (`unknown`): the grace counts from here.
    Column("unknown_since", UtcDateTime),
    # Provider calls whose outcome is unknown; at two, the row waits for ops instead.
    Column("ambiguous_sends", Integer, nullable=False, server_default="0"),
    Index("ix_outbound_messages_provider_message_id", "provider_message_id"),
    Index("ix_outbound_messages_conversation", "conversation_key"),
    Index(
        "ix_outbound_messages_body_retention",
        "created_at",
        postgresql_where=text("body <> ''"),
        sqlite_where=text("body <> ''"),
    ),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_key", Text, nullable=False, unique=True),
    Column("phone_e164", Text),
    Column("reply_to", Text, nullable=False),
    Column("owner", Text, nullable=False, server_default="bot"),
    Column("paused_until", UtcDateTime),
    Column("session_id", Text, nullable=False),
    Column("last_inbound_at", UtcDateTime),
    # The per-phone lock: only the lease holder runs a turn for this conversation.
    Column("lease_owner", Text),
    Column("lease_expires_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("session_started_at", UtcDateTime),
    Column("last_turn_at", UtcDateTime),
    Column("owner_reason", Text),
    # The turn whose own handoff paused the bot: that turn's reply still goes out.
    Column("owner_turn_id", Text),
    # Last time a person answered (Chatwoot or the company phone), for HUMAN_IDLE_RESUME_HOURS.
    Column("human_last_activity_at", UtcDateTime),
    # When who answers last changed: the time of the event that changed it. An older event
    # (a replay, a late delivery) never undoes a later decision.
    Column("owner_changed_at", UtcDateTime),
)

# Every id a WhatsApp contact is known by, each pointing at its one conversation: Z-API's number
# (`e164`) and `@lid` (`lid`), later the Cloud API's ids; `key`: a conversation key merged into
# another, so that jobs and callbacks naming it still reach the survivor (services/identity.py).
whatsapp_identities = Table(
    "whatsapp_identities",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column(
        "conversation_id",
        BigId,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "value", name="uq_whatsapp_identities_kind_value"),
    Index("ix_whatsapp_identities_conversation", "conversation_id"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        BigId,
        ForeignKey("conversations.id", ondelete="SET NULL"),
    ),
    # Canonical E.164 (or the conversation key for @lid senders): the client's unique phone.
    Column("phone", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("company_name", Text),
    Column("email", Text),
    Column("city", Text),
    Column("uf", Text),
    Column("segment", Text),
    Column("produto_interesse", Text),
    Column("volume_estimado", Text),
    Column("urgencia_compra", Text),
    Column("knows_seleto", Boolean),
    Column("temperature", Text),
    Column("temperature_reason", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("suggested_model", Text),
    Column("temperature_updated_at", UtcDateTime),
)

# The client's table names and columns (PRD §14.3).
empresa = Table(
    "empresa",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # Unmasked, uppercase, 14 characters (alphanumeric CNPJs exist from July 2026).
    Column("cnpj", Text, unique=True),
    Column("nome", Text),
    Column("cidade", Text),
    Column("uf", Text),
    Column("site", Text),
    Column("email", Text),
    Column("telefone", Text),
    Column("contato", BigId, ForeignKey("leads.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# 20261202130000_lead_companies (redteam L3): every lead that registered a company's CNPJ;
# `empresa.contato` stays the first one, the only lead whose answers fill the row.
lead_companies = Table(
    "lead_companies",
    metadata,
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", BigId, ForeignKey("empresa.id", ondelete="CASCADE"), primary_key=True),
    # The latest registration: a lead's current company is the one it named last.
    Column("linked_at", UtcDateTime, nullable=False),
    Index("ix_lead_companies_company", "company_id"),
)

# 20261203110000_send_pacing: the earliest time the next send of a scope may go out (`global`
# for the number, `to:<conversation key>` per lead), shared by every process that sends.
send_pacing = Table(
    "send_pacing",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("next_at", UtcDateTime, nullable=False),
)

# 20261203120000_runtime_flags: operator switches (`bot_enabled`, per channel); a row wins over
# the flag's environment default (services/flags.py).
runtime_flags = Table(
    "runtime_flags",
    metadata,
    Column("name", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", Text, nullable=False),
)

orcamentos = Table(
    "orcamentos",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("produto", Text, nullable=False),
    # Normalised product, so a repeated request for the same product updates one row.
    Column("produto_chave", Text, nullable=False),
    Column("resumo", Text),
    Column("segmento", Text),
    Column("urgencia_compra", Text),
    Column("volume_diario", Text),
    Column("oportunidade_pipe_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("lead_id", "produto_chave", name="uq_orcamentos_lead_produto"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_key", Text, nullable=False),
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="SET NULL")),
    Column("kind", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # The SDR brief (slot names → values); read by the SDR team, never logged.
    Column("summary", JsonDoc, nullable=False),
    Column("status", Text, nullable=False),
    Column("turn_id", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_handoffs_conversation", "conversation_key", "status"),
    # At most one pending handoff per conversation, whatever runs concurrently.
    Index(
        "uq_handoffs_one_pending",
        "conversation_key",
        unique=True,
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

lgpd_requests = Table(
    "lgpd_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_key", Text, nullable=False),
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="SET NULL")),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("event_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("event_id", "kind", name="uq_lgpd_requests_event_kind"),
    Index("ix_lgpd_requests_conversation", "conversation_key"),
)

# Delivery/read receipts as they arrive; one that beats its send's message id is applied later.
delivery_receipts = Table(
    "delivery_receipts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", Text, nullable=False),
    Column("provider_message_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "provider_message_id", "status", name="uq_delivery_receipts"),
    Index("ix_delivery_receipts_received", "received_at"),
)

# A provider callback naming a message id no send of ours holds yet: the proof that a send
# whose answer was lost went out (contracts/zapi.md §2.3). Kept without the message text.
send_proofs = Table(
    "send_proofs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", Text, nullable=False),
    Column("provider_message_id", Text, nullable=False),
    # "delivery" (a delivery callback) or "echo" (the copy of an API send, with its text's digest).
    Column("kind", Text, nullable=False),
    Column("conversation_key", Text, nullable=False),
    Column("body_digest", Text),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "provider_message_id", "kind", name="uq_send_proofs"),
    Index("ix_send_proofs_conversation", "conversation_key", "received_at"),
)

# Vendor work (CRM sync, Chatwoot mirror) written with the change that caused it (an outbox).
outbox_jobs = Table(
    "outbox_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    # Jobs sharing this key run one at a time, oldest first; a dead one does not block the rest.
    Column("ordering_key", Text, nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("payload", JsonDoc, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_owner", Text),
    Column("lease_expires_at", UtcDateTime),
    Column("last_error", Text),
    # A vendor's field errors (PipeRun 422) for ops; never PII.
    Column("error_detail", JsonDoc),
    Column("first_failed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    UniqueConstraint("dedupe_key", name="uq_outbox_jobs_dedupe"),
    Index("ix_outbox_jobs_status_next", "status", "next_attempt_at"),
    Index("ix_outbox_jobs_ordering", "ordering_key", "id"),
)

# A lead's PipeRun ids, each saved in the transaction that marks its step done.
crm_links = Table(
    "crm_links",
    metadata,
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", BigInteger),
    # False: the company already existed in PipeRun (found by CNPJ); we link it, never edit it.
    Column("company_created", Boolean, nullable=False, server_default=false()),
    Column("company_fingerprint", Text),
    Column("person_id", BigInteger),
    Column("person_fingerprint", Text),
    Column("deal_id", BigInteger),
    Column("deal_fingerprint", Text),
    # Steps whose create was sent but whose id is not saved yet: only these are looked up in
    # PipeRun before creating again, so the happy path makes no extra GET.
    Column("create_intents", JsonDoc),
    Column("synced_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # 20261202130000_lead_companies: the contact lists last sent, apart from the other fields
    # (vendors.md #16: a list is sent again only when the lead's e-mail or phone changed).
    Column("company_contacts_fingerprint", Text),
    Column("person_contacts_fingerprint", Text),
)

crm_notes = Table(
    "crm_notes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lead_id", BigId, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    # "resumo" (the lead summary) or "handoff-<id>" (an SDR brief).
    Column("note_key", Text, nullable=False),
    Column("note_id", BigInteger, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("lead_id", "note_key", name="uq_crm_notes_lead_key"),
)

# PipeRun city ids by folded name + UF; a null city_id caches "PipeRun has no such city".
piperun_cities = Table(
    "piperun_cities",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("city_key", Text, nullable=False),
    Column("uf", Text, nullable=False),
    Column("city_id", BigInteger),
    Column("fetched_at", UtcDateTime, nullable=False),
    UniqueConstraint("city_key", "uf", name="uq_piperun_cities_key"),
)

chatwoot_links = Table(
    "chatwoot_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_key", Text, nullable=False),
    Column("contact_id", BigInteger),
    Column("source_id", Text),
    # Chatwoot's display id (the number in its API paths), not its internal id.
    Column("chatwoot_conversation_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("conversation_key", name="uq_chatwoot_links_conversation"),
    Index("ix_chatwoot_links_cw_conversation", "chatwoot_conversation_id"),
)

# Chatwoot messages we created, by what they mirror; a webhook for one of them is our echo.
chatwoot_messages = Table(
    "chatwoot_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_key", Text, nullable=False),
    Column("mirror_key", Text, nullable=False),
    Column("chatwoot_message_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("mirror_key", name="uq_chatwoot_messages_mirror_key"),
    Index("ix_chatwoot_messages_cw_id", "chatwoot_message_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    # Never PII: ids, counts, statuses.
    Column("details", JsonDoc, nullable=False),
    Index("ix_audit_log_subject", "subject_type", "subject_id"),
    Index("ix_audit_log_at", "at"),
)

schema_migrations = Table(
    "seleto_schema_migrations",
    metadata,
    Column("version", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("checksum", Text, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)
